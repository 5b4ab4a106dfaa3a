#pragma once

// One process per profile: two phones on one profile would log each other off the broker in
// turn, for ever. The lock is a QLockFile in the profile directory, stale only once the process
// that took it is gone (a crash, kill -9), never by age.

#include "core/result.h"

#include <QLockFile>
#include <QString>

#include <memory>

namespace sotto::app {

// Creates the directory if needed. ErrorCode::Busy ("this profile is open in process N") when
// another live process holds it.
Result<std::unique_ptr<QLockFile>> lockProfile(const QString &dir);

} // namespace sotto::app
