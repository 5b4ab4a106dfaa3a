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

CallRouter::Member *CallRouter::Session::find(const QString &account)
{
    for (Member &m : members) {
        if (m.account == account)
            return &m;
    }
    return nullptr;
}

int CallRouter::Session::joinedCount() const
{
    int n = 0;
    for (const Member &m : members)
        n += m.joined ? 1 : 0;
    return n;
}

CallRouter::CallRouter(RouterContext context)
    : m_ctx(std::move(context)), m_remote(std::make_unique<RemoteSessions>(m_ctx, *this))
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

int CallRouter::sessionsOf(const QString &account) const
{
    int n = 0;
    forEachInvolving(account, [&](const Session &s) { n += s.find(account) ? 1 : 0; });
    return n;
}

// ---- the index of who is involved where ----------------------------------------------------

void CallRouter::involve(const Member &m, Session *s, int delta)
{
    for (const QString *name : {&m.account, &m.ringBy}) {
        if (name->isEmpty())
            continue;
        auto &sessions = m_involved[*name];
        if ((sessions[s] += delta) <= 0)
            sessions.erase(s);
        if (sessions.empty())
            m_involved.erase(*name);
    }
}

CallRouter::Session &CallRouter::insertSession(std::unique_ptr<Session> session)
{
    Session *s = session.get();
    const QByteArray sid = s->sid;
    for (const Member &m : s->members)
        involve(m, s, +1);
    m_sessions.emplace(sid, std::move(session));
    return *s;
}

void CallRouter::eraseSession(std::map<QByteArray, std::unique_ptr<Session>>::iterator it)
{
    for (const Member &m : it->second->members)
        involve(m, it->second.get(), -1);
    m_sessions.erase(it);
}

void CallRouter::addMember(Session &s, const Member &m)
{
    s.members.push_back(m);
    involve(m, &s, +1);
}

void CallRouter::dropMember(Session &s, const QString &account)
{
    std::erase_if(s.members, [&](const Member &m) {
        if (m.account != account)
            return false;
        involve(m, &s, -1);
        return true;
    });
}

std::pair<CallRouter::Session *, CallRouter::Member *> CallRouter::locate(const QByteArray &sid, const QString &account)
{
    auto it = m_sessions.find(sid);
    if (it == m_sessions.end())
        return {nullptr, nullptr};
    return {it->second.get(), it->second->find(account)};
}

Result<CallRouter::Member> CallRouter::newMember(const Session &s, const QString &account) const
{
    Member m;
    m.account = account;
    for (;;) {
        auto r = crypto::randomBytes(4 + skbp::kTokenSize);
        if (!r)
            return r.error();
        m.ssrc = qFromBigEndian<quint32>(r->constData());
        m.token = r->mid(4);
        bool clash = m.ssrc == 0;
        for (const Member &o : s.members)
            clash = clash || o.ssrc == m.ssrc;
        if (!clash)
            return m;
    }
}

int CallRouter::joinedSessionsOf(const QString &account) const
{
    int n = 0;
    forEachInvolving(account, [&](const Session &s) {
        for (const Member &m : s.members)
            n += m.account == account && m.joined ? 1 : 0;
    });
    return n;
}

int CallRouter::ringingBy(const QString &by, const QString &to) const
{
    int n = 0;
    forEachInvolving(by, [&](const Session &s) {
        for (const Member &m : s.members)
            n += !m.joined && m.ringBy == by && (to.isEmpty() || m.account == to) ? 1 : 0;
    });
    return n;
}

int CallRouter::ringingTo(const QString &account) const
{
    int n = 0;
    forEachInvolving(account, [&](const Session &s) {
        for (const Member &m : s.members)
            n += !m.joined && m.account == account ? 1 : 0;
    });
    return n;
}

