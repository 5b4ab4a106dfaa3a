#pragma once

// Who may make whom ring (PROTOCOL.md §6.3): ringing never locks a callee out. Each
// caller rings a callee once at a time and only a few callees at once; a callee in
// kMaxSessionsPerAccount live calls, or with kMaxRingingPerAccount calls ringing, is busy; a
// caller whose last call the callee declined waits before ringing again, the wait doubling per
// decline up to a ceiling and starting over after a quiet as long as that ceiling. Pure but for
// the back-offs it remembers: the loads and the time are the caller's. Private to the broker;
// main thread only.

#include "broker/config.h"
#include "core/result.h"

#include <QString>

#include <cstddef>
#include <map>
#include <utility>

namespace sotto::broker {

// What the sessions hold now, for one (caller, callee) pair.
struct RingLoad
{
    int calleeJoined = 0;        // sessions the callee has joined
    int calleeRinging = 0;       // calls and invites ringing for the callee (from anyone)
    int callerRingingCallee = 0; // of those, rung by this caller
    int callerRinging = 0;       // calls and invites this caller has ringing (anywhere)
    int callerJoined = 0;        // sessions the caller has joined
};

class RingPolicy
{
public:
    struct Limits
    {
        int maxSessionsPerAccount = 8;
        int maxRingingPerAccount = 32;
        int maxRingingPerCaller = 4;      // BrokerConfig::maxRingingPerCaller
        qint64 declineBackoffMs = 2000;    // BrokerConfig::declineBackoffMs
        qint64 declineBackoffMaxMs = 300000;
    };
    explicit RingPolicy(Limits limits) : m_limits(limits) {}
    static Limits limitsOf(const BrokerConfig &config);

    // Whether `from` may ring `to` now. Busy: the callee is (or already rings for this caller);
    // RateLimited: the caller has too much ringing or joined, or is backing off (the error says
    // for how many seconds more).
    Result<void> mayRing(const QString &from, const QString &to, const RingLoad &load, qint64 nowMs) const;
    // The callee's half alone, for a call from a peer's caller (its own broker holds the caller's
    // limits). `shownAs`: the callee as the error names it.
    Result<void> mayRingCallee(const QString &shownAs, const RingLoad &load) const;

    // `callee` declined a ring from `caller` (empty: nobody, nothing noted).
    void noteDecline(const QString &callee, const QString &caller, qint64 nowMs);
    // `callee` answered a ring from `caller`: any back-off between them ends.
    void noteAnswer(const QString &callee, const QString &caller) { m_declined.erase({callee, caller}); }
    // Back-offs remembered (lapsed ones are pruned, amortised, as declines come in).
    std::size_t remembered() const { return m_declined.size(); }
    static constexpr std::size_t kPruneFloor = 10000;

private:
    struct Backoff
    {
        qint64 untilMs = 0; // may ring again from then on
        qint64 nextMs = 0;  // the back-off after the next decline
    };
    Limits m_limits;
    std::map<std::pair<QString, QString>, Backoff> m_declined; // (callee, caller)
    std::size_t m_pruneAt = kPruneFloor;
};

} // namespace sotto::broker
