#pragma once

// Sessions, session keys and rotation (PROTOCOL.md §6). Private to the broker. Every handler
// either succeeds or returns an error and changes nothing.

#include "routercontext.h"

#include "core/result.h"
#include "core/secretbytes.h"
#include "core/skbp.h"
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

class CallRouter
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
    Result<void> rotateAck(const QString &from, quint32 epoch, const QByteArray &proof);
    // A phone kept a call over a broker take-over (extension `resume`): when the store recorded
    // it as live at a relay of our own and `from` was in it, the call is adopted. Adopted calls
    // can be hung up and left, not re-keyed or joined: their key went with the instance that is
    // gone. NotInSession for any other sid.
    Result<void> resume(const QString &from, const QByteArray &sid);
    // At take-over (or start): the calls the store records as live, to be resumed within
    // kResumeDeadlineMs, after which what nobody resumed is forgotten.
    void loadLiveSessions();
    static constexpr int kResumeDeadlineMs = 30000;

    void onLogin(const QString &account);
    void onOffline(const QString &account);
    // A pending key of this account was committed: start a deferred rotation if one waits.
    void onKeyCommitted(const QString &account);
    // At start: the rotations a stopped or killed broker still owed.
    void resumeRotations();

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

    // For RemoteSessions: the limits our accounts share, whether a sid is ours, our members' keys
    // and the rotation after a call keyed from one of them.
    bool hasSession(const QByteArray &sid) const { return m_sessions.contains(sid); }
    int joinedSessionsOf(const QString &account) const;
    int ringingTo(const QString &account) const;
    // wrap() for any member: under its own key, or under K_AB for a member behind a peer.
    Result<QByteArray> wrapForMember(const QString &account, const SecretBytes &secret, skbp::WrapContext ctx);
    // Records (durably, AccountRecord::rotateDue) that a session was keyed from the key at that epoch.
    void noteKeyed(const QString &account, quint32 keyedEpoch);
    // Records that `sid` keyed a session from `account`'s key at `epoch`; false when that sid was
    // already used at that epoch (a peer asking for a second key from the same key and sid), or
    // when kMaxSidsPerEpoch have been used since the key last moved (fail closed: the rotation
    // that follows every call makes room). Only the newest epoch of each account is kept.
    bool claimSid(const QString &account, quint32 epoch, const QByteArray &sid);
    // A replacement device of `account` is enrolling under an invite still open (one whose
    // invite ran out is dropped here).
    bool replacementPending(const QString &account);
    static constexpr int kReplacementCheckMs = 60000;
    // A key derived from `account`'s key at `keyedEpoch` was handed out and its session is over:
    // the key must move past that epoch. Rotations coalesce (one covers every session keyed at
    // or below the epoch it leaves), and start at most once per rotationMinIntervalMs.
    void rotateAfter(const QString &account, quint32 keyedEpoch);

