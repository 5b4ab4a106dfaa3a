#pragma once

// What a broker is told to be (the command line, peers.ini, tests): plain values, no behaviour
// but PeerConfig's one check. Any thread (copied into the broker before it starts).

#include "core/framedsocket.h"
#include "core/secretbytes.h"
#include "core/skbp.h"

#include <QHostAddress>
#include <QString>
#include <QStringList>

#include <utility>
#include <vector>

namespace sotto::broker {

// A peered broker (§8): its name, where it listens, its static public key, and the secret
// the two were given for their first handshake.
struct PeerConfig
{
    QString name;
    QString host;
    quint16 port = skbp::kDefaultPort;
    QByteArray publicKey; // 32 bytes
    SecretBytes secret;   // 32 bytes
    // Where the peer's relays of their own listen ("HOST:PORT", literal addresses): the only
    // places besides the peer's own host that its `relay_at` may name for our relay's trunk.
    QStringList relays;
    // Whether `relay_at` (an address the peer asked our relay to send to) is one of these, or on
    // the peer's own host.
    bool allowsRelayAt(const QHostAddress &address, quint16 port) const;
};

struct BrokerConfig
{
    QHostAddress address = QHostAddress::Any;
    quint16 port = skbp::kDefaultPort; // 0: any free port (tests)
    QString dataDir;                   // holds broker.key and broker.db
    // Where the store is (storebackend.h): empty for the one this data dir names (the file
    // `store`, written when a location is given), else SQLite in broker.db.
    QString store;
    QString name;                      // shown to clients; default: the host name
    QString advertise;                 // HOST:PORT that invites carry (stored); default: the listen address
    skbp::KeyMode keyMode = skbp::KeyMode::Derived;
    qint64 refreshIntervalSecs = 24 * 3600;
    int handshakeTimeoutMs = 5000;
    std::vector<PeerConfig> peers;
    int peerMinBackoffMs = 250;
    int peerMaxBackoffMs = 10000;
    // As the callee's broker in a federated call: how long a call whose key we derived may take
    // to ring here before we drop it and rotate the callee's key (the peer gave up or failed).
    int federatedRingDeadlineMs = 10000;
    // A call or conference invite nobody answers stops ringing after this long ("no answer").
    int ringTimeoutMs = 60000;

    // Against hostile or broken peers (§3).
    int idleTimeoutMs = 90000;        // an online channel with no frame this long is closed (phones ping)
    int keepAliveIdleSecs = 60;       // TCP keep-alive on every connection
    FramedSocket::OutputLimits outputLimits; // unread output per connection before it is cut
    int maxPeerAccounts = 20000;      // accounts a peered broker may announce
    int listenBacklog = 4096;         // a restart's reconnect burst must not wait for SYN retries
    int presenceIntervalMs = 200;     // presence to each subscriber at most this often per account
    // Calls: ringing does not lock anyone out; a declined caller backs off; rotations coalesce.
    int maxRingingPerCaller = 4;      // outgoing calls and invites ringing at once, per caller
    int declineBackoffMs = 2000;      // after a decline, that caller may ring that callee again…
    int declineBackoffMaxMs = 300000; // …after this back-off, doubling per decline
    int rotationMinIntervalMs = 2000; // at most one rotation per account this often
    // Active/standby on one PostgreSQL store.
    int standbyPollMs = 250;   // a standby tries the active's lock this often
    int storeCheckMs = 1000;   // an active checks its store's session this often
    // The active's lease (PostgreSQL): renewed at least every storeCheckMs and leaseMs / 3; a
    // standby ends an active whose lease ran out (paused, frozen), and an active that finds its
    // own lease ran out while it was not running steps down before anything else.
    int leaseMs = 3000;
    // Relays of their own (`--relay HOST:PORT`, literal addresses): sessions are placed on them
    // and the broker opens no UDP port. Empty: the broker relays in process on its own port.
    std::vector<std::pair<QHostAddress, quint16>> relays;
    SecretBytes relaySecret; // the relays' shared secret (`--relay-secret-file`), 32 bytes
};

// The host to put in invite links for a listen address: the address itself, or for a wildcard
// the first IPv4 address that is not loopback (127.0.0.1 when there is none).
QString advertisedHost(const QHostAddress &listen);

} // namespace sotto::broker
