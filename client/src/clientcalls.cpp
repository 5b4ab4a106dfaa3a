// The phone engine's calls: caller, callee and conference member (PROTOCOL.md §6), and the
// post-call rotation. The connection, login and refresh live in client.cpp.

#include "client/client.h"

#include "core/crypto.h"
#include "core/log.h"

#include <QCborArray>
#include <QCborMap>

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

// ---- calls (§6) ----------------------------------------------------------------------------

quint32 ClientEngine::call(const QString &account)
{
    const quint32 id = m_nextId++;
    if (!m_loggedIn) {
        QTimer::singleShot(0, this, [this, id, account] {
            Q_EMIT callFailed(id, account, makeError(ErrorCode::Network, QStringLiteral("not connected to the broker")));
        });
        return id;
    }
    m_pendingCalls[id] = {account};
    QCborMap m = wire::message(wire::MessageType::Call);
    m.insert(key::id, qint64(id));
    m.insert(key::to, account);
    send(m);
    return id;
}

// Federation (§8): the first hop of a key that crossed from another broker, {SK}K_AB, before our
// own broker re-wrapped it for us (that second hop is the event that follows).
void ClientEngine::addRelayHop(const QByteArray &sid, quint32 gen, const QString &peer, const QString &text)
{
    addEvent({.kind = Kind::Relayed,
              .sid = sid,
              .gen = gen,
              .peer = peer,
              .notation = gen == 0 ? QStringLiteral("{SK}K_AB") : QStringLiteral("{SK_%1}K_AB").arg(gen),
              .text = text});
}

// A session_key or rekey that crossed from the session's home broker: its first hop.
void ClientEngine::noteGenerationHop(const wire::Message &m, const QByteArray &sid, quint32 gen)
{
    if (!m.has(key::via))
        return;
    addRelayHop(sid, gen, m.text(key::via),
                QStringLiteral("generation %1 came from broker %2 to broker %3 as {SK_%1}K_AB")
                    .arg(gen)
                    .arg(m.text(key::via), m_profile.brokerName()));
}

void ClientEngine::onCallKey(const wire::Message &m)
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

void ClientEngine::onIncoming(const wire::Message &m)
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

void ClientEngine::answer(QByteArray sid)
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

void ClientEngine::decline(QByteArray sid)
{
    Session *s = find(sid);
    if (!s || s->info.answered)
        return;
    send(wire::aboutSession(wire::MessageType::Decline, sid));
    endLocally(sid, EndReason::Declined);
}

void ClientEngine::invite(QByteArray sid, const QString &account)
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

void ClientEngine::leave(QByteArray sid)
{
    if (!find(sid))
        return;
    send(wire::aboutSession(wire::MessageType::Leave, sid));
    endLocally(sid, EndReason::Hangup);
}

void ClientEngine::requestDirectory()
{
    // A fresh answer starts from nothing (an earlier one may have stopped half-way).
    const quint32 id = m_nextId++;
    m_directory.requested(id);
    QCborMap m = wire::message(wire::MessageType::Directory);
    m.insert(key::id, qint64(id));
    send(m);
}

void ClientEngine::onAnswered(const wire::Message &m)
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

void ClientEngine::installGeneration(Session &s, quint32 gen, SecretBytes key)
{
    m_keys.install(s.info.sid, gen, std::move(key));
    s.info.gen = gen;
    s.info.keyed = true;
    s.info.keyFingerprint = m_keys.fingerprint(s.info.sid);
}

void ClientEngine::onSessionKey(const wire::Message &m)
{
    const QByteArray sid = m.bytes(key::sid);
    Session *s = find(sid);
    if (!s)
        return;
    const quint32 gen = m.u32(key::gen);
    noteGenerationHop(m, sid, gen);
    auto sk = m_keys.unwrap(m.bytes(key::wrapped), {skbp::WrapPurpose::Join, sid, gen, {}});
    if (!sk) {
        Q_EMIT requestFailed(QStringLiteral("session key"), sk.error());
        leave(sid);
        return;
    }
    installGeneration(*s, gen, std::move(*sk));
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

void ClientEngine::onJoined(const wire::Message &m)
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

void ClientEngine::setMuted(QByteArray sid, bool muted)
{
    Session *s = find(sid);
    if (!s || !s->info.answered)
        return;
    QCborMap m = wire::message(wire::MessageType::Mute);
    m.insert(key::sid, sid);
    m.insert(key::muted, muted);
    send(m);
}

void ClientEngine::onRinging(const wire::Message &m)
{
    Session *s = find(m.bytes(key::sid));
    const QString who = m.text(key::who);
    if (!s || who == m_profile.account() || s->info.ringing.contains(who) || s->info.ringing.size() >= 64)
        return;
    s->info.ringing.append(who);
    Q_EMIT membersChanged(QByteArray(s->info.sid)); // a copy: a handler may end the session
}

void ClientEngine::onMuted(const wire::Message &m)
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

void ClientEngine::onLeft(const wire::Message &m)
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

void ClientEngine::onRekey(const wire::Message &m)
{
    const QByteArray sid = m.bytes(key::sid);
    Session *s = find(sid);
    if (!s)
        return;
    const quint32 gen = m.u32(key::gen);
    noteGenerationHop(m, sid, gen);
    auto sk = m_keys.unwrap(m.bytes(key::wrapped), {skbp::WrapPurpose::Rekey, sid, gen, {}});
    if (!sk) {
        Q_EMIT requestFailed(QStringLiteral("re-key"), sk.error());
        return;
    }
    installGeneration(*s, gen, std::move(*sk));
    const QString me = m_profile.account();
    addEvent({.kind = Kind::Rekeyed,
              .sid = sid,
              .gen = gen,
              .fp = s->info.keyFingerprint,
              .notation = QStringLiteral("{SK_%1}K_%2").arg(gen).arg(me),
              .text = QStringLiteral("re-key to generation %1 · fresh key delivered as {SK_%1}K_%2 · fp %3").arg(gen).arg(me, s->info.keyFingerprint)});
    Q_EMIT sessionKeyChanged(sid, gen);
}

void ClientEngine::onEnded(const wire::Message &m)
{
    // A reason this build does not know (a newer broker's) is shown as a failure.
    endLocally(m.bytes(key::sid), endReasonFromName(m.text(key::reason)).value_or(EndReason::Failed));
}

void ClientEngine::endLocally(QByteArray sid, EndReason reason)
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
    QTimer::singleShot(0, this, &ClientEngine::maybeRefresh); // before the emit: a handler may destroy us
    Q_EMIT callEnded(sid, reason);
}

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
                  .sid = std::exchange(m_lastCalleeSid, {}),
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
    send(ack);
}

void ClientEngine::onError(const wire::Message &m)
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
            const QString to = it->second.to;
            m_pendingCalls.erase(it);
            Q_EMIT callFailed(*id, to, e);
            return;
        }
    }
    Q_EMIT requestFailed(QStringLiteral("request"), e);
}

} // namespace sotto
