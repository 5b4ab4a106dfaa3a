#pragma once

// Reaching a member of a call wherever it is (PROTOCOL.md §6, §8): an account of ours through
// its phone's channel (the Outbox); a member behind a peered broker ("dave@b") through that
// broker, wrapped in `deliver` — with the call's trunk to the peer's relay when it rings there.
// Also whether a peer's account is known (and online), and the trunk's life. Private to the
// broker; main thread only. A link that is down drops what is sent (its sessions end anyway).

#include "routercontext.h"

#include "calls/sessiontable.h"

#include <QByteArray>
#include <QCborMap>
#include <QString>

namespace sotto::broker {

class MemberReach
{
public:
    MemberReach(RouterContext context, SessionTable &table) : m_ctx(std::move(context)), m_table(table) {}

    void sendTo(const QString &address, const QCborMap &message, Outbox::Delivery delivery = Outbox::Delivery::Now);
    // To every joined member of `s` but `except`.
    void sendToJoined(const Session &s, const QCborMap &message, const QString &except = {});
    // A peer's account we know of (its directory), and whether it is online with the link up.
    bool isKnownRemote(const QString &address, bool *online = nullptr) const;
    // The trunk to `peer`'s relay for `s`: drawn once by the home broker and placed at ours.
    // Empty when the relay cannot place it (or no randomness).
    QByteArray trunkOf(Session &s, const QString &peer);
    // With the peer's last member gone, the relay stops sending the call over to its relay.
    void dropTrunkIfUnused(const Session &s, const QString &departed);

private:
    void deliverRemote(const QString &address, const QCborMap &message);

    RouterContext m_ctx;
    SessionTable &m_table;
};

} // namespace sotto::broker
