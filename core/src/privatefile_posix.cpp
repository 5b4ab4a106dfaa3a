// privatefile.h, POSIX side (Linux, macOS, the BSDs): file modes and fstat(2).
#include "core/privatefile.h"

#include <QFileInfo>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace sotto {

namespace {

QString systemError()
{
    return QString::fromLocal8Bit(std::strerror(errno));
}

Result<struct stat> inspect(const QString &path)
{
    struct stat st{};
    if (::lstat(QFile::encodeName(path).constData(), &st) != 0)
        return makeError(ErrorCode::Io, QStringLiteral("cannot inspect %1: %2").arg(path, systemError()));
    return st;
}

} // namespace

QString ownerOnlyHint()
{
    return QStringLiteral("chmod 600 it");
}

Result<void> makeOwnerOnly(const QString &path)
{
    auto st = inspect(path);
    if (!st)
        return st.error();
    const mode_t mode = S_ISDIR(st->st_mode) ? 0700 : 0600;
    if (::chmod(QFile::encodeName(path).constData(), mode) != 0)
        return makeError(ErrorCode::Io, QStringLiteral("cannot restrict %1 to its owner: %2").arg(path, systemError()));
    return {};
}

Result<bool> isOwnerOnly(const QString &path)
{
    auto st = inspect(path);
    if (!st)
        return st.error();
    return st->st_uid == ::geteuid() && (st->st_mode & (S_IRWXG | S_IRWXO)) == 0;
}

Result<QString> describeAccess(const QString &path)
{
    auto st = inspect(path);
    if (!st)
        return st.error();
    return QStringLiteral("%1").arg(st->st_mode & 07777, 4, 8, QLatin1Char('0'));
}

Result<void> openPrivateAppend(QFile &file, const QString &path)
{
    const QByteArray native = QFile::encodeName(path);
    const int fd = ::open(native.constData(), O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        if (errno == ELOOP)
            return makeError(ErrorCode::Usage, QStringLiteral("%1 is a symbolic link: refused").arg(path));
        return makeError(ErrorCode::Io, QStringLiteral("cannot open %1: %2").arg(path, systemError()));
    }
    struct stat st{};
    QString refusal;
    if (::fstat(fd, &st) != 0)
        refusal = QStringLiteral("cannot inspect %1").arg(path);
    else if (!S_ISREG(st.st_mode))
        refusal = QStringLiteral("%1 is not a regular file: refused").arg(path);
    else if (st.st_uid != ::geteuid())
        refusal = QStringLiteral("%1 belongs to another user: refused").arg(path);
    else if (st.st_mode & (S_IRWXG | S_IRWXO))
        refusal = QStringLiteral("%1 is open to other users (mode %2): refused (chmod 600 it)")
                      .arg(path)
                      .arg(st.st_mode & 0777, 3, 8, QLatin1Char('0'));
    if (!refusal.isEmpty()) {
        ::close(fd);
        return makeError(ErrorCode::Usage, refusal);
    }
    if (!file.open(fd, QIODevice::WriteOnly | QIODevice::Append, QFileDevice::AutoCloseHandle)) {
        ::close(fd);
        return makeError(ErrorCode::Io, QStringLiteral("cannot open %1").arg(path));
    }
    return {};
}

} // namespace sotto
