#pragma once

// The key broker of SKBP/1: enrolment and refresh (§4), login (§5), calls, conferences, key
// delivery and rotation (§6). One event loop; the store commits in groups (see Store).

#include "broker/admin.h"
#include "broker/relay.h"
#include "broker/store.h"
#include "core/crypto.h"
#include "core/framedsocket.h"
#include "core/secretbytes.h"
#include "core/result.h"
#include "core/skbp.h"

#include <QHostAddress>
#include <QObject>
#include <QStringList>
#include <QElapsedTimer>
#include <QTimer>

#include <chrono>
#include <map>
#include <memory>
#include <unordered_map>
#include <unordered_set>
#include <vector>

class QTcpServer;

class QLockFile;

namespace sotto::broker {

class CallRouter;
class Connection;
class Federation;
class InProcessMedia;
class MediaPlane;
class RelayPool;

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

// A relay of its own as the broker sees it.
struct RelayStatus
{
    QString address;     // HOST:PORT
    bool up = false;
    QString why;         // while down: why (never connected, refused, silent…)
    int sessions = 0;    // this broker's live sessions on it
    quint32 relaySessions = 0; // what the relay reports (every broker's)
    quint32 members = 0;
    quint64 forwarded = 0;
    quint64 refused = 0; // binds it refused (forged, expired, revoked, full)
};
// One line for the operator: "HOST:PORT up: …" or "HOST:PORT down: why" (status, console).
QString relayStatusText(const RelayStatus &r);

struct PeerView
{
    enum class State { Down, Connecting, Up };
    QString name;
    QString address; // host:port
    State state = State::Down;
    quint32 epoch = 0; // of the inter-broker key K_AB (0: none yet)
    QString fingerprint;
    bool initiator = false; // we dial
    QString lastError;
    bool keyHeld = false; // a key for it is stored, current or only pending: forgetPeer() has work
};

struct SessionView
{
    QByteArray sid;
    QString caller;
    QString callee;
    quint32 gen = 0;
    QStringList members; // joined
    QStringList ringing;
    qint64 startedMs = 0; // when it began to ring (ms since the epoch, UTC)
};

struct AccountView
{
    QString name;
    quint32 epoch = 0;
    QString fingerprint;
    bool online = false;
    bool rotationPending = false;
    bool revoked = false;
    qint64 lastLogin = 0; // unix seconds, 0: never
};

// Several brokers may share one PostgreSQL store (and one static key): exactly one is Active (it
// holds the store's advisory lock), the others are Standby. A standby listens and refuses every
// phone with a cleartext `standby` error naming itself, polls the lock, and takes over within
// standbyPollMs of the active's session ending (a stop, kill -9, a lost machine or network: the
// server ends the session). An active that loses its store steps down: its phones go, its
// uncommitted work is told it failed, and it becomes a standby. SQLite: always Active.
enum class BrokerRole { Stopped, Standby, Active };
QString brokerRoleName(BrokerRole role);

struct BrokerStatus
{
    BrokerRole role = BrokerRole::Stopped;
    QString why;          // how it came to be in that role
    QString store;        // where the store is (no password)
    QString address;      // this instance's HOST:PORT
    QStringList instances; // every instance of the store, in registration order
    qint64 sinceMs = 0;    // in this role since (ms since the epoch)
    int sessions = 0;      // live sessions
    int online = 0;        // phones logged in here
    std::vector<RelayStatus> relays; // relays of their own; empty: relayed in process
};

class Broker : public QObject
{
    Q_OBJECT
public:
    explicit Broker(BrokerConfig config, QObject *parent = nullptr);
    ~Broker() override;

    // Locks the data dir (one broker per data dir), loads or creates the static key (0600) and
    // the store, then listens, as the Active instance or a Standby (see BrokerRole). Errors say
    // which; a static key that is not the store's (another broker's) is refused.
    Result<void> start();
    void stop();
    BrokerRole role() const { return m_role; }
    BrokerStatus status();

    quint16 port() const;
    QString name() const { return m_config.name; }
    QString fingerprint() const;
    QByteArray publicKey() const { return m_static.publicKey; }
    const BrokerConfig &config() const { return m_config; }
    Store &store() { return m_store; }

    // Drops the inter-broker key held for a peer, so that the next handshake runs under the
    // peering secret again (§8: after the first run only K_AB is accepted). For when the other
    // broker lost its store; it must forget its side too. The link goes down and is redialled.
    Result<void> forgetPeer(const QString &name);
    // The same on a stopped broker's data dir (refused while a broker runs on it).
    static Result<void> forgetPeer(const QString &dataDir, const QString &name);

    // A fresh single-use invite (replacing any open one for the account); the sotto:// link.
    // With `replace`, for an enrolled account: its old key keeps working until the new device's
    // enrolment commits, and is gone then.
    Result<QString> createInvite(const InviteRequest &request);
    Result<QString> createInvite(const QString &account, qint64 validForSecs)
    {
        return createInvite(InviteRequest{account, validForSecs, false});
    }
    // The operator's revocation: the account's calls end ("revoked"; the others in a conference
    // re-key), its channel closes, its keys are erased; later logins and refreshes get `auth`.
    Result<void> revoke(const QString &account);
    // What invites carry: --advertise, else the listen address.
    QString inviteAddress() const;
    // The admin channel's requests (admin.h).
    QJsonObject handleAdmin(const QJsonObject &request);
    // One broker per data directory (a QLockFile, stale only once its process is gone).
    static Result<std::unique_ptr<QLockFile>> lockDataDir(const QString &dataDir);

