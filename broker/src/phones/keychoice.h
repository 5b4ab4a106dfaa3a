#pragma once

// Which key a phone's handshake is checked against, as pure functions of what the store holds
// (PROTOCOL.md §4, §5): the broker does the same work whatever the answer, and a key it cannot
// name becomes a random decoy in the caller, so that no refusal's content or timing tells an
// account's state. Private to the broker; any thread.

#include "broker/store.h"
#include "core/secretbytes.h"

#include <vector>

namespace sotto::broker {

// The psk of an enrolment or refresh msg1 at `epoch` (0: an enrolment by invite).
struct EnrolmentKey
{
    enum class Source {
        None,            // nothing matches: the caller checks against a decoy, and refuses
        Invite,          // the account's one open invite: a first enrolment or a replacement device
        CurrentKey,      // a refresh under the key in use
        PendingRotation, // a refresh under K_next of a pending rotation: it commits that first
    };
    Source source = Source::None;
    SecretBytes psk;
    qint64 invite = 0; // Invite: the invite it consumes when it commits
};
// `account` may be null (unknown); `openInvites` are its open invites, newest first.
EnrolmentKey enrolmentKey(const AccountRecord *account, const std::vector<Invite> &openInvites, quint32 epoch);

// The key a login `hello` at `epoch` is answered under.
struct LoginKey
{
    enum class Source {
        None,        // unknown account or epoch: a decoy, and the first frame fails like a wrong key
        Current,     // the key in use
        Pending,     // a key negotiated but not yet confirmed: the login commits it
        Replacement, // a replacement device whose `enrolled` was lost: the login commits it
    };
    Source source = Source::None;
    SecretBytes key;
};
LoginKey loginKey(const AccountRecord *account, quint32 epoch);

} // namespace sotto::broker
