#include "phones/phoneconnection.h"
#include "phones/keychoice.h"

#include "broker/store.h"
#include "broker/log.h"
#include "calls/callrouter.h"
#include "federation/federation.h"
#include "core/skbp.h"

#include <QCborArray>
#include <QCborMap>
#include <QDateTime>
#include <QPointer>

namespace sotto::broker {

namespace key = wire::key;

namespace {
constexpr double kBurst = 1000;      // messages
constexpr double kRefillPerSec = 500; // messages a second, sustained
} // namespace

PhoneConnection::PhoneConnection(PhoneConnectionContext context, QTcpSocket *socket, QObject *parent)
    : QObject(parent), m_ctx(std::move(context)), m_socket(new FramedSocket(socket, this))
{
    m_tokens = kBurst;
    m_tokenClock.start();
    connect(m_socket, &FramedSocket::frameReceived, this, &PhoneConnection::onFrame);
    connect(m_socket, &FramedSocket::disconnected, this, &PhoneConnection::close);
    connect(m_socket, &FramedSocket::protocolError, this, [this](const QString &reason) {
        if (reason.startsWith(QLatin1StringView("too slow")))
            m_ctx.log(QStringLiteral("%1 (%2): closed, %3")
                             .arg(m_account.isEmpty() ? QStringLiteral("a connection") : m_account,
                                  m_socket ? m_socket->peerName() : QString(), reason));
        else
            qCDebug(lcBroker) << "protocol error from" << (m_socket ? m_socket->peerName() : QString()) << reason;
    });
    // §3: enrolment or login must finish within the deadline.
    m_deadline.setSingleShot(true);
    connect(&m_deadline, &QTimer::timeout, this, [this] {
        if (m_phase != Phase::Online && m_phase != Phase::Closed)
            fail(ErrorCode::BadRequest, QStringLiteral("handshake timed out")); // not a verdict on any key
    });
    m_deadline.start(m_ctx.config.handshakeTimeoutMs);
    m_socket->setOutputLimits(m_ctx.config.outputLimits);
    m_socket->enableKeepAlive(m_ctx.config.keepAliveIdleSecs);
    m_idle.setSingleShot(true);
    connect(&m_idle, &QTimer::timeout, this, &PhoneConnection::onIdle);
}

void PhoneConnection::onIdle()
{
    // A phone that vanished (no FIN, no RST) would stay "online" until a write failed; phones
    // ping well within the timeout, so silence this long means it is gone.
    m_ctx.log(QStringLiteral("%1: no frame for %2 s, closing the channel")
                     .arg(m_account)
                     .arg(m_ctx.config.idleTimeoutMs / 1000.0));
    close();
}

void PhoneConnection::close()
{
    if (m_phase == Phase::Closed)
        return;
    m_phase = Phase::Closed;
    m_deadline.stop();
    m_idle.stop();
    m_ownKey.clear();
    // Output the peer has not read stays queued for a graceful close; a lot of it is dropped at
    // once (a client that logs in again and again must not hold the cap many times over).
    if (m_socket->pendingOutputBytes() > 64 * 1024)
        m_socket->abort();
    m_socket->closeGracefully();
    m_socket = nullptr;
    Q_EMIT closed(this);
}

bool PhoneConnection::sendMessage(const QCborMap &message)
{
    if (m_phase != Phase::Online && m_phase != Phase::EnrolConfirm)
        return false;
    auto sealed = m_channel.seal(message);
    if (!sealed) {
        // Nothing was sealed, so the channel's counters still agree (§3). A request still gets
        // an answer it can act on.
        const QString type = message.value(key::t).toString();
        qCWarning(lcBroker).noquote() << QStringLiteral("%1: \"%2\" not sent: %3").arg(m_account, type, sealed.error().message);
        const QCborValue id = message.value(key::id);
        if (sealed.error().code == ErrorCode::TooLarge && type != QLatin1StringView("error"))
            return sendMessage(wire::errorMessage(ErrorCode::Internal, QStringLiteral("the answer is too large for a frame"),
                                                  id.isInteger() ? std::optional<quint32>(quint32(id.toInteger())) : std::nullopt));
        return false;
    }
    return m_socket->send(*sealed);
}

void PhoneConnection::sendError(ErrorCode code, const QString &msg, std::optional<quint32> id)
{
    sendMessage(wire::errorMessage(code, msg, id));
}

void PhoneConnection::fail(ErrorCode code, const QString &msg)
{
    if (m_phase == Phase::Closed)
        return;
    if (m_channel.isOpen() && (m_phase == Phase::Online || m_phase == Phase::EnrolConfirm))
        sendError(code, msg);
    else
        m_socket->send(wire::encodeCleartextError(code, msg));
    close();
}

void PhoneConnection::failEnrolment()
{
    if (m_phase == Phase::Closed)
        return;
    m_socket->send(wire::encodeCleartextError(ErrorCode::Auth, QStringLiteral("authentication failed"), skbp::fingerprint(m_ctx.identity.publicKey)));
    close();
}

bool PhoneConnection::takeToken()
{
    const double elapsed = double(m_tokenClock.restart()) / 1000.0;
    m_tokens = std::min(kBurst, m_tokens + elapsed * kRefillPerSec);
    if (m_tokens < 1)
        return false;
    m_tokens -= 1;
    return true;
}

void PhoneConnection::onFrame(const QByteArray &body)
{
    // An instance that may no longer act for its store (its lease ran out while it was paused)
    // answers nothing: the broker steps down (from the event loop) and closes us.
    if (m_ctx.mayServe && !m_ctx.mayServe())
        return;
    switch (m_phase) {
    case Phase::Opening:
        onOpening(body);
        break;
    case Phase::EnrolConfirm:
        onEnrolConfirm(body);
        break;
    case Phase::LoginFirstFrame:
        onLoginFirstFrame(body);
        break;
    case Phase::Online:
        onMessage(body);
        break;
    case Phase::Closed:
        break;
    }
}

void PhoneConnection::onOpening(const QByteArray &body)
{
    switch (quint8(body[0])) {
    case wire::kEnrollTag:
        startEnrolment(body);
        break;
    case wire::kLoginTag:
        startLogin(body);
        break;
    case wire::kFederateTag:
    case wire::kPeerLoginTag: {
        // A peered broker: the federation takes the socket over.
        if (!m_ctx.federation) {
            fail(ErrorCode::Auth, QStringLiteral("authentication failed"));
            break;
        }
        FramedSocket *socket = m_socket;
        socket->disconnect(this);
        m_socket = nullptr;
        m_phase = Phase::Closed;
        m_deadline.stop();
        m_ctx.federation->adopt(socket, body);
        Q_EMIT closed(this);
        break;
    }
    default:
        fail(ErrorCode::BadRequest, QStringLiteral("unknown connection type"));
    }
}

// §4, broker side: msg1 → (psk check) → msg2, K_new pending (durable before msg2 leaves).
// The same work whatever the account's state (§4): one store look-up of invites, one psk, one
// X25519 — a dummy psk when nothing matches — so the refusal's timing tells nothing.
void PhoneConnection::startEnrolment(const QByteArray &body)
{
    auto frame = wire::decodeEnroll1(body);
    if (!frame) {
        fail(ErrorCode::BadRequest, frame.error().message);
        return;
    }
    Store &store = m_ctx.store;
    const AccountRecord *a = store.account(frame->account);
    std::vector<Invite> invites = store.openInvites(frame->account, QDateTime::currentSecsSinceEpoch());
    EnrolmentKey choice = enrolmentKey(a, invites, frame->epoch);
    SecretBytes psk = std::move(choice.psk);
    const qint64 invite = choice.invite;
    const bool commitRotationFirst = choice.source == EnrolmentKey::Source::PendingRotation;
    invites.clear();
    if (psk.isEmpty()) {
        auto dummy = crypto::randomSecret(skbp::kKeySize);
        if (!dummy) {
            fail(ErrorCode::Internal, QStringLiteral("no randomness"));
            return;
        }
        psk = std::move(*dummy);
    }

    noise::HandshakeConfig cfg;
    cfg.pattern = noise::Pattern::NKpsk0;
    cfg.initiator = false;
    cfg.prologue = skbp::enrollPrologue(frame->account, frame->epoch);
    cfg.localStatic = m_ctx.identity.privateKey;
    cfg.psk = std::move(psk);
    auto hs = noise::HandshakeState::create(std::move(cfg));
    if (!hs) {
        fail(ErrorCode::Internal, QStringLiteral("handshake failed"));
        return;
    }
    // A byte-for-byte copy of a msg1 passes the psk check; answering it would make a pending key
    // that nobody holds. The initiator's ephemeral key (in clear) names the attempt; it is looked
    // up for every msg1, so that the time of the answer does not tell the outcome either.
    const QByteArray ephemeral = frame->noiseMessage.left(skbp::kKeySize);
    const bool replayed = store.handshakeAnswered(frame->account, frame->epoch, ephemeral);
    auto payload = hs->readMessage(frame->noiseMessage);
    if (!payload) {
        // Same answer whether the account, the invite or the key was wrong; it names this
        // broker's public key, so that a phone holding an invite for another can say so.
        failEnrolment();
        return;
    }
    if (!wire::decodeMap(*payload)) {
        fail(ErrorCode::BadRequest, QStringLiteral("bad enrolment payload"));
        return;
    }
    if (replayed) {
        m_ctx.log(QStringLiteral("%1: a replayed enrolment message (epoch %2) refused").arg(frame->account).arg(frame->epoch));
        failEnrolment();
        return;
    }
    m_account = frame->account;
    m_epoch = frame->epoch;
    // Epochs only grow: a first enrolment after a revocation, or a replacement device, is
    // numbered above every key the account has had or has pending (an extension: PROTOCOL.md).
    m_newEpoch = frame->epoch == 0 && a ? a->nextEnrolmentEpoch() : frame->epoch + 1;
    m_replacing = frame->epoch == 0 && a && a->isEnrolled();
    QCborMap reply;
    reply.insert(key::epoch, qint64(m_newEpoch));
    auto msg2 = hs->writeMessage(wire::encodeMessage(reply));
    if (!msg2) {
        fail(ErrorCode::Internal, QStringLiteral("handshake failed"));
        return;
    }
    auto [i2r, r2i] = hs->split();
    auto newKey = skbp::brokerKey(hs->handshakeHash(), i2r.key(), r2i.key());
    if (!newKey) {
        fail(ErrorCode::Internal, QStringLiteral("key derivation failed"));
        return;
    }
    if (commitRotationFirst) {
        if (auto r = store.commitPending(m_account); !r) {
            fail(ErrorCode::Internal, QStringLiteral("store failure"));
            return;
        }
    }
    // A later handshake for the same account and epoch replaces this pending key; then this
    // connection's confirm commits nothing (m_ownKey no longer matches).
    if (auto r = store.recordHandshake(m_account, m_epoch, ephemeral); !r) {
        fail(ErrorCode::Internal, QStringLiteral("store failure"));
        return;
    }
    // A replacement's key waits beside the old device's (its own pending rotation or refresh
    // included): the old device keeps working until the replacement commits.
    auto pending = m_replacing ? store.setReplacement(m_account, m_newEpoch, *newKey, invite)
                               : store.setPending(m_account, m_newEpoch, *newKey, PendingKind::Handshake, invite);
    if (!pending) {
        fail(ErrorCode::Internal, QStringLiteral("store failure"));
        return;
    }
    m_ownKey = std::move(*newKey);
    m_channel = SecureChannel(r2i, i2r);
    m_phase = Phase::EnrolConfirm;
    m_ctx.log(QStringLiteral("%1: Diffie-Hellman %2 at epoch %3 (pending epoch %4, %5)")
                     .arg(m_account, m_replacing      ? QStringLiteral("enrolment of a replacement device")
                                     : frame->epoch == 0 ? QStringLiteral("enrolment")
                                                         : QStringLiteral("refresh"))
                     .arg(frame->epoch)
                     .arg(m_newEpoch)
                     .arg(skbp::fingerprint(m_ownKey)));
    const QByteArray out = wire::encodeEnroll2(*msg2);
    store.afterCommit([self = QPointer<PhoneConnection>(this), out](bool ok) {
        if (!self || self->m_phase == Phase::Closed)
            return;
        if (ok)
            self->m_socket->send(out);
        else
            self->fail(ErrorCode::Internal, QStringLiteral("store failure"));
    });
}

bool PhoneConnection::replacementInviteOpen()
{
    // The replacement's invite must still be open when its key commits: one that ran out, or
    // that the operator replaced (a leaked link), makes a key nobody may take the account with.
    const AccountRecord *a = m_ctx.store.account(m_account);
    if (!a || a->replaceEpoch == 0)
        return false;
    const qint64 id = a->replaceInvite;
    for (const Invite &i : m_ctx.store.openInvites(m_account, QDateTime::currentSecsSinceEpoch())) {
        if (i.id == id)
            return true;
    }
    (void)m_ctx.store.setReplacement(m_account, 0, SecretBytes(), 0);
    m_ctx.log(QStringLiteral("%1: a replacement device's key refused: its invite is no longer open").arg(m_account));
    return false;
}

Result<void> PhoneConnection::commitReplacement()
{
    if (auto r = m_ctx.store.commitReplacement(m_account); !r)
        return r;
    m_ctx.log(QStringLiteral("%1: a replacement device's key committed (epoch %2): the old device's key is no "
                             "longer accepted")
                     .arg(m_account)
                     .arg(m_newEpoch));
    if (m_ctx.replaced)
        m_ctx.replaced(m_account, this); // the old device's channel and calls go now
    return {};
}

void PhoneConnection::onEnrolConfirm(const QByteArray &body)
{
    auto m = m_channel.open(body);
    if (!m || m->type() != wire::MessageType::Confirm) {
        fail(m ? ErrorCode::BadRequest : (m.error().code == ErrorCode::Crypto ? ErrorCode::Auth
                                                                               : ErrorCode::BadRequest),
             m ? QStringLiteral("expected confirm") : m.error().message);
        return;
    }
    Store &store = m_ctx.store;
    // Exactly the key negotiated here (§4): another handshake's pending key for the same
    // account and epoch is not this client's to commit.
    const AccountRecord *a = store.account(m_account);
    const bool own = m_replacing ? (a && a->holdsReplacement(m_newEpoch, m_ownKey)) && replacementInviteOpen()
                                 : (a && a->pendingKind == PendingKind::Handshake && a->holdsPending(m_newEpoch, m_ownKey));
    if (!own) {
        m_ctx.log(QStringLiteral("%1: confirm for a superseded handshake (epoch %2) refused").arg(m_account).arg(m_newEpoch));
        fail(ErrorCode::Auth, QStringLiteral("enrolment superseded"));
        return;
    }
    if (auto r = m_replacing ? commitReplacement() : store.commitPending(m_account); !r) {
        fail(ErrorCode::Internal, QStringLiteral("store failure"));
        return;
    }
    m_ownKey.clear();
    m_ctx.log(QStringLiteral("%1: epoch %2 committed (confirm)").arg(m_account).arg(m_newEpoch));
    QCborMap enrolled = wire::message(wire::MessageType::Enrolled);
    enrolled.insert(key::epoch, qint64(m_newEpoch));
    store.afterCommit([self = QPointer<PhoneConnection>(this), enrolled](bool ok) {
        if (!self)
            return;
        if (ok)
            self->sendMessage(enrolled);
        self->close();
    });
    m_ctx.router.rotation().onKeyCommitted(m_account);
    m_ctx.outbox.accountsChanged();
}

// §5, broker side. Unknown accounts and epochs get a challenge too, and fail at the first frame
// exactly like a wrong key: the answer never tells which it was.
void PhoneConnection::startLogin(const QByteArray &body)
{
    auto hello = wire::decodeHello(body);
    if (!hello) {
        fail(ErrorCode::BadRequest, hello.error().message);
        return;
    }
    auto nb = crypto::randomBytes(skbp::kNonceSize);
    if (!nb) {
        fail(ErrorCode::Internal, QStringLiteral("no randomness"));
        return;
    }
    LoginKey choice = loginKey(m_ctx.store.account(hello->account), hello->epoch);
    SecretBytes key = std::move(choice.key);
    switch (choice.source) {
    case LoginKey::Source::Current:
        break;
    case LoginKey::Source::Pending:
        m_ownKey = key;
        m_commitOnLogin = true;
        break;
    case LoginKey::Source::Replacement: // a replacement device whose `enrolled` was lost
        m_ownKey = key;
        m_commitOnLogin = true;
        m_replacing = true;
        m_newEpoch = hello->epoch;
        break;
    case LoginKey::Source::None: {
        auto decoy = crypto::randomSecret(skbp::kKeySize);
        if (!decoy) {
            fail(ErrorCode::Internal, QStringLiteral("no randomness"));
            return;
        }
        key = std::move(*decoy);
        break;
    }
    }
    auto keys = skbp::channelKeys(key, hello->account, hello->epoch, hello->nonce, *nb);
    if (!keys) {
        fail(ErrorCode::Internal, QStringLiteral("key derivation failed"));
        return;
    }
    m_account = hello->account;
    m_epoch = hello->epoch;
    m_channel = SecureChannel(noise::CipherState(std::move(keys->brokerToClient)),
                              noise::CipherState(std::move(keys->clientToBroker)));
    m_phase = Phase::LoginFirstFrame;
    m_socket->send(wire::encodeChallenge(*nb));
}

void PhoneConnection::onLoginFirstFrame(const QByteArray &body)
{
    auto m = m_channel.open(body);
    if (!m) {
        if (m.error().code == ErrorCode::Crypto)
            m_ctx.log(QStringLiteral("login refused for \"%1\" (epoch %2)").arg(m_account).arg(m_epoch));
        // A frame we cannot decrypt: the client may not hold this key; answer in clear.
        m_channel = SecureChannel();
        fail(m.error().code == ErrorCode::Crypto ? ErrorCode::Auth : ErrorCode::BadRequest,
             m.error().code == ErrorCode::Crypto ? QStringLiteral("authentication failed")
                                                 : m.error().message);
        return;
    }
    if (m->type() != wire::MessageType::Login) {
        m_phase = Phase::Online; // the channel works; say why in it
        fail(ErrorCode::BadRequest, QStringLiteral("expected login"));
        return;
    }
    Store &store = m_ctx.store;
    const AccountRecord *pending = store.account(m_account);
    const bool stillOwn = m_replacing ? (pending && pending->holdsReplacement(m_epoch, m_ownKey)) && replacementInviteOpen()
                                      : (pending && pending->holdsPending(m_epoch, m_ownKey));
    if (m_commitOnLogin && !stillOwn) {
        // The pending key this login was keyed with was replaced meanwhile (a later handshake):
        // the client holds a key that is nobody's now; it falls back to its current one.
        fail(ErrorCode::Auth, QStringLiteral("authentication failed"));
        return;
    }
    m_ownKey.clear();
    if (m_commitOnLogin && m_replacing) {
        if (auto r = commitReplacement(); !r) {
            fail(ErrorCode::Internal, QStringLiteral("store failure"));
            return;
        }
        m_ctx.router.rotation().onKeyCommitted(m_account);
    } else if (const AccountRecord *a = store.account(m_account); a && a->hasPending()) {
        if (m_commitOnLogin && a->pendingEpoch == m_epoch) {
            if (auto r = store.commitPending(m_account); !r) {
                fail(ErrorCode::Internal, QStringLiteral("store failure"));
                return;
            }
            m_ctx.log(QStringLiteral("%1: epoch %2 committed (login under pending key)").arg(m_account).arg(m_epoch));
            m_ctx.router.rotation().onKeyCommitted(m_account);
        } else if (a->pendingKind == PendingKind::Handshake && a->pendingInvite == 0) {
            // A client tries its pending key first, so a login under the current one means it
            // never stored the new key (its msg2 was lost): drop ours, or it would block rotations.
            const quint32 stale = a->pendingEpoch;
            if (auto r = store.discardPending(m_account); !r) {
                fail(ErrorCode::Internal, QStringLiteral("store failure"));
                return;
            }
            m_ctx.log(QStringLiteral("%1: unconfirmed epoch %2 discarded (login under epoch %3)")
                             .arg(m_account)
                             .arg(stale)
                             .arg(m_epoch));
            m_ctx.router.rotation().onKeyCommitted(m_account);
        }
    }
    m_phase = Phase::Online;
    m_deadline.stop();
    const AccountRecord *a = store.account(m_account);
    QCborMap welcome = wire::message(wire::MessageType::Welcome);
    welcome.insert(key::epoch, qint64(m_epoch));
    welcome.insert(key::broker, m_ctx.config.name);
    welcome.insert(key::fp, skbp::fingerprint(m_ctx.identity.publicKey));
    welcome.insert(key::refresh_in, a ? m_ctx.refreshIn(*a) : 0);
    welcome.insert(key::key_mode, m_ctx.config.keyMode == skbp::KeyMode::Patent
                                                      ? QStringLiteral("patent")
                                                      : QStringLiteral("derived"));
    if (const QStringList brokers = m_ctx.brokers(); brokers.size() > 1)
        welcome.insert(key::brokers, QCborArray::fromStringList(brokers));
    (void)store.noteLogin(m_account, QDateTime::currentSecsSinceEpoch());
    m_ctx.online(this);
    m_ctx.outbox.sendTo(m_account, welcome);
    m_ctx.router.rotation().onLogin(m_account);
}

void PhoneConnection::onMessage(const QByteArray &body)
{
    if (m_pings && m_ctx.config.idleTimeoutMs > 0)
        m_idle.start(m_ctx.config.idleTimeoutMs);
    auto m = m_channel.open(body);
    if (!m) {
        // Tampered, replayed or reordered frames fail decryption; malformed ones the schema.
        fail(m.error().code == ErrorCode::Crypto ? ErrorCode::BadRequest : m.error().code,
             m.error().code == ErrorCode::Crypto ? QStringLiteral("frame failed authentication")
                                                 : m.error().message);
        return;
    }
    if (!takeToken()) {
        sendError(ErrorCode::RateLimited, QStringLiteral("slow down"), m->id());
        return;
    }
    handle(*m);
}

void PhoneConnection::handle(const wire::Message &m)
{
    if (auto r = dispatch(m); !r)
        m_ctx.outbox.sendTo(m_account, wire::errorMessage(r.error().code, r.error().message, m.id()));
}

Result<void> PhoneConnection::unexpected(const wire::Message &m)
{
    fail(ErrorCode::BadRequest, QStringLiteral("unexpected message \"%1\"").arg(m.typeName()));
    return {};
}

void PhoneConnection::sendOk(const wire::Message &m)
{
    if (!m.id())
        return;
    QCborMap ok = wire::message(wire::MessageType::Ok);
    ok.insert(key::id, qint64(*m.id()));
    m_ctx.outbox.sendTo(m_account, ok);
}

Result<void> PhoneConnection::onDirectory(const wire::Message &m)
{
    if (!m_wantsPresence) {
        m_wantsPresence = true;
        if (m_ctx.subscribed)
            m_ctx.subscribed(this);
    }
    for (const QCborMap &page : m_ctx.router.directory(m.id())) // §6.2: pages that each fit a frame
        m_ctx.outbox.sendTo(m_account, page);
    return {};
}

Result<void> PhoneConnection::onCall(const wire::Message &m)
{
    return m_ctx.router.call(m_account, m);
}

Result<void> PhoneConnection::onAnswer(const wire::Message &m)
{
    return m_ctx.router.answer(m_account, m.bytes(key::sid));
}

Result<void> PhoneConnection::onDecline(const wire::Message &m)
{
    return m_ctx.router.decline(m_account, m.bytes(key::sid));
}

Result<void> PhoneConnection::onInvite(const wire::Message &m)
{
    return m_ctx.router.invite(m_account, m.bytes(key::sid), m.text(key::who));
}

Result<void> PhoneConnection::onLeave(const wire::Message &m)
{
    return m_ctx.router.leave(m_account, m.bytes(key::sid));
}

Result<void> PhoneConnection::onMute(const wire::Message &m)
{
    return m_ctx.router.mute(m_account, m.bytes(key::sid), m.boolean(key::muted));
}

Result<void> PhoneConnection::onResume(const wire::Message &m)
{
    auto r = m_ctx.router.resume(m_account, m.bytes(key::sid));
    if (r)
        sendOk(m);
    return r;
}

Result<void> PhoneConnection::onRotateAck(const wire::Message &m)
{
    auto r = m_ctx.router.rotation().rotateAck(m_account, m.u32(key::epoch), m.bytes(key::proof));
    if (r)
        sendOk(m);
    return r;
}

Result<void> PhoneConnection::onPing(const wire::Message &m)
{
    // A phone that pings is held to it: silence past the idle timeout means it is gone.
    // One that never pings (the contract does not ask it to) is watched by TCP keep-alive.
    if (!m_pings && m_ctx.config.idleTimeoutMs > 0) {
        m_pings = true;
        m_idle.start(m_ctx.config.idleTimeoutMs);
    }
    QCborMap pong = wire::message(wire::MessageType::Ping);
    if (auto id = m.id())
        pong.insert(key::id, qint64(*id));
    m_ctx.outbox.sendTo(m_account, pong);
    return {};
}

} // namespace sotto::broker
