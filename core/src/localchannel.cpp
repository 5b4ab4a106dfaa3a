// localchannel.h: the channel's name (portable) and, per system, who is at the other end.
#include "core/localchannel.h"

#include <QCryptographicHash>
#include <QDir>
#include <QFileInfo>
#include <QLocalSocket>

#include <vector>

#if defined(Q_OS_WIN)
#include "tokenuser_win.h"
#include <windows.h>
#elif defined(Q_OS_LINUX)
#include <sys/socket.h>
#include <unistd.h>
#elif defined(Q_OS_UNIX)
#include <sys/types.h>
#include <unistd.h>
#endif

namespace sotto {

QString localChannelName(const QString &folder, const QString &name)
{
#ifdef Q_OS_WIN
    // Case-insensitive paths: one folder, one name however it is spelled.
    const QString canonical = QDir::cleanPath(QFileInfo(folder).absoluteFilePath()).toLower();
    const QByteArray hash = QCryptographicHash::hash(canonical.toUtf8(), QCryptographicHash::Sha256).toHex().left(24);
    return QStringLiteral("sotto-%1-%2").arg(name, QString::fromLatin1(hash));
#else
    return QDir(folder).absoluteFilePath(name + QStringLiteral(".sock"));
#endif
}

#ifdef Q_OS_WIN

namespace {

struct Handle
{
    HANDLE h = nullptr;
    ~Handle()
    {
        if (h)
            CloseHandle(h);
    }
};

// Whether the token is an enabled member of BUILTIN\Administrators.
bool isAdministrator(HANDLE token)
{
    DWORD size = 0;
    GetTokenInformation(token, TokenGroups, nullptr, 0, &size);
    std::vector<BYTE> buffer(size);
    if (!size || !GetTokenInformation(token, TokenGroups, buffer.data(), size, &size))
        return false;
    const auto *groups = reinterpret_cast<const TOKEN_GROUPS *>(buffer.data());
    for (DWORD i = 0; i < groups->GroupCount; ++i) {
        if ((groups->Groups[i].Attributes & SE_GROUP_ENABLED) && IsWellKnownSid(groups->Groups[i].Sid, WinBuiltinAdministratorsSid))
            return true;
    }
    return false;
}

} // namespace

bool peerIsSameUser(QLocalSocket *socket)
{
    ULONG pid = 0;
    const auto pipe = reinterpret_cast<HANDLE>(socket->socketDescriptor());
    if (!pipe || pipe == INVALID_HANDLE_VALUE || !GetNamedPipeClientProcessId(pipe, &pid))
        return false;
    Handle process{OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, pid)};
    Handle peerToken;
    if (!process.h || !OpenProcessToken(process.h, TOKEN_QUERY, &peerToken.h))
        return false;
    std::vector<BYTE> peer = win::tokenUserSid(peerToken.h);
    std::vector<BYTE> own = win::processUserSid();
    if (peer.empty() || own.empty())
        return false;
    return EqualSid(peer.data(), own.data()) || isAdministrator(peerToken.h);
}

#elif defined(Q_OS_LINUX)

bool peerIsSameUser(QLocalSocket *socket)
{
    ucred cred{};
    socklen_t len = sizeof cred;
    const int fd = int(socket->socketDescriptor());
    return fd >= 0 && ::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0
        && (cred.uid == ::geteuid() || cred.uid == 0);
}

#elif defined(Q_OS_UNIX)

bool peerIsSameUser(QLocalSocket *socket)
{
    uid_t uid = 0;
    gid_t gid = 0;
    const int fd = int(socket->socketDescriptor());
    return fd >= 0 && ::getpeereid(fd, &uid, &gid) == 0 && (uid == ::geteuid() || uid == 0);
}

#else
#error "peerIsSameUser: no way to tell a local channel's peer on this system"
#endif

} // namespace sotto
