#include "calls/routing.h"

#include "core/invite.h"

namespace sotto::broker::routing {

Result<QByteArray> wrapForPeer(const Store &store, const QString &peer, const SecretBytes &secret, const skbp::WrapContext &ctx)
{
    // The newest K_AB: while a refresh settles, the other side holds it already, as pending or
    // as current, and unwraps either (unwrapFromPeer).
    const AccountRecord *p = store.peer(peer);
    if (p && p->pendingEpoch != 0)
        return skbp::wrap(p->pendingKey, p->pendingEpoch, secret, ctx);
    if (!p || !p->isEnrolled())
        return err(ErrorCode::Offline, QStringLiteral("no inter-broker key with %1").arg(peer));
    return skbp::wrap(p->key, p->epoch, secret, ctx);
}

Result<SecretBytes> unwrapFromPeer(const Store &store, const QString &peer, const QByteArray &wrapped, const skbp::WrapContext &ctx)
{
    // The wrap names its K_AB epoch: the current one, or one a refresh has just committed on
    // one side and not yet on the other.
    auto epoch = skbp::wrappedEpoch(wrapped);
    const AccountRecord *p = store.peer(peer);
    if (!epoch || !p)
        return err(ErrorCode::Auth, QStringLiteral("no inter-broker key with %1").arg(peer));
    if (p->isEnrolled() && p->epoch == *epoch)
        return skbp::unwrap(p->key, *epoch, wrapped, ctx);
    if (p->pendingEpoch != 0 && p->pendingEpoch == *epoch)
        return skbp::unwrap(p->pendingKey, *epoch, wrapped, ctx);
    return err(ErrorCode::Auth, QStringLiteral("unknown inter-broker key epoch %1").arg(*epoch));
}

QString localize(const QString &name, const QString &peer, const QString &self)
{
    return skbp::Address::parse(name).fromPeer(peer, self).toString();
}

bool relayAtAllowed(const RouterContext &ctx, const QString &peer, const QString &relayAt)
{
    if (relayAt.isEmpty())
        return true; // the peer's own address
    auto at = parseHostPort(relayAt, 0);
    return at && ctx.peers.allowsRelayAt(peer, QHostAddress(at->first), at->second);
}

bool addTrunk(const RouterContext &ctx, const QByteArray &sid, const QString &peer, const QByteArray &token, const QString &relayAt,
              bool home)
{
    if (token.size() != skbp::kTokenSize || !relayAtAllowed(ctx, peer, relayAt))
        return false;
    auto [address, port] = ctx.peers.relayOf(peer);
    if (auto at = parseHostPort(relayAt, 0); !relayAt.isEmpty() && at) {
        address = QHostAddress(at->first);
        port = at->second;
    }
    return ctx.media.addTrunk(sid, address, port, token, home);
}

} // namespace sotto::broker::routing
