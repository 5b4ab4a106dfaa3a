#include "core/privatefile.h"

#include <QFileInfo>

#ifdef Q_OS_UNIX
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

namespace sotto {

#ifdef Q_OS_UNIX

Result<void> openPrivateAppend(QFile &file, const QString &path)
{
    const QByteArray native = QFile::encodeName(path);
    const int fd = ::open(native.constData(), O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        if (errno == ELOOP)
            return makeError(ErrorCode::Usage, QStringLiteral("%1 is a symbolic link: refused").arg(path));
        return makeError(ErrorCode::Io, QStringLiteral("cannot open %1: %2").arg(path, QString::fromLocal8Bit(std::strerror(errno))));
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
    if (!file.open(fd, QIODevice::WriteOnly | QIODevice::Append | QIODevice::Text, QFileDevice::AutoCloseHandle)) {
        ::close(fd);
        return makeError(ErrorCode::Io, QStringLiteral("cannot open %1").arg(path));
    }
    return {};
}

#else

Result<void> openPrivateAppend(QFile &file, const QString &path)
{
    const bool existed = QFileInfo::exists(path);
    if (existed && (QFileInfo(path).isSymLink() || !QFileInfo(path).isFile()))
        return makeError(ErrorCode::Usage, QStringLiteral("%1 is not a regular file: refused").arg(path));
    if (existed && (QFile::permissions(path) & (QFileDevice::ReadOther | QFileDevice::ReadGroup)))
        return makeError(ErrorCode::Usage, QStringLiteral("%1 is readable by others: refused").arg(path));
    file.setFileName(path);
    if (!file.open(QIODevice::WriteOnly | QIODevice::Append | QIODevice::Text))
        return makeError(ErrorCode::Io, QStringLiteral("cannot open %1").arg(path));
    if (!existed)
        file.setPermissions(QFileDevice::ReadOwner | QFileDevice::WriteOwner);
    return {};
}

#endif

} // namespace sotto
