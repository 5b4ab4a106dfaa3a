#pragma once

// The calls homed here that have members behind a peered broker (PROTOCOL.md §8, patent
// Fig. 3): a call to "dave@b" (its key asked of b with fcall, {SK}K_AB back in fcall_key, or
// fcall_error / no answer in time), a peer's requests for its members of our sessions (as
// those members' own requests), and a peer link that goes down (its members leave our
// sessions; the rest re-key once, or the call ends). The life of a call itself stays with the
// router, reached through CallLifecycle. Private to the broker; main thread only. Every
// handler either succeeds or returns (or answers the peer) an error and changes nothing.

#include "routercontext.h"

#include "calls/callsetup.h"
#include "calls/memberkeys.h"
#include "calls/memberreach.h"
#include "calls/sessiontable.h"

#include "core/result.h"
#include "core/skbp.h"
#include "core/wire.h"

#include <QObject>

#include <optional>

namespace sotto::broker {

// What HomeCalls asks of the call lifecycle (the router): a member's own requests, and ending.
class CallLifecycle
{
public:
    virtual Result<void> answer(const QString &from, const QByteArray &sid) = 0;
    virtual Result<void> decline(const QString &from, const QByteArray &sid) = 0;
    virtual Result<void> invite(const QString &from, const QByteArray &sid, const QString &who) = 0;
    virtual Result<void> leave(const QString &from, const QByteArray &sid, std::optional<EndReason> reason = {}) = 0;
    virtual Result<void> mute(const QString &from, const QByteArray &sid, bool muted) = 0;
    virtual void endSession(const QByteArray &sid, EndReason reason, const QString &except = {}) = 0;
    // `account` is ringing in `sid`: unless it answers in time, it stops ("no answer").
    virtual void armRingTimeout(const QByteArray &sid, const QString &account) = 0;

protected:
    ~CallLifecycle() = default;
};

class HomeCalls
{
public:
    HomeCalls(RouterContext context, SessionTable &table, const CallSetup &setup, MemberKeys &keys, MemberReach &reach,
              CallLifecycle &calls)
        : m_ctx(std::move(context)), m_table(table), m_setup(setup), m_keys(keys), m_reach(reach), m_calls(calls)
    {
    }

    // `from` (ours) calls `callee` behind a peer: the session waits for its key from there.
    Result<void> call(const QString &from, const skbp::Address &callee, const wire::Message &msg);
    void onFedCallKey(const QString &peer, const wire::Message &m);
    void onFedError(const QString &peer, const wire::Message &m);
    // A peer's `request` for its member `fromAccount` (named bare) of one of our sessions.
    void onRequest(const QString &peer, const QString &fromAccount, const QCborMap &msg);
    // The link to `peer` went: its accounts show offline, its members leave our sessions.
    void onPeerDown(const QString &peer);

private:
    class PeerRequests; // a `request`'s inner message, as its member's own request
    // The key never came from the callee's broker: the caller is told, the session goes.
    void failAwaitingKey(const QByteArray &sid, ErrorCode code, const QString &why);

    RouterContext m_ctx;
    SessionTable &m_table;
    const CallSetup &m_setup;
    MemberKeys &m_keys;
    MemberReach &m_reach;
    CallLifecycle &m_calls;
    QObject m_timers; // the context of the key deadlines: they die with us
};

} // namespace sotto::broker
