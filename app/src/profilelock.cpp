#include "profilelock.h"

#include <QDir>

namespace sotto::app {

Result<std::unique_ptr<QLockFile>> lockProfile(const QString &dir)
{
    if (!QDir().mkpath(dir))
        return makeError(ErrorCode::Io, QStringLiteral("cannot create profile directory %1").arg(dir));
    auto lock = std::make_unique<QLockFile>(QDir(dir).filePath(QStringLiteral("phone.lock")));
    lock->setStaleLockTime(0);
    if (lock->tryLock(0))
        return lock;
    qint64 pid = 0;
    QString host, app;
    if (lock->error() == QLockFile::LockFailedError && lock->getLockInfo(&pid, &host, &app))
        return makeError(ErrorCode::Busy, QStringLiteral("this profile is open in process %1 (%2)").arg(pid).arg(dir));
    return makeError(ErrorCode::Io, QStringLiteral("cannot lock the profile %1").arg(dir));
}

} // namespace sotto::app
