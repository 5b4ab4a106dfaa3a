#include "federation/peerresponders.h"

#include "broker/store.h"
#include "core/skbp.h"
#include "core/wire.h"

namespace sotto::broker {

namespace key = wire::key;

namespace {

const PeerConfig *configuredPeer(const BrokerConfig &config, const QString &name)
{
    for (const PeerConfig &p : config.peers) {
        if (p.name == name)
            return &p;
    }
    return nullptr;
}

// Logs why, and answers the same whatever it was: not a peer, another static key, a wrong secret
// or key (auth); only a frame that does not parse says so (bad_request).
void refuseOn(FramedSocket *socket, const ResponderContext &ctx, const QString &peer, const QString &why, ErrorCode code)
{
    ctx.log(QStringLiteral("peer connection from \"%1\" refused: %2").arg(peer, why));
    socket->sendAndClose(wire::encodeCleartextError(code, code == ErrorCode::Auth ? QStringLiteral("authentication failed") : why));
}

} // namespace

PeerHandshakeKey peerHandshakeKey(const AccountRecord *held, const PeerConfig &peer, quint32 epoch)
{
    if (epoch == 0 && held && held->isEnrolled()) // §8: after the first run, only K_AB
        return {std::nullopt,
                QStringLiteral("the peering secret has been used: K_AB epoch %1 is held (if %2 lost its store, forget its "
                               "key here - console, or `sotto broker forget-peer %2` while stopped - to pair afresh)")
                    .arg(held->epoch)
                    .arg(peer.name)};
    if (epoch == 0)
        return {peer.secret, {}};
    if (held && held->isEnrolled() && held->epoch == epoch)
        return {held->key, {}};
    return {std::nullopt, QStringLiteral("unknown inter-broker key epoch %1").arg(epoch)};
}

// ---- the handshake ---------------------------------------------------------------------------------

PeerHandshakeResponder::PeerHandshakeResponder(ResponderContext context, FramedSocket *socket)
    : QObject(socket), m_ctx(std::move(context)), m_socket(socket)
{
    // A dialler that opens a handshake and goes quiet holds a socket and, after msg1, a pending
    // K_AB nobody may hold: it has handshakeTimeoutMs, the phones' deadline (§3).
    m_deadline.setSingleShot(true);
    connect(&m_deadline, &QTimer::timeout, m_socket, &FramedSocket::abort);
    m_deadline.start(m_ctx.config.handshakeTimeoutMs);
    connect(m_socket, &FramedSocket::frameReceived, this, &PeerHandshakeResponder::onFrame);
    connect(m_socket, &FramedSocket::disconnected, this, [this] {
        if (m_step == Step::Done || m_step == Step::Failed)
            return;
        m_step = Step::Failed; // its pending K_AB stays pending: only a confirm commits it
        m_ownKey.clear();
        Q_EMIT finished(false, 0, QStringLiteral("the connection went before the handshake ended"));
    });
}

void PeerHandshakeResponder::refuse(const QString &why, ErrorCode code)
{
    m_step = Step::Failed;
    m_ownKey.clear();
    refuseOn(m_socket, m_ctx, m_peer, why, code);
    Q_EMIT finished(false, 0, why);
}

void PeerHandshakeResponder::start(const QByteArray &msg1)
{
    auto f = wire::decodeEnroll1(msg1, wire::kFederateTag);
    if (!f)
        return refuse(f.error().message, ErrorCode::BadRequest);
    m_peer = f->account;
    const PeerConfig *peer = configuredPeer(m_ctx.config, m_peer);
    if (!peer)
        return refuse(QStringLiteral("not a configured peer"));
    const PeerHandshakeKey choice = peerHandshakeKey(m_ctx.store.peer(m_peer), *peer, f->epoch);
    if (!choice.psk)
        return refuse(choice.refusal);
    noise::HandshakeConfig hc;
    hc.pattern = noise::Pattern::KKpsk0;
    hc.initiator = false;
    hc.prologue = skbp::federatePrologue(m_peer, m_ctx.config.name, f->epoch);
    hc.localStatic = m_ctx.identity.privateKey;
    hc.remoteStatic = peer->publicKey;
    hc.psk = *choice.psk;
    auto hs = noise::HandshakeState::create(std::move(hc));
    // A copy of the dialler's msg1 must not make a pending K_AB that nobody holds (§4's replay
    // rule, as for phones): answered ephemeral keys are kept with the pending key.
    const QString replayKey = QLatin1Char('@') + m_peer; // never an account's name
    const QByteArray ephemeral = f->noiseMessage.left(skbp::kKeySize);
    const bool replayed = m_ctx.store.handshakeAnswered(replayKey, f->epoch, ephemeral);
    auto payload = hs ? hs->readMessage(f->noiseMessage) : Result<QByteArray>(hs.error());
    if (!payload)
        return refuse(QStringLiteral("handshake failed (wrong static key or secret)"));
    if (replayed)
        return refuse(QStringLiteral("a replayed handshake message"));
    m_newEpoch = f->epoch + 1;
    QCborMap reply;
    reply.insert(key::epoch, qint64(m_newEpoch));
    auto msg2 = hs->writeMessage(wire::encodeMessage(reply));
    if (!msg2)
        return refuse(msg2.error().message);
    auto [i2r, r2i] = hs->split();
    auto made = skbp::interBrokerKey(hs->handshakeHash(), i2r.key(), r2i.key());
    if (!made || !m_ctx.store.recordHandshake(replayKey, f->epoch, ephemeral)
        || !m_ctx.store.setPeerPending(m_peer, m_newEpoch, *made))
        return refuse(QStringLiteral("store failure"));
    m_ownKey = std::move(*made);
    m_channel = SecureChannel(r2i, i2r);
    m_step = Step::AwaitingConfirm;
    const QByteArray out = wire::encodeEnroll2(*msg2, wire::kFederateTag);
    m_ctx.store.afterCommit([socket = QPointer<FramedSocket>(m_socket), out](bool ok) { // K_AB' durable first
        if (socket && ok)
            socket->send(out);
        else if (socket)
            socket->abort();
    });
}

void PeerHandshakeResponder::onFrame(const QByteArray &body)
{
    if (m_step == Step::AwaitingConfirm)
        onConfirm(body);
}

void PeerHandshakeResponder::onConfirm(const QByteArray &body)
{
    auto m = m_channel.open(body);
    if (!m || m->type() != wire::MessageType::Confirm)
        return refuse(QStringLiteral("expected confirm"));
    // Commit rule (§4): exactly the key this exchange made, not one a later handshake put in
    // its place meanwhile.
    const AccountRecord *rec = m_ctx.store.peer(m_peer);
    if (!rec || !rec->holdsPending(m_newEpoch, m_ownKey) || !m_ctx.store.commitPeerPending(m_peer))
        return refuse(QStringLiteral("handshake superseded"));
    m_ownKey.clear();
    m_deadline.stop();
    m_step = Step::Done;
    m_ctx.log(QStringLiteral("peer %1: inter-broker key epoch %2 committed (confirm), fp %3")
                  .arg(m_peer)
                  .arg(m_newEpoch)
                  .arg(skbp::fingerprint(m_ctx.store.peer(m_peer)->key)));
    QCborMap enrolled = wire::message(wire::MessageType::Enrolled);
    enrolled.insert(key::epoch, qint64(m_newEpoch));
    auto sealed = m_channel.seal(enrolled);
    m_ctx.store.afterCommit([socket = QPointer<FramedSocket>(m_socket), sealed](bool ok) {
        if (!socket)
            return;
        if (ok && sealed)
            socket->send(*sealed);
        socket->closeGracefully();
    });
    Q_EMIT finished(true, m_newEpoch, {});
}

// ---- the login ------------------------------------------------------------------------------------

PeerLoginResponder::PeerLoginResponder(ResponderContext context, FramedSocket *socket)
    : QObject(socket), m_ctx(std::move(context)), m_socket(socket)
{
    m_deadline.setSingleShot(true);
    connect(&m_deadline, &QTimer::timeout, m_socket, &FramedSocket::abort);
    m_deadline.start(m_ctx.config.handshakeTimeoutMs);
    connect(m_socket, &FramedSocket::frameReceived, this, &PeerLoginResponder::onFrame);
    connect(m_socket, &FramedSocket::disconnected, this, [this] {
        if (m_step == Step::Done || m_step == Step::Failed)
            return;
        m_step = Step::Failed;
        m_loginKey.clear();
        Q_EMIT finished(false, QStringLiteral("the connection went before the login ended"));
    });
}

void PeerLoginResponder::refuse(const QString &why, ErrorCode code)
{
    m_step = Step::Failed;
    m_loginKey.clear();
    refuseOn(m_socket, m_ctx, m_peer, why, code);
    Q_EMIT finished(false, why);
}

void PeerLoginResponder::start(const QByteArray &frame)
{
    auto hello = wire::decodeHello(frame, wire::kPeerLoginTag);
    if (!hello)
        return refuse(hello.error().message, ErrorCode::BadRequest);
    m_peer = hello->account;
    m_epoch = hello->epoch;
    if (!configuredPeer(m_ctx.config, m_peer))
        return refuse(QStringLiteral("not a configured peer"));
    const AccountRecord *p = m_ctx.store.peer(m_peer);
    if (p && p->isEnrolled() && p->epoch == m_epoch) {
        m_loginKey = p->key;
    } else if (p && p->pendingEpoch != 0 && p->pendingEpoch == m_epoch) {
        m_loginKey = p->pendingKey;
        m_commit = true;
    } else {
        return refuse(QStringLiteral("unknown inter-broker key epoch %1").arg(m_epoch));
    }
    auto nb = crypto::randomBytes(skbp::kNonceSize);
    auto keys = nb ? skbp::channelKeys(m_loginKey, m_peer, m_epoch, hello->nonce, *nb) : Result<skbp::ChannelKeys>(nb.error());
    if (!keys)
        return refuse(keys.error().message);
    m_channel = SecureChannel(noise::CipherState(std::move(keys->brokerToClient)),
                              noise::CipherState(std::move(keys->clientToBroker)));
    m_step = Step::AwaitingLogin;
    m_socket->send(wire::encodeChallenge(*nb, wire::kPeerLoginTag));
}

void PeerLoginResponder::onFrame(const QByteArray &body)
{
    if (m_step != Step::AwaitingLogin)
        return;
    auto m = m_channel.open(body);
    if (!m || m->type() != wire::MessageType::Login)
        return refuse(QStringLiteral("login refused (epoch %1)").arg(m_epoch));
    // A login under the pending K_AB commits exactly that key (§4), not one a later handshake
    // put in its place between the hello and this frame; and the key may have been forgotten
    // (Broker::forgetPeer) meanwhile.
    const AccountRecord *rec = m_ctx.store.peer(m_peer);
    const bool same = rec && (m_commit ? rec->holdsPending(m_epoch, m_loginKey) : rec->holdsCurrent(m_epoch, m_loginKey));
    m_loginKey.clear();
    if (!same)
        return refuse(QStringLiteral("a login under a key forgotten meanwhile (epoch %1)").arg(m_epoch));
    if (m_commit) {
        if (!m_ctx.store.commitPeerPending(m_peer)) {
            m_step = Step::Failed;
            m_socket->abort();
            Q_EMIT finished(false, QStringLiteral("store failure"));
            return;
        }
        m_ctx.log(QStringLiteral("peer %1: inter-broker key epoch %2 committed (login under pending key)").arg(m_peer).arg(m_epoch));
    }
    m_deadline.stop();
    m_socket->disconnect(this);
    QCborMap welcome = wire::message(wire::MessageType::Welcome);
    welcome.insert(key::epoch, qint64(m_epoch));
    welcome.insert(key::broker, m_ctx.config.name);
    welcome.insert(key::fp, skbp::fingerprint(m_ctx.identity.publicKey));
    if (auto sealed = m_channel.seal(welcome))
        m_socket->send(*sealed);
    m_step = Step::Done;
    Q_EMIT finished(true, {});
}

} // namespace sotto::broker
