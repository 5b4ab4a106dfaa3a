#include "phones/keychoice.h"

namespace sotto::broker {

EnrolmentKey enrolmentKey(const AccountRecord *a, const std::vector<Invite> &openInvites, quint32 epoch)
{
    using S = EnrolmentKey::Source;
    if (epoch == 0) {
        // The account's one open invite: a first enrolment, or (for an enrolled account) the
        // operator's invite for a replacement device (`invite --replace`).
        if (openInvites.empty())
            return {};
        return {S::Invite, openInvites.front().secret, openInvites.front().id};
    }
    // A replacement device is enrolling: the old device's key stays as it is until that commits
    // (or its invite runs out), so no refresh is taken meanwhile — it gets the refusal of a wrong
    // key, and the phone keeps its key and tries again later.
    if (!a || !a->isEnrolled() || a->replaceEpoch != 0)
        return {};
    // While a rotation is pending the phone may already have adopted K_next: a refresh under the
    // old key would replace K_next by a key it may never store. Only a refresh under K_next is
    // taken then (it commits the rotation first); one under K_e gets the refusal of a wrong key,
    // and the phone refreshes again once it has the rotation.
    if (a->epoch == epoch && a->pendingKind != PendingKind::Rotate)
        return {S::CurrentKey, a->key, 0};
    if (a->pendingKind == PendingKind::Rotate && a->pendingEpoch == epoch)
        return {S::PendingRotation, a->pendingKey, 0};
    return {};
}

LoginKey loginKey(const AccountRecord *a, quint32 epoch)
{
    using S = LoginKey::Source;
    if (!a)
        return {};
    if (a->isEnrolled() && a->epoch == epoch)
        return {S::Current, a->key};
    if (a->hasPending() && a->pendingEpoch == epoch)
        return {S::Pending, a->pendingKey};
    if (a->replaceEpoch != 0 && a->replaceEpoch == epoch)
        return {S::Replacement, a->replaceKey};
    return {};
}

} // namespace sotto::broker
