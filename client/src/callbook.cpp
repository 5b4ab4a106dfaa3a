// The phone's calls: caller, callee and conference member (PROTOCOL.md §6).

#include "client/callbook.h"

#include "client/brokersession.h"
#include "client/profile.h"

#include "core/crypto.h"
#include "core/log.h"

#include <QCborArray>
#include <QCborMap>
#include <QPointer>

#include <algorithm>

#include <utility>

namespace sotto {

namespace key = wire::key;
using Kind = TimelineEvent::Kind;

namespace {

std::vector<MemberInfo> membersOf(const QCborValue &peers)
{
    std::vector<MemberInfo> out;
    for (const QCborValue &p : peers.toArray()) {
        const QCborMap m = p.toMap();
        out.push_back({m.value(key::account).toString(), quint32(m.value(key::ssrc).toInteger())});
    }
    return out;
}

} // namespace

CallBook::CallBook(Profile &profile, KeyKeeper &keys, Timeline &timeline, BrokerSession &link, QObject *parent)
    : QObject(parent), m_profile(profile), m_keys(keys), m_timeline(timeline), m_link(link)
{
    m_holdTimer.setSingleShot(true);
    connect(&m_holdTimer, &QTimer::timeout, this, &CallBook::endHeld);
}

void CallBook::send(const QCborMap &message)
{
    m_link.send(message);
}

CallBook::Session *CallBook::find(const QByteArray &sid)
{
    auto it = m_sessions.find(sid);
    return it == m_sessions.end() ? nullptr : &it->second;
}

std::vector<SessionInfo> CallBook::sessions() const
{
    std::vector<SessionInfo> out;
    for (const auto &[sid, s] : m_sessions)
        out.push_back(s.info);
    return out;
}

std::optional<SessionInfo> CallBook::session(const QByteArray &sid) const
{
    auto it = m_sessions.find(sid);
    if (it == m_sessions.end())
        return std::nullopt;
    return it->second.info;
}

// ---- calls (§6) ----------------------------------------------------------------------------

quint32 CallBook::call(const QString &account)
{
    const quint32 id = m_nextId++;
    if (!m_link.loggedIn()) {
        QTimer::singleShot(0, this, [this, id, account] {
            Q_EMIT callFailed(id, account, makeError(ErrorCode::Network, QStringLiteral("not connected to the broker")));
        });
        return id;
    }
    m_pendingCalls[id] = account;
    QCborMap m = wire::message(wire::MessageType::Call);
    m.insert(key::id, qint64(id));
    m.insert(key::to, account);
    send(m);
    return id;
}

// Federation (§8): the first hop of a key that crossed from another broker, {SK}K_AB, before our
// own broker re-wrapped it for us (that second hop is the event that follows).
void CallBook::addRelayHop(const QByteArray &sid, quint32 gen, const QString &peer, const QString &text)
{
    addEvent({.kind = Kind::Relayed,
              .sid = sid,
              .gen = gen,
              .peer = peer,
              .notation = gen == 0 ? QStringLiteral("{SK}K_AB") : QStringLiteral("{SK_%1}K_AB").arg(gen),
              .text = text});
}

// A session_key or rekey that crossed from the session's home broker: its first hop.
void CallBook::noteGenerationHop(const wire::Message &m, const QByteArray &sid, quint32 gen)
{
    if (!m.has(key::via))
        return;
    addRelayHop(sid, gen, m.text(key::via),
                QStringLiteral("generation %1 came from broker %2 to broker %3 as {SK_%1}K_AB")
                    .arg(gen)
                    .arg(m.text(key::via), m_profile.brokerName()));
}

void CallBook::takeCallKey(const wire::Message &m)
{
    const QByteArray sid = m.bytes(key::sid);
    const QString callee = m.text(key::callee);
    if (auto id = m.id())
        m_pendingCalls.erase(*id);
    auto sk = m_keys.unwrap(m.bytes(key::wrapped), {skbp::WrapPurpose::Call, sid, m.u32(key::gen), {}});
    if (!sk) {
        Q_EMIT requestFailed(QStringLiteral("call key"), sk.error());
        send(wire::aboutSession(wire::MessageType::Leave, sid));
        return;
    }
    Session s;
    s.info.sid = sid;
    s.info.role = SessionInfo::Role::Caller;
    s.info.peer = callee;
    s.info.callee = callee;
    s.info.keyed = true;
    s.info.ownSsrc = m.u32(key::ssrc);
    const QCborMap relay = m.map().value(key::relay).toMap();
    s.info.relayPort = quint16(relay.value(key::port).toInteger());
    s.info.relayHost = relay.value(key::host).toString();
    s.info.relayToken = relay.value(key::token).toByteArray();
    s.info.gen = m.u32(key::gen);
    s.info.keyFingerprint = skbp::fingerprint(*sk);
    const QString fp = s.info.keyFingerprint;
    const quint32 calleeEpoch = m.u32(key::epoch);
    if (m_sessions.emplace(sid, std::move(s)).second) {
        QByteArray grantKey = relay.value(key::key).toByteArray();
        m_keys.setRelayKey(sid, SecretBytes::takeFrom(grantKey));
        m_keys.install(sid, m.u32(key::gen), std::move(*sk));
    }
    const QString me = m_profile.account();
    if (m.has(key::via))
        addRelayHop(sid, m.u32(key::gen), callee,
                    QStringLiteral("%1's session key derived at broker %2 from K_%3 (epoch %4) · sent to broker %5 as {SK}K_AB")
                        .arg(callee, m.text(key::via), skbp::Address::parse(callee).account)
                        .arg(calleeEpoch)
                        .arg(m_profile.brokerName()));
    addEvent({.kind = Kind::CallKey,
              .sid = sid,
              .gen = m.u32(key::gen),
              .epoch = calleeEpoch,
              .fp = fp,
              .peer = callee,
              .notation = QStringLiteral("{SK}K_%1").arg(me),
              .text = QStringLiteral("%1's session key %2 K_%3 (epoch %4) · delivered to you as {SK}K_%5 · fp %6").arg(callee, m_keyMode == skbp::KeyMode::Patent ? QStringLiteral("is") : QStringLiteral("derived from"), skbp::Address::parse(callee).account).arg(calleeEpoch).arg(me, fp)});
    Q_EMIT callStarted(sid, callee);
    Q_EMIT sessionKeyChanged(sid, m.u32(key::gen));
}

void CallBook::takeIncoming(const wire::Message &m)
{
    const QByteArray sid = m.bytes(key::sid);
    const QString from = m.text(key::from);
    const QString me = m_profile.account();
    Session s;
    s.info.sid = sid;
    s.info.peer = from;
    s.info.ownSsrc = m.u32(key::ssrc);
    s.info.gen = m.u32(key::gen);
    const QCborMap relay = m.map().value(key::relay).toMap();
    s.info.relayPort = quint16(relay.value(key::port).toInteger());
    s.info.relayHost = relay.value(key::host).toString();
    s.info.relayToken = relay.value(key::token).toByteArray();
    QByteArray grantKey = relay.value(key::key).toByteArray();
    SecretBytes relayKey = SecretBytes::takeFrom(grantKey);
    s.info.members = membersOf(m.map().value(key::peers));
    const bool conference = !m.has(key::epoch);
    if (conference) {
        s.info.role = SessionInfo::Role::Invitee;
        s.invitedBy = from;
        QStringList others;
        for (const MemberInfo &mi : s.info.members)
            others.append(mi.account);
        if (m_sessions.emplace(sid, std::move(s)).second)
            m_keys.setRelayKey(sid, std::move(relayKey));
        addEvent({.kind = Kind::Incoming,
                  .sid = sid,
                  .peer = from,
                  .text = QStringLiteral("%1 invites you into a call with %2 · your key comes after you answer").arg(from, others.join(QStringLiteral(", ")))});
        Q_EMIT incomingCall(sid, from, true);
        return;
    }
    // A call from a peered broker (`via`, written by our own broker) is keyed apart from every
    // local call; its caller is always someone of that broker, never a colleague of ours.
    const QString via = m.text(key::via);
    if (!via.isEmpty() && skbp::Address::parse(from).broker != via) {
        Q_EMIT requestFailed(QStringLiteral("incoming call"),
                             makeError(ErrorCode::BadRequest, QStringLiteral("a call through broker %1 from %2").arg(via, from)));
        send(wire::aboutSession(wire::MessageType::Decline, sid));
        return;
    }
    const quint32 epoch = m.u32(key::epoch);
    const SecretBytes *key = m_profile.keyForEpoch(epoch);
    auto sk = key ? skbp::sessionKey(m_keyMode, *key, sid, me, epoch, via)
                  : Result<SecretBytes>(makeError(ErrorCode::Auth, QStringLiteral("no key for epoch %1").arg(epoch)));
    if (!sk) {
        Q_EMIT requestFailed(QStringLiteral("incoming call"), sk.error());
        send(wire::aboutSession(wire::MessageType::Decline, sid));
        return;
    }
    s.info.role = SessionInfo::Role::Callee;
    s.info.callee = me;
    s.info.keyed = true;
    s.info.keyFingerprint = skbp::fingerprint(*sk);
    const QString fp = s.info.keyFingerprint;
    if (m_sessions.emplace(sid, std::move(s)).second) {
        m_keys.setRelayKey(sid, std::move(relayKey));
        m_keys.install(sid, m.u32(key::gen), std::move(*sk));
    }
    addEvent({.kind = Kind::Incoming,
              .sid = sid,
              .gen = 0u,
              .epoch = epoch,
              .peer = from,
              .text = QStringLiteral("%1 is calling").arg(from)});
    addEvent({.kind = Kind::SessionKey,
              .sid = sid,
              .gen = 0u,
              .epoch = epoch,
              .fp = fp,
              .peer = from,
              .notation = m_keyMode == skbp::KeyMode::Patent ? QStringLiteral("SK = K_%1").arg(me) : QStringLiteral("SK = KDF(K_%1, sid)").arg(me),
              .text = QStringLiteral("session key %1 your K_%2 (epoch %3) · no message needed · fp %4").arg(m_keyMode == skbp::KeyMode::Patent ? QStringLiteral("is") : QStringLiteral("derived from"), me).arg(epoch).arg(fp)});
    Q_EMIT incomingCall(sid, from, false);
    Q_EMIT sessionKeyChanged(sid, 0);
}

void CallBook::answer(QByteArray sid)
{
    Session *s = find(sid);
    if (!s || s->info.answered)
        return;
    send(wire::aboutSession(wire::MessageType::Answer, sid));
    if (s->info.role == SessionInfo::Role::Callee) {
        s->info.answered = true;
        s->info.answeredAt = QDateTime::currentDateTimeUtc();
        addEvent({.kind = Kind::Answered,
                  .sid = sid,
                  .gen = s->info.gen,
                  .fp = s->info.keyFingerprint,
                  .peer = s->info.peer,
                  .text = QStringLiteral("you answered %1").arg(s->info.peer)});
        Q_EMIT callAnswered(sid);
    }
}

void CallBook::decline(QByteArray sid)
{
    Session *s = find(sid);
    if (!s || s->info.answered)
        return;
    send(wire::aboutSession(wire::MessageType::Decline, sid));
    endLocally(sid, EndReason::Declined);
}

void CallBook::invite(QByteArray sid, const QString &account)
{
    Session *s = find(sid);
    if (!s || !s->info.answered) {
        Q_EMIT requestFailed(QStringLiteral("invite"), makeError(ErrorCode::NotInSession, QStringLiteral("no answered call")));
        return;
    }
    QCborMap m = wire::message(wire::MessageType::Invite);
    m.insert(key::id, qint64(m_nextId++));
    m.insert(key::sid, sid);
    m.insert(key::who, account);
    send(m);
}

void CallBook::leave(QByteArray sid)
{
    if (!find(sid))
        return;
    send(wire::aboutSession(wire::MessageType::Leave, sid));
    endLocally(sid, EndReason::Hangup);
}

void CallBook::takeAnswered(const wire::Message &m)
{
    Session *s = find(m.bytes(key::sid));
    if (!s)
        return;
    s->info.answered = true;
    s->info.answeredAt = QDateTime::currentDateTimeUtc();
    for (const MemberInfo &mi : membersOf(m.map().value(key::peers)))
        s->info.members.push_back(mi);
    addEvent({.kind = Kind::Answered,
              .sid = s->info.sid,
              .gen = s->info.gen,
              .fp = s->info.keyFingerprint,
              .peer = s->info.peer,
              .text = QStringLiteral("%1 answered").arg(s->info.peer)});
    Q_EMIT callAnswered(QByteArray(s->info.sid)); // a copy: a handler may end the session
}

void CallBook::installGeneration(Session &s, quint32 gen, SecretBytes key)
{
    m_keys.install(s.info.sid, gen, std::move(key));
    s.info.gen = gen;
    s.info.keyed = true;
    s.info.keyFingerprint = m_keys.fingerprint(s.info.sid);
}

CallBook::Session *CallBook::takeGeneration(const wire::Message &m, skbp::WrapPurpose purpose, const QString &what)
{
    const QByteArray sid = m.bytes(key::sid);
    Session *s = find(sid);
    if (!s)
        return nullptr;
    const quint32 gen = m.u32(key::gen);
    noteGenerationHop(m, sid, gen);
    auto sk = m_keys.unwrap(m.bytes(key::wrapped), {purpose, sid, gen, {}});
    if (!sk) {
        Q_EMIT requestFailed(what, sk.error());
        return nullptr;
    }
    installGeneration(*s, gen, std::move(*sk));
    return s;
}

void CallBook::takeSessionKey(const wire::Message &m)
{
    const QByteArray sid = m.bytes(key::sid);
    const quint32 gen = m.u32(key::gen);
    Session *s = takeGeneration(m, skbp::WrapPurpose::Join, QStringLiteral("session key"));
    if (!s) {
        leave(sid); // nothing when the call is not ours
        return;
    }
    s->info.answered = true;
    s->info.answeredAt = QDateTime::currentDateTimeUtc();
    if (m.has(key::peers))
        s->info.members = membersOf(m.map().value(key::peers));
    const QString me = m_profile.account();
    addEvent({.kind = Kind::Joined,
              .sid = sid,
              .gen = gen,
              .fp = s->info.keyFingerprint,
              .peer = s->invitedBy,
              .notation = QStringLiteral("{SK_%1}K_%2").arg(gen).arg(me),
              .text = QStringLiteral("you joined · generation %1 delivered to you as {SK_%1}K_%2 · fp %3").arg(gen).arg(me, s->info.keyFingerprint)});
    Q_EMIT callAnswered(sid);
    Q_EMIT sessionKeyChanged(sid, gen);
}

void CallBook::takeJoined(const wire::Message &m)
{
    const QByteArray sid = m.bytes(key::sid);
    Session *s = find(sid);
    if (!s || !s->info.keyed)
        return;
    const QString who = m.text(key::who);
    const quint32 gen = m.u32(key::gen);
    s->info.ringing.removeAll(who);
    s->info.members.push_back({who, m.u32(key::ssrc)});
    if (gen > s->info.gen && gen - s->info.gen <= 16) {
        SecretBytes key = *m_keys.current(sid);
        for (quint32 g = s->info.gen + 1; g <= gen; ++g) {
            auto next = skbp::ratchet(key, sid, g);
            if (!next) {
                Q_EMIT requestFailed(QStringLiteral("ratchet"), next.error());
                return;
            }
            key = std::move(*next);
        }
        installGeneration(*s, gen, std::move(key));
        addEvent({.kind = Kind::Joined,
                  .sid = sid,
                  .gen = gen,
                  .fp = s->info.keyFingerprint,
                  .peer = who,
                  .notation = QStringLiteral("SK_%1 = KDF(SK_%2)").arg(gen).arg(gen - 1),
                  .text = QStringLiteral("%1 joined · ratchet to generation %2 · fp %3").arg(who).arg(gen).arg(s->info.keyFingerprint)});
        Q_EMIT memberJoined(sid, who);
        Q_EMIT sessionKeyChanged(sid, gen);
        return;
    }
    addEvent({.kind = Kind::Joined,
              .sid = sid,
              .gen = s->info.gen,
              .fp = s->info.keyFingerprint,
              .peer = who,
              .text = QStringLiteral("%1 joined · same key (no ratchet in patent mode)").arg(who)});
    Q_EMIT memberJoined(sid, who);
}

void CallBook::setMuted(QByteArray sid, bool muted)
{
    Session *s = find(sid);
    if (!s || !s->info.answered)
        return;
    QCborMap m = wire::message(wire::MessageType::Mute);
    m.insert(key::sid, sid);
    m.insert(key::muted, muted);
    send(m);
}

void CallBook::takeRinging(const wire::Message &m)
{
    Session *s = find(m.bytes(key::sid));
    const QString who = m.text(key::who);
    if (!s || who == m_profile.account() || s->info.ringing.contains(who) || s->info.ringing.size() >= 64)
        return;
    s->info.ringing.append(who);
    Q_EMIT membersChanged(QByteArray(s->info.sid)); // a copy: a handler may end the session
}

void CallBook::takeMuted(const wire::Message &m)
{
    Session *s = find(m.bytes(key::sid));
    const QString who = m.text(key::who);
    if (!s || std::none_of(s->info.members.begin(), s->info.members.end(), [&](const MemberInfo &mi) { return mi.account == who; }))
        return;
    s->info.muted.removeAll(who);
    if (m.boolean(key::muted))
        s->info.muted.append(who);
    Q_EMIT membersChanged(QByteArray(s->info.sid)); // a copy: a handler may end the session
}

void CallBook::takeLeft(const wire::Message &m)
{
    const QByteArray sid = m.bytes(key::sid);
    Session *s = find(sid);
    if (!s)
        return;
    const QString who = m.text(key::who);
    s->info.muted.removeAll(who);
    if (s->info.ringing.removeAll(who) > 0 && std::none_of(s->info.members.begin(), s->info.members.end(),
                                                            [&](const MemberInfo &mi) { return mi.account == who; })) {
        addEvent({.kind = Kind::Left,
                  .sid = sid,
                  .peer = who,
                  .text = QStringLiteral("%1 did not join (declined or no answer)").arg(who)});
        Q_EMIT membersChanged(sid);
        return;
    }
    std::erase_if(s->info.members, [&](const MemberInfo &mi) { return mi.account == who; });
    const bool rekey = m.has(key::gen);
    addEvent({.kind = Kind::Left,
              .sid = sid,
              .gen = rekey ? std::optional<quint32>(m.u32(key::gen)) : std::nullopt,
              .peer = who,
              .text = rekey ? QStringLiteral("%1 left · re-key to generation %2 follows").arg(who).arg(m.u32(key::gen)) : QStringLiteral("%1 left").arg(who)});
    Q_EMIT memberLeft(sid, who);
}

void CallBook::takeRekey(const wire::Message &m)
{
    const QByteArray sid = m.bytes(key::sid);
    const quint32 gen = m.u32(key::gen);
    Session *s = takeGeneration(m, skbp::WrapPurpose::Rekey, QStringLiteral("re-key"));
    if (!s)
        return;
    const QString me = m_profile.account();
    addEvent({.kind = Kind::Rekeyed,
              .sid = sid,
              .gen = gen,
              .fp = s->info.keyFingerprint,
              .notation = QStringLiteral("{SK_%1}K_%2").arg(gen).arg(me),
              .text = QStringLiteral("re-key to generation %1 · fresh key delivered as {SK_%1}K_%2 · fp %3").arg(gen).arg(me, s->info.keyFingerprint)});
    Q_EMIT sessionKeyChanged(sid, gen);
}

void CallBook::takeEnded(const wire::Message &m)
{
    // A reason this build does not know (a newer broker's) is shown as a failure.
    endLocally(m.bytes(key::sid), endReasonFromName(m.text(key::reason)).value_or(EndReason::Failed));
}

void CallBook::endLocally(QByteArray sid, EndReason reason)
{
    auto it = m_sessions.find(sid);
    if (it == m_sessions.end())
        return;
    const QString peer = it->second.info.peer;
    const quint32 gen = it->second.info.gen;
    if (it->second.info.role == SessionInfo::Role::Callee && it->second.info.keyed)
        m_lastCalleeSid = sid; // the broker rotates our key after this call
    m_sessions.erase(it);
    m_keys.forget(sid); // every key of the session, wiped
    addEvent({.kind = Kind::Ended,
              .sid = sid,
              .gen = gen,
              .peer = peer,
              .text = QStringLiteral("call ended (%1) · session keys erased").arg(endReasonName(reason))});
    Q_EMIT callEnded(sid, reason);
}

void CallBook::takeError(const wire::Message &m)
{
    const Error e{errorCodeFromName(m.text(key::code)), m.text(key::msg)};
    if (auto id = m.id(); id && m_resumes.contains(*id)) {
        // The broker has not kept the call (it ended, or no instance recorded it): it ends here.
        const QByteArray sid = m_resumes[*id];
        m_resumes.erase(*id);
        qCInfo(lcCore).noquote() << "a kept call could not be resumed:" << e.message;
        endLocally(sid, EndReason::Disconnected);
        return;
    }
    if (auto id = m.id()) {
        auto it = m_pendingCalls.find(*id);
        if (it != m_pendingCalls.end()) {
            const QString to = it->second;
            m_pendingCalls.erase(it);
            Q_EMIT callFailed(*id, to, e);
            return;
        }
    }
    Q_EMIT requestFailed(QStringLiteral("request"), e);
}

// ---- calls kept over a lost broker (extension `resume`) ------------------------------------

void CallBook::resumeHeld()
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

void CallBook::takeOk(const wire::Message &m)
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

void CallBook::endHeld()
{
    std::vector<QByteArray> sids;
    for (const auto &[sid, s] : m_sessions) {
        if (s.held)
            sids.push_back(sid);
    }
    for (const QByteArray &sid : sids)
        endLocally(sid, EndReason::Disconnected);
}

void CallBook::connectionLost(bool keep)
{
    std::vector<QByteArray> sids;
    for (auto &[sid, s] : m_sessions) {
        // A call whose media rides a relay of its own goes on without a broker: kept, to be
        // resumed at the next login (a standby that takes over adopts it).
        if (keep && s.info.keyed && s.info.answered && !s.info.relayHost.isEmpty()) {
            s.held = true;
            continue;
        }
        sids.push_back(sid);
    }
    // From here on every signal's handler may end calls, start another, or destroy the owner:
    // nothing below iterates a member while it emits, and nothing runs on once we are gone.
    const QPointer<CallBook> alive(this);
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
    for (const auto &[id, to] : std::exchange(m_pendingCalls, {})) {
        Q_EMIT callFailed(id, to, makeError(ErrorCode::Network, QStringLiteral("connection lost")));
        if (!alive)
            return;
    }
}

void CallBook::leaveAll()
{
    for (const auto &[sid, s] : m_sessions)
        send(wire::aboutSession(wire::MessageType::Leave, sid));
    std::vector<QByteArray> sids;
    for (const auto &[sid, s] : m_sessions)
        sids.push_back(sid);
    for (const QByteArray &sid : sids)
        endLocally(sid, EndReason::Hangup);
}

} // namespace sotto
