#include "calls/memberkeys.h"

#include "calls/routing.h"

#include "broker/store.h"

namespace sotto::broker {

Result<QByteArray> MemberKeys::wrapFor(const QString &member, const SecretBytes &secret, skbp::WrapContext ctx)
{
    if (const auto [name, peer] = skbp::Address::parse(member); !peer.isEmpty()) {
        // {SK}K_AB: the member's own broker re-wraps it under the member's key.
        ctx.purpose = skbp::WrapPurpose::Federation;
        ctx.owner = m_ctx.config.name;
        return routing::wrapForPeer(m_ctx.store, peer, secret, ctx);
    }
    const AccountRecord *a = m_ctx.store.account(member);
    if (!a)
        return makeError(ErrorCode::Internal, QStringLiteral("member vanished"));
    const auto [epoch, key] = routing::effectiveKey(*a);
    return wrapUnder(member, epoch, *key, secret, ctx);
}

Result<QByteArray> MemberKeys::wrapUnder(const QString &account, quint32 epoch, const SecretBytes &key,
                                         const SecretBytes &secret, const skbp::WrapContext &ctx)
{
    auto wk = m_cache[account].get(key);
    if (!wk)
        return wk.error();
    return skbp::wrapWith(**wk, epoch, secret, ctx);
}

} // namespace sotto::broker
