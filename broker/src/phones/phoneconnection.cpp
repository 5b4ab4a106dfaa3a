#include "phones/phoneconnection.h"
#include "phones/phoneresponders.h"

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
        const QString why = QStringLiteral("handshake timed out"); // not a verdict on any key
        if (m_enrolment)
            m_enrolment->abort(ErrorCode::BadRequest, why); // its finished closes us
        else if (m_login)
            m_login->abort(ErrorCode::BadRequest, why);
        else if (m_phase != Phase::Online)
            fail(ErrorCode::BadRequest, why);
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
    // A responder may be what is emitting now: it is stopped here and goes later.
    for (QObject *r : {static_cast<QObject *>(m_enrolment), static_cast<QObject *>(m_login)}) {
        if (r)
            r->deleteLater();
    }
    if (m_enrolment)
        m_enrolment->drop();
    if (m_login)
        m_login->drop();
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
    if (m_phase != Phase::Online)
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
    if (m_channel.isOpen() && m_phase == Phase::Online)
        sendError(code, msg);
    else
        m_socket->send(wire::encodeCleartextError(code, msg));
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
    case Phase::Enrolling:
        m_enrolment->take(body);
        break;
    case Phase::LoggingIn:
        m_login->take(body);
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

PhoneResponderContext PhoneConnection::responderContext()
{
    return {.store = m_ctx.store,
            .config = m_ctx.config,
            .identity = m_ctx.identity,
            .log = m_ctx.log,
            .keyCommitted =
                [router = &m_ctx.router, outbox = &m_ctx.outbox](const QString &account) {
                    router->rotation().onKeyCommitted(account);
                    outbox->accountsChanged();
                },
            .replaced =
                [this](const QString &account) {
                    if (m_ctx.replaced)
                        m_ctx.replaced(account, this); // the old device's channel and calls go now
                }};
}

// §4: the EnrolmentResponder's; the connection closes when it finishes, either way.
void PhoneConnection::startEnrolment(const QByteArray &body)
{
    m_phase = Phase::Enrolling;
    m_enrolment = new EnrolmentResponder(responderContext(), m_socket, this);
    connect(m_enrolment, &EnrolmentResponder::finished, this, [this] { close(); });
    m_enrolment->start(body);
    if (m_enrolment)
        m_account = m_enrolment->account();
}

// §5: the LoginResponder's; then the welcome, and the session channel is ours.
void PhoneConnection::startLogin(const QByteArray &body)
{
    m_phase = Phase::LoggingIn;
    m_login = new LoginResponder(responderContext(), m_socket, this);
    connect(m_login, &LoginResponder::finished, this, [this](bool ok) {
        if (ok)
            goOnline();
        else
            close();
    });
    m_login->start(body);
    if (m_login)
        m_account = m_login->account();
}

void PhoneConnection::goOnline()
{
    LoginResponder *login = m_login;
    m_login = nullptr;
    login->deleteLater(); // it is emitting now
    m_account = login->account();
    const quint32 epoch = login->epoch();
    m_channel = login->takeChannel();
    m_phase = Phase::Online;
    m_deadline.stop();
    Store &store = m_ctx.store;
    const AccountRecord *a = store.account(m_account);
    QCborMap welcome = wire::message(wire::MessageType::Welcome);
    welcome.insert(key::epoch, qint64(epoch));
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
