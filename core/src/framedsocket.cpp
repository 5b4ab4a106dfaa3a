#include "core/framedsocket.h"

#include <QCoreApplication>
#include <QPointer>

#if defined(Q_OS_WIN)
#include <winsock2.h>
#include <mstcpip.h>
#else
#include <sys/socket.h>
#endif
#ifdef Q_OS_LINUX
#include <netinet/in.h>
#include <netinet/tcp.h>
#endif

namespace sotto {

namespace {

// How long a closing socket reads and drops what its peer still sends (lingerThenClose).
constexpr int kLingerMs = 1000;
// How long a closing socket waits for what it queued to be written.
constexpr int kFlushMs = 5000;

// Our half of a close (a FIN), the socket left open for reading.
void shutdownSending(qintptr fd)
{
#ifdef Q_OS_WIN
    ::shutdown(SOCKET(fd), SD_SEND);
#else
    ::shutdown(int(fd), SHUT_WR);
#endif
}

} // namespace

FramedSocket::FramedSocket(QTcpSocket *socket, QObject *parent)
    : QObject(parent), m_socket(socket)
{
    m_socket->setParent(this);
    m_socket->setSocketOption(QAbstractSocket::LowDelayOption, 1);
    m_stallTimer.setSingleShot(true);
    connect(&m_stallTimer, &QTimer::timeout, this, &FramedSocket::onStall);
    connect(m_socket, &QTcpSocket::readyRead, this, &FramedSocket::onReadyRead);
    connect(m_socket, &QTcpSocket::connected, this, [this] {
        // Small frames, request/answer: Nagle would add a delayed-ACK wait to every exchange.
        m_socket->setSocketOption(QAbstractSocket::LowDelayOption, 1);
        applyKeepAlive();
        Q_EMIT connected();
    });
    // Queued: send() writes at once, and a write can find the peer gone; the owner must not be
    // told so from inside its own send() (it may be iterating over its connections).
    connect(m_socket, &QTcpSocket::disconnected, this, &FramedSocket::disconnected, Qt::QueuedConnection);
    connect(
        m_socket, &QTcpSocket::errorOccurred, this,
        [this](QAbstractSocket::SocketError) {
            if (m_socket->state() == QAbstractSocket::UnconnectedState && !m_closing) {
                m_closing = true;
                Q_EMIT disconnected();
            }
        },
        Qt::QueuedConnection);
}

FramedSocket::~FramedSocket()
{
    m_socket->disconnect(this);
    m_socket->abort();
}

bool FramedSocket::isConnected() const
{
    return m_socket->state() == QAbstractSocket::ConnectedState && !m_closing;
}

QString FramedSocket::peerName() const
{
    return QStringLiteral("%1:%2").arg(m_socket->peerAddress().toString()).arg(m_socket->peerPort());
}

void FramedSocket::enableKeepAlive(int idleSecs)
{
    m_keepAliveSecs = idleSecs;
    if (m_socket->state() == QAbstractSocket::ConnectedState)
        applyKeepAlive();
}

void FramedSocket::applyKeepAlive()
{
    if (m_keepAliveSecs <= 0)
        return;
    m_socket->setSocketOption(QAbstractSocket::KeepAliveOption, 1);
#ifdef Q_OS_LINUX
    const int fd = int(m_socket->socketDescriptor());
    if (fd < 0)
        return;
    const int idle = m_keepAliveSecs;
    const int interval = std::max(1, m_keepAliveSecs / 3);
    const int count = 3;
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
#elif defined(Q_OS_WIN)
    // Windows: idle time and interval in one call (the probe count is the system's, 10).
    tcp_keepalive values{1, ULONG(m_keepAliveSecs) * 1000, ULONG(std::max(1, m_keepAliveSecs / 3)) * 1000};
    DWORD returned = 0;
    WSAIoctl(SOCKET(m_socket->socketDescriptor()), SIO_KEEPALIVE_VALS, &values, sizeof values, nullptr, 0, &returned,
             nullptr, nullptr);
#endif
}

qint64 FramedSocket::pendingOutputBytes() const
{
    return m_socket->bytesToWrite();
}

bool FramedSocket::send(QByteArrayView body)
{
    if (m_closing || m_socket->state() != QAbstractSocket::ConnectedState)
        return false;
    const QByteArray f = wire::frame(body);
    if (f.isEmpty()) {
        qWarning("FramedSocket: a frame body of %lld bytes cannot be sent", qlonglong(body.size()));
        return false;
    }
    m_socket->write(f);
    m_queuedTotal += f.size();
    m_frameEnds.push_back(m_queuedTotal);
    // Write now rather than on the next write-readiness poll: one syscall instead of a poll
    // round over every socket of the process (a broker has thousands).
    m_socket->flush();
    const qint64 unwritten = m_socket->bytesToWrite();
    const qint64 written = m_queuedTotal - unwritten;
    while (!m_frameEnds.empty() && m_frameEnds.front() <= written)
        m_frameEnds.pop_front();
    if (unwritten > m_limits.bytes || qsizetype(m_frameEnds.size()) > m_limits.frames) {
        m_closeReason = QStringLiteral("too slow: %1 bytes in %2 frames unread").arg(unwritten).arg(m_frameEnds.size());
        cutTooSlow();
        return false;
    }
    return true;
}

void FramedSocket::cutTooSlow()
{
    // The owner may be iterating over its connections while it sends: it hears of this later,
    // once, from the event loop (the socket's own signals are cut off first).
    m_closing = true;
    m_stallTimer.stop();
    m_socket->disconnect(this);
    m_socket->abort();
    m_frameEnds.clear();
    QMetaObject::invokeMethod(
        this,
        [this] {
            const QPointer<FramedSocket> alive(this);
            Q_EMIT protocolError(m_closeReason);
            if (alive)
                Q_EMIT disconnected();
        },
        Qt::QueuedConnection);
}

void FramedSocket::sendAndClose(QByteArrayView body)
{
    send(body);
    close();
}

void FramedSocket::close()
{
    if (m_closing)
        return;
    m_closing = true;
    m_stallTimer.stop();
    lingerThenClose();
}

// A close that loses nothing: what was queued is written, then only our side is closed (FIN)
// and what the peer still sends is read and dropped until it closes too, at most kLingerMs.
// Closing with unread input makes the kernel answer with a reset instead, and a reset makes the
// peer's system (Windows' always) throw away what it had received and not yet read: the last
// frame, often the error that says why. (Apache's "lingering close", for the same reason.)
void FramedSocket::lingerThenClose()
{
    if (m_socket->state() != QAbstractSocket::ConnectedState || m_socket->socketDescriptor() < 0) {
        m_socket->disconnectFromHost();
        return;
    }
    m_socket->flush();
    const auto halfClose = [this] {
        shutdownSending(m_socket->socketDescriptor());
        QTimer::singleShot(kLingerMs, m_socket, &QTcpSocket::abort);
    };
    if (m_socket->bytesToWrite() == 0) {
        halfClose();
        return;
    }
    connect(m_socket, &QTcpSocket::bytesWritten, this, [this, halfClose] {
        if (m_socket->bytesToWrite() > 0)
            return;
        disconnect(m_socket, &QTcpSocket::bytesWritten, this, nullptr);
        halfClose();
    });
    QTimer::singleShot(kFlushMs, m_socket, &QTcpSocket::abort); // a peer that reads nothing
}

void FramedSocket::closeGracefully()
{
    disconnect(); // nobody hears from us any more
    // Ours no longer, but the application's until it has closed (it lingers up to a second for
    // the peer): one that is still closing when the application goes goes with it.
    QObject *app = QCoreApplication::instance();
    setParent(app && app->thread() == thread() ? app : nullptr);
    if (m_socket->state() != QAbstractSocket::ConnectedState) {
        // Still looking the host up or connecting: nothing to flush, nobody to wait for.
        m_closing = true;
        m_stallTimer.stop();
        m_socket->abort();
        deleteLater();
        return;
    }
    close();
    if (m_socket->state() == QAbstractSocket::UnconnectedState) {
        deleteLater();
        return;
    }
    connect(m_socket, &QTcpSocket::disconnected, this, &QObject::deleteLater);
    QTimer::singleShot(2000, this, &QObject::deleteLater);
}

void FramedSocket::abort()
{
    m_closing = true;
    m_stallTimer.stop();
    m_socket->abort();
}

void FramedSocket::onReadyRead()
{
    if (m_closing) {
        m_socket->skip(m_socket->bytesAvailable()); // closing: read and dropped (lingerThenClose)
        return;
    }
    m_reader.append(m_socket->readAll());
    // A frame's handler may close us, hand us to another owner, or delete us outright: after
    // each emit, nothing of ours is touched unless we still exist.
    const QPointer<FramedSocket> alive(this);
    while (!m_closing) {
        auto next = m_reader.next();
        if (!next)
            break;
        if (!*next) {
            const QString reason = next->error().message;
            sendAndClose(wire::encodeCleartextError(ErrorCode::BadRequest, reason));
            Q_EMIT protocolError(reason);
            return;
        }
        Q_EMIT frameReceived(next->value());
        if (!alive)
            return;
    }
    if (m_reader.hasPartialFrame() && !m_closing) {
        m_stallTimer.start(m_stallTimeoutMs); // restarted by every arrival: a stall, not a deadline
    } else {
        m_stallTimer.stop();
    }
}

void FramedSocket::onStall()
{
    if (m_closing)
        return;
    abort();
    m_closeReason = QStringLiteral("frame stalled");
    const QPointer<FramedSocket> alive(this);
    Q_EMIT protocolError(m_closeReason);
    if (alive)
        Q_EMIT disconnected();
}

} // namespace sotto
