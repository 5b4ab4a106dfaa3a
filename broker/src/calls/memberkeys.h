#pragma once

// Wrapping a secret for a member of a call (PROTOCOL.md §6.1, §8): under an account of ours'
// key, with each account's AES-GCM key schedules cached (two per account: a rotation's old and
// new), or — for a member behind a peer ("dave@b") — under K_AB, for its own broker to re-wrap.
// Private to the broker; main thread only.

#include "routercontext.h"

#include "core/result.h"
#include "core/secretbytes.h"
#include "core/skbp.h"

#include <QByteArray>
#include <QString>

#include <unordered_map>

namespace sotto::broker {

class MemberKeys
{
public:
    explicit MemberKeys(RouterContext context) : m_ctx(std::move(context)) {}

    // {secret} for `member`: ours under the key its next wrapped message is under (a pending
    // rotation counts, routing::effectiveKey); behind a peer under K_AB (`ctx` becomes a
    // Federation wrap owned by this broker). Internal for an account that is gone; Offline
    // without K_AB.
    Result<QByteArray> wrapFor(const QString &member, const SecretBytes &secret, skbp::WrapContext ctx);
    // {secret} under `key` at `epoch`, one of `account`'s keys (a rotation wraps the next key
    // under the current one).
    Result<QByteArray> wrapUnder(const QString &account, quint32 epoch, const SecretBytes &key, const SecretBytes &secret,
                                 const skbp::WrapContext &ctx);
    // The account's keys are gone (revoked): its schedules go too.
    void forget(const QString &account) { m_cache.erase(account); }

private:
    RouterContext m_ctx;
    std::unordered_map<QString, skbp::WrapKeyCache> m_cache;
};

} // namespace sotto::broker
