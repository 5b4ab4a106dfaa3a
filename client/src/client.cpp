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


ClientEngine::ClientEngine(Profile &profile, ClientOptions options, QObject *parent)
    : QObject(parent), m_profile(profile), m_options(std::move(options)),
      m_link(profile, {.device = m_options.device,
                       .minBackoffMs = m_options.minBackoffMs,
                       .maxBackoffMs = m_options.maxBackoffMs,
                       .loginTimeoutMs = m_options.loginTimeoutMs,
                       .keepAliveMs = m_options.keepAliveMs})
{
    m_refreshTimer.setSingleShot(true);
    connect(&m_refreshTimer, &QTimer::timeout, this, [this] {
        m_refreshWanted = true;
        maybeRefresh();
    });
    connect(&m_link, &BrokerSession::connecting, this, [this] { setState(State::Connecting); });
    connect(&m_link, &BrokerSession::online, this, &ClientEngine::onOnline);
    connect(&m_link, &BrokerSession::message, this, [this](const wire::Message &m) { dispatch(m); });
    connect(&m_link, &BrokerSession::lost, this, &ClientEngine::onLost);
    connect(&m_link, &BrokerSession::loginFailed, this, &ClientEngine::loginFailed);
    connect(&m_link, &BrokerSession::retryScheduled, this, &ClientEngine::retryScheduled);
    connect(&m_calls, &CallBook::callStarted, this, &ClientEngine::callStarted);
    connect(&m_calls, &CallBook::callFailed, this, &ClientEngine::callFailed);
    connect(&m_calls, &CallBook::incomingCall, this, &ClientEngine::incomingCall);
    connect(&m_calls, &CallBook::callAnswered, this, &ClientEngine::callAnswered);
    connect(&m_calls, &CallBook::sessionKeyChanged, this, &ClientEngine::sessionKeyChanged);
    connect(&m_calls, &CallBook::memberJoined, this, &ClientEngine::memberJoined);
    connect(&m_calls, &CallBook::memberLeft, this, &ClientEngine::memberLeft);
    connect(&m_calls, &CallBook::membersChanged, this, &ClientEngine::membersChanged);
    connect(&m_calls, &CallBook::requestFailed, this, &ClientEngine::requestFailed);
    // A refresh waits for the phone to be idle: an ended call may be the last. Queued, so that
    // it is posted before any handler of callEnded runs (one may destroy the engine).
    connect(&m_calls, &CallBook::callEnded, this, &ClientEngine::maybeRefresh, Qt::QueuedConnection);
    connect(&m_calls, &CallBook::callEnded, this, &ClientEngine::callEnded);
}

ClientEngine::~ClientEngine() = default;

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

// ---- enrolment and refresh (§4) ------------------------------------------------------------

void ClientEngine::enrol(const InviteLink &link)
{
    // A device the broker refused for good takes a new invite in place of its dead key.
    const auto rejoin = m_link.refused() ? Profile::Rejoin::Yes : Profile::Rejoin::No;
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
    return m_link.brokerAddress();
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
    m_link.start();
}

void ClientEngine::stop()
{
    m_refreshTimer.stop();
    m_calls.leaveAll(); // told to the broker before the link closes
    m_link.stop();
    setState(State::Offline);
}

QDateTime ClientEngine::nextRetry() const
{
    return m_link.nextRetry();
}

void ClientEngine::reconnectNow()
{
    m_link.reconnectNow();
}

