#pragma once

// What the call routers (CallRouter, RemoteSessions) use of the broker, named: the store, the
// media plane (relays), the peer links, an outbox for the phones' channels and presence, the config and
// the log. Nothing else of Broker is theirs. Private to the broker; main thread only.

#include "broker/config.h"
#include "broker/views.h"

#include "core/result.h"

#include <QCborMap>
#include <QHostAddress>
#include <QString>

#include <functional>
#include <map>
#include <utility>
#include <vector>

namespace sotto::broker {

class Store;

// The phones' side: their channels, their presence and the console's views (Broker implements it).
class Outbox
{
public:
    enum class Delivery {
        Now,
        AfterCommit, // after the group commit of what is written so far (a pending key before `rotate`)
    };
    virtual ~Outbox() = default;
    // On the account's channel, in order; nothing when it is offline. Later messages to the same
    // account queue behind an AfterCommit one; other accounts are not held up.
    virtual void sendTo(const QString &account, const QCborMap &message, Delivery delivery = Delivery::Now) = 0;
    virtual bool isOnline(const QString &account) const = 0;
    // What subscribers have been told of an account (a change not flushed yet is not shown).
    virtual bool presenceShown(const QString &account) const = 0;
    // An address ("dave" or "dave@b") came online or went offline: its subscribers are told.
    virtual void broadcastPresence(const QString &address, bool online) = 0;
    // The console's lists changed.
    virtual void sessionsChanged() = 0;
    virtual void accountsChanged() = 0;
};

// The peered brokers, as the routers see them (Federation implements it).
class PeerLinks
{
public:
    virtual ~PeerLinks() = default;
    virtual std::vector<QString> peerNames() const = 0;
    virtual bool isPeer(const QString &name) const = 0;
    virtual bool isUp(const QString &name) const = 0;
    // The peer's accounts as it last told us (name → online); empty for a stranger.
    virtual const std::map<QString, bool> &directory(const QString &name) const = 0;
    // Where the peer's relay listens (its broker address: same port, UDP).
    virtual std::pair<QHostAddress, quint16> relayOf(const QString &name) const = 0;
    // Whether the peer may send our relay's trunk to this address (its `relay_at`): its own
    // host, or a relay of its own it is configured with (PeerConfig::relays). False for a stranger.
    virtual bool allowsRelayAt(const QString &name, const QHostAddress &address, quint16 port) const = 0;
    // Over the peer's session channel; false (nothing sent) when the link is down.
    virtual bool send(const QString &peer, const QCborMap &message) = 0;
};

// Where sessions' media goes (PROTOCOL.md §7): the broker's own relay, or relays of their own
// (RelayPool). A session is placed on one relay at its first admit() or addTrunk() and stays there
// until endSession(); calls on a relay that dies are ended by the broker (EndReason::Failed).
class MediaPlane
{
public:
    virtual ~MediaPlane() = default;
    // A member's relay grant ({"host"?, "port", "token"}, wire::relayGrant) for its call_key or
    // incoming: from now on it may bind. Offline when no relay is up; Internal without randomness.
    virtual Result<QCborMap> admit(const QByteArray &sid, quint32 ssrc) = 0;
    virtual void removeMember(const QByteArray &sid, quint32 ssrc) = 0;
    virtual void endSession(const QByteArray &sid) = 0;
    // The session's trunk toward a peer's relay (§8). False when no relay is up.
    // `home`: we home the session (our relay's trunk binds say which side they come from).
    virtual bool addTrunk(const QByteArray &sid, const QHostAddress &address, quint16 port, const QByteArray &token,
                          bool home) = 0;
    virtual void removeTrunks(const QByteArray &sid) = 0;
    // Where the session's relay listens, for a peer's relay to reach: "HOST:PORT"; empty for the
    // broker's own relay (the peer knows it: the broker's address).
    virtual QString relayAt(const QByteArray &sid) const = 0;
    // A session an instance that is gone placed at `relayAt` (a call kept over a take-over):
    // placed there again, if that relay is one of ours (should our link to it fail, the call ends
    // as any other on a lost relay). False otherwise.
    virtual bool adopt(const QByteArray &sid, const QString &relayAt) = 0;
};

struct RouterContext
{
    Store &store;
    MediaPlane &media;
    PeerLinks &peers;
    Outbox &outbox;
    const BrokerConfig &config;           // config.name is this broker's name
    std::function<void(const QString &)> log; // one line for the operator's log
};

} // namespace sotto::broker
