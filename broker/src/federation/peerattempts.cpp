#include "federation/peerattempts.h"

#include "broker/store.h"
#include "core/crypto.h"
#include "core/skbp.h"
#include "core/wire.h"

#include <QTcpSocket>

namespace sotto::broker {

namespace key = wire::key;

namespace {

FramedSocket *dialSocket(const BrokerConfig &config, QObject *parent)
{
    auto *socket = new FramedSocket(new QTcpSocket, parent);
    socket->setOutputLimits(config.outputLimits);
    socket->enableKeepAlive(config.keepAliveIdleSecs);
    return socket;
}

// The dialler waits for the responder's deadline (handshakeTimeoutMs), the connect and the
// responder's group commit before it gives up: twice the responder's deadline covers them.
void armInitiatorDeadline(QTimer &deadline, const BrokerConfig &config)
{
    deadline.setSingleShot(true);
    deadline.start(2 * config.handshakeTimeoutMs);
}

} // namespace

// ---- the handshake ------------------------------------------------------------------------------

PeerHandshake::PeerHandshake(AttemptContext context, PeerConfig peer, QObject *parent)
    : QObject(parent), m_ctx(std::move(context)), m_peer(std::move(peer))
{
    connect(&m_deadline, &QTimer::timeout, this, [this] { finish(false, QStringLiteral("timed out")); });
}

void PeerHandshake::start()
{
    const AccountRecord *p = m_ctx.store.peer(m_peer.name);
    m_epoch = p && p->isEnrolled() ? p->epoch : 0;
    noise::HandshakeConfig hc;
    hc.pattern = noise::Pattern::KKpsk0;
    hc.initiator = true;
    hc.prologue = skbp::federatePrologue(m_ctx.self, m_peer.name, m_epoch);
    hc.localStatic = m_ctx.staticKey;
    hc.remoteStatic = m_peer.publicKey;
    hc.psk = m_epoch == 0 ? m_peer.secret : p->key;
    auto hs = noise::HandshakeState::create(std::move(hc));
    if (!hs) {
        // Said after start() returns, as every other outcome is.
        QTimer::singleShot(0, this, [this, why = hs.error().message] { finish(false, why); });
        return;
    }
    m_state.emplace(std::move(*hs));
    m_socket = dialSocket(m_ctx.config, this);
    connect(m_socket, &FramedSocket::connected, this, &PeerHandshake::onConnected);
    connect(m_socket, &FramedSocket::disconnected, this, [this] {
        finish(false, QStringLiteral("connection lost: %1").arg(m_socket->socket()->errorString()));
    });
    connect(m_socket, &FramedSocket::frameReceived, this, &PeerHandshake::onFrame);
    armInitiatorDeadline(m_deadline, m_ctx.config);
    m_socket->socket()->connectToHost(m_peer.host, m_peer.port);
}

void PeerHandshake::abort()
{
    m_step = Step::Done;
    m_deadline.stop();
    if (m_socket) {
        m_socket->disconnect(this);
        m_socket->abort();
    }
}

void PeerHandshake::onConnected()
{
    QCborMap payload;
    payload.insert(key::broker, m_ctx.self);
    auto msg1 = m_state->writeMessage(wire::encodeMessage(payload));
    if (!msg1)
        return finish(false, msg1.error().message);
    m_step = Step::AwaitingMsg2;
    m_socket->send(wire::encodeEnroll1({m_ctx.self, m_epoch, *msg1}, wire::kFederateTag));
}

void PeerHandshake::onFrame(const QByteArray &body)
{
    if (auto e = wire::decodeCleartextError(body))
        return finish(false, QStringLiteral("refused: %1").arg(e->message));
    switch (m_step) {
    case Step::AwaitingMsg2:
        return onMsg2(body);
    case Step::AwaitingEnrolled:
        return onEnrolled(body);
    case Step::Connecting:
    case Step::Done:
        return finish(false, QStringLiteral("unexpected frame"));
    }
}

void PeerHandshake::onMsg2(const QByteArray &body)
{
    auto msg2 = wire::decodeEnroll2(body, wire::kFederateTag);
    auto payload = msg2 ? m_state->readMessage(*msg2) : Result<QByteArray>(msg2.error());
    if (!payload)
        return finish(false, QStringLiteral("the peer's answer failed authentication (wrong static key?)"));
    auto [i2r, r2i] = m_state->split();
    auto made = skbp::interBrokerKey(m_state->handshakeHash(), i2r.key(), r2i.key());
    m_state.reset();
    if (!made)
        return finish(false, made.error().message);
    m_newEpoch = m_epoch + 1;
    m_ourKey = *made;
    // Commit rule: K_AB durable as pending before we confirm.
    if (auto r = m_ctx.store.setPeerPending(m_peer.name, m_newEpoch, *made); !r)
        return finish(false, r.error().message);
    m_channel = SecureChannel(i2r, r2i);
    m_step = Step::AwaitingEnrolled;
    m_ctx.store.afterCommit([self = QPointer<PeerHandshake>(this)](bool ok) {
        if (!self || self->m_step != Step::AwaitingEnrolled)
            return;
        if (!ok)
            return self->finish(false, QStringLiteral("store failure"));
        if (auto confirm = self->m_channel.seal(wire::message(wire::MessageType::Confirm)))
            self->m_socket->send(*confirm);
    });
}

void PeerHandshake::onEnrolled(const QByteArray &body)
{
    auto m = m_channel.open(body);
    if (!m || m->type() != wire::MessageType::Enrolled || m->u32(key::epoch) != m_newEpoch)
        return finish(false, QStringLiteral("unexpected answer to confirm"));
    // Commit only the key this handshake made (another may have replaced it meanwhile).
    const AccountRecord *p = m_ctx.store.peer(m_peer.name);
    if (!p || p->pendingEpoch != m_newEpoch || !p->pendingKey.equals(m_ourKey))
        return finish(false, QStringLiteral("handshake superseded"));
    if (auto r = m_ctx.store.commitPeerPending(m_peer.name); !r)
        return finish(false, r.error().message);
    m_ctx.log(QStringLiteral("peer %1: inter-broker key K_%2%1 epoch %3 committed (Noise KKpsk0), fp %4")
                  .arg(m_peer.name, m_ctx.self)
                  .arg(m_newEpoch)
                  .arg(skbp::fingerprint(m_ctx.store.peer(m_peer.name)->key)));
    finish(true, {});
}

void PeerHandshake::finish(bool ok, const QString &why)
{
    if (m_step == Step::Done)
        return;
    m_step = Step::Done;
    m_deadline.stop();
    m_ourKey.clear();
    if (m_socket) {
        m_socket->disconnect(this);
        m_socket->closeGracefully(); // it goes by itself
        m_socket = nullptr;
    }
    Q_EMIT finished(ok, ok ? m_newEpoch : 0, why);
}

// ---- the login ----------------------------------------------------------------------------------

PeerLogin::PeerLogin(AttemptContext context, PeerConfig peer, quint32 epoch, bool pending, QObject *parent)
    : QObject(parent), m_ctx(std::move(context)), m_peer(std::move(peer)), m_epoch(epoch), m_pending(pending)
{
    connect(&m_deadline, &QTimer::timeout, this, [this] { finish(false, QStringLiteral("timed out")); });
}

void PeerLogin::start()
{
    const AccountRecord *p = m_ctx.store.peer(m_peer.name);
    m_key = p ? (m_pending ? p->pendingKey : p->key) : SecretBytes();
    auto nc = crypto::randomBytes(skbp::kNonceSize);
    if (!nc || m_key.isEmpty()) {
        QTimer::singleShot(0, this, [this, why = nc ? QStringLiteral("no key") : nc.error().message] { finish(false, why); });
        return;
    }
    m_nonce = *nc;
    m_socket = dialSocket(m_ctx.config, this);
    connect(m_socket, &FramedSocket::connected, this, [this] {
        m_step = Step::AwaitingChallenge;
        m_socket->send(wire::encodeHello({m_ctx.self, m_epoch, m_nonce}, wire::kPeerLoginTag));
    });
    connect(m_socket, &FramedSocket::disconnected, this, [this] {
        finish(false, QStringLiteral("connection lost: %1").arg(m_socket->socket()->errorString()));
    });
    connect(m_socket, &FramedSocket::frameReceived, this, &PeerLogin::onFrame);
    armInitiatorDeadline(m_deadline, m_ctx.config);
    m_socket->socket()->connectToHost(m_peer.host, m_peer.port);
}

void PeerLogin::abort()
{
    m_step = Step::Done;
    m_deadline.stop();
    m_key.clear();
    if (m_socket) {
        m_socket->disconnect(this);
        m_socket->abort();
    }
}

FramedSocket *PeerLogin::takeSocket()
{
    FramedSocket *s = m_socket;
    m_socket = nullptr;
    return s;
}

void PeerLogin::onFrame(const QByteArray &body)
{
    if (auto e = wire::decodeCleartextError(body))
        return finish(false, QStringLiteral("refused: %1").arg(e->message), e->code == ErrorCode::Auth);
    switch (m_step) {
    case Step::AwaitingChallenge:
        return onChallenge(body);
    case Step::AwaitingWelcome:
        return onWelcome(body);
    case Step::Connecting:
    case Step::Done:
        return finish(false, QStringLiteral("unexpected frame"));
    }
}

void PeerLogin::onChallenge(const QByteArray &body)
{
    auto nb = wire::decodeChallenge(body, wire::kPeerLoginTag);
    auto keys = nb ? skbp::channelKeys(m_key, m_ctx.self, m_epoch, m_nonce, *nb) : Result<skbp::ChannelKeys>(nb.error());
    if (!keys)
        return finish(false, keys.error().message);
    m_channel = SecureChannel(noise::CipherState(std::move(keys->clientToBroker)),
                              noise::CipherState(std::move(keys->brokerToClient)));
    QCborMap hello = wire::message(wire::MessageType::Login);
    hello.insert(key::client, QStringLiteral("sotto-broker/" SOTTO_VERSION));
    auto sealed = m_channel.seal(hello);
    if (!sealed)
        return finish(false, sealed.error().message);
    m_step = Step::AwaitingWelcome;
    m_socket->send(*sealed);
}

void PeerLogin::onWelcome(const QByteArray &body)
{
    auto m = m_channel.open(body);
    if (!m)
        return finish(false, m.error().message, m.error().code == ErrorCode::Crypto);
    if (m->type() == wire::MessageType::Error)
        return finish(false, QStringLiteral("refused: %1").arg(m->text(key::msg)),
                      errorCodeFromName(m->text(key::code)) == ErrorCode::Auth);
    if (m->type() != wire::MessageType::Welcome || m->u32(key::epoch) != m_epoch)
        return finish(false, QStringLiteral("unexpected answer to login"));
    const QString &name = m_peer.name;
    if (m_pending) {
        if (auto r = m_ctx.store.commitPeerPending(name); !r)
            return finish(false, r.error().message);
        m_ctx.log(QStringLiteral("peer %1: inter-broker key epoch %2 committed (login under pending key)").arg(name).arg(m_epoch));
    } else if (const AccountRecord *rec = m_ctx.store.peer(name); rec && rec->pendingEpoch != 0) {
        // The peer still takes the old key, so it never committed the new one.
        const quint32 stale = rec->pendingEpoch;
        (void)m_ctx.store.discardPeerPending(name);
        m_ctx.log(QStringLiteral("peer %1: unconfirmed inter-broker key epoch %2 discarded").arg(name).arg(stale));
    }
    finish(true, {});
}

void PeerLogin::finish(bool ok, const QString &why, bool refused)
{
    if (m_step == Step::Done)
        return;
    m_step = Step::Done;
    m_deadline.stop();
    m_key.clear();
    if (m_socket) {
        m_socket->disconnect(this);
        if (!ok) {
            m_socket->closeGracefully(); // it goes by itself
            m_socket = nullptr;
        }
    }
    Q_EMIT finished(ok, why, refused);
}

} // namespace sotto::broker
