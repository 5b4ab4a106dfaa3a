#include "calls/memberreach.h"

#include "calls/routing.h"

#include "core/crypto.h"
#include "core/skbp.h"
#include "core/wire.h"

#include "relay/relay.h"

namespace sotto::broker {

namespace key = wire::key;

bool MemberReach::isKnownRemote(const QString &address, bool *online) const
{
    const auto [account, peer] = skbp::Address::parse(address);
    PeerLinks &fed = m_ctx.peers;
    if (peer.isEmpty() || !fed.isPeer(peer))
        return false;
    const auto &dir = fed.directory(peer);
    auto it = dir.find(account);
    if (it == dir.end())
        return false;
    if (online)
        *online = it->second && fed.isUp(peer);
    return true;
}

void MemberReach::dropTrunkIfUnused(const Session &s, const QString &departed)
{
    // With the peer's last member gone, the relay stops sending the call over to its relay.
    const QString peer = skbp::Address::parse(departed).broker;
    if (peer.isEmpty())
        return;
    for (const Member &m : s.members) {
        if (skbp::Address::parse(m.account).broker == peer)
            return;
    }
    m_ctx.media.removeTrunks(s.sid);
}

QByteArray MemberReach::trunkOf(Session &s, const QString &peer)
{
    // Drawn by the home broker and sent with the call, so that a K_AB refresh in between
    // cannot leave the two relays with different tokens.
    if (s.trunkToken.isEmpty()) {
        auto t = crypto::randomBytes(skbp::kTokenSize);
        if (!t)
            return {};
        s.trunkToken = *t;
    }
    if (!routing::addTrunk(m_ctx, s.sid, peer, s.trunkToken, {}, true))
        return {};
    return s.trunkToken;
}

void MemberReach::sendTo(const QString &address, const QCborMap &message, Outbox::Delivery delivery)
{
    if (skbp::Address::parse(address).isRemote())
        deliverRemote(address, message); // a member behind a peered broker
    else
        m_ctx.outbox.sendTo(address, message, delivery);
}

void MemberReach::deliverRemote(const QString &address, const QCborMap &message)
{
    const auto [account, peer] = skbp::Address::parse(address);
    QCborMap deliver = wire::message(wire::MessageType::Deliver);
    deliver.insert(key::to, account);
    deliver.insert(key::msg, message);
    if (message.value(key::t).toString() == wire::messageTypeName(wire::MessageType::Incoming)) {
        Session *s = m_table.find(message.value(key::sid).toByteArray());
        if (const QByteArray trunk = s ? trunkOf(*s, peer) : QByteArray(); !trunk.isEmpty()) {
            deliver.insert(key::trunk, trunk);
            if (const QString at = m_ctx.media.relayAt(s->sid); !at.isEmpty())
                deliver.insert(key::relay_at, at);
        }
    }
    m_ctx.peers.send(peer, deliver); // a link that is down ends these sessions anyway
}

void MemberReach::sendToJoined(const Session &s, const QCborMap &message, const QString &except)
{
    for (const Member &m : s.members) {
        if (m.joined && m.account != except)
            sendTo(m.account, message);
    }
}

} // namespace sotto::broker
