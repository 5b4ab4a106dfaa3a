#pragma once

// Loosening a file the way a careless copy or a shared folder would, for tests of the refusals
// of core/privatefile.h: group and others may read it (POSIX), or an entry lets Everyone read it
// (Windows). And, on Windows, the SIDs a file's DACL lets in, read back from the system.

#include <QString>
#include <QStringList>

namespace sotto::test {

// False when the system refuses.
bool openToEveryone(const QString &path);

// Whether this Windows program runs under Wine, which keeps no DACL of its own: it turns a file's
// DACL into the Unix mode (and back), and leaves a folder's mode as it was. Tests of a folder's
// DACL can only be made on Windows itself. False elsewhere.
bool underWine();

#ifdef Q_OS_WIN
// The SIDs of the DACL's allow entries of `path` in SDDL spelling ("SY", "BA", "S-1-5-21-…"),
// and this process's user SID.
QStringList allowedSids(const QString &path);
QString currentUserSid();
#endif

} // namespace sotto::test
