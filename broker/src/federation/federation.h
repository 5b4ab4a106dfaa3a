#pragma once

// Federation (PROTOCOL.md §8, patent Fig. 3): the links to peered brokers. Per peer, the broker
// whose name sorts first dials; the two run Noise_KKpsk0_25519_AESGCM_SHA256 (psk: the peering
// secret, later the current inter-broker key) to agree on K_AB under the commit rule, then keep
// one session channel (the §5 login with the broker names as accounts). Over it go the peers'
// directories and presence, and the call traffic the call router exchanges with them.
// A broker that is not configured as a peer, or shows another static key, is refused.
// Private to the broker; lives on its thread.

#include "federation/peerattempts.h"
#include "federation/peerresponders.h"
#include "routercontext.h"
#include "broker/config.h"
#include "broker/store.h"
#include "broker/views.h"
#include "core/channels.h"
#include "core/channel.h"
#include "core/framedsocket.h"
#include "core/crypto.h"
#include "core/noise.h"

#include <QCborArray>
#include <QObject>
#include <QPointer>
#include <QTimer>

#include <functional>
#include <map>
#include <memory>
#include <optional>

namespace sotto::broker {

// What the federation uses of the broker, named.
struct FederationContext
{
    Store &store;                          // K_AB, current and pending, and answered handshakes
    const BrokerConfig &config;            // config.name is ours; config.peers the links
    const crypto::X25519KeyPair &identity; // our static key
    std::function<QCborArray()> localAccounts; // what a peer asking for our directory is told
    std::function<void(const QString &)> log;
};

// One peered broker's link, as the federation keeps it (private to Federation).
struct PeerLink
{
    PeerConfig config;
    bool initiator = false;
    PeerView::State state = PeerView::State::Down;
    QPointer<FramedSocket> socket; // the session channel, once up
    SecureChannel channel;
    std::map<QString, bool> directory;
    std::map<QString, bool> incomingDirectory; // pages of a directory answer so far
    bool receivingDirectory = false;
    bool directoryRequested = false; // only an answer to our request is taken
    bool overAccountLimit = false; // logged once per link
    QTimer reconnect;
    int backoffMs = 0;
    bool refreshWanted = false;
    bool pendingRefused = false; // the last login under the pending K_AB was refused
    QPointer<PeerHandshake> handshake; // under way: one at a time (a refresh runs beside the channel)
    QPointer<PeerLogin> login;
    QString lastError;
};

// A link's own messages are a wire::PeerLinkHandler; the rest go to the call router (message()).
class Federation : public QObject, public PeerLinks, private wire::PeerLinkHandler<void, PeerLink &>
{
    Q_OBJECT
public:
    explicit Federation(FederationContext context);
    ~Federation() override;

    void start();
    void stop();

    // PeerLinks, for the call routers
    std::vector<QString> peerNames() const override;
    bool isPeer(const QString &name) const override { return m_links.contains(name); }
    bool isUp(const QString &name) const override;
    // The current inter-broker key with a peer, or null.
    const AccountRecord *key(const QString &name) const;
    // Where the peer's relay listens (its broker address: same port, UDP).
    std::pair<QHostAddress, quint16> relayOf(const QString &name) const override;
    bool allowsRelayAt(const QString &name, const QHostAddress &address, quint16 port) const override;
    // The peer's accounts as it last told us (name → online).
    const std::map<QString, bool> &directory(const QString &name) const override;
    std::vector<PeerView> peers() const;

    // Sends a message to a peer over the session channel; false when the link is down.
    bool send(const QString &peer, const QCborMap &message) override;
    // A local account's presence changed: tell every peer.
    void broadcastPresence(const QString &account, bool online);

    // An incoming connection whose first frame is 0x03 or 0x04: the federation takes it over.
    void adopt(FramedSocket *socket, const QByteArray &firstFrame);

    // Drops the K_AB held for a peer (Broker::forgetPeer): the link goes down, and the broker
    // that dials starts again with a handshake under the peering secret.
    Result<void> forget(const QString &name);

    // Refresh the inter-broker keys that are due (called by the broker's policy timer).
    void refreshDue();

Q_SIGNALS:
    void peersChanged();
    void linkUp(const QString &peer);
    void linkDown(const QString &peer);
    void message(const QString &peer, const sotto::wire::Message &message);
    // An account behind a peer ("name@peer") came online or went offline, as its broker says.
    void presenceChanged(const QString &address, bool online);

private:
    using Link = PeerLink;

    // Initiator side.
    void dial(Link &link);
    void handshake(Link &link);
    void login(Link &link, quint32 epoch, bool pending);
    void scheduleReconnect(Link &link, const QString &why);
    AttemptContext attemptContext() const;
    void dropAttempts(Link &link);
    // Both.
    void setUp(Link &link, FramedSocket *socket, SecureChannel channel);
    void onChannelFrame(Link &link, const QByteArray &body);
    // The link's own messages (§8).
    void onDirectory(Link &link, const wire::Message &m) override; // a request for ours, or a page of theirs
    void onDirectoryPage(Link &link, const wire::Message &m);
    void onPresence(Link &link, const wire::Message &m) override;
    void onWelcome(Link &, const wire::Message &) override {}
    void onPing(Link &, const wire::Message &) override {} // brokers do not ping each other (TCP keep-alive watches the link)
    // The call router's (it ignores what is not between brokers).
    void unexpected(Link &link, const wire::Message &m) override;
    void setDown(Link &link, const QString &why);
    Link *find(const QString &name);
    // Whether an account the peer announces may be held (BrokerConfig::maxPeerAccounts).
    bool admitPeerAccount(Link &link, const std::map<QString, bool> &into, const QString &account);

    FederationContext m_ctx;
    std::map<QString, std::unique_ptr<Link>> m_links;
    bool m_running = false;
};

} // namespace sotto::broker
