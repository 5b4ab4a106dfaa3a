// The portable side of privatefile.h; the system's own side is privatefile_posix.cpp or
// privatefile_win.cpp.
#include "core/privatefile.h"

#include <QDir>
#include <QSaveFile>

namespace sotto {

Result<void> makePrivateDir(const QString &dir)
{
    if (!QDir().mkpath(dir))
        return makeError(ErrorCode::Io, QStringLiteral("cannot create %1").arg(dir));
    return makeOwnerOnly(dir);
}

Result<void> writePrivateFile(const QString &path, QByteArrayView data)
{
    QSaveFile f(path);
    if (!f.open(QIODevice::WriteOnly))
        return makeError(ErrorCode::Io, QStringLiteral("cannot write %1: %2").arg(path, f.errorString()));
    // POSIX: the temporary file gets its mode before any byte is written; rename keeps it.
    f.setPermissions(QFileDevice::ReadOwner | QFileDevice::WriteOwner);
    if (f.write(data.data(), data.size()) != data.size() || !f.commit())
        return makeError(ErrorCode::Io, QStringLiteral("cannot write %1: %2").arg(path, f.errorString()));
    return makeOwnerOnly(path);
}

} // namespace sotto
