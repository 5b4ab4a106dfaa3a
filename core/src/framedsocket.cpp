#include "core/framedsocket.h"

namespace sotto {

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

void FramedSocket::send(QByteArrayView body)
{
    if (m_closing || m_socket->state() != QAbstractSocket::ConnectedState)
        return;
    const QByteArray f = wire::frame(body);
    if (f.isEmpty())
        return;
    m_socket->write(f);
    // Write now rather than on the next write-readiness poll: one syscall instead of a poll
    // round over every socket of the process (a broker has thousands).
    m_socket->flush();
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
    m_socket->disconnectFromHost();
}

void FramedSocket::closeGracefully()
{
    disconnect(); // nobody hears from us any more
    setParent(nullptr);
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
    m_reader.append(m_socket->readAll());
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
    Q_EMIT protocolError(QStringLiteral("frame stalled"));
    Q_EMIT disconnected();
}

} // namespace sotto
