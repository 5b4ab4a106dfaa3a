#pragma once

// Small helpers the call router's files share. Private to the broker.

#include "routercontext.h"

#include "broker/store.h"
#include "core/result.h"
#include "core/wire.h"

#include <QCborMap>
#include <QString>

namespace sotto::broker::routing {

inline constexpr int kMaxSessionsPerAccount = 8;
inline constexpr int kMaxMembers = 16;
inline constexpr int kMaxRingingPerAccount = 32; // calls and invites ringing for one account at once
// Sessions keyed from one account's key at one epoch before it must rotate (CallRouter::claimSid).
inline constexpr std::size_t kMaxSidsPerEpoch = 4096;

inline Error err(ErrorCode code, const QString &msg)
{
    return makeError(code, msg);
}

// The key an account's next wrapped message is under. A pending rotation counts as soon as it
// exists: `rotate` is queued before anything else for that account, and the client processes its
// channel in order (§6.2 rules).
inline std::pair<quint32, const SecretBytes *> effectiveKey(const AccountRecord &a)
{
    if (a.pendingKind == PendingKind::Rotate)
        return {a.pendingEpoch, &a.pendingKey};
    return {a.epoch, &a.key};
}

inline QString shortSid(const QByteArray &sid)
{
    return QString::fromLatin1(sid.toHex().left(8));
}

// {secret}K_AB under the newest inter-broker key with `peer` (while a refresh settles the other
// side holds it already, as pending or as current). Offline when there is none.
Result<QByteArray> wrapForPeer(const Store &store, const QString &peer, const SecretBytes &secret,
                               const skbp::WrapContext &ctx);
// The inverse, under the K_AB epoch the wrap names (the current one, or one a refresh has just
// committed on one side and not yet on the other). Auth on any failure.
Result<SecretBytes> unwrapFromPeer(const Store &store, const QString &peer, const QByteArray &wrapped,
                                   const skbp::WrapContext &ctx);
// A name as the peer wrote it, as we write it: its own accounts get "@peer", ours lose "@self".
QString localize(const QString &name, const QString &peer, const QString &self);
// Whether a peer's `relay_at` ("HOST:PORT"; empty: the peer's own address) names a place the
// peer is configured with: its own host, or one of its relays (PeerConfig::relays). A peer never
// makes our relay send our members' media to an address of its choosing.
bool relayAtAllowed(const RouterContext &ctx, const QString &peer, const QString &relayAt);
// The session's trunk toward the peer's relay: at `relayAt` ("HOST:PORT" with a literal address,
// the peer's relay of its own) or else at the peer broker's address. False (nothing ordered) for a
// token of the wrong size, a `relayAt` the peer may not name, or when no relay of ours is up.
bool addTrunk(const RouterContext &ctx, const QByteArray &sid, const QString &peer, const QByteArray &token, const QString &relayAt,
              bool home);

} // namespace sotto::broker::routing
