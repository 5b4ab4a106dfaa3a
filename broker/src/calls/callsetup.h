#pragma once

// The making of a call's parts (PROTOCOL.md §6.2): a new session after the ringing policy, its
// members (an SSRC no other member has, a relay token), their relay grants, and the first
// messages of a call — call_key to the caller, incoming to the callee. Builds; sends nothing.
// Private to the broker; main thread only. Failure modes: Busy/RateLimited from the policy,
// a relay that cannot admit (the session's relay state is dropped), no randomness.

#include "routercontext.h"

#include "calls/ringpolicy.h"
#include "calls/sessiontable.h"

#include "core/result.h"

#include <QCborArray>
#include <QCborMap>

#include <memory>
#include <optional>
#include <utility>

namespace sotto::broker {

class CallSetup
{
public:
    CallSetup(RouterContext context, const SessionTable &table, RingPolicy &ring)
        : m_ctx(std::move(context)), m_table(table), m_ring(ring)
    {
    }

    // RingPolicy over what the table holds for the two.
    Result<void> mayRing(const QString &from, const QString &to) const;
    // A new session between the two, after the ringing policy (not in the table yet).
    Result<std::unique_ptr<Session>> openSession(const QString &from, const QString &to) const;
    Result<Member> newMember(const Session &s, const QString &account) const;
    // The caller (joined) and the callee (ringing, rung by the caller), added to `s`.
    Result<std::pair<Member, Member>> addCallerAndCallee(Session &s) const;
    // Admits the session's members of ours that have no grant yet; on failure nothing stays placed.
    Result<void> admitLocals(Session &s) const;
    // A member's relay grant as its phone is told it.
    static QCborMap relayOf(const Member &m);
    // peerEntry()s of the joined members, for incoming and session_key.
    static QCborArray joinedPeers(const Session &s);
    static QCborMap callKeyMessage(const Session &s, const Member &caller, quint32 calleeEpoch, const QByteArray &wrapped,
                                   std::optional<quint32> id, const QString &via = {});
    static QCborMap incomingMessage(const Session &s, const Member &caller, const Member &callee, quint32 calleeEpoch);

private:
    RouterContext m_ctx;
    const SessionTable &m_table;
    RingPolicy &m_ring;
};

} // namespace sotto::broker
