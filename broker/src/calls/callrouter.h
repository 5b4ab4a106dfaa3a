#pragma once

// The life of a call or conference homed here (PROTOCOL.md §6): call, ring, answer, join,
// invite, mute, leave, end. The parts it uses: SessionTable (who is in which session),
// RingPolicy (who may make whom ring), CallSetup (a session's members, grants and first
// messages), MemberReach (a member wherever it is), MemberKeys (wrapping for a member),
// KeyRotation (the callee's key after each call), Adoption (calls kept over a take-over),
// HomeCalls (ours with members behind a peer, §8) and RemoteSessions (calls homed on a peer).
// Private to the broker; main thread only. Every handler either succeeds or returns an error
// and changes nothing.

#include "routercontext.h"

#include "calls/adoption.h"
#include "calls/callsetup.h"
#include "calls/homecalls.h"
#include "calls/keyrotation.h"
#include "calls/memberkeys.h"
#include "calls/memberreach.h"
#include "calls/ringpolicy.h"
#include "calls/sessiontable.h"

#include "core/result.h"
#include "core/secretbytes.h"
#include "core/skbp.h"
#include "core/channels.h"
#include "core/wire.h"

#include <QByteArray>
#include <QCborArray>
#include <QCborMap>
#include <QDateTime>
#include <QObject>
#include <QString>

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <unordered_map>
#include <vector>

namespace sotto::broker {

class RemoteSessions;
struct SessionView;

// A peer's messages about calls are a wire::PeerCallHandler (the rest are not the router's).
class CallRouter : public CallLifecycle, private wire::PeerCallHandler<void, const QString &>
{
public:
    explicit CallRouter(RouterContext context);
    ~CallRouter();

    // The directory answer as pages that each fit a frame (§6.2).
    std::vector<QCborMap> directory(std::optional<quint32> id) const;
    // Our enrolled accounts with their presence (what a peer is told).
    QCborArray localAccounts() const;
    Result<void> call(const QString &from, const wire::Message &m);
    Result<void> answer(const QString &from, const QByteArray &sid) override;
    Result<void> decline(const QString &from, const QByteArray &sid) override;
    Result<void> invite(const QString &from, const QByteArray &sid, const QString &who) override;
    // `reason` (when given) ends the call or the ringing with that reason instead of hangup,
    // cancelled or declined: the operator's revocation.
    Result<void> leave(const QString &from, const QByteArray &sid, std::optional<EndReason> reason = {}) override;
    // A joined member says it is muted (or not); the other members are told (an extension).
    Result<void> mute(const QString &from, const QByteArray &sid, bool muted) override;
    // The operator revoked the account: its calls end ("revoked"), conferences re-key without it.
    void revoke(const QString &account);
    // A phone kept a call over a broker take-over (extension `resume`): when the store recorded
    // it as live at a relay of our own and `from` was in it, the call is adopted. Adopted calls
    // can be hung up and left, not re-keyed or joined: their key went with the instance that is
    // gone. NotInSession for any other sid.
    Result<void> resume(const QString &from, const QByteArray &sid);
    // At take-over (or start): the calls the store records as live (Adoption).
    void loadLiveSessions() { m_adoption.load(); }

    void onOffline(const QString &account);
    // The callee's key after each call: rotate_ack, commits, logins, what a restart still owes.
    KeyRotation &rotation() { return m_rotation; }

    std::vector<SessionView> sessions() const;

    // Federation (§8). The caller's broker is the session's home: it keeps the members, the
    // generation and the key, and reaches members behind a peer as "name@peer" — messages to
    // them go to that peer (`deliver`), which re-wraps keys for its own accounts and relays;
    // their requests come back (`request`). Sessions homed elsewhere are RemoteSessions'.
    void onPeerMessage(const QString &peer, const wire::Message &m);
    void onPeerUp(const QString &peer);
    void onPeerDown(const QString &peer);
    // The relay these sessions were on died: ours end (Failed), members of ours in sessions
    // homed elsewhere leave them.
    void onRelayLost(const std::vector<QByteArray> &sids);

private:
    Result<void> leaveAdopted(Session &s, const QString &from, std::optional<EndReason> reason);
    // A fresh SK_(g+1) for the session's joined members, without `departed` (after `left {gen}`
    // for it, when given): a leaver, a revoked member, or — adopted over a take-over — one
    // removed before anyone resumed. Needs no old key. Patent mode: only the `left`.
    Result<void> rekeyWithout(Session &s, const QString &departed);
    void endSession(const QByteArray &sid, EndReason reason, const QString &except = {}) override;
    // The sessions (and mirrors of sessions homed elsewhere) the account is a member of.
    std::vector<QByteArray> sessionsWith(const QString &account) const;

    // A peer's messages (§8): fcall and deliver go to RemoteSessions, the rest to HomeCalls.
    void onFedCall(const QString &peer, const wire::Message &m) override;
    void onFedCallKey(const QString &peer, const wire::Message &m) override;
    void onFedError(const QString &peer, const wire::Message &m) override;
    void onDeliver(const QString &peer, const wire::Message &m) override;
    void onRequest(const QString &peer, const wire::Message &m) override;
    void unexpected(const QString &, const wire::Message &) override {}
    void armRingTimeout(const QByteArray &sid, const QString &account) override;
    // A ringing member stops ringing (`account` by value: callers pass a member's own name,
    // which the erase below would move from under us): the callee of an unanswered call ends it (`reason`); an
    // invitee just leaves the list (no key changed hands, so no re-key).
    void stopRinging(Session &s, QString account, EndReason reason);

    RouterContext m_ctx;
    SessionTable m_table;
    RingPolicy m_ring;
    MemberKeys m_keys;
    KeyRotation m_rotation;
    Adoption m_adoption;
    CallSetup m_setup;
    MemberReach m_reach;
    std::unique_ptr<RemoteSessions> m_remote; // sessions homed on a peer that our accounts are in
    HomeCalls m_home;
    QObject m_timers; // the context of ring timeouts and deadlines: they die with the router
};

} // namespace sotto::broker