void ClientEngine::onOnline(const wire::Message &m, BrokerLogin::Pending pending)
{
    std::optional<std::pair<bool, quint32>> committed; // (first enrolment?, epoch), told at the end
    const quint32 pendingEpoch = m_profile.pendingEpoch();
    if (pending == BrokerLogin::Pending::Proven) {
        // The broker accepted the pending key: it holds it, so it is ours now (commit rule).
        const bool first = !m_profile.isEnrolled(); // epochs only grow: a re-join's first may be > 1
        if (m_profile.commitPending()) {
            const QString me = m_profile.account();
            addEvent({.kind = first ? Kind::Enrolled : Kind::Refreshed,
                      .epoch = pendingEpoch,
                      .fp = skbp::fingerprint(m_profile.key()),
                      .notation = QStringLiteral("K_%1 = DH(%1, broker)").arg(me),
                      .text = QStringLiteral("%1 · confirmed by login · epoch %2 · fp %3").arg(first ? QStringLiteral("enrolled") : QStringLiteral("refresh · Diffie-Hellman · chain broken")).arg(pendingEpoch).arg(skbp::fingerprint(m_profile.key()))});
            committed = std::make_pair(first, pendingEpoch);
        }
    } else if (pending == BrokerLogin::Pending::Refused) {
        (void)m_profile.discardPending(); // the broker refused it and took the current key
    }
    m_keyMode = m.text(key::key_mode) == QLatin1StringView("patent") ? skbp::KeyMode::Patent : skbp::KeyMode::Derived;
    m_calls.setKeyMode(m_keyMode);
    (void)m_profile.setBrokerName(m.text(key::broker));
    if (!m_lastRefresh.isValid())
        m_lastRefresh = QDateTime::currentDateTimeUtc();
    scheduleRefresh(m.has(key::refresh_in) ? qint64(m.u32(key::refresh_in)) : -1);
    requestDirectory();
    m_calls.resumeHeld();
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

// Every handler of what follows may stop the engine, start another call, or destroy it.
void ClientEngine::onLost()
{
    m_directory.connectionLost();
    const QPointer<ClientEngine> alive(this);
    m_calls.connectionLost(m_link.running());
    if (alive)
        setState(m_link.running() ? State::Connecting : State::Offline);
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
    return m_calls.sessions();
}

std::optional<SessionInfo> ClientEngine::session(const QByteArray &sid) const
{
    return m_calls.session(sid);
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

// ---- calls: the CallBook's ------------------------------------------------------------------

quint32 ClientEngine::call(const QString &account)
{
    return m_calls.call(account);
}

void ClientEngine::answer(QByteArray sid)
{
    m_calls.answer(std::move(sid));
}

void ClientEngine::decline(QByteArray sid)
{
    m_calls.decline(std::move(sid));
}

void ClientEngine::invite(QByteArray sid, const QString &account)
{
    m_calls.invite(std::move(sid), account);
}

void ClientEngine::leave(QByteArray sid)
{
    m_calls.leave(std::move(sid));
}

void ClientEngine::setMuted(QByteArray sid, bool muted)
{
    m_calls.setMuted(std::move(sid), muted);
}

void ClientEngine::requestDirectory()
{
    // A fresh answer starts from nothing (an earlier one may have stopped half-way).
    const quint32 id = m_calls.nextId();
    m_directory.requested(id);
    QCborMap m = wire::message(wire::MessageType::Directory);
    m.insert(key::id, qint64(id));
    m_link.send(m);
}

// ---- rotation after a call (§6.4) -------------------------------------------------------------

void ClientEngine::onRotate(const wire::Message &m)
{
    const quint32 next = m.u32(key::epoch);
    const QByteArray wrapped = m.bytes(key::wrapped);
    const QString me = m_profile.account();
    auto oldEpoch = skbp::wrappedEpoch(wrapped);
    if (!oldEpoch || *oldEpoch + 1 != next) {
        Q_EMIT requestFailed(QStringLiteral("rotate"), makeError(ErrorCode::BadRequest, QStringLiteral("bad rotation")));
        return;
    }
    if (m_profile.epoch() != next) {
        auto key = m_keys.unwrap(wrapped, {skbp::WrapPurpose::Rotate, QByteArray(skbp::kSidSize, '\0'), 0, {}});
        if (!key) {
            Q_EMIT requestFailed(QStringLiteral("rotate"), key.error());
            return;
        }
        // Durable first, then the proof: the broker commits on the ack or on our next login.
        if (auto r = m_profile.adoptRotation(next, *key); !r) {
            Q_EMIT requestFailed(QStringLiteral("rotate"), r.error());
            return;
        }
        const QString fp = skbp::fingerprint(*key);
        // The rotation belongs to the call that used our key, so that call's timeline shows it.
        addEvent({.kind = Kind::Rotated,
                  .sid = m_calls.takeLastCalleeSid(),
                  .epoch = next,
                  .fp = fp,
                  .notation = QStringLiteral("{K_%1'}K_%1").arg(me),
                  .text = QStringLiteral("your key K_%1 rotated epoch %2 → %3 under cover of epoch %2 · {K_%1'}K_%1 · fp %4").arg(me).arg(*oldEpoch).arg(next).arg(fp)});
        Q_EMIT rotated(next);
    }
    auto proof = skbp::rotateProof(m_profile.key(), me, next);
    if (!proof)
        return;
    QCborMap ack = wire::message(wire::MessageType::RotateAck);
    ack.insert(key::epoch, qint64(next));
    ack.insert(key::proof, *proof);
    m_link.send(ack);
}

} // namespace sotto