    RelayCounters relayCounters() const { return m_relay.counters(); }
    std::vector<AccountView> accounts() const;
    std::vector<SessionView> sessions() const;
    std::vector<PeerView> peers() const;
    bool isOnline(const QString &account) const;
    int connectionCount() const;

    // The store a data dir's broker uses: `spec` when given, else the location recorded in
    // DATA/store, else SQLite in DATA/broker.db.
    static Result<StoreLocation> storeLocation(const QString &dataDir, const QString &spec = {});
    // Loads (or, when absent, creates) the static key file of a data dir.
    static Result<crypto::X25519KeyPair> loadOrCreateStaticKey(const QString &path);
    // The host to put in invite links for a listen address.
    static QString advertisedHost(const QHostAddress &listen);

Q_SIGNALS:
    void logEvent(const QString &line);
    void roleChanged(sotto::broker::BrokerRole role);
    void accountsChanged();
    void sessionsChanged();
    void peersChanged();

private:
    class RouterOutbox; // the call router's Outbox: channels, presence, the console's signals

    void makeRouting();
    // The role changes (with the reason the log gives).
    void becomeActive(const QString &why);
    void becomeStandby(const QString &why);
    void stepDown(const QString &why); // the active lost its store
    void pollStandby();
    void checkStore();
    void refuseAsStandby(QTcpSocket *socket);
    QString ownAddress() const;
    void onNewConnection();
    void onConnectionClosed(Connection *c);
    void registerOnline(Connection *c);
    // A replacement device's key committed (on `replacement`): the old device goes.
    void retireOldDevice(const QString &account, Connection *replacement);
    // Whether this instance may still act for its store (an active whose lease has not run
    // out); when not, a step-down is queued.
    bool mayServe();
    // An active's lease is current, or — overdue — renewed now on a session the server still
    // holds for it. False: the store ended our session (a standby broke the lease).
    bool leaseHolds();
    enum class Delivery { Now, AfterCommit };
    // Sends on the account's channel, in order. AfterCommit waits for the group commit of what
    // has been written so far (e.g. a pending key before `rotate`); later messages to the same
    // account queue behind it, other accounts are not held up.
    void sendTo(const QString &account, const QCborMap &message, Delivery delivery = Delivery::Now);
    // Presence is coalesced (§ hardening): each account's change goes to subscribers at most once
    // per presenceIntervalMs, the first at once; a change undone within the interval sends nothing.
    void broadcastPresence(const QString &account, bool online);
    void flushPresence();
    // What subscribers have been told of an account (a change not yet flushed is not shown, so
    // that a directory fetched meanwhile agrees with the presence that follows it).
    bool presenceShown(const QString &account) const;
    void checkRefreshPolicy();
    void log(const QString &line);
    qint64 refreshIn(const AccountRecord &a) const;

    BrokerConfig m_config;
    BrokerRole m_role = BrokerRole::Stopped;
    QString m_roleWhy;
    qint64 m_roleSinceMs = 0;
    StoreLocation m_location;
    QStringList m_instances; // the store's broker addresses, as `welcome` gives them
    QTimer m_standbyTimer;   // a standby polls the lock
    QTimer m_storeTimer;     // an active checks that its store's session lives, renews its lease
    QElapsedTimer m_leaseRenewed; // since the active's last renewal (monotonic)
    qint64 m_leaseRenewedWallMs = 0; // the same on the wall clock (which runs on while a VM is frozen)
    bool m_stepDownQueued = false;
    QString m_standbyNote;   // the last reason a standby could not reach the store (logged once)
    std::unique_ptr<QLockFile> m_lock; // held while started
    AdminServer m_admin{[this](const QJsonObject &r) { return handleAdmin(r); }};
    crypto::X25519KeyPair m_static;
    Store m_store;
    QTcpServer *m_server = nullptr;
    RelayTable m_relayTable;
    Relay m_relay{m_relayTable};      // without --relay: media through the broker's own port
    std::unique_ptr<InProcessMedia> m_inProcess;
    std::unique_ptr<RelayPool> m_pool; // with --relay: relays of their own
    MediaPlane *m_media = nullptr;    // the one of the two the routers use
    std::unique_ptr<RouterOutbox> m_outbox;
    std::unique_ptr<Federation> m_federation; // both made at start(), when the name is known
    std::unique_ptr<CallRouter> m_router;
    std::vector<Connection *> m_connections; // owned through QObject parenting
    std::unordered_map<QString, Connection *> m_online;
    std::unordered_set<QString> m_presenceSubscribers; // online accounts that asked for the directory
    std::unordered_map<QString, int> m_queued; // messages per account waiting for a commit
    QTimer m_refreshTimer;
    QTimer m_presenceTimer;
    QElapsedTimer m_sincePresenceFlush;
    std::map<QString, bool> m_presencePending; // changes not yet sent
    std::unordered_map<QString, bool> m_presenceSent; // what subscribers were last told
};

} // namespace sotto::broker