// Ringing never locks a callee out: each caller may ring a callee once at a time and only a few
// callees at once, a callee in kMaxSessionsPerAccount live calls is busy, and a caller whose
// last call the callee declined waits before ringing again (the wait doubles per decline).
Result<void> CallRouter::mayRing(const QString &from, const QString &to) const
{
    const BrokerConfig &cfg = m_ctx.config;
    if (joinedSessionsOf(to) >= kMaxSessionsPerAccount || ringingTo(to) >= kMaxRingingPerAccount)
        return err(ErrorCode::Busy, QStringLiteral("%1 is busy").arg(to));
    if (ringingBy(from, to) > 0)
        return err(ErrorCode::Busy, QStringLiteral("%1 is already ringing for you").arg(to));
    if (ringingBy(from) >= cfg.maxRingingPerCaller)
        return err(ErrorCode::RateLimited, QStringLiteral("%1 calls are ringing already").arg(cfg.maxRingingPerCaller));
    if (joinedSessionsOf(from) >= kMaxSessionsPerAccount)
        return err(ErrorCode::RateLimited, QStringLiteral("too many sessions"));
    if (auto it = m_declined.find({to, from}); it != m_declined.end()) {
        const qint64 wait = it->second.untilMs - QDateTime::currentMSecsSinceEpoch();
        if (wait > 0)
            return err(ErrorCode::RateLimited, QStringLiteral("%1 declined your last call; try again in %2 s")
                                                   .arg(to)
                                                   .arg((wait + 999) / 1000));
    }
    return {};
}

void CallRouter::noteDecline(const QString &callee, const QString &caller)
{
    if (caller.isEmpty())
        return;
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    if (m_declined.size() > m_declinedPruneAt) { // only declines make entries; forget the lapsed ones
        std::erase_if(m_declined, [&](const auto &e) { return e.second.untilMs + m_ctx.config.declineBackoffMaxMs < now; });
        m_declinedPruneAt = std::max<std::size_t>(10000, 2 * m_declined.size()); // amortised: not a scan per decline
    }
    Backoff &b = m_declined[{callee, caller}];
    if (b.untilMs + m_ctx.config.declineBackoffMaxMs < now)
        b.nextMs = 0; // a long quiet: start again from the shortest back-off
    const qint64 wait = b.nextMs > 0 ? b.nextMs : m_ctx.config.declineBackoffMs;
    b.untilMs = now + wait;
    b.nextMs = std::min<qint64>(wait * 2, m_ctx.config.declineBackoffMaxMs);
}

Result<std::unique_ptr<CallRouter::Session>> CallRouter::openSession(const QString &from, const QString &to) const
{
    if (auto r = mayRing(from, to); !r)
        return r.error();
    auto sid = crypto::randomBytes(skbp::kSidSize);
    if (!sid)
        return sid.error();
    auto session = std::make_unique<Session>();
    session->sid = *sid;
    session->caller = from;
    session->callee = to;
    return session;
}

QCborMap CallRouter::callKeyMessage(const Session &s, const Member &caller, quint32 calleeEpoch,
                                    const QByteArray &wrapped, std::optional<quint32> id, const QString &via) const
{
    return wire::callKey({.id = id,
                          .sid = s.sid,
                          .callee = s.callee,
                          .epoch = calleeEpoch,
                          .gen = 0,
                          .wrapped = wrapped,
                          .ssrc = caller.ssrc,
                          .relay = relayOf(caller),
                          .via = via});
}

QCborMap CallRouter::incomingMessage(const Session &s, const Member &caller, const Member &callee, quint32 calleeEpoch) const
{
    return wire::incoming({.sid = s.sid,
                           .from = s.caller,
                           .epoch = calleeEpoch,
                           .gen = 0,
                           .ssrc = callee.ssrc,
                           .peers = QCborArray{wire::peerEntry(s.caller, caller.ssrc)},
                           .relay = relayOf(callee)});
}

Result<std::pair<CallRouter::Member, CallRouter::Member>> CallRouter::addCallerAndCallee(Session &s) const
{
    auto a = newMember(s, s.caller);
    if (!a)
        return a.error();
    a->joined = true;
    s.members.push_back(*a);
    auto b = newMember(s, s.callee);
    if (!b)
        return b.error();
    b->ringBy = s.caller;
    s.members.push_back(*b);
    return std::pair{*a, *b};
}

Result<QByteArray> CallRouter::wrapFor(const QString &account, quint32 epoch, const SecretBytes &key,
                                      const SecretBytes &secret, const skbp::WrapContext &ctx)
{
    auto wk = m_wrapKeys[account].get(key);
    if (!wk)
        return wk.error();
    return skbp::wrapWith(**wk, epoch, secret, ctx);
}

