#include "calls/callsetup.h"

#include "relay/relay.h"

#include "core/crypto.h"
#include "core/skbp.h"
#include "core/wire.h"

#include <QDateTime>
#include <QtEndian>

namespace sotto::broker {

namespace key = wire::key;

Result<Member> CallSetup::newMember(const Session &s, const QString &account) const
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

// Ringing never locks a callee out: each caller may ring a callee once at a time and only a few
// callees at once, a callee in kMaxSessionsPerAccount live calls is busy, and a caller whose
// last call the callee declined waits before ringing again (the wait doubles per decline).
Result<void> CallSetup::mayRing(const QString &from, const QString &to) const
{
    const RingLoad load{.calleeJoined = m_table.joinedSessionsOf(to),
                        .calleeRinging = m_table.ringingTo(to),
                        .callerRingingCallee = m_table.ringingBy(from, to),
                        .callerRinging = m_table.ringingBy(from),
                        .callerJoined = m_table.joinedSessionsOf(from)};
    return m_ring.mayRing(from, to, load, QDateTime::currentMSecsSinceEpoch());
}

Result<std::unique_ptr<Session>> CallSetup::openSession(const QString &from, const QString &to) const
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

QCborMap CallSetup::callKeyMessage(const Session &s, const Member &caller, quint32 calleeEpoch,
                                   const QByteArray &wrapped, std::optional<quint32> id, const QString &via)
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

QCborMap CallSetup::incomingMessage(const Session &s, const Member &caller, const Member &callee, quint32 calleeEpoch)
{
    return wire::incoming({.sid = s.sid,
                           .from = s.caller,
                           .epoch = calleeEpoch,
                           .gen = 0,
                           .ssrc = callee.ssrc,
                           .peers = QCborArray{wire::peerEntry(s.caller, caller.ssrc)},
                           .relay = relayOf(callee)});
}

Result<std::pair<Member, Member>> CallSetup::addCallerAndCallee(Session &s) const
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

QCborMap CallSetup::relayOf(const Member &m)
{
    // A member behind a peer binds at its own broker's relay, which re-writes the grant; ours
    // are admitted before anything names them.
    return m.relay.isEmpty() ? wire::relayGrant(0, m.token) : m.relay;
}

Result<void> CallSetup::admitLocals(Session &s) const
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

QCborArray CallSetup::joinedPeers(const Session &s)
{
    QCborArray peers;
    for (const Member &m : s.members) {
        if (m.joined)
            peers.append(wire::peerEntry(m.account, m.ssrc));
    }
    return peers;
}

} // namespace sotto::broker
