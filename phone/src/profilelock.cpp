#include "phone/profilelock.h"

#include "core/localchannel.h"

#include <QDir>
#include <QLocalSocket>
#include <QTimer>

namespace sotto::phone {

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

namespace {

QString socketPath(const QString &dir)
{
    return localChannelName(dir, QStringLiteral("phone"));
}

} // namespace

WindowSummons::WindowSummons(const QString &dir, QObject *parent) : QObject(parent), m_path(socketPath(dir))
{
    m_server.setSocketOptions(QLocalServer::UserAccessOption);
    m_server.setMaxPendingConnections(4);
    connect(&m_server, &QLocalServer::newConnection, this, [this] {
        while (QLocalSocket *c = m_server.nextPendingConnection()) {
            connect(c, &QLocalSocket::disconnected, c, &QObject::deleteLater);
            QTimer::singleShot(5000, c, [c] { c->abort(); }); // one short exchange, bounded
            connect(c, &QLocalSocket::readyRead, this, [this, c] {
                if (!c->canReadLine()) {
                    if (c->bytesAvailable() > 64)
                        c->abort(); // not a second launch of ours
                    return;
                }
                if (c->readLine(64).trimmed() != "show") {
                    c->disconnectFromServer();
                    return;
                }
                Q_EMIT showRequested();
                // The second launch closes once it has read this: disconnecting first may drop it
                // on Windows (DisconnectNamedPipe discards what the client has not read).
                c->write("ok\n");
                c->flush();
            });
        }
    });
}

bool WindowSummons::listen()
{
    QLocalServer::removeServer(m_path); // we hold the profile lock: nobody else listens here
    return m_server.listen(m_path);
}

bool summonRunningWindow(const QString &dir, int timeoutMs)
{
    QLocalSocket socket;
    socket.connectToServer(socketPath(dir));
    if (!socket.waitForConnected(timeoutMs))
        return false;
    socket.write("show\n");
    // (A pipe on Windows may take the bytes at once: waiting then reports nothing written.)
    if (!socket.flush() && socket.bytesToWrite() > 0 && !socket.waitForBytesWritten(timeoutMs))
        return false;
    while (!socket.canReadLine()) {
        if (!socket.waitForReadyRead(timeoutMs))
            return false;
    }
    return socket.readLine(16).trimmed() == "ok";
}

} // namespace sotto::phone
