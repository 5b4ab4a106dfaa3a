#include "client/client.h"

#include "core/crypto.h"
#include "core/invite.h"
#include "core/log.h"

#include <algorithm>

#include <QCborArray>
#include <QDateTime>
#include <QCborMap>

namespace sotto {

namespace key = wire::key;
using Kind = TimelineEvent::Kind;

namespace {

// How long a call on a relay of its own is kept while the broker is lost (a standby takes over
// within seconds; the broker forgets a kept call nobody resumed after 30 s).
constexpr int kHoldMs = 30000;


// A socket error as a person reads it: "connection refused", not "QAbstractSocket::…".
QString describeSocketError(const QTcpSocket &tcp)
{
    switch (tcp.error()) {
    case QAbstractSocket::ConnectionRefusedError:
        return QStringLiteral("connection refused");
    case QAbstractSocket::HostNotFoundError:
        return QStringLiteral("host not found");
    case QAbstractSocket::SocketTimeoutError:
        return QStringLiteral("timed out");
    case QAbstractSocket::NetworkError:
        return QStringLiteral("network unreachable");
    case QAbstractSocket::RemoteHostClosedError:
        return QStringLiteral("the broker closed the connection");
    default:
        return tcp.errorString().isEmpty() ? QStringLiteral("connection failed") : tcp.errorString().toLower();
    }
}


} // namespace

ClientEngine::ClientEngine(Profile &profile, ClientOptions options, QObject *parent)
    : QObject(parent), m_profile(profile), m_options(std::move(options))
{
    m_reconnectTimer.setSingleShot(true);
    connect(&m_reconnectTimer, &QTimer::timeout, this, &ClientEngine::connectNow);
    m_holdTimer.setSingleShot(true);
    connect(&m_holdTimer, &QTimer::timeout, this, &ClientEngine::endHeld);
    m_loginTimer.setSingleShot(true);
    connect(&m_loginTimer, &QTimer::timeout, this, [this] {
        if (m_socket && !m_loggedIn) {
            qCInfo(lcCore) << "login timed out";
            dropConnection(QStringLiteral("the broker did not answer the login"));
        }
    });
    m_refreshTimer.setSingleShot(true);
    connect(&m_refreshTimer, &QTimer::timeout, this, [this] {
        m_refreshWanted = true;
        maybeRefresh();
    });
    connect(&m_keepAliveTimer, &QTimer::timeout, this, &ClientEngine::onKeepAlive);
}

ClientEngine::~ClientEngine()
{
    m_running = false;
    if (m_socket)
        m_socket->disconnect(this);
}

void ClientEngine::setState(State s)
{
    if (m_state == s)
        return;
    m_state = s;
    Q_EMIT stateChanged(s);
}

void ClientEngine::addEvent(TimelineEvent e)
{
    m_timeline.append(std::move(e));
}

ClientEngine::Session *ClientEngine::find(const QByteArray &sid)
{
    auto it = m_sessions.find(sid);
    return it == m_sessions.end() ? nullptr : &it->second;
}

// ---- enrolment and refresh (§4) ------------------------------------------------------------

void ClientEngine::enrol(const InviteLink &link)
{
    // A device the broker refused for good takes a new invite in place of its dead key.
    const auto rejoin = m_refused ? Profile::Rejoin::Yes : Profile::Rejoin::No;
    if (auto r = m_profile.adoptInvite(link, rejoin); !r) {
        const Error e = r.error();
        QTimer::singleShot(0, this, [this, e] { Q_EMIT enrolFailed(e); });
        return;
    }
    auto *enroller = new Enroller(m_profile, m_options.device, this);
    m_enroller = enroller;
    connect(enroller, &Enroller::finished, this,
            [this, enroller](bool ok, quint32 epoch, const QString &fp, const Error &error) {
                enroller->deleteLater();
                if (!ok) {
                    Q_EMIT enrolFailed(error);
                    return;
                }
                const QString me = m_profile.account();
                addEvent({.kind = Kind::Enrolled,
                          .epoch = epoch,
                          .fp = fp,
                          .notation = QStringLiteral("K_%1 = DH(%1, broker)").arg(me),
                          .text = QStringLiteral("enrolled with the broker %1 · Diffie-Hellman (Noise NKpsk0) · " "K_%2 epoch %3 · fp %4").arg(m_profile.brokerFingerprint(), me).arg(epoch).arg(fp)});
                Q_EMIT enrolled(epoch);
            });
    enroller->start(m_options.enrolTimeoutMs);
}

QHostAddress ClientEngine::brokerAddress() const
{
    return m_socket && m_socket->socket() ? m_socket->socket()->peerAddress() : QHostAddress();
}

QDateTime ClientEngine::nextRefresh() const
{
    return m_refreshDue;
}

void ClientEngine::setRefreshInterval(qint64 secs)
{
    m_options.refreshIntervalSecs = std::max<qint64>(0, secs);
    if (m_state == State::Online)
        scheduleRefresh(-1);
}

// brokerSecs: the broker's refresh_in from the welcome (-1: keep what we had from the broker).
void ClientEngine::scheduleRefresh(qint64 brokerSecs)
{
    const QDateTime now = QDateTime::currentDateTimeUtc();
    if (brokerSecs >= 0)
        m_brokerRefreshDue = now.addSecs(brokerSecs);
    QDateTime due = m_brokerRefreshDue;
    if (m_options.refreshIntervalSecs > 0) {
        const QDateTime local = m_lastRefresh.isValid() ? m_lastRefresh.addSecs(m_options.refreshIntervalSecs)
                                                        : now.addSecs(m_options.refreshIntervalSecs);
        if (!due.isValid() || local < due)
            due = local;
    }
    m_refreshDue = due;
    if (!due.isValid()) {
        m_refreshTimer.stop();
        return;
    }
    constexpr qint64 kMaxMs = qint64(24) * 24 * 3600 * 1000; // a QTimer holds an int
    m_refreshTimer.start(int(std::clamp<qint64>(now.msecsTo(due), 0, kMaxMs)));
}

void ClientEngine::refresh()
{
    m_refreshWanted = true;
    maybeRefresh();
}

void ClientEngine::maybeRefresh()
{
    if (!m_refreshWanted || m_enroller || !m_profile.isEnrolled() || m_state != State::Online || !isIdle())
        return;
    m_refreshWanted = false;
    auto *enroller = new Enroller(m_profile, m_options.device, this);
    m_enroller = enroller;
    const quint32 from = m_profile.epoch();
    connect(enroller, &Enroller::finished, this,
            [this, enroller, from](bool ok, quint32 epoch, const QString &fp, const Error &error) {
                enroller->deleteLater();
                if (!ok) {
                    qCInfo(lcCore) << "refresh failed:" << error.message;
                    m_refreshTimer.start(30000); // try again later; the old key stays good
                    Q_EMIT refreshFailed(error);
                    return;
                }
                m_lastRefresh = QDateTime::currentDateTimeUtc();
                if (m_brokerRefreshDue.isValid() && m_brokerRefreshDue <= m_lastRefresh)
                    m_brokerRefreshDue = {};
                scheduleRefresh(-1);
                const QString me = m_profile.account();
                addEvent({.kind = Kind::Refreshed,
                          .epoch = epoch,
                          .fp = fp,
                          .notation = QStringLiteral("K_%1' = DH(%1, broker) under psk K_%1").arg(me),
                          .text = QStringLiteral("refresh · Diffie-Hellman · chain broken · epoch %1 → %2 · fp %3").arg(from).arg(epoch).arg(fp)});
                Q_EMIT refreshed(epoch);
            });
    enroller->start(m_options.enrolTimeoutMs);
}

// ---- login and the session channel (§5) ----------------------------------------------------

void ClientEngine::start()
{
    m_running = true;
    m_refused = false;
    m_backoffMs = 0;
    if (!m_socket)
        connectNow();
}

void ClientEngine::stop()
{
    m_running = false;
    m_reconnectTimer.stop();
    m_refreshTimer.stop();
    for (auto &[sid, s] : m_sessions) {
        if (m_loggedIn)
            send(wire::aboutSession(wire::MessageType::Leave, sid));
    }
    std::vector<QByteArray> sids;
    for (const auto &[sid, s] : m_sessions)
        sids.push_back(sid);
    for (const QByteArray &sid : sids)
        endLocally(sid, EndReason::Hangup);
    if (m_socket) {
        m_socket->closeGracefully();
        m_socket = nullptr;
    }
    m_loggedIn = false;
    m_channel = SecureChannel();
    setState(State::Offline);
}

void ClientEngine::connectNow()
{
    if (!m_running || m_socket)
        return;
    if (!m_profile.hasIdentity() || (!m_profile.isEnrolled() && m_profile.pendingEpoch() == 0)) {
        m_running = false;
        Q_EMIT loginFailed(makeError(ErrorCode::Usage, QStringLiteral("this profile is not enrolled")));
        return;
    }
    const QPointer<ClientEngine> alive(this);
    setState(State::Connecting);
    if (!alive || !m_running || m_socket)
        return; // a handler of stateChanged stopped us (or connected already)
    auto *tcp = new QTcpSocket;
    m_socket = new FramedSocket(tcp, this);
    m_socket->enableKeepAlive(60);
    connect(m_socket, &FramedSocket::connected, this, &ClientEngine::onConnected);
    connect(m_socket, &FramedSocket::frameReceived, this, &ClientEngine::onFrame);
    connect(m_socket, &FramedSocket::disconnected, this, &ClientEngine::onDisconnected);
    m_loginTimer.start(m_options.loginTimeoutMs);
    const auto [host, port] = currentAddress();
    tcp->connectToHost(host, port);
}

std::pair<QString, quint16> ClientEngine::currentAddress() const
{
    const QStringList all = m_profile.brokerAddresses();
    const QString text = all.at(m_addressIndex % all.size());
    auto hp = parseHostPort(text, skbp::kDefaultPort);
    if (!hp)
        return {m_profile.brokerHost(), m_profile.brokerPort()};
    return *hp;
}

QString ClientEngine::currentAddressText() const
{
    const QStringList all = m_profile.brokerAddresses();
    return all.at(m_addressIndex % all.size());
}

void ClientEngine::onConnected()
{
    // Commit rule: a pending key is tried first; success commits it. Only a definite "auth"
    // answer to it (not a lost connection) makes us fall back to the current key.
    if (m_profile.pendingEpoch() != 0 && !m_pendingRefused) {
        m_loginEpoch = m_profile.pendingEpoch();
    } else {
        m_loginEpoch = m_profile.epoch();
    }
    auto nonce = crypto::randomBytes(skbp::kNonceSize);
    if (!nonce || m_loginEpoch == 0)
        return dropConnection(QStringLiteral("no randomness"));
    m_nonce = *nonce;
    m_channel = SecureChannel();
    m_socket->send(wire::encodeHello({m_profile.account(), m_loginEpoch, m_nonce}));
}

// Every way out of onFrame tears the connection down first and emits last: a handler of
// loginFailed may stop or even destroy the engine, and nothing here touches it afterwards.
void ClientEngine::onFrame(const QByteArray &body)
{
    m_sinceLastFrame.start();
    if (!m_channel.isOpen()) {
        if (auto e = wire::decodeCleartextError(body)) {
            // Before the challenge no broker has judged our key (it answers a wrong one only after
            // our first sealed frame): a standby, a broker that cannot serve now, or a stranger's
            // frame. The next address (or the same one after the back-off) is tried.
            return dropConnection(e->message);
        }
        auto nb = wire::decodeChallenge(body);
        const SecretBytes *key = m_profile.keyForEpoch(m_loginEpoch);
        if (!nb || !key)
            return dropConnection(QStringLiteral("the broker's challenge is malformed"));
        auto keys = skbp::channelKeys(*key, m_profile.account(), m_loginEpoch, m_nonce, *nb);
        if (!keys)
            return dropConnection(keys.error().message);
        m_channel = SecureChannel(noise::CipherState(std::move(keys->clientToBroker)),
                                  noise::CipherState(std::move(keys->brokerToClient)));
        QCborMap login = wire::message(wire::MessageType::Login);
        login.insert(key::client, m_options.device);
        send(login);
        return;
    }
    auto plain = m_channel.openRaw(body);
    auto m = plain ? wire::decodeMessage(*plain) : Result<wire::Message>(plain.error());
    if (!m && plain && wire::isUnknownType(*plain)) {
        qCDebug(lcCore) << "ignoring a message of a type this phone does not know";
        return;
    }
    if (!m) {
        auto e = plain ? std::nullopt : wire::decodeCleartextError(body);
        if (!e) {
            qCWarning(lcCore) << "dropping the broker connection:" << m.error().message;
            return dropConnection(QStringLiteral("the broker sent a bad frame"));
        }
        const bool pendingFailed = m_loginEpoch == m_profile.pendingEpoch() && m_profile.isEnrolled();
        if (e->code == ErrorCode::Auth && pendingFailed) {
            // The broker never committed the pending key: fall back to the current one now.
            m_pendingRefused = true;
            dropSocket();
            m_channel = SecureChannel();
            connectNow();
            return;
        }
        m_pendingRefused = false; // next time start again from the pending key
        if (e->code == ErrorCode::Auth)
            return refuseForGood(*e);
        return dropConnection(e->message);
    }
    if (!m_loggedIn) {
        if (m->type() == wire::MessageType::Welcome)
            return onWelcome(*m);
        if (m->type() == wire::MessageType::Error && errorCodeFromName(m->text(key::code)) == ErrorCode::Auth)
            return refuseForGood(Error{ErrorCode::Auth, m->text(key::msg)});
        return dropConnection(m->type() == wire::MessageType::Error ? m->text(key::msg)
                                                                    : QStringLiteral("the broker answered the login with \"%1\"").arg(m->typeName()));
    }
    handle(*m);
}

void ClientEngine::dropSocket()
{
    if (!m_socket)
        return;
    m_socket->disconnect(this);
    m_socket->abort();
    m_socket->deleteLater();
    m_socket = nullptr;
}

void ClientEngine::dropConnection(const QString &why)
{
    m_failure = why;
    if (m_socket)
        m_socket->abort();
    onDisconnected();
}

void ClientEngine::refuseForGood(const Error &error)
{
    // The broker no longer takes this device's key (revoked, or replaced by another device):
    // retrying cannot help, only a new invite can. Stop, say so, and tell the owner last.
    qCInfo(lcCore) << "the broker refused this device's key:" << error.message;
    m_running = false;
    m_refused = true; // onDisconnected() says so in the offline reason
    m_reconnectTimer.stop();
    m_failure = error.message;
    if (m_socket)
        m_socket->abort();
    const QPointer<ClientEngine> alive(this);
    onDisconnected();
    if (alive)
        Q_EMIT loginFailed(error);
}

void ClientEngine::onWelcome(const wire::Message &m)
{
    m_loginTimer.stop();
    m_loggedIn = true;
    m_offlineReason.clear();
    m_backoffMs = 0;
    m_failedInRound = 0;
    if (m.has(key::brokers)) {
        QStringList brokers;
        for (const QCborValue &v : m.map().value(key::brokers).toArray())
            brokers.append(v.toString());
        (void)m_profile.setBrokerAlternates(brokers);
    }
    const quint32 pending = m_profile.pendingEpoch();
    std::optional<std::pair<bool, quint32>> committed; // (first enrolment?, epoch), told at the end
    if (pending != 0 && m_loginEpoch == pending) {
        // The broker accepted the pending key: it holds it, so it is ours now (commit rule).
        const bool first = !m_profile.isEnrolled(); // epochs only grow: a re-join's first may be > 1
        if (m_profile.commitPending()) {
            const QString me = m_profile.account();
            addEvent({.kind = first ? Kind::Enrolled : Kind::Refreshed,
                      .epoch = pending,
                      .fp = skbp::fingerprint(m_profile.key()),
                      .notation = QStringLiteral("K_%1 = DH(%1, broker)").arg(me),
                      .text = QStringLiteral("%1 · confirmed by login · epoch %2 · fp %3").arg(first ? QStringLiteral("enrolled") : QStringLiteral("refresh · Diffie-Hellman · chain broken")).arg(pending).arg(skbp::fingerprint(m_profile.key()))});
            committed = std::make_pair(first, pending);
        }
    } else if (pending != 0 && m_pendingRefused) {
        (void)m_profile.discardPending(); // the broker refused it and took the current key
    }
    m_pendingRefused = false;
    m_keyMode = m.text(key::key_mode) == QLatin1StringView("patent") ? skbp::KeyMode::Patent : skbp::KeyMode::Derived;
    (void)m_profile.setBrokerName(m.text(key::broker));
    if (!m_lastRefresh.isValid())
        m_lastRefresh = QDateTime::currentDateTimeUtc();
    scheduleRefresh(m.has(key::refresh_in) ? qint64(m.u32(key::refresh_in)) : -1);
    if (m_options.keepAliveMs > 0)
        m_keepAliveTimer.start(m_options.keepAliveMs);
    requestDirectory();
    resumeHeld();
    // The news last: each handler may stop (or destroy) the engine.
    const QPointer<ClientEngine> alive(this);
    setState(State::Online);
    if (!alive || !committed || m_state != State::Online)
        return;
    if (committed->first)
        Q_EMIT enrolled(committed->second);
    else
        Q_EMIT refreshed(committed->second);
}

void ClientEngine::resumeHeld()
{
    for (const auto &[sid, s] : m_sessions) {
        if (!s.held)
            continue;
        const quint32 id = m_nextId++;
        QCborMap m = wire::aboutSession(wire::MessageType::Resume, sid);
        m.insert(key::id, qint64(id));
        m_resumes[id] = sid;
        send(m);
    }
}

void ClientEngine::onOk(const wire::Message &m)
{
    auto id = m.id();
    auto it = id ? m_resumes.find(*id) : m_resumes.end();
    if (it == m_resumes.end())
        return;
    if (auto s = m_sessions.find(it->second); s != m_sessions.end()) {
        s->second.held = false;
        qCInfo(lcCore) << "a call kept over the lost broker was resumed";
    }
    m_resumes.erase(it);
}

void ClientEngine::endHeld()
{
    std::vector<QByteArray> sids;
    for (const auto &[sid, s] : m_sessions) {
        if (s.held)
            sids.push_back(sid);
    }
    for (const QByteArray &sid : sids)
        endLocally(sid, EndReason::Disconnected);
}

void ClientEngine::onKeepAlive()
{
    if (!m_socket || !m_loggedIn)
        return;
    if (m_sinceLastFrame.isValid() && m_sinceLastFrame.elapsed() > 3 * qint64(m_options.keepAliveMs)) {
        qCInfo(lcCore) << "the broker has been silent for" << m_sinceLastFrame.elapsed() / 1000 << "s: reconnecting";
        return dropConnection(QStringLiteral("the broker went silent"));
    }
    send(wire::message(wire::MessageType::Ping));
}

void ClientEngine::onDisconnected()
{
    const bool wasLoggedInNow = m_loggedIn;
    QString reason = std::exchange(m_failure, QString());
    if (reason.isEmpty() && wasLoggedInNow)
        reason = QStringLiteral("connection lost");
    if (reason.isEmpty() && m_socket && m_socket->socket())
        reason = !m_socket->closeReason().isEmpty() ? m_socket->closeReason() : describeSocketError(*m_socket->socket());
    if (reason.isEmpty())
        reason = QStringLiteral("connection failed");
    m_offlineReason = QStringLiteral("cannot reach %1 (%2)").arg(currentAddressText(), reason);
    if (wasLoggedInNow)
        m_offlineReason = QStringLiteral("lost the broker at %1 (%2)").arg(currentAddressText(), reason);
    if (m_refused)
        m_offlineReason = QStringLiteral("the broker at %1 no longer accepts this device's key (it was removed or "
                                         "replaced): a new invite brings it back")
                              .arg(currentAddressText());
    dropSocket();
    m_loginTimer.stop();
    m_keepAliveTimer.stop();
    m_sinceLastFrame.invalidate();
    m_directory.connectionLost();
    const bool wasLoggedIn = m_loggedIn;
    m_loggedIn = false;
    m_channel = SecureChannel();
    std::vector<QByteArray> sids;
    for (auto &[sid, s] : m_sessions) {
        // A call whose media rides a relay of its own goes on without a broker: kept, to be
        // resumed at the next login (a standby that takes over adopts it).
        if (m_running && s.info.keyed && s.info.answered && !s.info.relayHost.isEmpty()) {
            s.held = true;
            continue;
        }
        sids.push_back(sid);
    }
    // From here on every signal's handler may stop the engine, start another call, or destroy
    // the engine: nothing below iterates a member while it emits, and nothing runs on once the
    // engine is gone.
    const QPointer<ClientEngine> alive(this);
    for (const QByteArray &sid : sids) {
        endLocally(sid, EndReason::Disconnected);
        if (!alive)
            return;
    }
    m_resumes.clear();
    if (std::any_of(m_sessions.begin(), m_sessions.end(), [](const auto &s) { return s.second.held; })) {
        qCInfo(lcCore) << "calls on relays of their own are kept while the broker is lost";
        if (!m_holdTimer.isActive())
            m_holdTimer.start(kHoldMs);
    }
    for (const auto &[id, call] : std::exchange(m_pendingCalls, {})) {
        Q_EMIT callFailed(id, call.to, makeError(ErrorCode::Network, QStringLiteral("connection lost")));
        if (!alive)
            return;
    }
    if (wasLoggedIn)
        qCInfo(lcCore) << "disconnected from the broker";
    if (m_running) {
        setState(State::Connecting);
        if (alive && m_running && !m_socket) // a handler may have stopped us, or started again
            scheduleReconnect();
    } else {
        setState(State::Offline);
    }
}

void ClientEngine::scheduleReconnect()
{
    // A broker with other instances: an attempt that failed (or found a standby) moves on to
    // the next address at once; the back-off runs once every address has failed in a row.
    const int addresses = int(m_profile.brokerAddresses().size());
    if (addresses > 1) {
        m_addressIndex = (m_addressIndex + 1) % addresses;
        if (++m_failedInRound < addresses) {
            m_reconnectTimer.start(0);
            Q_EMIT retryScheduled(0, m_offlineReason);
            return;
        }
        m_failedInRound = 0;
    }
    m_backoffMs = m_backoffMs == 0 ? m_options.minBackoffMs : std::min(m_backoffMs * 2, m_options.maxBackoffMs);
    m_reconnectTimer.start(m_backoffMs);
    Q_EMIT retryScheduled(m_backoffMs, m_offlineReason);
}

QDateTime ClientEngine::nextRetry() const
{
    if (!m_reconnectTimer.isActive())
        return {};
    return QDateTime::currentDateTimeUtc().addMSecs(m_reconnectTimer.remainingTime());
}

void ClientEngine::reconnectNow()
{
    if (!m_running || m_socket)
        return;
    m_reconnectTimer.stop();
    m_backoffMs = 0;
    connectNow();
}


void ClientEngine::send(const QCborMap &message)
{
    if (!m_socket || !m_channel.isOpen())
        return;
    auto sealed = m_channel.seal(message);
    if (sealed)
        m_socket->send(*sealed);
}

void ClientEngine::handle(const wire::Message &m)
{
    dispatch(m);
}

void ClientEngine::onPresence(const wire::Message &m)
{
    const QString who = m.text(key::account);
    m_directory.setSelf(m_profile.account());
    if (m_directory.takePresence(who, m.boolean(key::online)))
        Q_EMIT presenceChanged(who, m.boolean(key::online));
}

void ClientEngine::onRefreshDue(const wire::Message &)
{
    m_refreshWanted = true;
    maybeRefresh();
}

// Pages until one without "more" (§6.2): the contacts change once, at the last (Directory).
void ClientEngine::onDirectory(const wire::Message &m)
{
    m_directory.setSelf(m_profile.account());
    if (m_directory.takePage(m))
        Q_EMIT directoryChanged();
}

// ---- getters ---------------------------------------------------------------------------------

std::vector<ContactInfo> ClientEngine::contacts() const
{
    return m_directory.contacts();
}

std::vector<SessionInfo> ClientEngine::sessions() const
{
    std::vector<SessionInfo> out;
    for (const auto &[sid, s] : m_sessions)
        out.push_back(s.info);
    return out;
}

std::optional<SessionInfo> ClientEngine::session(const QByteArray &sid) const
{
    auto it = m_sessions.find(sid);
    if (it == m_sessions.end())
        return std::nullopt;
    return it->second.info;
}

std::optional<SecretBytes> ClientEngine::sessionKey(const QByteArray &sid, quint32 gen) const
{
    return m_keys.sessionKey(sid, gen);
}

SecretBytes ClientEngine::relayGrantKey(const QByteArray &sid) const
{
    return m_keys.relayKey(sid);
}

Result<skbp::SrtpMaterial> ClientEngine::srtpMaterial(const QByteArray &sid, quint32 gen, quint32 ssrc) const
{
    return m_keys.srtpMaterial(sid, gen, ssrc);
}

} // namespace sotto
