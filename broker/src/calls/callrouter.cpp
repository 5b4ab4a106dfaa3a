#include "calls/callrouter.h"

#include "calls/remotesessions.h"
#include "calls/routing.h"

#include "relay/relay.h"
#include "broker/store.h"

#include "core/crypto.h"

#include <QCborArray>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTimer>
#include <QtEndian>

namespace sotto::broker {

namespace key = wire::key;

using namespace routing;

CallRouter::CallRouter(RouterContext context)
    : m_ctx(std::move(context)), m_ring(RingPolicy::limitsOf(m_ctx.config)), m_keys(m_ctx), m_rotation(m_ctx, m_keys),
      m_adoption(m_ctx), m_setup(m_ctx, m_table, m_ring), m_reach(m_ctx, m_table),
      m_remote(std::make_unique<RemoteSessions>(m_ctx, m_table, m_ring, m_keys, m_rotation)),
      m_home(m_ctx, m_table, m_setup, m_keys, m_reach, *this)
{
}
CallRouter::~CallRouter() = default;

QCborArray CallRouter::localAccounts() const
{
    QCborArray list;
    for (const AccountRecord *a : m_ctx.store.accounts()) {
        if (!a->isEnrolled())
            continue;
        QCborMap e;
        e.insert(key::account, a->name);
        e.insert(key::online, m_ctx.outbox.presenceShown(a->name));
        list.append(e);
    }
    return list;
}

std::vector<QCborMap> CallRouter::directory(std::optional<quint32> id) const
{
    QCborArray list = localAccounts();
    for (const QString &peer : m_ctx.peers.peerNames()) {
        const bool up = m_ctx.peers.isUp(peer);
        for (const auto &[account, online] : m_ctx.peers.directory(peer)) {
            QCborMap e;
            e.insert(key::account, skbp::Address{account, peer}.toString());
            e.insert(key::online, online && up);
            list.append(e);
        }
    }
    return wire::directoryPages(list, id);
}

void CallRouter::onRelayLost(const std::vector<QByteArray> &sids)
{
    for (const QByteArray &sid : sids) {
        if (m_table.contains(sid)) {
            m_ctx.log(QStringLiteral("session %1: its relay is gone").arg(shortSid(sid)));
            endSession(sid, EndReason::Failed);
        } else {
            m_remote->relayLost(sid);
        }
    }
}

Result<void> CallRouter::call(const QString &from, const wire::Message &msg)
{
    const skbp::Address address = skbp::Address::parse(msg.text(key::to)).relativeTo(m_ctx.config.name);
    if (address.isRemote())
        return m_home.call(from, address, msg);
    const QString to = address.account; // one of ours (perhaps written in full)
    if (to == from)
        return err(ErrorCode::BadRequest, QStringLiteral("cannot call yourself"));
    const AccountRecord *callee = m_ctx.store.account(to);
    if (!callee || !callee->isEnrolled())
        return err(ErrorCode::UnknownAccount, QStringLiteral("no account \"%1\"").arg(to));
    if (!m_ctx.outbox.isOnline(to))
        return err(ErrorCode::Offline, QStringLiteral("%1 is offline").arg(to));
    const AccountRecord *caller = m_ctx.store.account(from);
    if (!caller)
        return err(ErrorCode::Internal, QStringLiteral("caller vanished"));
    auto opened = m_setup.openSession(from, to);
    if (!opened)
        return opened.error();
    std::unique_ptr<Session> session = std::move(*opened);
    const QByteArray *sid = &session->sid;
    const auto [calleeEpoch, calleeKey] = effectiveKey(*callee);
    if (!m_rotation.claimSid(to, calleeEpoch, *sid))
        return err(ErrorCode::Busy, QStringLiteral("%1 takes no more calls until the key rotates").arg(to));
    auto sk = skbp::sessionKey(m_ctx.config.keyMode, *calleeKey, *sid, to, calleeEpoch);
    if (!sk)
        return sk.error();
    session->key = std::move(*sk);
    session->calleeEpoch = calleeEpoch;
    m_rotation.noteKeyed(to, calleeEpoch); // durable with the batch: a broker killed mid-call still rotates
    auto pair = m_setup.addCallerAndCallee(*session);
    if (!pair)
        return pair.error();

    const auto [callerEpoch, callerKey] = effectiveKey(*caller);
    auto wrapped = m_keys.wrapUnder(from, callerEpoch, *callerKey, session->key, {skbp::WrapPurpose::Call, *sid, 0, from});
    if (!wrapped)
        return wrapped.error();
    if (auto r = m_setup.admitLocals(*session); !r)
        return r.error();

    const QCborMap callKey = m_setup.callKeyMessage(*session, *session->find(from), calleeEpoch, *wrapped, msg.id());
    const QCborMap incoming = m_setup.incomingMessage(*session, *session->find(from), *session->find(to), calleeEpoch);

    m_ctx.log(QStringLiteral("%1 calls %2: session %3, SK from K_%2 (epoch %4), {SK}K_%1")
                     .arg(from, to, shortSid(*sid))
                     .arg(calleeEpoch));
    const QByteArray id = *sid;
    m_table.insert(std::move(session));
    armRingTimeout(id, to);
    m_reach.sendTo(from, callKey);
    m_reach.sendTo(to, incoming);
    m_ctx.outbox.sessionsChanged();
    return {};
}

Result<void> CallRouter::answer(const QString &from, const QByteArray &sid)
{
    if (m_remote->contains(sid))
        return m_remote->forwardRequest(from, sid, wire::MessageType::Answer);
    auto [session, me] = m_table.locate(sid, from);
    if (!me)
        return err(ErrorCode::NotInSession, QStringLiteral("no such call"));
    if (me->joined)
        return err(ErrorCode::BadRequest, QStringLiteral("already answered"));
    if (session->adopted)
        return err(ErrorCode::Forbidden, QStringLiteral("this call was kept over a broker take-over: it can be hung up, not joined (start a new call to add someone)"));
    Session &s = *session;
    m_ring.noteAnswer(from, me->ringBy); // an answer ends any back-off of the one who rang
    if (from == s.callee && !s.answered) {
        me->joined = true;
        s.answered = true;
        QCborMap answered = wire::message(wire::MessageType::Answered);
        answered.insert(key::sid, sid);
        answered.insert(key::peers, QCborArray{wire::peerEntry(from, me->ssrc)});
        m_reach.sendTo(s.caller, answered);
        m_ctx.log(QStringLiteral("%1 answered session %2").arg(from, shortSid(sid)));
        m_adoption.record(s);
        m_ctx.outbox.sessionsChanged();
        return {};
    }
    // A conference joiner: ratchet (derived mode) and wrap the new generation for them.
    SecretBytes next = s.key;
    quint32 gen = s.gen;
    if (m_ctx.config.keyMode == skbp::KeyMode::Derived) {
        gen = s.gen + 1;
        auto r = skbp::ratchet(s.key, sid, gen);
        if (!r)
            return r.error();
        next = std::move(*r);
    }
    auto wrapped = m_keys.wrapFor(from, next, {skbp::WrapPurpose::Join, sid, gen, from});
    if (!wrapped)
        return wrapped.error();
    const QCborMap sessionKey = wire::sessionKey(sid, gen, *wrapped, CallSetup::joinedPeers(s));
    QCborMap joined = wire::message(wire::MessageType::Joined);
    joined.insert(key::sid, sid);
    joined.insert(key::who, from);
    joined.insert(key::ssrc, qint64(me->ssrc));
    joined.insert(key::gen, qint64(gen));

    s.key = std::move(next);
    s.gen = gen;
    m_reach.sendToJoined(s, joined);
    me->joined = true;
    m_reach.sendTo(from, sessionKey);
    for (const Member &m : s.members) { // who is muted already, and who else still rings
        if (m.account == from)
            continue;
        if (!m.joined)
            m_reach.sendTo(from, wire::ringing(sid, m.account));
        else if (m.muted)
            m_reach.sendTo(from, wire::muted(sid, m.account, true));
    }
    m_ctx.log(QStringLiteral("%1 joined session %2: ratchet to generation %3, {SK}K_%1")
                     .arg(from, shortSid(sid))
                     .arg(gen));
    m_adoption.record(s);
    m_ctx.outbox.sessionsChanged();
    return {};
}

Result<void> CallRouter::decline(const QString &from, const QByteArray &sid)
{
    if (m_remote->contains(sid))
        return m_remote->forwardRequest(from, sid, wire::MessageType::Decline);
    auto [session, me] = m_table.locate(sid, from);
    if (session && session->adopted && me)
        return leave(from, sid);
    if (!me || me->joined)
        return err(ErrorCode::NotInSession, QStringLiteral("no call ringing"));
    m_ring.noteDecline(from, me->ringBy, QDateTime::currentMSecsSinceEpoch());
    stopRinging(*session, me->account, EndReason::Declined);
    return {};
}

void CallRouter::stopRinging(Session &s, QString account, EndReason reason)
{
    const QByteArray sid = s.sid; // `s` goes with endSession()
    if (account == s.callee && !s.answered) {
        endSession(sid, reason);
        return;
    }
    // An invitee said no, or never answered: the others learn it; the invitee's phone too when
    // it did not say no itself.
    const Member *me = s.find(account);
    if (!me)
        return;
    m_ctx.media.removeMember(sid, me->ssrc);
    m_table.dropMember(s, account);
    m_reach.dropTrunkIfUnused(s, account);
    m_reach.sendToJoined(s, wire::left(sid, account));
    if (reason != EndReason::Declined) // a decline came from the invitee itself
        m_reach.sendTo(account, wire::ended(sid, reason));
    m_ctx.log(QStringLiteral("%1 stopped ringing in session %2 (%3)").arg(account, shortSid(sid), endReasonName(reason)));
    m_ctx.outbox.sessionsChanged();
}

void CallRouter::armRingTimeout(const QByteArray &sid, const QString &account)
{
    // Bound to this ring: a member who leaves and is invited again rings under a new SSRC.
    auto [session, me] = m_table.locate(sid, account);
    if (!me)
        return;
    QTimer::singleShot(m_ctx.config.ringTimeoutMs, &m_timers, [this, sid, account, ssrc = me->ssrc] {
        auto [s, m] = m_table.locate(sid, account);
        if (s && m && !m->joined && m->ssrc == ssrc)
            stopRinging(*s, account, EndReason::NoAnswer);
    });
}

Result<void> CallRouter::invite(const QString &from, const QByteArray &sid, const QString &whoAsked)
{
    if (m_remote->contains(sid))
        return m_remote->forwardRequest(from, sid, wire::MessageType::Invite, whoAsked);
    const skbp::Address invitee = skbp::Address::parse(whoAsked).relativeTo(m_ctx.config.name);
    const QString who = invitee.toString();
    auto [session, me] = m_table.locate(sid, from);
    if (!me || !me->joined)
        return err(ErrorCode::NotInSession, QStringLiteral("not in that call"));
    Session &s = *session;
    if (s.adopted)
        return err(ErrorCode::Forbidden, QStringLiteral("this call was kept over a broker take-over: it can be hung up, not joined (start a new call to add someone)"));
    if (!s.answered)
        return err(ErrorCode::Forbidden, QStringLiteral("the call has not been answered yet"));
    const bool remote = invitee.isRemote();
    bool remoteOnline = false;
    if (remote) {
        if (!m_reach.isKnownRemote(who, &remoteOnline))
            return err(ErrorCode::UnknownAccount, QStringLiteral("no account \"%1\"").arg(who));
    } else {
        const AccountRecord *target = m_ctx.store.account(who);
        if (!target || !target->isEnrolled())
            return err(ErrorCode::UnknownAccount, QStringLiteral("no account \"%1\"").arg(who));
    }
    if (s.find(who))
        return err(ErrorCode::Busy, QStringLiteral("%1 is already in the call").arg(who));
    if (remote) {
        // One peer per call: the relays join two halves of a session, not three.
        const QString &peer = invitee.broker;
        for (const Member &o : s.members) {
            const QString other = skbp::Address::parse(o.account).broker;
            if (!other.isEmpty() && other != peer)
                return err(ErrorCode::Forbidden, QStringLiteral("a call can span two brokers, not three"));
        }
    }
    if (remote ? !remoteOnline : !m_ctx.outbox.isOnline(who))
        return err(ErrorCode::Offline, QStringLiteral("%1 is offline").arg(who));
    if (int(s.members.size()) >= kMaxMembers)
        return err(ErrorCode::Busy, QStringLiteral("the call is full"));
    if (auto r = m_setup.mayRing(from, who); !r)
        return r;
    auto m = m_setup.newMember(s, who);
    if (!m)
        return m.error();
    m->ringBy = from;
    if (!remote) {
        auto grant = m_ctx.media.admit(sid, m->ssrc);
        if (!grant)
            return grant.error();
        m->relay = *grant;
    }
    // No key yet and no epoch: the invitee's key comes wrapped after it answers.
    const QCborMap incoming = wire::incoming({.sid = sid,
                                              .from = from,
                                              .epoch = std::nullopt,
                                              .gen = s.gen,
                                              .ssrc = m->ssrc,
                                              .peers = CallSetup::joinedPeers(s),
                                              .relay = CallSetup::relayOf(*m)});
    m_table.addMember(s, *m);
    if (remote)
        m_reach.trunkOf(s, invitee.broker); // its broker's relay binds the member
    m_reach.sendTo(who, incoming);
    // Every member sees who rings (an extension; `left` says when it stops without an answer).
    m_reach.sendToJoined(s, wire::ringing(sid, who), who);
    armRingTimeout(sid, who);
    m_ctx.log(QStringLiteral("%1 invites %2 into session %3").arg(from, who, shortSid(sid)));
    m_ctx.outbox.sessionsChanged();
    return {};
}

Result<void> CallRouter::mute(const QString &from, const QByteArray &sid, bool muted)
{
    if (m_remote->contains(sid)) {
        QCborMap extra;
        extra.insert(key::muted, muted);
        return m_remote->forwardRequest(from, sid, wire::MessageType::Mute, {}, extra);
    }
    auto [session, me] = m_table.locate(sid, from);
    if (!me || !me->joined)
        return err(ErrorCode::NotInSession, QStringLiteral("not in that call"));
    if (me->muted == muted)
        return {};
    me->muted = muted;
    m_reach.sendToJoined(*session, wire::muted(sid, from, muted), from);
    return {};
}

Result<void> CallRouter::leave(const QString &from, const QByteArray &sid, std::optional<EndReason> reason)
{
    if (m_remote->contains(sid))
        return m_remote->forwardRequest(from, sid, wire::MessageType::Leave);
    auto [session, me] = m_table.locate(sid, from);
    if (!me)
        return err(ErrorCode::NotInSession, QStringLiteral("not in that call"));
    Session &s = *session;
    if (s.adopted)
        return leaveAdopted(s, from, reason);
    if (!me->joined) { // a ringing member hanging up is a decline (unless the operator took it away)
        if (reason) {
            stopRinging(s, from, *reason);
            return {};
        }
        return decline(from, sid);
    }
    if (!s.answered) { // caller gave up before the answer
        endSession(sid, reason.value_or(EndReason::Cancelled), from);
        return {};
    }
    m_ctx.media.removeMember(sid, me->ssrc);
    m_table.dropMember(s, from);
    m_reach.dropTrunkIfUnused(s, from);
    if (s.joinedCount() < 2) {
        endSession(sid, reason.value_or(EndReason::Hangup), from);
        return {};
    }
    // Two or more remain: re-key (derived mode) so the leaver cannot read what follows.
    return rekeyWithout(s, from);
}

void CallRouter::endSession(const QByteArray &sid, EndReason reason, const QString &except)
{
    std::unique_ptr<Session> s = m_table.take(sid);
    if (!s)
        return;
    m_ctx.media.endSession(sid);
    if (s->recorded)
        (void)m_ctx.store.dropLiveSession(sid);
    const QCborMap ended = wire::ended(sid, reason);
    for (const Member &m : s->members) {
        if (m.account != except)
            m_reach.sendTo(m.account, ended);
    }
    m_ctx.log(QStringLiteral("session %1 ended (%2)").arg(shortSid(sid), endReasonName(reason)));
    // A key derived from K_callee has been handed out: rotate it (patent Fig. 1, last step).
    m_rotation.rotateAfter(s->callee, s->calleeEpoch);
    m_ctx.outbox.sessionsChanged();
}

std::vector<QByteArray> CallRouter::sessionsWith(const QString &account) const
{
    std::vector<QByteArray> sids = m_table.sessionsWith(account);
    for (const QByteArray &sid : m_remote->sessionsWith(account))
        sids.push_back(sid); // leave() forwards to the session's home broker
    return sids;
}

void CallRouter::revoke(const QString &account)
{
    // Its calls end ("revoked"); in a conference the others re-key without it.
    for (const QByteArray &sid : sessionsWith(account))
        (void)leave(account, sid, EndReason::Revoked);
    // Calls kept over a take-over that nobody resumed yet: it is out of them too.
    m_adoption.revoke(account);
    m_rotation.forget(account);
    m_keys.forget(account);
}

void CallRouter::onOffline(const QString &account)
{
    for (const QByteArray &sid : sessionsWith(account))
        (void)leave(account, sid);
}

std::vector<SessionView> CallRouter::sessions() const
{
    std::vector<SessionView> out;
    for (const auto &[sid, s] : m_table.all()) {
        SessionView v{sid, s->caller, s->callee, s->gen, {}, {}, s->startedMs};
        for (const Member &m : s->members)
            (m.joined ? v.members : v.ringing).append(m.account);
        out.push_back(std::move(v));
    }
    return out;
}

// ---- calls kept over a take-over (extension `resume`) --------------------------------------

Result<void> CallRouter::resume(const QString &from, const QByteArray &sid)
{
    if (auto [session, me] = m_table.locate(sid, from); session) {
        if (!session->adopted || !me)
            return err(ErrorCode::NotInSession, QStringLiteral("not in that call"));
        me->joined = true;
        m_ctx.log(QStringLiteral("%1 resumed session %2").arg(from, shortSid(sid)));
        if (!session->key.isEmpty()) {
            // Re-keyed here since the take-over: the member comes back to the current key.
            Session &s = *session;
            auto wrapped = m_keys.wrapFor(from, s.key, {skbp::WrapPurpose::Rekey, sid, s.gen, from});
            if (!wrapped)
                return wrapped.error();
            m_reach.sendTo(from, wire::rekey(sid, s.gen, *wrapped));
        }
        m_ctx.outbox.sessionsChanged();
        return {};
    }
    const std::optional<Adoption::Kept> kept = m_adoption.take(sid, from);
    if (!kept)
        return err(ErrorCode::NotInSession, QStringLiteral("no such call here: it ended with the broker that set it up"));
    const Adoption::Kept &orphan = *kept;
    if (!m_ctx.media.adopt(sid, orphan.relay)) {
        (void)m_ctx.store.dropLiveSession(sid);
        return err(ErrorCode::Offline, QStringLiteral("the call's relay %1 is gone").arg(orphan.relay));
    }
    auto session = std::make_unique<Session>();
    session->sid = sid;
    session->caller = orphan.caller;
    session->callee = orphan.callee;
    session->answered = true;
    session->adopted = true;
    session->recorded = true;
    session->gen = orphan.gen;
    for (const auto &[account, ssrc] : orphan.members) {
        Member m;
        m.account = account;
        m.ssrc = ssrc;
        m.joined = account == from;
        session->members.push_back(m);
    }
    Session &adopted = m_table.insert(std::move(session));
    m_ctx.log(QStringLiteral("%1 resumed session %2, kept over the take-over at relay %3")
                     .arg(from, shortSid(sid), orphan.relay));
    if (orphan.rekeyDue) {
        // Someone was removed from it while it waited (revoked): nobody keeps using the key
        // they held. Those who resume later get the new one then.
        if (auto r = rekeyWithout(adopted, {}); !r)
            return r;
    }
    // Members that do not come back in time leave it.
    QTimer::singleShot(Adoption::kResumeDeadlineMs, &m_timers, [this, sid] {
        const Session *s = m_table.find(sid);
        if (!s)
            return;
        QStringList gone;
        for (const Member &m : s->members) {
            if (!m.joined)
                gone << m.account;
        }
        for (const QString &account : gone)
            (void)leave(account, sid, EndReason::Disconnected);
    });
    m_ctx.outbox.sessionsChanged();
    return {};
}

Result<void> CallRouter::leaveAdopted(Session &s, const QString &from, std::optional<EndReason> reason)
{
    const QByteArray sid = s.sid; // `s` goes with endSession()
    const Member *me = s.find(from);
    if (!me)
        return err(ErrorCode::NotInSession, QStringLiteral("not in that call"));
    m_ctx.media.removeMember(sid, me->ssrc);
    m_table.dropMember(s, from);
    if (s.members.size() < 2) {
        endSession(sid, reason.value_or(EndReason::Hangup), from);
        return {};
    }
    // The key went with the old instance, but a fresh one needs no old key: the leaver (or the
    // revoked) cannot read what follows, as in a live conference.
    return rekeyWithout(s, from);
}

Result<void> CallRouter::rekeyWithout(Session &s, const QString &departed)
{
    if (m_ctx.config.keyMode == skbp::KeyMode::Patent) { // no re-key: the patent's text, for the demonstration
        if (!departed.isEmpty())
            m_reach.sendToJoined(s, wire::left(s.sid, departed));
        m_adoption.record(s);
        m_ctx.outbox.sessionsChanged();
        return {};
    }
    auto fresh = crypto::randomSecret(skbp::kKeySize);
    if (!fresh)
        return fresh.error();
    const quint32 gen = s.gen + 1;
    std::vector<std::pair<QString, QCborMap>> rekeys;
    for (const Member &m : s.members) {
        if (!m.joined)
            continue; // not resumed yet: it gets the key when it does
        auto wrapped = m_keys.wrapFor(m.account, *fresh, {skbp::WrapPurpose::Rekey, s.sid, gen, m.account});
        if (!wrapped)
            return wrapped.error();
        rekeys.emplace_back(m.account, wire::rekey(s.sid, gen, *wrapped));
    }
    s.key = std::move(*fresh);
    s.gen = gen;
    for (const auto &[account, rekey] : rekeys) {
        if (!departed.isEmpty())
            m_reach.sendTo(account, wire::left(s.sid, departed, gen));
        m_reach.sendTo(account, rekey);
    }
    m_adoption.record(s);
    m_ctx.log(QStringLiteral("%1session %2%3: re-key to generation %4")
                     .arg(departed.isEmpty() ? QString() : departed + QStringLiteral(" left "), shortSid(s.sid),
                          s.adopted ? QStringLiteral(" (kept over a take-over)") : QString())
                     .arg(gen));
    m_ctx.outbox.sessionsChanged();
    return {};
}

// ---- a peer's messages about calls (§8) --------------------------------------------------------

void CallRouter::onPeerMessage(const QString &peer, const wire::Message &m)
{
    dispatch(peer, m);
}

void CallRouter::onFedCall(const QString &peer, const wire::Message &m)
{
    m_remote->onFedCall(peer, m);
}

void CallRouter::onFedCallKey(const QString &peer, const wire::Message &m)
{
    m_home.onFedCallKey(peer, m);
}

void CallRouter::onFedError(const QString &peer, const wire::Message &m)
{
    m_home.onFedError(peer, m);
}

void CallRouter::onDeliver(const QString &peer, const wire::Message &m)
{
    m_remote->onDeliver(peer, m.text(key::to), m.map().value(key::msg).toMap(), m.bytes(key::trunk), m.text(key::relay_at));
}

void CallRouter::onRequest(const QString &peer, const wire::Message &m)
{
    m_home.onRequest(peer, m.text(key::from), m.map().value(key::msg).toMap());
}

void CallRouter::onPeerUp(const QString &) {}

void CallRouter::onPeerDown(const QString &peer)
{
    m_home.onPeerDown(peer);  // our sessions with members there
    m_remote->onPeerDown(peer); // sessions homed there: our members' side of them ends
    m_ctx.outbox.sessionsChanged();
}

} // namespace sotto::broker

