#pragma once

// A TCP socket speaking SKBP/1 frames (u16 length || body), for broker and phone alike.
// Enforces the §3 stall rule: a frame that has begun but not completed within the stall timeout
// closes the connection. Lives on the thread that created it.

#include "core/wire.h"

#include <QObject>
#include <QTcpSocket>
#include <QTimer>

#include <memory>

namespace sotto {

class FramedSocket : public QObject
{
    Q_OBJECT
public:
    // Takes ownership of the socket (connected or connecting).
    explicit FramedSocket(QTcpSocket *socket, QObject *parent = nullptr);
    ~FramedSocket() override;

    void setStallTimeout(int ms) { m_stallTimeoutMs = ms; }
    void send(QByteArrayView body);
    // Sends (best effort) then closes once written.
    void sendAndClose(QByteArrayView body);
    void close();
    // Detaches from its parent, flushes what is queued, closes, and deletes itself once the
    // peer has the bytes (or after a short grace). Do not use the pointer afterwards.
    void closeGracefully();
    // Closes without flushing pending writes (for fatal errors and for tests).
    void abort();
    bool isConnected() const;
    QTcpSocket *socket() const { return m_socket; }
    QString peerName() const;

Q_SIGNALS:
    void connected();
    void frameReceived(const QByteArray &body);
    // A bad frame (zero length) or a stall. The socket is already being closed.
    void protocolError(const QString &reason);
    void disconnected();

private:
    void onReadyRead();
    void onStall();

    QTcpSocket *m_socket;
    wire::FrameReader m_reader;
    QTimer m_stallTimer;
    int m_stallTimeoutMs = 5000;
    bool m_closing = false;
};

} // namespace sotto
