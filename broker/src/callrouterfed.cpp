// The call router across peered brokers (PROTOCOL.md §8, patent Fig. 3). See callrouter.h.
#include "callrouter.h"

#include "broker/broker.h"
#include "core/crypto.h"
#include "federation.h"
#include "routing.h"

#include <QCborArray>
#include <QTimer>

namespace sotto::broker {

using namespace routing;

// ---- keys and names ------------------------------------------------------------------------------

Result<QByteArray> CallRouter::wrapForPeer(const QString &peer, const SecretBytes &secret, const skbp::WrapContext &ctx)
{
    // The newest K_AB: while a refresh settles, the other side holds it already, as pending or
    // as current, and unwraps either (unwrapFromPeer).
    const AccountRecord *p = m_broker.m_store.peer(peer);
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
    const AccountRecord *p = m_broker.m_store.peer(peer);
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
    if (const auto [name, peer] = skbp::splitAddress(account); !peer.isEmpty()) {
        // {SK}K_AB: the member's own broker re-wraps it under the member's key.
        ctx.purpose = skbp::WrapPurpose::Federation;
        ctx.owner = m_broker.name();
        return wrapForPeer(peer, secret, ctx);
    }
    const AccountRecord *a = m_broker.m_store.account(account);
    if (!a)
        return err(ErrorCode::Internal, QStringLiteral("member vanished"));
    const auto [epoch, key] = effectiveKey(*a);
    return wrapFor(account, epoch, *key, secret, ctx);
}

bool CallRouter::isKnownRemote(const QString &address, bool *online) const
{
    const auto [account, peer] = skbp::splitAddress(address);
    Federation &fed = *m_broker.m_federation;
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
    const auto [account, broker] = skbp::splitAddress(name);
    if (broker.isEmpty())
        return QStringLiteral("%1@%2").arg(account, peer);
    if (broker == m_broker.name())
        return account;
    return name;
}

void CallRouter::addTrunk(const QByteArray &sid, const QString &peer, const QByteArray &token)
{
    if (token.size() != 16)
        return;
    const auto [address, port] = m_broker.m_federation->relayOf(peer);
    m_broker.m_relayTable.addTrunk(sid, address, port, token);
}

void CallRouter::dropTrunkIfUnused(const Session &s, const QString &departed)
{
    // With the peer's last member gone, the relay stops sending the call over to its relay.
    const QString peer = skbp::splitAddress(departed).second;
    if (peer.isEmpty())
        return;
    for (const Member &m : s.members) {
        if (skbp::splitAddress(m.account).second == peer)
            return;
    }
    m_broker.m_relayTable.removeTrunks(s.sid);
}

QByteArray CallRouter::trunkOf(Session &s, const QString &peer)
{
    // Drawn by the home broker and sent with the call, so that a K_AB refresh in between
    // cannot leave the two relays with different tokens.
    if (s.trunkToken.isEmpty()) {
        auto t = crypto::randomBytes(16);
        if (!t)
            return {};
        s.trunkToken = *t;
    }
    addTrunk(s.sid, peer, s.trunkToken);
    return s.trunkToken;
}

// ---- the caller's broker (home) ------------------------------------------------------------------

Result<void> CallRouter::callRemote(const QString &from, const QString &to, const wire::Message &msg)
{
    const auto [account, peer] = skbp::splitAddress(to);
    Federation &fed = *m_broker.m_federation;
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
    QCborMap fcall = wire::message(k("fcall"));
    fcall.insert(k("sid"), *sid);
    fcall.insert(k("from"), from);
    fcall.insert(k("to"), account);
    fcall.insert(k("trunk"), trunk);
    if (!fed.send(peer, fcall)) {
        m_broker.m_relayTable.endSession(*sid);
        return err(ErrorCode::Offline, QStringLiteral("broker %1 cannot be reached").arg(peer));
    }
    m_broker.m_relayTable.addMember(*sid, a.ssrc, a.token);
    // The caller is not left waiting on a peer that never answers.
    QTimer::singleShot(m_broker.m_config.federatedRingDeadlineMs, &m_broker, [this, id = *sid, peer = peer] {
        auto it = m_sessions.find(id);
        if (it != m_sessions.end() && it->second->awaitingKey)
            failAwaitingKey(id, ErrorCode::Offline, QStringLiteral("broker %1 did not answer in time").arg(peer));
    });
    m_sessions.emplace(*sid, std::move(session));
    m_broker.log(QStringLiteral("%1 calls %2: session %3, asking broker %4 for the session key")
                     .arg(from, to, shortSid(*sid), peer));
    Q_EMIT m_broker.sessionsChanged();
    return {};
}

void CallRouter::onFedCallKey(const QString &peer, const wire::Message &m)
{
    const QByteArray sid = m.bytes(k("sid"));
    auto it = m_sessions.find(sid);
    if (it == m_sessions.end() || !it->second->awaitingKey || skbp::splitAddress(it->second->callee).second != peer)
        return;
    Session &s = *it->second;
    auto sk = unwrapFromPeer(peer, m.bytes(k("wrapped")), {skbp::WrapPurpose::Federation, sid, 0, peer});
    Member *caller = s.find(s.caller);
    Member *callee = s.find(s.callee);
    auto wrapped = sk ? wrapForMember(s.caller, *sk, {skbp::WrapPurpose::Call, sid, 0, s.caller})
                      : Result<QByteArray>(sk.error());
    if (!wrapped || !caller || !callee) {
        const QString why = wrapped ? QStringLiteral("session vanished") : wrapped.error().message;
        m_broker.sendTo(s.caller, wire::errorMessage(ErrorCode::Internal, why, s.callId));
        endSession(sid, QStringLiteral("failed"));
        return;
    }
    s.key = std::move(*sk);
    s.awaitingKey = false;
    const quint32 calleeEpoch = m.u32(k("epoch"));

    QCborMap callKey = callKeyMessage(s, *caller, calleeEpoch, *wrapped, s.callId);
    callKey.insert(k("via"), peer); // the first hop: {SK}K_AB from the callee's broker
    const QCborMap incoming = incomingMessage(s, *caller, *callee, calleeEpoch);

    m_broker.log(QStringLiteral("session %1: {SK}K_%2%3 from broker %3 (SK from K_%4 epoch %5), re-wrapped as {SK}K_%6")
                     .arg(shortSid(sid), m_broker.name(), peer, skbp::splitAddress(s.callee).first)
                     .arg(calleeEpoch)
                     .arg(s.caller));
    m_broker.sendTo(s.caller, callKey);
    m_broker.sendTo(s.callee, incoming);
    armRingTimeout(sid, s.callee);
    Q_EMIT m_broker.sessionsChanged();
}

void CallRouter::onFedError(const QString &peer, const wire::Message &m)
{
    const QByteArray sid = m.bytes(k("sid"));
    auto it = m_sessions.find(sid);
    if (it == m_sessions.end() || !it->second->awaitingKey || skbp::splitAddress(it->second->callee).second != peer)
        return;
    failAwaitingKey(sid, errorCodeFromName(m.text(k("code"))),
                    QStringLiteral("broker %1 refused the call: %2").arg(peer, m.text(k("msg"))));
}

void CallRouter::failAwaitingKey(const QByteArray &sid, ErrorCode code, const QString &why)
{
    auto it = m_sessions.find(sid);
    if (it == m_sessions.end())
        return;
    const QByteArray keep = sid; // `sid` may live in the session erased below
    const Session &s = *it->second;
    m_broker.sendTo(s.caller, wire::errorMessage(code, why, s.callId));
    m_broker.log(QStringLiteral("session %1: %2").arg(shortSid(keep), why));
    m_broker.m_relayTable.endSession(keep);
    m_sessions.erase(it);
    Q_EMIT m_broker.sessionsChanged();
}

void CallRouter::deliverRemote(const QString &address, const QCborMap &message)
{
    const auto [account, peer] = skbp::splitAddress(address);
    if (peer == m_broker.name()) {
        m_broker.sendTo(account, message);
        return;
    }
    QCborMap deliver = wire::message(k("deliver"));
    deliver.insert(k("to"), account);
    deliver.insert(k("msg"), message);
    if (message.value(k("t")).toString() == k("incoming")) {
        auto it = m_sessions.find(message.value(k("sid")).toByteArray());
        if (it != m_sessions.end())
            deliver.insert(k("trunk"), trunkOf(*it->second, peer));
    }
    m_broker.m_federation->send(peer, deliver); // a link that is down ends these sessions anyway
}

void CallRouter::onRequest(const QString &peer, const QString &fromAccount, const QCborMap &msg)
{
    const QString from = QStringLiteral("%1@%2").arg(fromAccount, peer);
    auto decoded = wire::decodeMessage(wire::encodeMessage(msg));
    Result<void> r;
    if (!decoded) {
        r = decoded.error();
    } else {
        const wire::Message &m = *decoded;
        const QString t = m.type();
        const QByteArray sid = m.bytes(k("sid"));
        auto [session, me] = locate(sid, from);
        if (!me) // a peer may only speak for its own members of our sessions
            r = err(ErrorCode::NotInSession, QStringLiteral("not in that call"));
        else if (t == k("answer"))
            r = answer(from, sid);
        else if (t == k("decline"))
            r = decline(from, sid);
        else if (t == k("leave"))
            r = leave(from, sid);
        else if (t == k("invite"))
            r = invite(from, sid, localize(m.text(k("who")), peer));
        else if (t == k("mute"))
            r = mute(from, sid, m.boolean(k("muted")));
        else
            r = err(ErrorCode::BadRequest, QStringLiteral("unexpected request \"%1\"").arg(t));
    }
    if (!r)
        deliverRemote(from, wire::errorMessage(r.error().code, r.error().message));
}

// ---- a member's broker (mirror) ------------------------------------------------------------------

void CallRouter::onFedCall(const QString &peer, const wire::Message &m)
{
    const QByteArray sid = m.bytes(k("sid"));
    const QString to = m.text(k("to"));
    auto refuse = [&](ErrorCode code, const QString &why) {
        QCborMap e = wire::message(k("ferror"));
        e.insert(k("sid"), sid);
        e.insert(k("code"), errorCodeName(code));
        e.insert(k("msg"), why);
        m_broker.m_federation->send(peer, e);
    };
    const AccountRecord *callee = m_broker.m_store.account(to);
    if (!callee || !callee->isEnrolled())
        return refuse(ErrorCode::UnknownAccount, QStringLiteral("no account \"%1@%2\"").arg(to, m_broker.name()));
    if (!m_broker.isOnline(to))
        return refuse(ErrorCode::Offline, QStringLiteral("%1@%2 is offline").arg(to, m_broker.name()));
    // The ringing policy of local calls (CallRouter::mayRing) for calls from a peer: the peer's
    // caller rings our callee once at a time, and calls left ringing do not make it busy.
    const QString from = QStringLiteral("%1@%2").arg(m.text(k("from")), peer);
    const int mirrorsOfCallee = int(std::count_if(m_mirrors.begin(), m_mirrors.end(), [&](const auto &mi) {
        return mi.second.callee == to;
    }));
    const bool sameCallerRinging = std::any_of(m_mirrors.begin(), m_mirrors.end(), [&](const auto &mi) {
        return mi.second.callee == to && mi.second.caller == from;
    });
    if (joinedSessionsOf(to) >= kMaxSessionsPerAccount || ringingTo(to) + mirrorsOfCallee >= kMaxRingingPerAccount)
        return refuse(ErrorCode::Busy, QStringLiteral("%1@%2 is busy").arg(to, m_broker.name()));
    if (sameCallerRinging)
        return refuse(ErrorCode::Busy, QStringLiteral("%1@%2 is already ringing for you").arg(to, m_broker.name()));
    if (m_mirrors.contains(sid) || m_sessions.contains(sid))
        return refuse(ErrorCode::BadRequest, QStringLiteral("session exists"));
    // Patent Fig. 3: B derives the session key from its user's key and wraps it for broker A.
    const auto [epoch, key] = effectiveKey(*callee);
    auto sk = skbp::sessionKey(m_broker.m_config.keyMode, *key, sid, to, epoch);
    auto wrapped = sk ? wrapForPeer(peer, *sk, {skbp::WrapPurpose::Federation, sid, 0, m_broker.name()})
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
    addTrunk(sid, peer, m.bytes(k("trunk")));
    // SK_0 has left this broker: if the call never rings here (the peer gave up, or lost the
    // key), drop the mirror all the same and rotate the key it came from.
    QTimer::singleShot(m_broker.m_config.federatedRingDeadlineMs, &m_broker, [this, sid] {
        auto it = m_mirrors.find(sid);
        if (it == m_mirrors.end() || !it->second.locals.empty())
            return;
        m_broker.log(QStringLiteral("session %1 from broker %2 never rang here: dropped, K_%3 rotates")
                         .arg(shortSid(sid), it->second.home, it->second.callee));
        dropMirrorMember(sid, {});
    });
    QCborMap reply = wire::message(k("fcall_key"));
    reply.insert(k("sid"), sid);
    reply.insert(k("epoch"), qint64(epoch));
    reply.insert(k("gen"), 0);
    reply.insert(k("wrapped"), *wrapped);
    m_broker.m_federation->send(peer, reply);
    m_broker.log(QStringLiteral("%1@%2 calls %3: session %4, SK from K_%3 (epoch %5), {SK}K_%2%6 to broker %2")
                     .arg(m.text(k("from")), peer, to, shortSid(sid))
                     .arg(epoch)
                     .arg(m_broker.name()));
    Q_EMIT m_broker.sessionsChanged();
}

void CallRouter::onDeliver(const QString &peer, const QString &to, QCborMap msg, const QByteArray &trunk)
{
    auto decoded = wire::decodeMessage(wire::encodeMessage(msg));
    if (!decoded)
        return;
    const QString t = decoded->type();
    // Only what a home broker sends a member about a call; never a rotation, a refresh or a
    // directory (those are our own broker's business with our own accounts).
    static const QStringList kAllowed{QStringLiteral("incoming"), QStringLiteral("answered"), QStringLiteral("joined"),
                                      QStringLiteral("left"), QStringLiteral("ended"), QStringLiteral("session_key"),
                                      QStringLiteral("rekey"), QStringLiteral("error")};
    if (!kAllowed.contains(t) || !m_broker.m_store.account(to))
        return;
    if (t == k("error")) { // an answer to a request we forwarded: only to our members of its calls
        const bool member = std::any_of(m_mirrors.begin(), m_mirrors.end(), [&](const auto &mi) {
            return mi.second.home == peer && mi.second.locals.contains(to);
        });
        if (member)
            m_broker.sendTo(to, msg);
        return;
    }
    const QByteArray sid = decoded->bytes(k("sid"));
    if (m_sessions.contains(sid))
        return; // a session homed here is not the peer's to speak for
    auto mirror = m_mirrors.find(sid);
    if (t == k("incoming")) {
        if (mirror == m_mirrors.end()) { // invited into a session homed at the peer
            mirror = m_mirrors.emplace(sid, Mirror{peer, {}, {}, {}, 0}).first;
            addTrunk(sid, peer, trunk);
        }
        if (mirror->second.home != peer)
            return;
        // The member binds at our relay, with the token the home broker drew.
        QCborMap relay = msg.value(k("relay")).toMap();
        const quint32 ssrc = decoded->u32(k("ssrc"));
        m_broker.m_relayTable.addMember(sid, ssrc, relay.value(k("token")).toByteArray());
        relay.insert(k("port"), qint64(m_broker.port()));
        msg.insert(k("relay"), relay);
        mirror->second.locals[to] = ssrc;
    } else if (mirror == m_mirrors.end() || mirror->second.home != peer || !mirror->second.locals.contains(to)) {
        return; // not about a member of ours in a session of theirs
    }
    for (const char *field : {"from", "callee", "who"}) {
        if (msg.contains(k(field)))
            msg.insert(k(field), localize(msg.value(k(field)).toString(), peer));
    }
    if (msg.contains(k("peers"))) {
        QCborArray peers;
        for (const QCborValue &p : msg.value(k("peers")).toArray()) {
            QCborMap pm = p.toMap();
            pm.insert(k("account"), localize(pm.value(k("account")).toString(), peer));
            peers.append(pm);
        }
        msg.insert(k("peers"), peers);
    }
    if (t == k("session_key") || t == k("rekey")) {
        // {SK_g}K_AB → {SK_g}K_member: the member's own broker wraps under the member's key.
        const quint32 gen = decoded->u32(k("gen"));
        auto sk = unwrapFromPeer(peer, decoded->bytes(k("wrapped")), {skbp::WrapPurpose::Federation, sid, gen, peer});
        const skbp::WrapPurpose purpose = t == k("rekey") ? skbp::WrapPurpose::Rekey : skbp::WrapPurpose::Join;
        auto wrapped = sk ? wrapForMember(to, *sk, {purpose, sid, gen, to}) : Result<QByteArray>(sk.error());
        if (!wrapped) {
            m_broker.log(QStringLiteral("session %1: key from broker %2 for %3 refused: %4")
                             .arg(shortSid(sid), peer, to, wrapped.error().message));
            return;
        }
        msg.insert(k("wrapped"), *wrapped);
        msg.insert(k("via"), peer);
    }
    m_broker.sendTo(to, msg);
    if (t == k("ended"))
        dropMirrorMember(sid, to);
}

Result<void> CallRouter::forwardRequest(const QString &from, const QByteArray &sid, const char *type, const QString &who,
                                        const QCborMap &extra)
{
    auto it = m_mirrors.find(sid);
    if (it == m_mirrors.end() || !it->second.locals.contains(from))
        return err(ErrorCode::NotInSession, QStringLiteral("not in that call"));
    QCborMap inner = wire::message(k(type));
    inner.insert(k("sid"), sid);
    if (!who.isEmpty())
        inner.insert(k("who"), who);
    for (auto it = extra.begin(); it != extra.end(); ++it)
        inner.insert(it.key(), it.value());
    QCborMap request = wire::message(k("request"));
    request.insert(k("from"), from);
    request.insert(k("msg"), inner);
    const QString home = it->second.home;
    const bool sent = m_broker.m_federation->send(home, request);
    const QLatin1StringView t(type);
    if (t == k("leave") || t == k("decline"))
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
        m_broker.m_relayTable.removeMember(sid, l->second);
        mi.locals.erase(l);
    }
    if (!mi.locals.empty())
        return;
    const QString callee = mi.callee;
    const quint32 keyed = mi.calleeEpoch;
    m_mirrors.erase(it);
    m_broker.m_relayTable.endSession(sid);
    // SK_0 came from our account's key: rotate it (patent Fig. 3, last step).
    if (!callee.isEmpty())
        rotateAfter(callee, keyed);
    Q_EMIT m_broker.sessionsChanged();
}

