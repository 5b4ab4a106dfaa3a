#pragma once

// One process per profile: two phones on one profile would log each other off the broker in
// turn, for ever. The lock is a QLockFile in the profile directory, stale only once the process
// that took it is gone (a crash, kill -9), never by age.

#include "core/result.h"

#include <QLocalServer>
#include <QLockFile>
#include <QObject>
#include <QString>

#include <memory>

namespace sotto::phone {

// Creates the directory if needed. ErrorCode::Busy ("this profile is open in process N") when
// another live process holds it.
Result<std::unique_ptr<QLockFile>> lockProfile(const QString &dir);

// A second window launch on a profile brings the running window to the front instead: the
// window listens on localChannelName(DIR, "phone") — DIR/phone.sock, or a named pipe on Windows —
// owner only (QLocalServer::UserAccessOption); a second launch
// says "show" there and exits. Only the holder of the profile lock listens, so a stale socket
// from a crash is removed first. GUI thread.
class WindowSummons : public QObject
{
    Q_OBJECT
public:
    explicit WindowSummons(const QString &dir, QObject *parent = nullptr);
    bool listen();

Q_SIGNALS:
    void showRequested();

private:
    QLocalServer m_server;
    QString m_path;
};

// The second launch's side: true when a window on `dir` answered (it is then in front).
bool summonRunningWindow(const QString &dir, int timeoutMs = 2000);

} // namespace sotto::phone