QCborMap CallRouter::relayOf(const Member &m) const
{
    // A member behind a peer binds at its own broker's relay, which re-writes the grant; ours
    // are admitted before anything names them.
    return m.relay.isEmpty() ? wire::relayGrant(0, m.token) : m.relay;
}

Result<void> CallRouter::admitLocals(Session &s)
{
    for (Member &m : s.members) {
        if (!m.relay.isEmpty() || skbp::Address::parse(m.account).isRemote())
            continue;
        auto grant = m_ctx.media.admit(s.sid, m.ssrc);
        if (!grant) {
            m_ctx.media.endSession(s.sid);
            return grant.error();
        }
        m.relay = *grant;
    }
    return {};
}

void CallRouter::onRelayLost(const std::vector<QByteArray> &sids)
{
    for (const QByteArray &sid : sids) {
        if (m_sessions.contains(sid)) {
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
        return callRemote(from, address, msg);
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
    auto opened = openSession(from, to);
    if (!opened)
        return opened.error();
    std::unique_ptr<Session> session = std::move(*opened);
    const QByteArray *sid = &session->sid;
    const auto [calleeEpoch, calleeKey] = effectiveKey(*callee);
    if (!claimSid(to, calleeEpoch, *sid))
        return err(ErrorCode::Busy, QStringLiteral("%1 takes no more calls until the key rotates").arg(to));
    auto sk = skbp::sessionKey(m_ctx.config.keyMode, *calleeKey, *sid, to, calleeEpoch);
    if (!sk)
        return sk.error();
    session->key = std::move(*sk);
    session->calleeEpoch = calleeEpoch;
    noteKeyed(to, calleeEpoch); // durable with the batch: a broker killed mid-call still rotates
    auto pair = addCallerAndCallee(*session);
    if (!pair)
        return pair.error();

    const auto [callerEpoch, callerKey] = effectiveKey(*caller);
    auto wrapped = wrapFor(from, callerEpoch, *callerKey, session->key, {skbp::WrapPurpose::Call, *sid, 0, from});
    if (!wrapped)
        return wrapped.error();
    if (auto r = admitLocals(*session); !r)
        return r.error();

    const QCborMap callKey = callKeyMessage(*session, *session->find(from), calleeEpoch, *wrapped, msg.id());
    const QCborMap incoming = incomingMessage(*session, *session->find(from), *session->find(to), calleeEpoch);

    m_ctx.log(QStringLiteral("%1 calls %2: session %3, SK from K_%2 (epoch %4), {SK}K_%1")
                     .arg(from, to, shortSid(*sid))
                     .arg(calleeEpoch));
    const QByteArray id = *sid;
    insertSession(std::move(session));
    armRingTimeout(id, to);
    sendTo(from, callKey);
    sendTo(to, incoming);
    m_ctx.outbox.sessionsChanged();
    return {};
}

Result<void> CallRouter::answer(const QString &from, const QByteArray &sid)
{
    if (m_remote->contains(sid))
        return m_remote->forwardRequest(from, sid, wire::MessageType::Answer);
    auto [session, me] = locate(sid, from);
    if (!me)
        return err(ErrorCode::NotInSession, QStringLiteral("no such call"));
    if (me->joined)
        return err(ErrorCode::BadRequest, QStringLiteral("already answered"));
    if (session->adopted)
        return err(ErrorCode::Forbidden, QStringLiteral("this call was kept over a broker take-over: it can be hung up, not joined (start a new call to add someone)"));
    Session &s = *session;
    m_declined.erase({from, me->ringBy}); // an answer ends any back-off of the one who rang
    if (from == s.callee && !s.answered) {
        me->joined = true;
        s.answered = true;
        QCborMap answered = wire::message(wire::MessageType::Answered);
        answered.insert(key::sid, sid);
        answered.insert(key::peers, QCborArray{wire::peerEntry(from, me->ssrc)});
        sendTo(s.caller, answered);
        m_ctx.log(QStringLiteral("%1 answered session %2").arg(from, shortSid(sid)));
        recordLive(s);
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
    auto wrapped = wrapForMember(from, next, {skbp::WrapPurpose::Join, sid, gen, from});
    if (!wrapped)
        return wrapped.error();
    const QCborMap sessionKey = wire::sessionKey(sid, gen, *wrapped, joinedPeers(s));
    QCborMap joined = wire::message(wire::MessageType::Joined);
    joined.insert(key::sid, sid);
    joined.insert(key::who, from);
    joined.insert(key::ssrc, qint64(me->ssrc));
    joined.insert(key::gen, qint64(gen));

    s.key = std::move(next);
    s.gen = gen;
    sendToJoined(s, joined);
    me->joined = true;
    sendTo(from, sessionKey);
    for (const Member &m : s.members) { // who is muted already, and who else still rings
        if (m.account == from)
            continue;
        if (!m.joined)
            sendTo(from, wire::ringing(sid, m.account));
        else if (m.muted)
            sendTo(from, wire::muted(sid, m.account, true));
    }
    m_ctx.log(QStringLiteral("%1 joined session %2: ratchet to generation %3, {SK}K_%1")
                     .arg(from, shortSid(sid))
                     .arg(gen));
    recordLive(s);
    m_ctx.outbox.sessionsChanged();
    return {};
}

Result<void> CallRouter::decline(const QString &from, const QByteArray &sid)
{
    if (m_remote->contains(sid))
        return m_remote->forwardRequest(from, sid, wire::MessageType::Decline);
    auto [session, me] = locate(sid, from);
    if (session && session->adopted && me)
        return leave(from, sid);
    if (!me || me->joined)
        return err(ErrorCode::NotInSession, QStringLiteral("no call ringing"));
    noteDecline(from, me->ringBy);
    stopRinging(*session, me->account, EndReason::Declined);
    return {};
}

QCborArray CallRouter::joinedPeers(const Session &s)
{
    QCborArray peers;
    for (const Member &m : s.members) {
        if (m.joined)
            peers.append(wire::peerEntry(m.account, m.ssrc));
    }
    return peers;
}

void CallRouter::sendToJoined(const Session &s, const QCborMap &message, const QString &except)
{
    for (const Member &m : s.members) {
        if (m.joined && m.account != except)
            sendTo(m.account, message);
    }
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
    dropMember(s, account);
    dropTrunkIfUnused(s, account);
    sendToJoined(s, wire::left(sid, account));
    if (reason != EndReason::Declined) // a decline came from the invitee itself
        sendTo(account, wire::ended(sid, reason));
    m_ctx.log(QStringLiteral("%1 stopped ringing in session %2 (%3)").arg(account, shortSid(sid), endReasonName(reason)));
    m_ctx.outbox.sessionsChanged();
}

void CallRouter::armRingTimeout(const QByteArray &sid, const QString &account)
{
    // Bound to this ring: a member who leaves and is invited again rings under a new SSRC.
    auto [session, me] = locate(sid, account);
    if (!me)
        return;
    QTimer::singleShot(m_ctx.config.ringTimeoutMs, &m_timers, [this, sid, account, ssrc = me->ssrc] {
        auto [s, m] = locate(sid, account);
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
    auto [session, me] = locate(sid, from);
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
        if (!isKnownRemote(who, &remoteOnline))
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
    if (auto r = mayRing(from, who); !r)
        return r;
    auto m = newMember(s, who);
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
                                              .peers = joinedPeers(s),
                                              .relay = relayOf(*m)});
    addMember(s, *m);
    if (remote)
        trunkOf(s, invitee.broker); // its broker's relay binds the member
    sendTo(who, incoming);
    // Every member sees who rings (an extension; `left` says when it stops without an answer).
    sendToJoined(s, wire::ringing(sid, who), who);
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
    auto [session, me] = locate(sid, from);
    if (!me || !me->joined)
        return err(ErrorCode::NotInSession, QStringLiteral("not in that call"));
    if (me->muted == muted)
        return {};
    me->muted = muted;
    sendToJoined(*session, wire::muted(sid, from, muted), from);
    return {};
}

Result<void> CallRouter::leave(const QString &from, const QByteArray &sid, std::optional<EndReason> reason)
{
    if (m_remote->contains(sid))
        return m_remote->forwardRequest(from, sid, wire::MessageType::Leave);
    auto [session, me] = locate(sid, from);
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
    dropMember(s, from);
    dropTrunkIfUnused(s, from);
    if (s.joinedCount() < 2) {
        endSession(sid, reason.value_or(EndReason::Hangup), from);
        return {};
    }
    // Two or more remain: re-key (derived mode) so the leaver cannot read what follows.
    return rekeyWithout(s, from);
}

void CallRouter::endSession(const QByteArray &sid, EndReason reason, const QString &except)
{
    auto it = m_sessions.find(sid);
    if (it == m_sessions.end())
        return;
    std::unique_ptr<Session> s = std::move(it->second);
    for (const Member &m : s->members)
        involve(m, s.get(), -1);
    m_sessions.erase(it);
    m_ctx.media.endSession(sid);
    if (s->recorded)
        (void)m_ctx.store.dropLiveSession(sid);
    const QCborMap ended = wire::ended(sid, reason);
    for (const Member &m : s->members) {
        if (m.account != except)
            sendTo(m.account, ended);
    }
    m_ctx.log(QStringLiteral("session %1 ended (%2)").arg(shortSid(sid), endReasonName(reason)));
    // A key derived from K_callee has been handed out: rotate it (patent Fig. 1, last step).
    rotateAfter(s->callee, s->calleeEpoch);
    m_ctx.outbox.sessionsChanged();
}

void CallRouter::noteKeyed(const QString &account, quint32 keyedEpoch)
{
    const AccountRecord *a = m_ctx.store.account(account);
    if (a && a->isEnrolled() && keyedEpoch > a->rotateDue)
        (void)m_ctx.store.setRotateDue(account, keyedEpoch);
}

bool CallRouter::claimSid(const QString &account, quint32 epoch, const QByteArray &sid)
{
    UsedSids &used = m_usedSids[account];
    if (used.epoch != epoch) {
        if (epoch < used.epoch)
            return false; // a key older than one already used: never offered
        used.epoch = epoch;
        used.sids.clear();
    }
    if (used.sids.size() >= kMaxSidsPerEpoch)
        return false;
    return used.sids.insert(sid).second;
}

void CallRouter::rotateAfter(const QString &account, quint32 keyedEpoch)
{
    const AccountRecord *a = m_ctx.store.account(account);
    if (!a || !a->isEnrolled())
        return; // a member behind a peer: its own broker rotates it
    noteKeyed(account, keyedEpoch);
    // What ended sessions need (in memory); the stored record also covers live ones, for a
    // restart. A rotation never starts for a session that is still live.
    auto [due, fresh] = m_rotationDue.try_emplace(account, keyedEpoch);
    if (!fresh)
        due->second = std::max(due->second, keyedEpoch);
    scheduleRotation(account);
}

void CallRouter::resumeRotations()
{
    // After a restart no session is live: every key that keyed one rotates (a kill -9 mid-call).
    for (const AccountRecord *a : m_ctx.store.accounts()) {
        if (a->isEnrolled() && a->rotateDue > 0) {
            m_rotationDue[a->name] = a->rotateDue;
            scheduleRotation(a->name);
        }
    }
}

bool CallRouter::replacementPending(const QString &account)
{
    const AccountRecord *a = m_ctx.store.account(account);
    if (!a || a->replaceEpoch == 0)
        return false;
    const qint64 now = QDateTime::currentSecsSinceEpoch();
    for (const Invite &i : m_ctx.store.openInvites(account, now)) {
        if (i.id == a->replaceInvite)
            return true;
    }
    // Its invite ran out (or was replaced by a newer one) before the device confirmed: the
    // replacement's key is nobody's, and the old device's key may move again.
    (void)m_ctx.store.setReplacement(account, 0, SecretBytes(), 0);
    m_ctx.log(QStringLiteral("%1: the replacement device never confirmed; its key is dropped").arg(account));
    return false;
}

void CallRouter::scheduleRotation(const QString &account)
{
    const AccountRecord *a = m_ctx.store.account(account);
    if (!a || a->hasPending())
        return; // one pending key at a time: onKeyCommitted() comes back here
    if (replacementPending(account)) {
        // The key does not move while a replacement device enrols (the two would share an
        // epoch); the replacement's commit erases it, or its invite runs out and it rotates.
        if (m_rotationArmed.insert(account).second) {
            QTimer::singleShot(kReplacementCheckMs, &m_timers, [this, account] {
                m_rotationArmed.erase(account);
                scheduleRotation(account);
            });
        }
        return;
    }
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    const auto last = m_lastRotation.find(account);
    const qint64 wait = last == m_lastRotation.end() ? 0 : last->second + m_ctx.config.rotationMinIntervalMs - now;
    if (wait <= 0) {
        startRotation(account);
        return;
    }
    // A burst of calls (a call-and-cancel loop) changes the key once per interval, not per call.
    if (m_rotationArmed.insert(account).second) {
        QTimer::singleShot(int(wait), &m_timers, [this, account] {
            m_rotationArmed.erase(account);
            scheduleRotation(account);
        });
    }
}

void CallRouter::startRotation(const QString &account)
{
    Store &store = m_ctx.store;
    const AccountRecord *a = store.account(account);
    const auto due = m_rotationDue.find(account);
    if (!a || !a->isEnrolled() || a->hasPending() || due == m_rotationDue.end())
        return;
    // Covered: the key has moved past every epoch that keyed an ended session (a rotation
    // committed, or a refresh). The records go only then, not when the rotation starts: a
    // pending rotation can still be replaced or discarded.
    if (a->epoch > due->second) {
        m_rotationDue.erase(due);
        if (a->rotateDue > 0 && a->epoch > a->rotateDue)
            (void)store.setRotateDue(account, 0); // no live session needs it either
        return;
    }
    auto next = crypto::randomSecret(skbp::kKeySize);
    if (!next)
        return;
    // Durable before `rotate` leaves: sendTo() waits for the group commit.
    if (!store.setPending(account, a->epoch + 1, *next, PendingKind::Rotate))
        return;
    m_lastRotation[account] = QDateTime::currentMSecsSinceEpoch();
    m_ctx.log(QStringLiteral("%1: key rotation to epoch %2 pending, {K_%1'}K_%1").arg(account).arg(a->epoch + 1));
    if (m_ctx.outbox.isOnline(account))
        sendRotate(account);
    m_ctx.outbox.accountsChanged();
}

void CallRouter::sendRotate(const QString &account)
{
    const AccountRecord *a = m_ctx.store.account(account);
    if (!a || a->pendingKind != PendingKind::Rotate)
        return;
    auto wrapped = wrapFor(account, a->epoch, a->key, a->pendingKey,
                           {skbp::WrapPurpose::Rotate, QByteArray(skbp::kSidSize, '\0'), 0, account});
    if (!wrapped)
        return;
    sendTo(account, wire::rotate(a->pendingEpoch, *wrapped), Outbox::Delivery::AfterCommit); // K_next durable first
}

Result<void> CallRouter::rotateAck(const QString &from, quint32 epoch, const QByteArray &proof)
{
    Store &store = m_ctx.store;
    const AccountRecord *a = store.account(from);
    if (!a)
        return err(ErrorCode::Internal, QStringLiteral("account vanished"));
    if (a->pendingKind != PendingKind::Rotate || a->pendingEpoch != epoch) {
        if (a->epoch == epoch)
            return {}; // already committed by a login under the new key
        return err(ErrorCode::BadRequest, QStringLiteral("no rotation to epoch %1 pending").arg(epoch));
    }
    auto expected = skbp::rotateProof(a->pendingKey, from, epoch);
    if (!expected || !crypto::constantTimeEquals(*expected, proof))
        return err(ErrorCode::Auth, QStringLiteral("rotation proof does not match"));
    if (auto r = store.commitPending(from); !r)
        return r;
    m_ctx.log(QStringLiteral("%1: epoch %2 committed (rotate_ack)").arg(from).arg(epoch));
    onKeyCommitted(from);
    m_ctx.outbox.accountsChanged();
    return {};
}

void CallRouter::onKeyCommitted(const QString &account)
{
    if (m_rotationDue.contains(account))
        scheduleRotation(account); // clears the record once covered, or rotates again
    else if (const AccountRecord *a = m_ctx.store.account(account); a && a->rotateDue > 0 && a->epoch > a->rotateDue)
        (void)m_ctx.store.setRotateDue(account, 0);
}

void CallRouter::onLogin(const QString &account)
{
    sendRotate(account); // re-sent at every login until acknowledged
}

std::vector<QByteArray> CallRouter::sessionsWith(const QString &account) const
{
    std::vector<QByteArray> sids;
    forEachInvolving(account, [&](const Session &s) {
        if (s.find(account))
            sids.push_back(s.sid);
    });
    std::sort(sids.begin(), sids.end()); // the order of the sessions map, as before
    for (const QByteArray &sid : m_remote->sessionsWith(account))
        sids.push_back(sid); // leave() forwards to the session's home broker
    return sids;
}

void CallRouter::revoke(const QString &account)
{
    // Its calls end ("revoked"); in a conference the others re-key without it.
    for (const QByteArray &sid : sessionsWith(account))
        (void)leave(account, sid, EndReason::Revoked);
    // Calls kept over a take-over that nobody resumed yet: it is out of them too, at their relay
    // at once, and the first member back gets a fresh key.
    for (auto it = m_orphans.begin(); it != m_orphans.end();) {
        auto member = it->second.members.find(account);
        if (member == it->second.members.end()) {
            ++it;
            continue;
        }
        const QByteArray sid = it->first;
        if (m_ctx.media.adopt(sid, it->second.relay))
            m_ctx.media.removeMember(sid, member->second);
        it->second.members.erase(member);
        it->second.rekeyDue = true;
        m_ctx.log(QStringLiteral("%1 revoked: out of session %2, kept over a take-over; it re-keys when resumed")
                         .arg(account, shortSid(sid)));
        if (it->second.members.size() < 2) {
            m_ctx.media.endSession(sid);
            (void)m_ctx.store.dropLiveSession(sid);
            it = m_orphans.erase(it);
        } else {
            ++it;
        }
    }
    m_lastRotation.erase(account); // its keys are about to go (Store::revoke clears what was due)
    m_rotationDue.erase(account);
    m_wrapKeys.erase(account);
}

void CallRouter::onOffline(const QString &account)
{
    for (const QByteArray &sid : sessionsWith(account))
        (void)leave(account, sid);
}

std::vector<SessionView> CallRouter::sessions() const
{
    std::vector<SessionView> out;
    for (const auto &[sid, s] : m_sessions) {
        SessionView v{sid, s->caller, s->callee, s->gen, {}, {}, s->startedMs};
        for (const Member &m : s->members)
            (m.joined ? v.members : v.ringing).append(m.account);
        out.push_back(std::move(v));
    }
    return out;
}

// ---- calls kept over a take-over (extension `resume`) --------------------------------------

void CallRouter::recordLive(Session &s)
{
    const QString at = m_ctx.media.relayAt(s.sid);
    if (at.isEmpty() || !s.answered)
        return;
    QJsonArray members;
    for (const Member &m : s.members) {
        if (skbp::Address::parse(m.account).isRemote())
            return; // a call across brokers is not kept: its other half is the peer's
        if (m.joined || s.adopted)
            members.append(QJsonObject{{QStringLiteral("account"), m.account}, {QStringLiteral("ssrc"), double(m.ssrc)}});
    }
    const QJsonObject record{{QStringLiteral("relay"), at},
                             {QStringLiteral("caller"), s.caller},
                             {QStringLiteral("callee"), s.callee},
                             {QStringLiteral("gen"), double(s.gen)},
                             {QStringLiteral("members"), members}};
    if (m_ctx.store.setLiveSession(s.sid, QString::fromUtf8(QJsonDocument(record).toJson(QJsonDocument::Compact))))
        s.recorded = true;
}

void CallRouter::loadLiveSessions()
{
    m_orphans.clear();
    for (const auto &[sid, text] : m_ctx.store.liveSessions()) {
        const QJsonObject o = QJsonDocument::fromJson(text.toUtf8()).object();
        Orphan orphan{o.value(QStringLiteral("caller")).toString(), o.value(QStringLiteral("callee")).toString(),
                      o.value(QStringLiteral("relay")).toString(), {},
                      quint32(std::clamp(o.value(QStringLiteral("gen")).toDouble(), 0.0, 1e9)), false};
        for (const QJsonValue &v : o.value(QStringLiteral("members")).toArray()) {
            const QJsonObject m = v.toObject();
            orphan.members[m.value(QStringLiteral("account")).toString()] = quint32(m.value(QStringLiteral("ssrc")).toDouble());
        }
        if (sid.size() != skbp::kSidSize || orphan.relay.isEmpty() || orphan.members.size() < 2) {
            (void)m_ctx.store.dropLiveSession(sid); // not one of ours: nothing to keep
            continue;
        }
        m_orphans.emplace(sid, std::move(orphan));
    }
    if (m_orphans.empty())
        return;
    m_ctx.log(QStringLiteral("%1 calls were live at relays of our own: they are kept for their members to resume").arg(m_orphans.size()));
    QTimer::singleShot(kResumeDeadlineMs, &m_timers, [this] {
        for (const auto &[sid, o] : m_orphans) {
            m_ctx.media.endSession(sid); // placed by a revocation meanwhile: its relay lets it go
            (void)m_ctx.store.dropLiveSession(sid);
        }
        if (!m_orphans.empty())
            m_ctx.log(QStringLiteral("%1 kept calls were not resumed: forgotten").arg(m_orphans.size()));
        m_orphans.clear();
    });
}

Result<void> CallRouter::resume(const QString &from, const QByteArray &sid)
{
    if (auto it = m_sessions.find(sid); it != m_sessions.end()) {
        Member *me = it->second->find(from);
        if (!it->second->adopted || !me)
            return err(ErrorCode::NotInSession, QStringLiteral("not in that call"));
        me->joined = true;
        m_ctx.log(QStringLiteral("%1 resumed session %2").arg(from, shortSid(sid)));
        if (!it->second->key.isEmpty()) {
            // Re-keyed here since the take-over: the member comes back to the current key.
            Session &s = *it->second;
            auto wrapped = wrapForMember(from, s.key, {skbp::WrapPurpose::Rekey, sid, s.gen, from});
            if (!wrapped)
                return wrapped.error();
            sendTo(from, wire::rekey(sid, s.gen, *wrapped));
        }
        m_ctx.outbox.sessionsChanged();
        return {};
    }
    auto o = m_orphans.find(sid);
    if (o == m_orphans.end() || !o->second.members.contains(from))
        return err(ErrorCode::NotInSession, QStringLiteral("no such call here: it ended with the broker that set it up"));
    const Orphan orphan = o->second;
    m_orphans.erase(o);
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
    Session &adopted = insertSession(std::move(session));
    m_ctx.log(QStringLiteral("%1 resumed session %2, kept over the take-over at relay %3")
                     .arg(from, shortSid(sid), orphan.relay));
    if (orphan.rekeyDue) {
        // Someone was removed from it while it waited (revoked): nobody keeps using the key
        // they held. Those who resume later get the new one then.
        if (auto r = rekeyWithout(adopted, {}); !r)
            return r;
    }
    // Members that do not come back in time leave it.
    QTimer::singleShot(kResumeDeadlineMs, &m_timers, [this, sid] {
        auto it = m_sessions.find(sid);
        if (it == m_sessions.end())
            return;
        QStringList gone;
        for (const Member &m : it->second->members) {
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
    dropMember(s, from);
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
            sendToJoined(s, wire::left(s.sid, departed));
        recordLive(s);
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
        auto wrapped = wrapForMember(m.account, *fresh, {skbp::WrapPurpose::Rekey, s.sid, gen, m.account});
        if (!wrapped)
            return wrapped.error();
        rekeys.emplace_back(m.account, wire::rekey(s.sid, gen, *wrapped));
    }
    s.key = std::move(*fresh);
    s.gen = gen;
    for (const auto &[account, rekey] : rekeys) {
        if (!departed.isEmpty())
            sendTo(account, wire::left(s.sid, departed, gen));
        sendTo(account, rekey);
    }
    recordLive(s);
    m_ctx.log(QStringLiteral("%1session %2%3: re-key to generation %4")
                     .arg(departed.isEmpty() ? QString() : departed + QStringLiteral(" left "), shortSid(s.sid),
                          s.adopted ? QStringLiteral(" (kept over a take-over)") : QString())
                     .arg(gen));
    m_ctx.outbox.sessionsChanged();
    return {};
}

} // namespace sotto::broker

