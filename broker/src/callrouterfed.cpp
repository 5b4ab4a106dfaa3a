// The call router across peered brokers (PROTOCOL.md §8, patent Fig. 3). See callrouter.h.
#include "callrouter.h"

#include "core/crypto.h"
#include "routing.h"

#include "broker/relay.h"
#include "broker/store.h"

#include <QCborArray>
#include <QTimer>

namespace sotto::broker {

namespace key = wire::key;

using namespace routing;

// ---- keys and names ------------------------------------------------------------------------------

Result<QByteArray> CallRouter::wrapForPeer(const QString &peer, const SecretBytes &secret, const skbp::WrapContext &ctx)
{
    // The newest K_AB: while a refresh settles, the other side holds it already, as pending or
    // as current, and unwraps either (unwrapFromPeer).
    const AccountRecord *p = m_ctx.store.peer(peer);
    if (p && p->pendingEpoch != 0)
        return skbp::wrap(p->pendingKey, p->pendingEpoch, secret, ctx);
    if (!p || !p->isEnrolled())
        return err(ErrorCode::Offline, QStringLiteral("no inter-broker key with %1").arg(peer));
    return skbp::wrap(p->key, p->epoch, secret, ctx);
}

Result<SecretBytes> CallRouter::unwrapFromPeer(const QString &peer, const QByteArray &wrapped, const skbp::WrapContext &ctx)
{
    // The wrap names its K_AB epoch: the current one, or one a refresh has just committed on
    // one side and not yet on the other.
    auto epoch = skbp::wrappedEpoch(wrapped);
    const AccountRecord *p = m_ctx.store.peer(peer);
    if (!epoch || !p)
        return err(ErrorCode::Auth, QStringLiteral("no inter-broker key with %1").arg(peer));
    if (p->isEnrolled() && p->epoch == *epoch)
        return skbp::unwrap(p->key, *epoch, wrapped, ctx);
    if (p->pendingEpoch != 0 && p->pendingEpoch == *epoch)
        return skbp::unwrap(p->pendingKey, *epoch, wrapped, ctx);
    return err(ErrorCode::Auth, QStringLiteral("unknown inter-broker key epoch %1").arg(*epoch));
}

Result<QByteArray> CallRouter::wrapForMember(const QString &account, const SecretBytes &secret, skbp::WrapContext ctx)
{
    if (const auto [name, peer] = skbp::Address::parse(account); !peer.isEmpty()) {
        // {SK}K_AB: the member's own broker re-wraps it under the member's key.
        ctx.purpose = skbp::WrapPurpose::Federation;
        ctx.owner = m_ctx.config.name;
        return wrapForPeer(peer, secret, ctx);
    }
    const AccountRecord *a = m_ctx.store.account(account);
    if (!a)
        return err(ErrorCode::Internal, QStringLiteral("member vanished"));
    const auto [epoch, key] = effectiveKey(*a);
    return wrapFor(account, epoch, *key, secret, ctx);
}

bool CallRouter::isKnownRemote(const QString &address, bool *online) const
{
    const auto [account, peer] = skbp::Address::parse(address);
    PeerLinks &fed = m_ctx.peers;
    if (peer.isEmpty() || !fed.isPeer(peer))
        return false;
    const auto &dir = fed.directory(peer);
    auto it = dir.find(account);
    if (it == dir.end())
        return false;
    if (online)
        *online = it->second && fed.isUp(peer);
    return true;
}

// A name as the peer wrote it, as we write it: its own accounts get "@peer", ours lose "@us".
QString CallRouter::localize(const QString &name, const QString &peer) const
{
    return skbp::Address::parse(name).fromPeer(peer, m_ctx.config.name).toString();
}

void CallRouter::addTrunk(const QByteArray &sid, const QString &peer, const QByteArray &token)
{
    if (token.size() != skbp::kTokenSize)
        return;
    const auto [address, port] = m_ctx.peers.relayOf(peer);
    m_ctx.relays.addTrunk(sid, address, port, token);
}

void CallRouter::dropTrunkIfUnused(const Session &s, const QString &departed)
{
    // With the peer's last member gone, the relay stops sending the call over to its relay.
    const QString peer = skbp::Address::parse(departed).broker;
    if (peer.isEmpty())
        return;
    for (const Member &m : s.members) {
        if (skbp::Address::parse(m.account).broker == peer)
            return;
    }
    m_ctx.relays.removeTrunks(s.sid);
}

QByteArray CallRouter::trunkOf(Session &s, const QString &peer)
{
    // Drawn by the home broker and sent with the call, so that a K_AB refresh in between
    // cannot leave the two relays with different tokens.
    if (s.trunkToken.isEmpty()) {
        auto t = crypto::randomBytes(skbp::kTokenSize);
        if (!t)
            return {};
        s.trunkToken = *t;
    }
    addTrunk(s.sid, peer, s.trunkToken);
    return s.trunkToken;
}

// ---- the caller's broker (home) ------------------------------------------------------------------

Result<void> CallRouter::callRemote(const QString &from, const skbp::Address &callee, const wire::Message &msg)
{
    const auto &[account, peer] = callee;
    const QString to = callee.toString();
    PeerLinks &fed = m_ctx.peers;
    if (!fed.isPeer(peer))
        return err(ErrorCode::UnknownAccount, QStringLiteral("no broker \"%1\" is peered with this one").arg(peer));
    if (!fed.isUp(peer))
        return err(ErrorCode::Offline, QStringLiteral("broker %1 cannot be reached").arg(peer));
    bool online = false;
    if (!isKnownRemote(to, &online))
        return err(ErrorCode::UnknownAccount, QStringLiteral("no account \"%1\"").arg(to));
    if (!online)
        return err(ErrorCode::Offline, QStringLiteral("%1 is offline").arg(to));
    auto opened = openSession(from, to);
    if (!opened)
        return opened.error();
    std::unique_ptr<Session> session = std::move(*opened);
    const QByteArray *sid = &session->sid;
    session->awaitingKey = true;
    session->callId = msg.id();
    auto pair = addCallerAndCallee(*session);
    if (!pair)
        return pair.error();
    const Member &a = pair->first;
    // Broker B derives SK_0 from K_dave: ask it (fcall), wait for {SK}K_AB (fcall_key).
    const QByteArray trunk = trunkOf(*session, peer);
    if (trunk.isEmpty())
        return err(ErrorCode::Internal, QStringLiteral("no randomness"));
    QCborMap fcall = wire::message(wire::MessageType::FedCall);
    fcall.insert(key::sid, *sid);
    fcall.insert(key::from, from);
    fcall.insert(key::to, account);
    fcall.insert(key::trunk, trunk);
    if (!fed.send(peer, fcall)) {
        m_ctx.relays.endSession(*sid);
        return err(ErrorCode::Offline, QStringLiteral("broker %1 cannot be reached").arg(peer));
    }
    m_ctx.relays.addMember(*sid, a.ssrc, a.token);
    // The caller is not left waiting on a peer that never answers.
    QTimer::singleShot(m_ctx.config.federatedRingDeadlineMs, &m_timers, [this, id = *sid, peer = peer] {
        auto it = m_sessions.find(id);
        if (it != m_sessions.end() && it->second->awaitingKey)
            failAwaitingKey(id, ErrorCode::Offline, QStringLiteral("broker %1 did not answer in time").arg(peer));
    });
    m_sessions.emplace(*sid, std::move(session));
    m_ctx.log(QStringLiteral("%1 calls %2: session %3, asking broker %4 for the session key")
                     .arg(from, to, shortSid(*sid), peer));
    m_ctx.outbox.sessionsChanged();
    return {};
}

void CallRouter::onFedCallKey(const QString &peer, const wire::Message &m)
{
    const QByteArray sid = m.bytes(key::sid);
    auto it = m_sessions.find(sid);
    if (it == m_sessions.end() || !it->second->awaitingKey || skbp::Address::parse(it->second->callee).broker != peer)
        return;
    Session &s = *it->second;
    auto sk = unwrapFromPeer(peer, m.bytes(key::wrapped), {skbp::WrapPurpose::Federation, sid, 0, peer});
    Member *caller = s.find(s.caller);
    Member *callee = s.find(s.callee);
    auto wrapped = sk ? wrapForMember(s.caller, *sk, {skbp::WrapPurpose::Call, sid, 0, s.caller})
                      : Result<QByteArray>(sk.error());
    if (!wrapped || !caller || !callee) {
        const QString why = wrapped ? QStringLiteral("session vanished") : wrapped.error().message;
        sendTo(s.caller, wire::errorMessage(ErrorCode::Internal, why, s.callId));
        endSession(sid, EndReason::Failed);
        return;
    }
    s.key = std::move(*sk);
    s.awaitingKey = false;
    const quint32 calleeEpoch = m.u32(key::epoch);

    // via: the first hop, {SK}K_AB from the callee's broker.
    const QCborMap callKey = callKeyMessage(s, *caller, calleeEpoch, *wrapped, s.callId, peer);
    const QCborMap incoming = incomingMessage(s, *caller, *callee, calleeEpoch);

    m_ctx.log(QStringLiteral("session %1: {SK}K_%2%3 from broker %3 (SK from K_%4 epoch %5), re-wrapped as {SK}K_%6")
                     .arg(shortSid(sid), m_ctx.config.name, peer, skbp::Address::parse(s.callee).account)
                     .arg(calleeEpoch)
                     .arg(s.caller));
    sendTo(s.caller, callKey);
    sendTo(s.callee, incoming);
    armRingTimeout(sid, s.callee);
    m_ctx.outbox.sessionsChanged();
}

void CallRouter::onFedError(const QString &peer, const wire::Message &m)
{
    const QByteArray sid = m.bytes(key::sid);
    auto it = m_sessions.find(sid);
    if (it == m_sessions.end() || !it->second->awaitingKey || skbp::Address::parse(it->second->callee).broker != peer)
        return;
    failAwaitingKey(sid, errorCodeFromName(m.text(key::code)),
                    QStringLiteral("broker %1 refused the call: %2").arg(peer, m.text(key::msg)));
}

void CallRouter::failAwaitingKey(const QByteArray &sid, ErrorCode code, const QString &why)
{
    auto it = m_sessions.find(sid);
    if (it == m_sessions.end())
        return;
    const QByteArray keep = sid; // `sid` may live in the session erased below
    const Session &s = *it->second;
    sendTo(s.caller, wire::errorMessage(code, why, s.callId));
    m_ctx.log(QStringLiteral("session %1: %2").arg(shortSid(keep), why));
    m_ctx.relays.endSession(keep);
    m_sessions.erase(it);
    m_ctx.outbox.sessionsChanged();
}

void CallRouter::sendTo(const QString &address, const QCborMap &message, Outbox::Delivery delivery)
{
    if (skbp::Address::parse(address).isRemote())
        deliverRemote(address, message); // a member behind a peered broker
    else
        m_ctx.outbox.sendTo(address, message, delivery);
}

void CallRouter::deliverRemote(const QString &address, const QCborMap &message)
{
    const auto [account, peer] = skbp::Address::parse(address);
    QCborMap deliver = wire::message(wire::MessageType::Deliver);
    deliver.insert(key::to, account);
    deliver.insert(key::msg, message);
    if (message.value(key::t).toString() == wire::messageTypeName(wire::MessageType::Incoming)) {
        auto it = m_sessions.find(message.value(key::sid).toByteArray());
        if (it != m_sessions.end())
            deliver.insert(key::trunk, trunkOf(*it->second, peer));
    }
    m_ctx.peers.send(peer, deliver); // a link that is down ends these sessions anyway
}

void CallRouter::onRequest(const QString &peer, const QString &fromAccount, const QCborMap &msg)
{
    const QString from = skbp::Address{fromAccount, peer}.toString();
    Result<void> r = [&]() -> Result<void> {
        auto m = wire::validateMessage(msg);
        if (!m)
            return m.error();
        const QByteArray sid = m->bytes(key::sid);
        if (!locate(sid, from).second) // a peer may only speak for its own members of our sessions
            return err(ErrorCode::NotInSession, QStringLiteral("not in that call"));
        using T = wire::MessageType;
        switch (m->type()) {
        case T::Answer:
            return answer(from, sid);
        case T::Decline:
            return decline(from, sid);
        case T::Leave:
            return leave(from, sid);
        case T::Invite:
            return invite(from, sid, localize(m->text(key::who), peer));
        case T::Mute:
            return mute(from, sid, m->boolean(key::muted));
        // Not a member's request about a call.
        case T::Login:
        case T::Welcome:
        case T::Directory:
        case T::Presence:
        case T::Call:
        case T::CallKey:
        case T::Incoming:
        case T::Answered:
        case T::Ended:
        case T::SessionKey:
        case T::Joined:
        case T::Left:
        case T::Rekey:
        case T::Rotate:
        case T::RotateAck:
        case T::Error:
        case T::Confirm:
        case T::Enrolled:
        case T::RefreshDue:
        case T::Ping:
        case T::Ok:
        case T::FedCall:
        case T::FedCallKey:
        case T::FedError:
        case T::Deliver:
        case T::Request:
        case T::Ringing:
        case T::Muted:
            break;
        }
        return err(ErrorCode::BadRequest, QStringLiteral("unexpected request \"%1\"").arg(m->typeName()));
    }();
    if (!r)
        deliverRemote(from, wire::errorMessage(r.error().code, r.error().message));
}

// ---- a member's broker (mirror) ------------------------------------------------------------------

void CallRouter::onFedCall(const QString &peer, const wire::Message &m)
{
    const QByteArray sid = m.bytes(key::sid);
    const QString to = m.text(key::to);
    auto refuse = [&](ErrorCode code, const QString &why) {
        QCborMap e = wire::message(wire::MessageType::FedError);
        e.insert(key::sid, sid);
        e.insert(key::code, errorCodeName(code));
        e.insert(key::msg, why);
        m_ctx.peers.send(peer, e);
    };
    const AccountRecord *callee = m_ctx.store.account(to);
    if (!callee || !callee->isEnrolled())
        return refuse(ErrorCode::UnknownAccount, QStringLiteral("no account \"%1@%2\"").arg(to, m_ctx.config.name));
    if (!m_ctx.outbox.isOnline(to))
        return refuse(ErrorCode::Offline, QStringLiteral("%1@%2 is offline").arg(to, m_ctx.config.name));
    // The ringing policy of local calls (CallRouter::mayRing) for calls from a peer: the peer's
    // caller rings our callee once at a time, and calls left ringing do not make it busy.
    const QString from = skbp::Address{m.text(key::from), peer}.toString();
    const int mirrorsOfCallee = int(std::count_if(m_mirrors.begin(), m_mirrors.end(), [&](const auto &mi) {
        return mi.second.callee == to;
    }));
    const bool sameCallerRinging = std::any_of(m_mirrors.begin(), m_mirrors.end(), [&](const auto &mi) {
        return mi.second.callee == to && mi.second.caller == from;
    });
    if (joinedSessionsOf(to) >= kMaxSessionsPerAccount || ringingTo(to) + mirrorsOfCallee >= kMaxRingingPerAccount)
        return refuse(ErrorCode::Busy, QStringLiteral("%1@%2 is busy").arg(to, m_ctx.config.name));
    if (sameCallerRinging)
        return refuse(ErrorCode::Busy, QStringLiteral("%1@%2 is already ringing for you").arg(to, m_ctx.config.name));
    if (m_mirrors.contains(sid) || m_sessions.contains(sid))
        return refuse(ErrorCode::BadRequest, QStringLiteral("session exists"));
    // Patent Fig. 3: B derives the session key from its user's key and wraps it for broker A.
    const auto [epoch, key] = effectiveKey(*callee);
    auto sk = skbp::sessionKey(m_ctx.config.keyMode, *key, sid, to, epoch);
    auto wrapped = sk ? wrapForPeer(peer, *sk, {skbp::WrapPurpose::Federation, sid, 0, m_ctx.config.name})
                      : Result<QByteArray>(sk.error());
    if (!wrapped)
        return refuse(ErrorCode::Internal, wrapped.error().message);
    Mirror mirror;
    mirror.home = peer;
    mirror.callee = to;
    mirror.caller = from;
    mirror.calleeEpoch = epoch;
    m_mirrors.emplace(sid, std::move(mirror));
    noteKeyed(to, epoch);
    addTrunk(sid, peer, m.bytes(key::trunk));
    // SK_0 has left this broker: if the call never rings here (the peer gave up, or lost the
    // key), drop the mirror all the same and rotate the key it came from.
    QTimer::singleShot(m_ctx.config.federatedRingDeadlineMs, &m_timers, [this, sid] {
        auto it = m_mirrors.find(sid);
        if (it == m_mirrors.end() || !it->second.locals.empty())
            return;
        m_ctx.log(QStringLiteral("session %1 from broker %2 never rang here: dropped, K_%3 rotates")
                         .arg(shortSid(sid), it->second.home, it->second.callee));
        dropMirrorMember(sid, {});
    });
    QCborMap reply = wire::message(wire::MessageType::FedCallKey);
    reply.insert(key::sid, sid);
    reply.insert(key::epoch, qint64(epoch));
    reply.insert(key::gen, 0);
    reply.insert(key::wrapped, *wrapped);
    m_ctx.peers.send(peer, reply);
    m_ctx.log(QStringLiteral("%1@%2 calls %3: session %4, SK from K_%3 (epoch %5), {SK}K_%2%6 to broker %2")
                     .arg(m.text(key::from), peer, to, shortSid(sid))
                     .arg(epoch)
                     .arg(m_ctx.config.name));
    m_ctx.outbox.sessionsChanged();
}

// Only what a home broker sends a member about a call; never a rotation, a refresh or a directory
// (those are our own broker's business with our own accounts).
bool CallRouter::isDeliverable(wire::MessageType type)
{
    using T = wire::MessageType;
    switch (type) {
    case T::Incoming:
    case T::Answered:
    case T::Joined:
    case T::Left:
    case T::Ended:
    case T::SessionKey:
    case T::Rekey:
    case T::Error:
        return true;
    case T::Login:
    case T::Welcome:
    case T::Directory:
    case T::Presence:
    case T::Call:
    case T::CallKey:
    case T::Answer:
    case T::Decline:
    case T::Invite:
    case T::Leave:
    case T::Rotate:
    case T::RotateAck:
    case T::Confirm:
    case T::Enrolled:
    case T::RefreshDue:
    case T::Ping:
    case T::Ok:
    case T::FedCall:
    case T::FedCallKey:
    case T::FedError:
    case T::Deliver:
    case T::Request:
    case T::Ringing:
    case T::Mute:
    case T::Muted:
        return false;
    }
    return false;
}

void CallRouter::onDeliver(const QString &peer, const QString &to, QCborMap msg, const QByteArray &trunk)
{
    auto decoded = wire::validateMessage(msg);
    if (!decoded || !isDeliverable(decoded->type()) || !m_ctx.store.account(to))
        return;
    using T = wire::MessageType;
    const T t = decoded->type();
    if (t == T::Error) { // an answer to a request we forwarded: only to our members of its calls
        const bool member = std::any_of(m_mirrors.begin(), m_mirrors.end(), [&](const auto &mi) {
            return mi.second.home == peer && mi.second.locals.contains(to);
        });
        if (member)
            sendTo(to, msg);
        return;
    }
    const QByteArray sid = decoded->bytes(key::sid);
    if (m_sessions.contains(sid))
        return; // a session homed here is not the peer's to speak for
    auto mirror = m_mirrors.find(sid);
    if (t == T::Incoming) {
        if (mirror == m_mirrors.end()) { // invited into a session homed at the peer
            mirror = m_mirrors.emplace(sid, Mirror{peer, {}, {}, {}, 0}).first;
            addTrunk(sid, peer, trunk);
        }
        if (mirror->second.home != peer)
            return;
        // The member binds at our relay, with the token the home broker drew.
        QCborMap relay = msg.value(key::relay).toMap();
        const quint32 ssrc = decoded->u32(key::ssrc);
        m_ctx.relays.addMember(sid, ssrc, relay.value(key::token).toByteArray());
        relay.insert(key::port, qint64(m_ctx.relayPort()));
        msg.insert(key::relay, relay);
        mirror->second.locals[to] = ssrc;
    } else if (mirror == m_mirrors.end() || mirror->second.home != peer || !mirror->second.locals.contains(to)) {
        return; // not about a member of ours in a session of theirs
    }
    for (QLatin1StringView field : {key::from, key::callee, key::who}) {
        if (msg.contains(field))
            msg.insert(field, localize(msg.value(field).toString(), peer));
    }
    if (msg.contains(key::peers)) {
        QCborArray peers;
        for (const QCborValue &p : msg.value(key::peers).toArray()) {
            QCborMap pm = p.toMap();
            pm.insert(key::account, localize(pm.value(key::account).toString(), peer));
            peers.append(pm);
        }
        msg.insert(key::peers, peers);
    }
    if (t == T::SessionKey || t == T::Rekey) {
        // {SK_g}K_AB → {SK_g}K_member: the member's own broker wraps under the member's key.
        const quint32 gen = decoded->u32(key::gen);
        auto sk = unwrapFromPeer(peer, decoded->bytes(key::wrapped), {skbp::WrapPurpose::Federation, sid, gen, peer});
        const skbp::WrapPurpose purpose = t == T::Rekey ? skbp::WrapPurpose::Rekey : skbp::WrapPurpose::Join;
        auto wrapped = sk ? wrapForMember(to, *sk, {purpose, sid, gen, to}) : Result<QByteArray>(sk.error());
        if (!wrapped) {
            m_ctx.log(QStringLiteral("session %1: key from broker %2 for %3 refused: %4")
                             .arg(shortSid(sid), peer, to, wrapped.error().message));
            return;
        }
        msg.insert(key::wrapped, *wrapped);
        msg.insert(key::via, peer);
    }
    sendTo(to, msg);
    if (t == T::Ended)
        dropMirrorMember(sid, to);
}

Result<void> CallRouter::forwardRequest(const QString &from, const QByteArray &sid, wire::MessageType type,
                                        const QString &who, const QCborMap &extra)
{
    auto it = m_mirrors.find(sid);
    if (it == m_mirrors.end() || !it->second.locals.contains(from))
        return err(ErrorCode::NotInSession, QStringLiteral("not in that call"));
    QCborMap inner = wire::aboutSession(type, sid);
    if (!who.isEmpty())
        inner.insert(key::who, who);
    for (auto it = extra.begin(); it != extra.end(); ++it)
        inner.insert(it.key(), it.value());
    QCborMap request = wire::message(wire::MessageType::Request);
    request.insert(key::from, from);
    request.insert(key::msg, inner);
    const QString home = it->second.home;
    const bool sent = m_ctx.peers.send(home, request);
    if (type == wire::MessageType::Leave || type == wire::MessageType::Decline)
        dropMirrorMember(sid, from); // out of the call whatever the home broker says
    if (!sent)
        return err(ErrorCode::Offline, QStringLiteral("broker %1 cannot be reached").arg(home));
    return {};
}

void CallRouter::dropMirrorMember(const QByteArray &sid, const QString &account)
{
    auto it = m_mirrors.find(sid);
    if (it == m_mirrors.end())
        return;
    Mirror &mi = it->second;
    if (auto l = mi.locals.find(account); l != mi.locals.end()) {
        m_ctx.relays.removeMember(sid, l->second);
        mi.locals.erase(l);
    }
    if (!mi.locals.empty())
        return;
    const QString callee = mi.callee;
    const quint32 keyed = mi.calleeEpoch;
    m_mirrors.erase(it);
    m_ctx.relays.endSession(sid);
    // SK_0 came from our account's key: rotate it (patent Fig. 3, last step).
    if (!callee.isEmpty())
        rotateAfter(callee, keyed);
    m_ctx.outbox.sessionsChanged();
}

// ---- the link ----------------------------------------------------------------------------------------

void CallRouter::onPeerMessage(const QString &peer, const wire::Message &m)
{
    using T = wire::MessageType;
    switch (m.type()) {
    case T::FedCall:
        return onFedCall(peer, m);
    case T::FedCallKey:
        return onFedCallKey(peer, m);
    case T::FedError:
        return onFedError(peer, m);
    case T::Deliver:
        return onDeliver(peer, m.text(key::to), m.map().value(key::msg).toMap(), m.bytes(key::trunk));
    case T::Request:
        return onRequest(peer, m.text(key::from), m.map().value(key::msg).toMap());
    // The link's own messages are Federation's; the rest are not sent between brokers.
    case T::Login:
    case T::Welcome:
    case T::Directory:
    case T::Presence:
    case T::Call:
    case T::CallKey:
    case T::Incoming:
    case T::Answer:
    case T::Decline:
    case T::Answered:
    case T::Ended:
    case T::Invite:
    case T::SessionKey:
    case T::Joined:
    case T::Left:
    case T::Rekey:
    case T::Leave:
    case T::Rotate:
    case T::RotateAck:
    case T::Error:
    case T::Confirm:
    case T::Enrolled:
    case T::RefreshDue:
    case T::Ping:
    case T::Ok:
    case T::Ringing:
    case T::Mute:
    case T::Muted:
        return;
    }
}

void CallRouter::onPeerUp(const QString &) {}

void CallRouter::onPeerDown(const QString &peer)
{
    // The peer's accounts are unreachable now.
    for (const auto &[account, online] : m_ctx.peers.directory(peer)) {
        if (online)
            m_ctx.outbox.broadcastPresence(skbp::Address{account, peer}.toString(), false);
    }
    // Our sessions with members there: those members are gone (the rest re-key, or the call
    // ends). Their own broker ends its side the same way; every key stays where it was.
    std::vector<std::pair<QByteArray, QString>> gone;
    for (const auto &[sid, s] : m_sessions) {
        for (const Member &mem : s->members) {
            if (skbp::Address::parse(mem.account).broker == peer)
                gone.emplace_back(sid, mem.account);
        }
    }
    std::map<QByteArray, QStringList> bySession;
    for (const auto &[sid, account] : gone)
        bySession[sid].append(account);
    for (const auto &[sid, accounts] : bySession) {
        auto it = m_sessions.find(sid);
        if (it == m_sessions.end())
            continue;
        Session &s = *it->second;
        if (s.awaitingKey) {
            failAwaitingKey(sid, ErrorCode::Offline, QStringLiteral("broker %1 went away").arg(peer));
            continue;
        }
        // All of that broker's members go at once; the rest re-key once, or the call ends.
        const QString last = accounts.back();
        for (const QString &account : accounts.mid(0, accounts.size() - 1)) {
            std::erase_if(s.members, [&](const Member &m) { return m.account == account; });
            const QCborMap left = wire::left(sid, account);
            for (const Member &m : s.members) {
                if (m.joined && m.account != last)
                    sendTo(m.account, left);
            }
        }
        int remaining = 0;
        for (const Member &m : s.members)
            remaining += m.joined && m.account != last ? 1 : 0;
        if (!s.answered || remaining < 2)
            endSession(sid, EndReason::Disconnected);
        else
            (void)leave(last, sid);
    }
    // Sessions homed there: end our members' side of them.
    std::vector<QByteArray> mirrors;
    for (const auto &[sid, mi] : m_mirrors) {
        if (mi.home == peer)
            mirrors.push_back(sid);
    }
    for (const QByteArray &sid : mirrors) {
        const auto locals = m_mirrors[sid].locals;
        const QCborMap ended = wire::ended(sid, EndReason::Disconnected);
        for (const auto &[account, ssrc] : locals) {
            sendTo(account, ended);
            dropMirrorMember(sid, account);
        }
        if (m_mirrors.contains(sid) && m_mirrors[sid].locals.empty()) {
            const QString callee = m_mirrors[sid].callee;
            const quint32 keyed = m_mirrors[sid].calleeEpoch;
            m_mirrors.erase(sid);
            m_ctx.relays.endSession(sid);
            if (!callee.isEmpty())
                rotateAfter(callee, keyed);
        }
    }
    m_ctx.outbox.sessionsChanged();
}

} // namespace sotto::broker