private:
    struct Member
    {
        QString account;
        quint32 ssrc = 0;
        QByteArray token; // a placeholder grant's for a member behind a peer (its broker grants)
        QCborMap relay;   // the grant of a member of ours (MediaPlane::admit)
        bool joined = false;
        bool muted = false;
        QString ringBy; // while ringing: who made it ring (the caller, or the member who invited)
    };
    struct Session
    {
        QByteArray sid;
        QString caller;
        QString callee;
        quint32 calleeEpoch = 0; // of the callee's key SK_0 came from: a rotation must pass it
        quint32 gen = 0;
        SecretBytes key; // SK_gen
        std::vector<Member> members;
        bool answered = false;
        bool awaitingKey = false;            // a remote callee's broker has not sent SK_0 yet
        std::optional<quint32> callId;       // the caller's request id, while awaiting the key
        QByteArray trunkToken;               // for the relays' trunk to the peer, if any
        qint64 startedMs = QDateTime::currentMSecsSinceEpoch();
        bool adopted = false;  // kept over a take-over: no key here (resume())
        bool recorded = false; // in the store's live sessions (recordLive())
        Member *find(const QString &account);
        const Member *find(const QString &account) const { return const_cast<Session *>(this)->find(account); }
        int joinedCount() const;
    };

    Result<Member> newMember(const Session &s, const QString &account) const;
    Result<std::pair<Member, Member>> addCallerAndCallee(Session &s) const;
    // A new session between the two, after the per-account session limits.
    Result<std::unique_ptr<Session>> openSession(const QString &from, const QString &to) const;
    QCborMap callKeyMessage(const Session &s, const Member &caller, quint32 calleeEpoch, const QByteArray &wrapped,
                            std::optional<quint32> id, const QString &via = {}) const;
    QCborMap incomingMessage(const Session &s, const Member &caller, const Member &callee, quint32 calleeEpoch) const;
    // The session and this account's place in it, or nulls.
    std::pair<Session *, Member *> locate(const QByteArray &sid, const QString &account);
    QCborMap relayOf(const Member &m) const;
    // Writes the session's record for an instance that takes over (a call on a relay of its
    // own, answered, with no member behind a peer); nothing otherwise.
    void recordLive(Session &s);
    Result<void> leaveAdopted(Session &s, const QString &from, std::optional<EndReason> reason);
    struct Orphan
    {
        QString caller, callee, relay;
        std::map<QString, quint32> members; // account → ssrc
        quint32 gen = 0;        // the generation its members hold (from the record)
        bool rekeyDue = false;  // a member was removed meanwhile: a fresh key at the first resume
    };
    // A fresh SK_(g+1) for the session's joined members, without `departed` (after `left {gen}`
    // for it, when given): a leaver, a revoked member, or — adopted over a take-over — one
    // removed before anyone resumed. Needs no old key. Patent mode: only the `left`.
    Result<void> rekeyWithout(Session &s, const QString &departed);
    std::map<QByteArray, Orphan> m_orphans; // live at the instance that is gone, not resumed yet
    // Admits the session's members of ours that have no grant yet; on failure nothing stays placed.
    Result<void> admitLocals(Session &s);
    void endSession(const QByteArray &sid, EndReason reason, const QString &except = {});
    void scheduleRotation(const QString &account);
    void startRotation(const QString &account);
    void sendRotate(const QString &account);
    int sessionsOf(const QString &account) const;
    // The sessions (and mirrors of sessions homed elsewhere) the account is a member of.
    std::vector<QByteArray> sessionsWith(const QString &account) const;
    // Members ringing because of `by` (toward `to`, when given).
    int ringingBy(const QString &by, const QString &to = {}) const;
    // Who may make whom ring: the per-pair, per-caller and per-callee limits and the back-off
    // of a caller its callee declined. An error says which.
    Result<void> mayRing(const QString &from, const QString &to) const;
    void noteDecline(const QString &callee, const QString &caller);
    // wrap() for an account, with its wrap keys cached.
    Result<QByteArray> wrapFor(const QString &account, quint32 epoch, const SecretBytes &key,
                               const SecretBytes &secret, const skbp::WrapContext &ctx);

    struct Backoff
    {
        qint64 untilMs = 0; // may ring again from then on
        qint64 nextMs = 0;  // the back-off after the next decline
    };

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
    void onFedCallKey(const QString &peer, const wire::Message &m);
    void onFedError(const QString &peer, const wire::Message &m);
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

    // Every change to which sessions exist, and to who is in them, goes through these four, so
    // that m_involved stays true. (Flags of a member already in, joined or muted, do not.)
    Session &insertSession(std::unique_ptr<Session> session);
    void eraseSession(std::map<QByteArray, std::unique_ptr<Session>>::iterator it);
    void addMember(Session &s, const Member &m);
    void dropMember(Session &s, const QString &account);
    void involve(const Member &m, Session *s, int delta);
    // The live sessions `account` is involved in: a member of, or the one who made a member of
    // it ring. Admission checks (mayRing) and an account's leaving look only at these, so a
    // call costs the same however many sessions others hold. Never null.
    template<typename F>
    void forEachInvolving(const QString &account, F &&f) const
    {
        if (auto it = m_involved.find(account); it != m_involved.end()) {
            for (const auto &[session, count] : it->second)
                f(*session);
        }
    }

    RouterContext m_ctx;
    std::unique_ptr<RemoteSessions> m_remote; // sessions homed on a peer that our accounts are in
    QObject m_timers; // the context of ring timeouts, deadlines and deferred rotations: they die with the router
    std::map<QByteArray, std::unique_ptr<Session>> m_sessions;
    // account → the sessions it is involved in (see forEachInvolving), each with how many of its
    // members' account and ringBy fields name it.
    std::unordered_map<QString, std::unordered_map<const Session *, int>> m_involved;
    std::unordered_map<QString, skbp::WrapKeyCache> m_wrapKeys;
    struct UsedSids
    {
        quint32 epoch = 0;
        std::set<QByteArray> sids;
    };
    std::unordered_map<QString, UsedSids> m_usedSids; // see claimSid
    std::map<QString, quint32> m_rotationDue;           // account → highest epoch an ended session was keyed at
    std::unordered_map<QString, qint64> m_lastRotation; // account → when its last rotation started (ms)
    std::set<QString> m_rotationArmed;                  // accounts with a deferred rotation timer
    std::map<std::pair<QString, QString>, Backoff> m_declined; // (callee, caller)
    std::size_t m_declinedPruneAt = 10000;
};

} // namespace sotto::broker
