#pragma once

// The key broker of SKBP/1: enrolment and refresh (§4), login (§5), calls, conferences, key
// delivery and rotation (§6). One event loop; the store commits in groups (see Store).

#include "broker/admin.h"
#include "broker/config.h"
#include "broker/views.h"
#include "relay/relay.h"
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
class PhoneConnection;
class Switchboard;
class Federation;
class InProcessMedia;
class MediaPlane;
class RelayPool;

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
    // On a stopped broker's data dir: datadir::forgetPeer.

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

    relay::RelayCounters relayCounters() const { return m_relay.counters(); }
    std::vector<AccountView> accounts() const;
    std::vector<SessionView> sessions() const;
    std::vector<PeerView> peers() const;
    bool isOnline(const QString &account) const;
    int connectionCount() const;


Q_SIGNALS:
    void logEvent(const QString &line);
    void roleChanged(sotto::broker::BrokerRole role);
    void accountsChanged();
    void sessionsChanged();
    void peersChanged();

private:
    class Admin; // the admin channel's commands (AdminHandler) on this broker

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
    // A replacement device's key committed (on `replacement`): the old device goes.
    void retireOldDevice(const QString &account, PhoneConnection *replacement);
    // Whether this instance may still act for its store (an active whose lease has not run
    // out); when not, a step-down is queued.
    bool mayServe();
    // An active's lease is current, or — overdue — renewed now on a session the server still
    // holds for it. False: the store ended our session (a standby broke the lease).
    bool leaseHolds();
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
    relay::RelayTable m_relayTable;
    relay::Relay m_relay{m_relayTable};      // without --relay: media through the broker's own port
    std::unique_ptr<InProcessMedia> m_inProcess;
    std::unique_ptr<RelayPool> m_pool; // with --relay: relays of their own
    MediaPlane *m_media = nullptr;    // the one of the two the routers use
    std::unique_ptr<Switchboard> m_phones; // the phones' connections and channels: the router's Outbox
    std::unique_ptr<Federation> m_federation; // both made at start(), when the name is known
    std::unique_ptr<CallRouter> m_router;
    QTimer m_refreshTimer;
};

} // namespace sotto::broker
