#include "calls/ringpolicy.h"

#include "calls/routing.h"

#include <algorithm>

namespace sotto::broker {

RingPolicy::Limits RingPolicy::limitsOf(const BrokerConfig &config)
{
    return {routing::kMaxSessionsPerAccount, routing::kMaxRingingPerAccount, config.maxRingingPerCaller,
            config.declineBackoffMs, config.declineBackoffMaxMs};
}

Result<void> RingPolicy::mayRingCallee(const QString &shownAs, const RingLoad &load) const
{
    if (load.calleeJoined >= m_limits.maxSessionsPerAccount || load.calleeRinging >= m_limits.maxRingingPerAccount)
        return makeError(ErrorCode::Busy, QStringLiteral("%1 is busy").arg(shownAs));
    if (load.callerRingingCallee > 0)
        return makeError(ErrorCode::Busy, QStringLiteral("%1 is already ringing for you").arg(shownAs));
    return {};
}

Result<void> RingPolicy::mayRing(const QString &from, const QString &to, const RingLoad &load, qint64 nowMs) const
{
    if (auto r = mayRingCallee(to, load); !r)
        return r;
    if (load.callerRinging >= m_limits.maxRingingPerCaller)
        return makeError(ErrorCode::RateLimited, QStringLiteral("%1 calls are ringing already").arg(m_limits.maxRingingPerCaller));
    if (load.callerJoined >= m_limits.maxSessionsPerAccount)
        return makeError(ErrorCode::RateLimited, QStringLiteral("too many sessions"));
    if (auto it = m_declined.find({to, from}); it != m_declined.end()) {
        const qint64 wait = it->second.untilMs - nowMs;
        if (wait > 0)
            return makeError(ErrorCode::RateLimited, QStringLiteral("%1 declined your last call; try again in %2 s")
                                                         .arg(to)
                                                         .arg((wait + 999) / 1000));
    }
    return {};
}

void RingPolicy::noteDecline(const QString &callee, const QString &caller, qint64 nowMs)
{
    if (caller.isEmpty())
        return;
    if (m_declined.size() > m_pruneAt) { // only declines make entries; forget the lapsed ones
        std::erase_if(m_declined, [&](const auto &e) { return e.second.untilMs + m_limits.declineBackoffMaxMs < nowMs; });
        m_pruneAt = std::max(kPruneFloor, 2 * m_declined.size()); // amortised: not a scan per decline
    }
    Backoff &b = m_declined[{callee, caller}];
    if (b.untilMs + m_limits.declineBackoffMaxMs < nowMs)
        b.nextMs = 0; // a long quiet: start again from the shortest back-off
    const qint64 wait = b.nextMs > 0 ? b.nextMs : m_limits.declineBackoffMs;
    b.untilMs = nowMs + wait;
    b.nextMs = std::min<qint64>(wait * 2, m_limits.declineBackoffMaxMs);
}

} // namespace sotto::broker
