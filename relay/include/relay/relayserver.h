#pragma once

// A relay of its own (`sotto relay --listen HOST:PORT --secret-file FILE`; PROTOCOL.md §9.1,
// extension): the media relay of relay.h in stateless mode, with no store and no keys, and the
// brokers' control channel on TCP at the same port. Members bind with tokens the brokers mint
// from the shared secret (relayauth.h), which the relay checks without asking anyone; brokers
// that know the secret connect to the control port, prove it, and then order trunks, end
// sessions and ask the relay's load (control.h).
//
// Failure modes: start() fails when either port cannot be bound. A control connection that does
// not prove the secret within 5 s, sends a frame with a bad MAC or an order this build does not
// know is closed and logged. At most kMaxPending connections may be in their handshake (a new one
// closes the oldest, so strangers cannot keep a broker out) and kMaxControls past it. Main thread;
// the UDP relay runs on a thread of its own.

#include "relay/relay.h"

#include "core/result.h"
#include "core/secretbytes.h"

#include <QHostAddress>
#include <QObject>

#include <functional>
#include <memory>
#include <vector>

class QTcpServer;

namespace sotto::relay {

class RelayServer : public QObject
{
    Q_OBJECT
public:
    static constexpr int kMaxControls = 16; // brokers that proved the secret
    static constexpr int kMaxPending = 8;   // connections still in their handshake
    // threads: UDP threads on the one port (Relay; one where the port cannot be shared).
    explicit RelayServer(SecretBytes secret, RelayTable::Limits limits = {}, int threads = 1, QObject *parent = nullptr);
    ~RelayServer() override;

    // Port 0: a free one (the same number for TCP and UDP).
    Result<void> start(const QHostAddress &address, quint16 port);
    void stop();
    quint16 port() const { return m_port; }
    RelayCounters counters() const { return m_relay.counters(); }
    int threads() const { return m_relay.threads(); }
    RelayTable::Load load() { return m_table.load(); }
    int controlCount() const { return int(m_controls.size()); }

Q_SIGNALS:
    void logLine(const QString &line);

private:
    struct Control;
    void onNewConnection();
    void onFrame(Control *c, const QByteArray &frame);
    // Decodes an order and carries it out (Orders, a control::OrderHandler); drops the
    // connection on one this relay does not know.
    void apply(Control *c, const QCborMap &order);
    class Orders;
    void drop(Control *c, const QString &why);
    void log(const QString &line);

    SecretBytes m_secret;
    RelayTable m_table;
    int m_threads = 1;
    Relay m_relay{m_table};
    std::unique_ptr<QTcpServer> m_server;
    quint16 m_port = 0;
    std::vector<std::unique_ptr<Control>> m_controls;
};

} // namespace sotto::relay
