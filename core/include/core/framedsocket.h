#pragma once

// A TCP socket speaking SKBP/1 frames (u16 length || body), for broker and phone alike.
// Enforces the §3 stall rule: a frame that has begun but not completed within the stall timeout
// closes the connection; and bounds what it holds for a peer that does not read (§3): past the
// output limits the connection is cut ("too slow"), so a slow or hostile reader cannot grow the
// writer's memory. Lives on the thread that created it.

#include "core/wire.h"

#include <QObject>
#include <QTcpSocket>
#include <QTimer>

#include <deque>
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
    // What may wait unwritten for the peer: bytes in the socket's buffer (beyond what the kernel
    // took) and whole frames not yet handed to the kernel. Past either, the connection is cut.
    struct OutputLimits
    {
        qint64 bytes = 8 * 1024 * 1024;
        int frames = 50000;
    };
    void setOutputLimits(OutputLimits limits) { m_limits = limits; }
    // TCP keep-alive probes after `idleSecs` of silence (then every idleSecs/3, three tries), so
    // a peer that vanished without a FIN is found by the kernel. Applied once connected. 0: off.
    void enableKeepAlive(int idleSecs);
    // Queues one frame. False (and nothing queued) when the body is empty or longer than a frame
    // (a caller's bug: seal() refuses such messages first), or when the socket is closing or has
    // just been cut for being too slow.
    bool send(QByteArrayView body);
    // Sends (best effort) then closes once written (lingerThenClose in the .cpp: written, half-closed,
    // the peer's input dropped until it closes or a second passes).
    void sendAndClose(QByteArrayView body);
    void close();
    // Detaches from its parent (to the application's, on its thread), flushes what is queued,
    // closes, and deletes itself once the peer has the bytes (or after a short grace, or with
    // the application). Do not use the pointer afterwards.
    void closeGracefully();
    // Closes without flushing pending writes (for fatal errors and for tests).
    void abort();
    bool isConnected() const;
    QTcpSocket *socket() const { return m_socket; }
    QString peerName() const;
    // Why the connection went, when this side cut it ("frame stalled", "too slow: …"); else empty.
    QString closeReason() const { return m_closeReason; }
    qint64 pendingOutputBytes() const;

Q_SIGNALS:
    void connected();
    void frameReceived(const QByteArray &body);
    // A bad frame (zero length) or a stall. The socket is already being closed.
    void protocolError(const QString &reason);
    void disconnected();

private:
    void onReadyRead();
    void onStall();
    void lingerThenClose();
    void cutTooSlow();
    void applyKeepAlive();

    QTcpSocket *m_socket;
    wire::FrameReader m_reader;
    QTimer m_stallTimer;
    int m_stallTimeoutMs = 5000;
    bool m_closing = false;
    QString m_closeReason;
    OutputLimits m_limits;
    int m_keepAliveSecs = 0;
    qint64 m_queuedTotal = 0;        // bytes ever queued
    std::deque<qint64> m_frameEnds;  // m_queuedTotal after each frame not yet fully written
};

} // namespace sotto
