#pragma once

// A phone's profile for a test of the phone's parts alone: in `dir`, with the identity of an
// invite for `account` (a broker at 127.0.0.1:`port` with a made-up public key) and the keys
// the test names — each (epoch, fill byte), the key being 32 of that byte: the first committed
// (epoch 0: none, a profile not enrolled yet), a second left pending. Header-only. Main thread only.

#include "client/profile.h"
#include "core/invite.h"

#include <utility>
#include <vector>

namespace sotto::test {

inline SecretBytes keyOf(char fill)
{
    return SecretBytes::copyOf(QByteArray(32, fill));
}

inline Result<Profile> profileWithKeys(const QString &dir, const QString &account,
                                       const std::vector<std::pair<quint32, char>> &keys, quint16 port = 7421)
{
    auto profile = Profile::open(dir);
    if (!profile)
        return profile.error();
    InviteLink link;
    link.host = QStringLiteral("127.0.0.1");
    link.port = port;
    link.account = account;
    link.brokerPublicKey = QByteArray(32, 'b');
    link.secret = keyOf('s');
    if (auto r = profile->adoptInvite(link); !r)
        return r.error();
    for (std::size_t i = 0; i < keys.size() && i < 2; ++i) {
        const auto [epoch, fill] = keys[i];
        if (epoch == 0)
            continue;
        if (auto r = profile->setPending(epoch, keyOf(fill)); !r)
            return r.error();
        if (i == 0) {
            if (auto r = profile->commitPending(); !r)
                return r.error();
        }
    }
    return profile;
}

} // namespace sotto::test
