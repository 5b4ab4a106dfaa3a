#include "calls/keyrotation.h"

#include "calls/routing.h"

#include "broker/store.h"
#include "core/crypto.h"

#include <QDateTime>
#include <QTimer>

namespace sotto::broker {

using routing::err;

KeyRotation::KeyRotation(RouterContext context, MemberKeys &keys, Clock now)
    : m_ctx(std::move(context)), m_keys(keys),
      m_now(now ? std::move(now) : Clock([] { return QDateTime::currentMSecsSinceEpoch(); }))
{
}

bool KeyRotation::claimSid(const QString &account, quint32 epoch, const QByteArray &sid)
{
    UsedSids &used = m_usedSids[account];
    if (used.epoch != epoch) {
        if (epoch < used.epoch)
            return false; // a key older than one already used: never offered
        used.epoch = epoch;
        used.sids.clear();
    }
    if (used.sids.size() >= routing::kMaxSidsPerEpoch)
        return false;
    return used.sids.insert(sid).second;
}

void KeyRotation::noteKeyed(const QString &account, quint32 keyedEpoch)
{
    const AccountRecord *a = m_ctx.store.account(account);
    if (a && a->isEnrolled() && keyedEpoch > a->rotateDue)
        (void)m_ctx.store.setRotateDue(account, keyedEpoch);
}

void KeyRotation::rotateAfter(const QString &account, quint32 keyedEpoch)
{
    const AccountRecord *a = m_ctx.store.account(account);
    if (!a || !a->isEnrolled())
        return; // a member behind a peer: its own broker rotates it
    noteKeyed(account, keyedEpoch);
    // What ended sessions need (in memory); the stored record also covers live ones, for a
    // restart. A rotation never starts for a session that is still live.
    auto [due, fresh] = m_due.try_emplace(account, keyedEpoch);
    if (!fresh)
        due->second = std::max(due->second, keyedEpoch);
    schedule(account);
}

void KeyRotation::resumeRotations()
{
    // After a restart no session is live: every key that keyed one rotates (a kill -9 mid-call).
    for (const AccountRecord *a : m_ctx.store.accounts()) {
        if (a->isEnrolled() && a->rotateDue > 0) {
            m_due[a->name] = a->rotateDue;
            schedule(a->name);
        }
    }
}

bool KeyRotation::replacementPending(const QString &account)
{
    const AccountRecord *a = m_ctx.store.account(account);
    if (!a || a->replaceEpoch == 0)
        return false;
    if (m_ctx.store.replacementStillOpen(account, QDateTime::currentSecsSinceEpoch()))
        return true;
    // Its invite ran out (or was replaced by a newer one) before the device confirmed: the
    // replacement's key is nobody's, and the old device's key may move again.
    m_ctx.log(QStringLiteral("%1: the replacement device never confirmed; its key is dropped").arg(account));
    return false;
}

void KeyRotation::schedule(const QString &account)
{
    const AccountRecord *a = m_ctx.store.account(account);
    if (!a || a->hasPending())
        return; // one pending key at a time: onKeyCommitted() comes back here
    qint64 wait = 0;
    if (replacementPending(account)) {
        // The key does not move while a replacement device enrols (the two would share an
        // epoch); the replacement's commit erases it, or its invite runs out and it rotates.
        wait = kReplacementCheckMs;
    } else if (const auto last = m_lastStart.find(account); last != m_lastStart.end()) {
        wait = last->second + m_ctx.config.rotationMinIntervalMs - m_now();
    }
    if (wait <= 0) {
        start(account);
        return;
    }
    // A burst of calls (a call-and-cancel loop) changes the key once per interval, not per call.
    if (m_armed.insert(account).second) {
        QTimer::singleShot(int(wait), &m_timers, [this, account] {
            m_armed.erase(account);
            schedule(account);
        });
    }
}

void KeyRotation::start(const QString &account)
{
    Store &store = m_ctx.store;
    const AccountRecord *a = store.account(account);
    const auto due = m_due.find(account);
    if (!a || !a->isEnrolled() || a->hasPending() || due == m_due.end())
        return;
    // Covered: the key has moved past every epoch that keyed an ended session (a rotation
    // committed, or a refresh). The records go only then, not when the rotation starts: a
    // pending rotation can still be replaced or discarded.
    if (a->epoch > due->second) {
        m_due.erase(due);
        if (a->rotateDue > 0 && a->epoch > a->rotateDue)
            (void)store.setRotateDue(account, 0); // no live session needs it either
        return;
    }
    auto next = crypto::randomSecret(skbp::kKeySize);
    if (!next)
        return;
    // Durable before `rotate` leaves: sendTo() waits for the group commit.
    if (!store.setPending(account, a->epoch + 1, *next, PendingKind::Rotate))
        return;
    m_lastStart[account] = m_now();
    m_ctx.log(QStringLiteral("%1: key rotation to epoch %2 pending, {K_%1'}K_%1").arg(account).arg(a->epoch + 1));
    if (m_ctx.outbox.isOnline(account))
        sendRotate(account);
    m_ctx.outbox.accountsChanged();
}

void KeyRotation::sendRotate(const QString &account)
{
    const AccountRecord *a = m_ctx.store.account(account);
    if (!a || a->pendingKind != PendingKind::Rotate)
        return;
    auto wrapped = m_keys.wrapUnder(account, a->epoch, a->key, a->pendingKey,
                                    {skbp::WrapPurpose::Rotate, QByteArray(skbp::kSidSize, '\0'), 0, account});
    if (!wrapped)
        return;
    // K_next durable first.
    m_ctx.outbox.sendTo(account, wire::rotate(a->pendingEpoch, *wrapped), Outbox::Delivery::AfterCommit);
}

Result<void> KeyRotation::rotateAck(const QString &from, quint32 epoch, const QByteArray &proof)
{
    Store &store = m_ctx.store;
    const AccountRecord *a = store.account(from);
    if (!a)
        return err(ErrorCode::Internal, QStringLiteral("account vanished"));
    if (a->pendingKind != PendingKind::Rotate || a->pendingEpoch != epoch) {
        if (a->epoch == epoch)
            return {}; // already committed by a login under the new key
        return err(ErrorCode::BadRequest, QStringLiteral("no rotation to epoch %1 pending").arg(epoch));
    }
    auto expected = skbp::rotateProof(a->pendingKey, from, epoch);
    if (!expected || !crypto::constantTimeEquals(*expected, proof))
        return err(ErrorCode::Auth, QStringLiteral("rotation proof does not match"));
    if (auto r = store.commitPending(from); !r)
        return r;
    m_ctx.log(QStringLiteral("%1: epoch %2 committed (rotate_ack)").arg(from).arg(epoch));
    onKeyCommitted(from);
    m_ctx.outbox.accountsChanged();
    return {};
}

void KeyRotation::onKeyCommitted(const QString &account)
{
    if (m_due.contains(account))
        schedule(account); // clears the record once covered, or rotates again
    else if (const AccountRecord *a = m_ctx.store.account(account); a && a->rotateDue > 0 && a->epoch > a->rotateDue)
        (void)m_ctx.store.setRotateDue(account, 0);
}

void KeyRotation::forget(const QString &account)
{
    m_lastStart.erase(account); // its keys are about to go (Store::revoke clears what was due)
    m_due.erase(account);
}

} // namespace sotto::broker