// ---- the link ----------------------------------------------------------------------------------------

void CallRouter::onPeerMessage(const QString &peer, const wire::Message &m)
{
    const QString t = m.type();
    if (t == k("fcall")) {
        onFedCall(peer, m);
    } else if (t == k("fcall_key")) {
        onFedCallKey(peer, m);
    } else if (t == k("ferror")) {
        onFedError(peer, m);
    } else if (t == k("deliver")) {
        onDeliver(peer, m.text(k("to")), m.map().value(k("msg")).toMap(), m.bytes(k("trunk")));
    } else if (t == k("request")) {
        onRequest(peer, m.text(k("from")), m.map().value(k("msg")).toMap());
    }
}

void CallRouter::onPeerUp(const QString &) {}

void CallRouter::onPeerDown(const QString &peer)
{
    // The peer's accounts are unreachable now.
    for (const auto &[account, online] : m_broker.m_federation->directory(peer)) {
        if (online)
            m_broker.broadcastPresence(QStringLiteral("%1@%2").arg(account, peer), false);
    }
    // Our sessions with members there: those members are gone (the rest re-key, or the call
    // ends). Their own broker ends its side the same way; every key stays where it was.
    const QString suffix = QLatin1Char('@') + peer;
    std::vector<std::pair<QByteArray, QString>> gone;
    for (const auto &[sid, s] : m_sessions) {
        for (const Member &mem : s->members) {
            if (mem.account.endsWith(suffix))
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
            QCborMap left = wire::message(k("left"));
            left.insert(k("sid"), sid);
            left.insert(k("who"), account);
            for (const Member &m : s.members) {
                if (m.joined && m.account != last)
                    m_broker.sendTo(m.account, left);
            }
        }
        int remaining = 0;
        for (const Member &m : s.members)
            remaining += m.joined && m.account != last ? 1 : 0;
        if (!s.answered || remaining < 2)
            endSession(sid, QStringLiteral("disconnected"));
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
        QCborMap ended = wire::message(k("ended"));
        ended.insert(k("sid"), sid);
        ended.insert(k("reason"), QStringLiteral("disconnected"));
        for (const auto &[account, ssrc] : locals) {
            m_broker.sendTo(account, ended);
            dropMirrorMember(sid, account);
        }
        if (m_mirrors.contains(sid) && m_mirrors[sid].locals.empty()) {
            const QString callee = m_mirrors[sid].callee;
            const quint32 keyed = m_mirrors[sid].calleeEpoch;
            m_mirrors.erase(sid);
            m_broker.m_relayTable.endSession(sid);
            if (!callee.isEmpty())
                rotateAfter(callee, keyed);
        }
    }
    Q_EMIT m_broker.sessionsChanged();
}

} // namespace sotto::broker
