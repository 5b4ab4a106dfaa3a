#pragma once

// Small helpers the call router's files share. Private to the broker.

#include "broker/store.h"
#include "core/result.h"
#include "core/wire.h"

#include <QCborMap>
#include <QString>

namespace sotto::broker::routing {

inline constexpr int kMaxSessionsPerAccount = 8;
inline constexpr int kMaxMembers = 16;
inline constexpr int kMaxRingingPerAccount = 32; // calls and invites ringing for one account at once

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

} // namespace sotto::broker::routing
