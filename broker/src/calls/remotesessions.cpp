#include "calls/remotesessions.h"

#include "calls/keyrotation.h"
#include "calls/memberkeys.h"
#include "calls/ringpolicy.h"
#include "calls/sessiontable.h"
#include "calls/routing.h"

#include "relay/relay.h"
#include "broker/store.h"
#include "core/channels.h"
#include "core/crypto.h"

#include <QCborArray>
#include <QTimer>

#include <algorithm>

namespace sotto::broker {

namespace key = wire::key;
using namespace routing;

RemoteSessions::RemoteSessions(RouterContext context, const SessionTable &local, const RingPolicy &ring, MemberKeys &keys,
                               KeyRotation &rotation)
    : m_ctx(std::move(context)), m_local(local), m_ring(ring), m_keys(keys), m_rotation(rotation)
{
}

std::vector<QByteArray> RemoteSessions::sessionsWith(const QString &account) const
{
    std::vector<QByteArray> sids;
    for (const auto &[sid, mi] : m_mirrors) {
        if (mi.locals.contains(account))
            sids.push_back(sid);
    }
    return sids;
}

int RemoteSessions::ringing(const QString &callee, const QString &caller) const
{
    return int(std::count_if(m_mirrors.begin(), m_mirrors.end(), [&](const auto &mi) {
        return mi.second.callee == callee && (caller.isEmpty() || mi.second.caller == caller);
    }));
}

void RemoteSessions::onPeerDown(const QString &peer)
{
    std::vector<QByteArray> mirrors;
    for (const auto &[sid, mi] : m_mirrors) {
        if (mi.home == peer)
            mirrors.push_back(sid);
    }
    for (const QByteArray &sid : mirrors) {
        const auto locals = m_mirrors[sid].locals;
        const QCborMap ended = wire::ended(sid, EndReason::Disconnected);
        for (const auto &[account, ssrc] : locals) {
            m_ctx.outbox.sendTo(account, ended);
            dropMember(sid, account);
        }
        if (m_mirrors.contains(sid))
            dropMember(sid, {}); // it never rang here: the key it came from rotates all the same
    }
}

void RemoteSessions::onFedCall(const QString &peer, const wire::Message &m)
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
    // The callee's half of the ringing policy of local calls for calls from a peer: the peer's
    // caller rings our callee once at a time, and calls left ringing do not make it busy (the
    // caller's half is its own broker's).
    const QString from = skbp::Address{m.text(key::from), peer}.toString();
    const RingLoad load{.calleeJoined = m_local.joinedSessionsOf(to),
                        .calleeRinging = m_local.ringingTo(to) + ringing(to),
                        .callerRingingCallee = ringing(to, from)};
    if (auto r = m_ring.mayRingCallee(QStringLiteral("%1@%2").arg(to, m_ctx.config.name), load); !r)
        return refuse(r.error().code, r.error().message);
    if (m_mirrors.contains(sid) || m_local.contains(sid))
        return refuse(ErrorCode::BadRequest, QStringLiteral("session exists"));
    if (!routing::relayAtAllowed(m_ctx, peer, m.text(key::relay_at))) {
        m_ctx.log(QStringLiteral("broker %1 refused: its relay_at %2 is not an address it is configured with")
                         .arg(peer, m.text(key::relay_at)));
        return refuse(ErrorCode::Forbidden, QStringLiteral("relay_at %1 is not a relay of broker %2").arg(m.text(key::relay_at), peer));
    }
    // Patent Fig. 3: B derives the session key from its user's key and wraps it for broker A —
    // under a derivation bound to A (the home), so no sid A picks gives it a local call's key,
    // and never twice from one (key, sid).
    const auto [epoch, key] = effectiveKey(*callee);
    if (!m_rotation.claimSid(to, epoch, sid)) {
        m_ctx.log(QStringLiteral("broker %1 refused: session %2 was already keyed from K_%3 at epoch %4")
                         .arg(peer, shortSid(sid), to)
                         .arg(epoch));
        return refuse(ErrorCode::BadRequest, QStringLiteral("session exists"));
    }
    auto sk = skbp::sessionKey(m_ctx.config.keyMode, *key, sid, to, epoch, peer);
    auto wrapped = sk ? routing::wrapForPeer(m_ctx.store, peer, *sk, {skbp::WrapPurpose::Federation, sid, 0, m_ctx.config.name})
                      : Result<QByteArray>(sk.error());
    if (!wrapped)
        return refuse(ErrorCode::Internal, wrapped.error().message);
    Mirror mirror;
    mirror.home = peer;
    mirror.callee = to;
    mirror.caller = from;
    mirror.calleeEpoch = epoch;
    m_mirrors.emplace(sid, std::move(mirror));
    m_rotation.noteKeyed(to, epoch);
    routing::addTrunk(m_ctx, sid, peer, m.bytes(key::trunk), m.text(key::relay_at), false);
    // SK_0 has left this broker: if the call never rings here (the peer gave up, or lost the
    // key), drop the mirror all the same and rotate the key it came from.
    QTimer::singleShot(m_ctx.config.federatedRingDeadlineMs, &m_timers, [this, sid] {
        auto it = m_mirrors.find(sid);
        if (it == m_mirrors.end() || !it->second.locals.empty())
            return;
        m_ctx.log(QStringLiteral("session %1 from broker %2 never rang here: dropped, K_%3 rotates")
                         .arg(shortSid(sid), it->second.home, it->second.callee));
        dropMember(sid, {});
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


std::optional<QString> RemoteSessions::memberName(const QString &written, const QString &peer, const Mirror &mirror,
                                                  const QString &to) const
{
    const skbp::Address a = skbp::Address::parse(written);
    if (!skbp::isValidAccount(a.account))
        return std::nullopt;
    if (a.broker.isEmpty() || a.broker == peer)
        return skbp::Address{a.account, peer}.toString(); // the peer's own account
    if (a.broker == m_ctx.config.name
        && (a.account == to || mirror.locals.contains(a.account) || mirror.formerLocals.contains(a.account)))
        return a.account; // ours, and really in the call (or in it until just now: its `left`)
    return std::nullopt; // a colleague of ours not in it, or a third broker's account
}

void RemoteSessions::onDeliver(const QString &peer, const QString &to, QCborMap msg, const QByteArray &trunk,
                               const QString &relayAt)
{
    auto decoded = wire::validateMessage(msg);
    if (!decoded || !wire::isPeerDeliverable(decoded->type()) || !m_ctx.store.account(to))
        return;
    using T = wire::MessageType;
    const T t = decoded->type();
    if (t == T::Error) { // an answer to a request we forwarded: only to our members of its calls
        const bool member = std::any_of(m_mirrors.begin(), m_mirrors.end(), [&](const auto &mi) {
            return mi.second.home == peer && mi.second.locals.contains(to);
        });
        if (member)
            m_ctx.outbox.sendTo(to, msg);
        return;
    }
    const QByteArray sid = decoded->bytes(key::sid);
    if (m_local.contains(sid))
        return; // a session homed here is not the peer's to speak for
    auto mirror = m_mirrors.find(sid);
    if (mirror != m_mirrors.end() && mirror->second.home != peer)
        return; // a session homed elsewhere is not this peer's to speak for
    if (t != T::Incoming && (mirror == m_mirrors.end() || !mirror->second.locals.contains(to)))
        return; // not about a member of ours in a session of theirs
    // Every name the peer writes must be one of its own accounts, or one of ours that is really
    // in this session (or the member it is for): a peer never makes a colleague of ours appear.
    // Checked before anything changes, so a forged message leaves no trace but the log line.
    static const Mirror kNoMirror;
    const Mirror &known = mirror == m_mirrors.end() ? kNoMirror : mirror->second;
    QString forged;
    auto name = [&](const QString &written) -> QString {
        auto n = memberName(written, peer, known, to);
        if (!n && forged.isEmpty())
            forged = QStringLiteral("the name \"%1\", neither one of its accounts nor a member of ours in that call").arg(written);
        return n.value_or(QString());
    };
    for (QLatin1StringView field : {key::from, key::callee, key::who}) {
        if (msg.contains(field))
            msg.insert(field, name(msg.value(field).toString()));
    }
    if (msg.contains(key::peers)) {
        QCborArray peers;
        for (const QCborValue &p : msg.value(key::peers).toArray()) {
            QCborMap pm = p.toMap();
            pm.insert(key::account, name(pm.value(key::account).toString()));
            peers.append(pm);
        }
        msg.insert(key::peers, peers);
    }
    if (forged.isEmpty() && t == T::Incoming && mirror == m_mirrors.end() && !routing::relayAtAllowed(m_ctx, peer, relayAt))
        forged = QStringLiteral("relay_at %1, not an address it is configured with").arg(relayAt);
    // A keyed `incoming` (with an epoch: the phone derives SK_0 itself) only for the call the peer
    // asked a key for (fcall), at that epoch, and once: any other would key a (key, sid) twice.
    if (forged.isEmpty() && t == T::Incoming && msg.contains(key::epoch)) {
        const bool asked = mirror != m_mirrors.end() && mirror->second.callee == to && mirror->second.locals.empty()
            && mirror->second.calleeEpoch == decoded->u32(key::epoch);
        if (!asked)
            forged = QStringLiteral("a key nobody asked for (no fcall for %1 at epoch %2)").arg(to).arg(decoded->u32(key::epoch));
    }
    if (!forged.isEmpty()) {
        m_ctx.log(QStringLiteral("broker %1 refused: a %2 for %3 (session %4) with %5")
                         .arg(peer, decoded->typeName(), to, shortSid(sid), forged));
        return;
    }
    if (t == T::Incoming) {
        if (mirror == m_mirrors.end()) { // invited into a session homed at the peer
            mirror = m_mirrors.emplace(sid, Mirror{peer, {}, {}, {}, 0}).first;
            routing::addTrunk(m_ctx, sid, peer, trunk, relayAt, false);
        }
        // The member binds at our relay, with a grant of ours.
        const quint32 ssrc = decoded->u32(key::ssrc);
        auto grant = m_ctx.media.admit(sid, ssrc);
        if (!grant) {
            m_ctx.log(QStringLiteral("session %1 from broker %2: %3 cannot join: %4")
                             .arg(shortSid(sid), peer, to, grant.error().message));
            return;
        }
        msg.insert(key::relay, *grant);
        msg.insert(key::via, peer); // the phone shows through which broker the call came
        mirror->second.locals[to] = ssrc;
    }
    if (t == T::SessionKey || t == T::Rekey) {
        // {SK_g}K_AB → {SK_g}K_member: the member's own broker wraps under the member's key.
        const quint32 gen = decoded->u32(key::gen);
        auto sk = routing::unwrapFromPeer(m_ctx.store, peer, decoded->bytes(key::wrapped), {skbp::WrapPurpose::Federation, sid, gen, peer});
        const skbp::WrapPurpose purpose = t == T::Rekey ? skbp::WrapPurpose::Rekey : skbp::WrapPurpose::Join;
        auto wrapped = sk ? m_keys.wrapFor(to, *sk, {purpose, sid, gen, to}) : Result<QByteArray>(sk.error());
        if (!wrapped) {
            m_ctx.log(QStringLiteral("session %1: key from broker %2 for %3 refused: %4")
                             .arg(shortSid(sid), peer, to, wrapped.error().message));
            return;
        }
        msg.insert(key::wrapped, *wrapped);
        msg.insert(key::via, peer);
    }
    m_ctx.outbox.sendTo(to, msg);
    if (t == T::Ended)
        dropMember(sid, to);
}

Result<void> RemoteSessions::forwardRequest(const QString &from, const QByteArray &sid, wire::MessageType type,
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
        dropMember(sid, from); // out of the call whatever the home broker says
    if (!sent)
        return err(ErrorCode::Offline, QStringLiteral("broker %1 cannot be reached").arg(home));
    return {};
}

void RemoteSessions::dropMember(const QByteArray &sid, const QString &account)
{
    auto it = m_mirrors.find(sid);
    if (it == m_mirrors.end())
        return;
    Mirror &mi = it->second;
    if (auto l = mi.locals.find(account); l != mi.locals.end()) {
        m_ctx.media.removeMember(sid, l->second);
        mi.locals.erase(l);
        mi.formerLocals.insert(account); // the home's `left` (and peers lists) still name it
    }
    if (!mi.locals.empty())
        return;
    const QString callee = mi.callee;
    const quint32 keyed = mi.calleeEpoch;
    m_mirrors.erase(it);
    m_ctx.media.endSession(sid);
    // SK_0 came from our account's key: rotate it (patent Fig. 3, last step).
    if (!callee.isEmpty())
        m_rotation.rotateAfter(callee, keyed);
    m_ctx.outbox.sessionsChanged();
}

void RemoteSessions::relayLost(const QByteArray &sid)
{
    auto it = m_mirrors.find(sid);
    if (it == m_mirrors.end())
        return;
    std::vector<QString> locals;
    for (const auto &[account, ssrc] : it->second.locals)
        locals.push_back(account);
    const QCborMap ended = wire::ended(sid, EndReason::Failed);
    for (const QString &account : locals) {
        (void)forwardRequest(account, sid, wire::MessageType::Leave);
        m_ctx.outbox.sendTo(account, ended);
    }
    dropMember(sid, {});
}

} // namespace sotto::broker
