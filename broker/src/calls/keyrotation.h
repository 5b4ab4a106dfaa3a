#pragma once

// The callee's key moves after every call (patent Fig. 1, last step; PROTOCOL.md §6.4): a key
// that keyed a session rotates once that session is over. What is owed is durable
// (AccountRecord::rotateDue, with the batch that hands the key out), so a broker killed
// mid-call still rotates at its next start. Rotations coalesce: one covers every session keyed
// at or below the epoch it leaves; one starts at most every rotationMinIntervalMs per account;
// one pending key at a time (the next waits for the commit); none while a replacement device
// enrols under an open invite. Also the guard against keying twice from one (key, sid).
// Private to the broker; main thread only. Nothing here fails toward its caller: a rotation that
// cannot start now is retried by the next event that concerns the account.

#include "routercontext.h"

#include "calls/memberkeys.h"

#include "core/result.h"

#include <QByteArray>
#include <QObject>
#include <QString>

#include <functional>
#include <map>
#include <set>
#include <unordered_map>

namespace sotto::broker {

class KeyRotation
{
public:
    using Clock = std::function<qint64()>; // ms since the epoch
    KeyRotation(RouterContext context, MemberKeys &keys, Clock now = {});

    // Records that `sid` keyed a session from `account`'s key at `epoch`; false when that sid was
    // already used at that epoch (a peer asking for a second key from the same key and sid), for
    // an epoch older than one already used, or when kMaxSidsPerEpoch have been used since the key
    // last moved (fail closed: the rotation that follows every call makes room). Only the newest
    // epoch of each account is kept.
    bool claimSid(const QString &account, quint32 epoch, const QByteArray &sid);
    // Records (durably) that a session was keyed from the key at that epoch.
    void noteKeyed(const QString &account, quint32 keyedEpoch);
    // A key derived from `account`'s key at `keyedEpoch` was handed out and its session is over:
    // the key must move past that epoch. Nothing for an account that is not ours.
    void rotateAfter(const QString &account, quint32 keyedEpoch);
    // At start: the rotations a stopped or killed broker still owed.
    void resumeRotations();
    // rotate_ack: the phone holds K_next (the proof says so); it is committed. Auth for a proof
    // that does not match, BadRequest when no such rotation is pending (none for one a login under
    // the new key already committed).
    Result<void> rotateAck(const QString &from, quint32 epoch, const QByteArray &proof);
    // A pending key of this account was committed (a rotation, a refresh, a re-enrolment): the
    // record of what was owed clears once covered, or the next rotation starts.
    void onKeyCommitted(const QString &account);
    // `rotate` is re-sent at every login until acknowledged.
    void onLogin(const QString &account) { sendRotate(account); }
    // The account was revoked: nothing is owed for keys that are about to go.
    void forget(const QString &account);
    // A replacement device of `account` is enrolling under an invite still open (one whose
    // invite ran out is dropped here, and logged).
    bool replacementPending(const QString &account);

    static constexpr int kReplacementCheckMs = 60000;
    // For tests: accounts owed a rotation (in memory) and those with a deferred one armed.
    bool owes(const QString &account) const { return m_due.contains(account); }
    bool armed(const QString &account) const { return m_armed.contains(account); }

private:
    void schedule(const QString &account);
    void start(const QString &account);
    void sendRotate(const QString &account);

    RouterContext m_ctx;
    MemberKeys &m_keys;
    Clock m_now;
    QObject m_timers; // deferred rotations die with us
    struct UsedSids
    {
        quint32 epoch = 0;
        std::set<QByteArray> sids;
    };
    std::unordered_map<QString, UsedSids> m_usedSids;
    std::map<QString, quint32> m_due;               // account → highest epoch an ended session was keyed at
    std::unordered_map<QString, qint64> m_lastStart; // account → when its last rotation started (ms)
    std::set<QString> m_armed;                       // accounts with a deferred rotation timer
};

} // namespace sotto::broker
