#pragma once

// The life of a call or conference homed here (PROTOCOL.md §6): call, ring, answer, join,
// invite, mute, leave, end — and, for federation (§8), the calls homed here with members behind
// a peer (homecalls.cpp). The parts it uses: SessionTable (who is in which session),
// RingPolicy (who may make whom ring), MemberKeys (wrapping for a member), KeyRotation (the
// callee's key after each call), Adoption (calls kept over a take-over) and RemoteSessions (calls
// homed on a peer). Private to the broker; main thread only. Every handler either succeeds or
// returns an error and changes nothing.

#include "routercontext.h"

#include "calls/adoption.h"
#include "calls/keyrotation.h"
#include "calls/memberkeys.h"
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
class CallRouter : private wire::PeerCallHandler<void, const QString &>
{
public:
    explicit CallRouter(RouterContext context);
    ~CallRouter();

    // The directory answer as pages that each fit a frame (§6.2).
    std::vector<QCborMap> directory(std::optional<quint32> id) const;
    // Our enrolled accounts with their presence (what a peer is told).
    QCborArray localAccounts() const;
    Result<void> call(const QString &from, const wire::Message &m);
    Result<void> answer(const QString &from, const QByteArray &sid);
    Result<void> decline(const QString &from, const QByteArray &sid);
    Result<void> invite(const QString &from, const QByteArray &sid, const QString &who);
    // `reason` (when given) ends the call or the ringing with that reason instead of hangup,
    // cancelled or declined: the operator's revocation.
    Result<void> leave(const QString &from, const QByteArray &sid, std::optional<EndReason> reason = {});
    // A joined member says it is muted (or not); the other members are told (an extension).
    Result<void> mute(const QString &from, const QByteArray &sid, bool muted);
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
    Result<Member> newMember(const Session &s, const QString &account) const;
    Result<std::pair<Member, Member>> addCallerAndCallee(Session &s) const;
    // A new session between the two, after the ringing policy.
    Result<std::unique_ptr<Session>> openSession(const QString &from, const QString &to) const;
    // RingPolicy over what the table holds for the two.
    Result<void> mayRing(const QString &from, const QString &to) const;
    QCborMap callKeyMessage(const Session &s, const Member &caller, quint32 calleeEpoch, const QByteArray &wrapped,
                            std::optional<quint32> id, const QString &via = {}) const;
    QCborMap incomingMessage(const Session &s, const Member &caller, const Member &callee, quint32 calleeEpoch) const;
    QCborMap relayOf(const Member &m) const;
    Result<void> leaveAdopted(Session &s, const QString &from, std::optional<EndReason> reason);
    // A fresh SK_(g+1) for the session's joined members, without `departed` (after `left {gen}`
    // for it, when given): a leaver, a revoked member, or — adopted over a take-over — one
    // removed before anyone resumed. Needs no old key. Patent mode: only the `left`.
    Result<void> rekeyWithout(Session &s, const QString &departed);
    // Admits the session's members of ours that have no grant yet; on failure nothing stays placed.
    Result<void> admitLocals(Session &s);
    void endSession(const QByteArray &sid, EndReason reason, const QString &except = {});
    // The sessions (and mirrors of sessions homed elsewhere) the account is a member of.
    std::vector<QByteArray> sessionsWith(const QString &account) const;

    Result<void> callRemote(const QString &from, const skbp::Address &callee, const wire::Message &msg);
    bool isKnownRemote(const QString &address, bool *online = nullptr) const;
    QByteArray trunkOf(Session &s, const QString &peer);
    void dropTrunkIfUnused(const Session &s, const QString &departed);
    // To a member wherever it is: our own account's channel, or its broker (`deliver`).
    void sendTo(const QString &address, const QCborMap &message, Outbox::Delivery delivery = Outbox::Delivery::Now);
    void deliverRemote(const QString &address, const QCborMap &message);
    // peerEntry()s of the joined members, for incoming and session_key.
    static QCborArray joinedPeers(const Session &s);
    // Sends `message` to every joined member of `s` but `except`.
    void sendToJoined(const Session &s, const QCborMap &message, const QString &except = {});
    // A peer's messages (§8): fcall goes to RemoteSessions, fcall_key and ferror answer ours.
    void onFedCall(const QString &peer, const wire::Message &m) override;
    void onFedCallKey(const QString &peer, const wire::Message &m) override;
    void onFedError(const QString &peer, const wire::Message &m) override;
    void onDeliver(const QString &peer, const wire::Message &m) override;
    void onRequest(const QString &peer, const wire::Message &m) override;
    void unexpected(const QString &, const wire::Message &) override {}
    class PeerRequests; // a `request`'s inner message, as its member's own request
    // `account` is ringing in `sid`: unless it answers in time, it stops ("no answer").
    void armRingTimeout(const QByteArray &sid, const QString &account);
    // A ringing member stops ringing (`account` by value: callers pass a member's own name,
    // which the erase below would move from under us): the callee of an unanswered call ends it (`reason`); an
    // invitee just leaves the list (no key changed hands, so no re-key).
    void stopRinging(Session &s, QString account, EndReason reason);
    // A federated call whose key never came from the callee's broker: the caller is told, the
    // session goes (nothing was keyed).
    void failAwaitingKey(const QByteArray &sid, ErrorCode code, const QString &why);
    void onRequest(const QString &peer, const QString &from, const QCborMap &msg);

    RouterContext m_ctx;
    SessionTable m_table;
    RingPolicy m_ring;
    MemberKeys m_keys;
    KeyRotation m_rotation;
    Adoption m_adoption;
    std::unique_ptr<RemoteSessions> m_remote; // sessions homed on a peer that our accounts are in
    QObject m_timers; // the context of ring timeouts and deadlines: they die with the router
};

} // namespace sotto::broker
