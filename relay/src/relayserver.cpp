#include "relay/relayserver.h"

#include "relay/control.h"

#include "core/crypto.h"
#include "core/framedsocket.h"
#include "core/relayauth.h"

#include <QCborValue>
#include <QDateTime>
#include <QTcpServer>
#include <QTimer>

#include <algorithm>

namespace sotto::relay {

struct RelayServer::Control
{
    FramedSocket *socket = nullptr; // deleted with closeGracefully()/deleteLater
    QByteArray relayNonce;
    relayauth::ControlKeys keys; // empty until the broker proved the secret
    quint64 seqIn = 0;
    quint64 seqOut = 0;
    QString peer;
    QTimer deadline;
};

RelayServer::RelayServer(SecretBytes secret, RelayTable::Limits limits, int threads, QObject *parent)
    : QObject(parent), m_secret(std::move(secret)), m_table(limits), m_threads(threads)
{
    m_table.setSecret(m_secret);
}

RelayServer::~RelayServer()
{
    stop();
}

Result<void> RelayServer::start(const QHostAddress &address, quint16 port)
{
    m_server = std::make_unique<QTcpServer>();
    if (!m_server->listen(address, port)) {
        const QString why = m_server->errorString();
        m_server.reset();
        return makeError(ErrorCode::Network, QStringLiteral("cannot listen on TCP %1:%2: %3").arg(address.toString()).arg(port).arg(why));
    }
    m_port = m_server->serverPort();
    QString error;
    if (!m_relay.start(address, m_port, &error, m_threads)) {
        m_server.reset();
        return makeError(ErrorCode::Network, QStringLiteral("cannot open the media relay on UDP %1:%2: %3").arg(address.toString()).arg(m_port).arg(error));
    }
    connect(m_server.get(), &QTcpServer::newConnection, this, &RelayServer::onNewConnection);
    log(QStringLiteral("relay listening on %1 port %2 (UDP media on %3 thread%4, TCP control)")
            .arg(address.toString()).arg(m_port).arg(m_relay.threads()).arg(m_relay.threads() == 1 ? QString() : QStringLiteral("s")));
    return {};
}

void RelayServer::stop()
{
    for (auto &c : m_controls) {
        c->socket->disconnect(this);
        c->socket->abort();
        c->socket->deleteLater();
    }
    m_controls.clear();
    m_server.reset();
    m_relay.stop();
}

void RelayServer::onNewConnection()
{
    while (QTcpSocket *s = m_server->nextPendingConnection()) {
        // Connections that have not proved the secret yet make way for new ones (the oldest
        // goes), so a stranger who opens many cannot keep a broker out; proven ones are capped.
        const auto pending = std::count_if(m_controls.begin(), m_controls.end(), [](const auto &c) { return c->keys.isEmpty(); });
        if (pending >= kMaxPending) {
            auto oldest = std::find_if(m_controls.begin(), m_controls.end(), [](const auto &c) { return c->keys.isEmpty(); });
            drop(oldest->get(), QStringLiteral("made way for a newer connection"));
        }
        if (int(m_controls.size()) >= kMaxControls + kMaxPending) {
            s->abort();
            s->deleteLater();
            log(QStringLiteral("control connection refused: %1 brokers are connected").arg(kMaxControls));
            continue;
        }
        auto nonce = crypto::randomBytes(relayauth::kNonceSize);
        if (!nonce) {
            s->abort();
            s->deleteLater();
            continue;
        }
        auto c = std::make_unique<Control>();
        c->socket = new FramedSocket(s, this);
        c->socket->setOutputLimits({1024 * 1024, 10000});
        c->relayNonce = *nonce;
        c->peer = c->socket->peerName();
        Control *raw = c.get();
        connect(c->socket, &FramedSocket::frameReceived, this, [this, raw](const QByteArray &f) { onFrame(raw, f); });
        connect(c->socket, &FramedSocket::disconnected, this, [this, raw] { drop(raw, QStringLiteral("gone")); });
        connect(c->socket, &FramedSocket::protocolError, this, [this, raw](const QString &why) { drop(raw, why); });
        c->deadline.setSingleShot(true);
        connect(&c->deadline, &QTimer::timeout, this, [this, raw] { drop(raw, QStringLiteral("did not prove the secret in time")); });
        c->deadline.start(5000);
        QCborMap hello;
        hello.insert(QStringLiteral("t"), QStringLiteral("hello"));
        hello.insert(QStringLiteral("nonce"), *nonce);
        c->socket->send(hello.toCborValue().toCbor());
        m_controls.push_back(std::move(c));
    }
}

void RelayServer::onFrame(Control *c, const QByteArray &frame)
{
    if (c->keys.isEmpty()) {
        // auth = {"t":"auth", "nonce": bytes(32), "proof": bytes(32)}
        const QCborMap m = [&] { auto d = wire::decodeMap(frame); return d ? *d : QCborMap(); }(); // malformed: not an auth
        const QByteArray brokerNonce = m.value(QStringLiteral("nonce")).toByteArray();
        const QByteArray proof = m.value(QStringLiteral("proof")).toByteArray();
        if (m.value(QStringLiteral("t")).toString() != QLatin1String("auth") || brokerNonce.size() != relayauth::kNonceSize
            || proof.size() != relayauth::kProofSize) {
            drop(c, QStringLiteral("not a broker's auth"));
            return;
        }
        const QByteArray expected = relayauth::controlProof(m_secret.view(), "broker", c->relayNonce, brokerNonce);
        if (expected.isEmpty() || !crypto::constantTimeEquals(expected, proof)) {
            drop(c, QStringLiteral("wrong secret"));
            return;
        }
        QCborMap ok;
        ok.insert(QStringLiteral("t"), QStringLiteral("ok"));
        ok.insert(QStringLiteral("proof"), relayauth::controlProof(m_secret.view(), "relay", c->relayNonce, brokerNonce));
        c->socket->send(ok.toCborValue().toCbor());
        c->keys = relayauth::controlKeys(m_secret.view(), c->relayNonce, brokerNonce);
        c->deadline.stop();
        log(QStringLiteral("broker at %1 connected").arg(c->peer));
        return;
    }
    auto order = relayauth::openFrame(c->keys.brokerToRelay, c->seqIn++, frame);
    if (!order) {
        drop(c, QStringLiteral("a frame failed its MAC"));
        return;
    }
    apply(c, *order);
}

namespace {
// How long a revocation is kept: as the order says, or (an older broker's order) as long as any
// token the relay takes may live.
qint64 untilOf(const control::Order &o)
{
    return o.until ? qint64(o.until) : QDateTime::currentSecsSinceEpoch() + relayauth::kMaxLifetimeS;
}
} // namespace

class RelayServer::Orders final : public control::OrderHandler<RelayServer::Control *>
{
public:
    explicit Orders(RelayServer &server) : m_server(server) {}

private:
    // Answers with the relay's load.
    void onPing(Control *c, const control::Order &o) override
    {
        const RelayTable::Load l = m_server.m_table.load();
        const RelayCounters k = m_server.m_relay.counters();
        control::Pong p{o.id, quint32(l.sessions), quint32(l.members), quint32(l.trunks), k.forwarded,
                        k.droppedBadToken + k.droppedExpired + k.droppedFull};
        c->socket->send(relayauth::sealFrame(c->keys.relayToBroker, c->seqOut++, control::encode(p)));
    }
    void onTrunk(Control *, const control::Order &o) override
    {
        m_server.m_table.addTrunk(o.sid, o.host, o.port, o.token, o.home);
    }
    void onUntrunk(Control *, const control::Order &o) override { m_server.m_table.removeTrunks(o.sid); }
    void onEnd(Control *, const control::Order &o) override { m_server.m_table.revokeSession(o.sid, untilOf(o)); }
    void onLeave(Control *, const control::Order &o) override
    {
        m_server.m_table.revokeMember(o.sid, o.ssrc, untilOf(o));
    }

    RelayServer &m_server;
};

void RelayServer::apply(Control *c, const QCborMap &m)
{
    auto o = control::decodeOrder(m);
    if (!o) {
        drop(c, QStringLiteral("an order this relay does not know"));
        return;
    }
    Orders(*this).dispatch(c, *o);
}

void RelayServer::drop(Control *c, const QString &why)
{
    auto it = std::find_if(m_controls.begin(), m_controls.end(), [c](const auto &p) { return p.get() == c; });
    if (it == m_controls.end())
        return;
    std::unique_ptr<Control> gone = std::move(*it);
    m_controls.erase(it);
    gone->socket->disconnect(this);
    gone->socket->closeGracefully();
    log(QStringLiteral("control connection from %1 closed: %2").arg(gone->peer, why));
}

void RelayServer::log(const QString &line)
{
    Q_EMIT logLine(line);
}

} // namespace sotto::relay
