#include "broker/broker.h"

#include "broker/datadir.h"
#include "broker/log.h"
#include "calls/callrouter.h"
#include "media/inprocessmedia.h"
#include "media/relaypool.h"
#include "federation/federation.h"
#include "phones/phoneconnection.h"
#include "phones/switchboard.h"
#include "core/invite.h"
#include "core/privatefile.h"

#include <QDateTime>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QHostInfo>
#include <QJsonArray>
#include <QLockFile>
#include <QNetworkInterface>
#include <QScopeGuard>
#include <QTcpServer>

Q_LOGGING_CATEGORY(lcBroker, "sotto.broker")

namespace sotto::broker {

namespace key = wire::key;

Broker::Broker(BrokerConfig config, QObject *parent)
    : QObject(parent), m_config(std::move(config))
{
    m_phones = std::make_unique<Switchboard>(Switchboard::Context{
        .store = m_store,
        .config = m_config,
        .log = [this](const QString &line) { log(line); },
        .wentOffline =
            [this](const QString &account) {
                if (m_router)
                    m_router->onOffline(account);
            },
        .toPeers =
            [this](const QString &account, bool online) {
                if (m_federation)
                    m_federation->broadcastPresence(account, online);
            },
        .sessionsChanged = [this] { Q_EMIT sessionsChanged(); },
        .accountsChanged = [this] { Q_EMIT accountsChanged(); },
    });
    connect(&m_refreshTimer, &QTimer::timeout, this, &Broker::checkRefreshPolicy);
    connect(&m_standbyTimer, &QTimer::timeout, this, &Broker::pollStandby);
    connect(&m_storeTimer, &QTimer::timeout, this, &Broker::checkStore);
    connect(&m_store, &Store::accountChanged, this, &Broker::accountsChanged);
    if (m_config.relays.empty()) {
        m_inProcess = std::make_unique<InProcessMedia>(m_relayTable, [this] { return port(); });
        m_media = m_inProcess.get();
    } else {
        std::vector<RelayPool::Endpoint> relays;
        for (const auto &[host, port] : m_config.relays)
            relays.push_back({host, port});
        m_pool = std::make_unique<RelayPool>(std::move(relays), m_config.relaySecret, [this](const QString &line) { log(line); });
        m_pool->setOnLost([this](const std::vector<QByteArray> &sids) {
            if (m_router)
                m_router->onRelayLost(sids);
        });
        m_media = m_pool.get();
    }
}

Broker::~Broker()
{
    stop();
}

Result<void> Broker::start()
{
    if (m_config.dataDir.isEmpty())
        return makeError(ErrorCode::Usage, QStringLiteral("no data directory"));
    // A start that fails leaves nothing behind that it made (a port in use must not leave a
    // fresh key and an empty store that a later start would take for a broker's).
    const QDir dir(m_config.dataDir);
    const bool dirExisted = dir.exists();
    auto location = datadir::storeLocation(m_config.dataDir, m_config.store);
    if (!location)
        return location.error();
    const QStringList made{QStringLiteral("broker.key"), QStringLiteral("broker.db"), QStringLiteral("store")};
    QStringList existed;
    for (const QString &f : made) {
        if (QFile::exists(dir.filePath(f)))
            existed.append(f);
    }
    if (auto r = makePrivateDir(m_config.dataDir); !r)
        return r.error();
    auto lock = datadir::lock(m_config.dataDir);
    if (!lock) {
        if (!dirExisted)
            QDir().rmdir(m_config.dataDir);
        return lock.error();
    }
    m_lock = std::move(*lock);
    auto unlock = qScopeGuard([&] {
        m_store.close();
        for (const QString &f : made) {
            if (!existed.contains(f)) {
                QFile::remove(dir.filePath(f));
                QFile::remove(dir.filePath(f + QStringLiteral("-wal")));
                QFile::remove(dir.filePath(f + QStringLiteral("-shm")));
            }
        }
        m_lock.reset();
        if (!dirExisted)
            QDir().rmdir(m_config.dataDir);
    });
    auto kp = datadir::loadOrCreateStaticKey(m_config.dataDir);
    if (!kp)
        return kp.error();
    m_static = std::move(*kp);
    if (auto r = m_store.open(*location); !r)
        return r;
    if (location->isPostgres()) { // the admin tools find it here when no broker runs
        QFile f(dir.filePath(QStringLiteral("store")));
        if (!f.open(QIODevice::WriteOnly | QIODevice::Truncate) || f.write(location->toString().toUtf8() + '\n') < 0)
            return makeError(ErrorCode::Io, QStringLiteral("cannot write %1").arg(f.fileName()));
    }
    // Instances of one store share its static key: each data dir holds a copy of the first's.
    // (Written below, once nothing can fail: a failed start leaves the store as it was.)
    const QString ownKey = QString::fromLatin1(m_static.publicKey.toHex());
    const QString storeKey = m_store.metaValue(QStringLiteral("public_key"));
    if (!storeKey.isEmpty() && storeKey != ownKey) {
        return makeError(ErrorCode::Usage, QStringLiteral("the store %1 belongs to the broker with key %2, and %3 holds key %4: "
                                                          "copy broker.key from the data dir of the store's first broker")
                                               .arg(m_store.path(), skbp::fingerprint(QByteArray::fromHex(storeKey.toLatin1())),
                                                    dir.filePath(QStringLiteral("broker.key")), fingerprint()));
    }

    m_server = new QTcpServer(this);
    m_server->setMaxPendingConnections(m_config.listenBacklog);
    m_server->setListenBacklogSize(m_config.listenBacklog); // Qt's default is 50
    if (!m_server->listen(m_config.address, m_config.port)) {
        const QString why = m_server->errorString();
        delete m_server;
        m_server = nullptr;
        m_store.close();
        return makeError(ErrorCode::Network, QStringLiteral("cannot listen on %1:%2: %3")
                                                 .arg(m_config.address.toString())
                                                 .arg(m_config.port)
                                                 .arg(why));
    }
    connect(m_server, &QTcpServer::newConnection, this, &Broker::onNewConnection);
    QString relayError;
    if (m_config.relays.empty() && !m_relay.start(m_config.address, port(), &relayError)) {
        delete m_server;
        m_server = nullptr;
        m_store.close();
        return makeError(ErrorCode::Network, QStringLiteral("cannot open the media relay on UDP %1: %2").arg(m_config.port).arg(relayError));
    }
    if (auto r = m_admin.listen(m_config.dataDir); !r) {
        m_relay.stop();
        delete m_server;
        m_server = nullptr;
        return r;
    }
    if (m_pool)
        m_pool->start();
    (void)m_store.setMetaValue(QStringLiteral("listen"),
                               QStringLiteral("%1:%2").arg(advertisedHost(m_config.address)).arg(port()));
    if (!m_config.advertise.isEmpty() && !location->isPostgres()) // instances of a shared store each have their own
        (void)m_store.setMetaValue(QStringLiteral("advertise"), m_config.advertise);
    // No --name: the name this data dir had before, else the host's.
    if (m_config.name.isEmpty())
        m_config.name = m_store.metaValue(QStringLiteral("name"));
    if (m_config.name.isEmpty()) {
        QString host = QHostInfo::localHostName().toLower();
        host.removeIf([](QChar c) { return !(c.isLetterOrNumber() || c == u'-' || c == u'.'); });
        m_config.name = host.isEmpty() ? QStringLiteral("sotto") : host;
    }
    (void)m_store.setMetaValue(QStringLiteral("name"), m_config.name);
    if (storeKey.isEmpty())
        (void)m_store.setMetaValue(QStringLiteral("public_key"), ownKey);
    m_store.flush();
    m_location = *location;
    if (m_location.isPostgres()) {
        if (auto r = m_store.registerBrokerAddress(ownAddress()); !r)
            return r;
    }
    unlock.dismiss();
    if (m_config.keyMode == skbp::KeyMode::Patent)
        qCWarning(lcBroker) << "key-mode patent: callers receive the callee's broker key itself "
                               "(SK = K_callee), no ratchet, no re-key. For demonstration only.";
    log(QStringLiteral("broker %1 listening on %2:%3, key %4, data in %5, store %6")
            .arg(m_config.name, m_config.address.toString())
            .arg(port())
            .arg(fingerprint(), QDir(m_config.dataDir).absolutePath(), m_store.path()));
    if (m_store.tryLockActive())
        becomeActive(m_location.isPostgres() ? QStringLiteral("it holds the store's lock (no other instance is active)")
                                             : QStringLiteral("it is the only broker of its store"));
    else
        becomeStandby(QStringLiteral("another instance holds the store's lock"));
    return {};
}

QString Broker::ownAddress() const
{
    if (!m_config.advertise.isEmpty())
        return m_config.advertise;
    return QStringLiteral("%1:%2").arg(advertisedHost(m_config.address)).arg(port());
}

void Broker::becomeActive(const QString &why)
{
    m_standbyTimer.stop();
    // What the last active left (its commits are all there: the lock went with its session).
    if (auto r = m_store.reload(); !r) {
        stepDown(QStringLiteral("cannot read the store: %1").arg(r.error().message));
        return;
    }
    m_instances = m_location.isPostgres() ? m_store.brokerAddresses().mid(0, 16) : QStringList();
    makeRouting();
    const qint64 period = std::clamp<qint64>(m_config.refreshIntervalSecs * 1000 / 4, 500, 60000);
    m_refreshTimer.start(int(period));
    m_role = BrokerRole::Active;
    m_roleWhy = why;
    m_roleSinceMs = QDateTime::currentMSecsSinceEpoch();
    log(QStringLiteral("broker %1 at %2 is active: %3").arg(m_config.name, ownAddress(), why));
    m_federation->start();
    m_router->rotation().resumeRotations(); // keys of calls that were live when the last active went
    m_router->loadLiveSessions(); // calls at relays of our own, for their members to resume
    if (m_location.isPostgres()) {
        if (!m_store.renewLease(m_config.leaseMs)) {
            stepDown(QStringLiteral("cannot take the lease"));
            return;
        }
        m_leaseRenewed.start();
        m_leaseRenewedWallMs = QDateTime::currentMSecsSinceEpoch();
        m_storeTimer.start(std::min(m_config.storeCheckMs, std::max(100, m_config.leaseMs / 3)));
    }
    Q_EMIT roleChanged(m_role);
    Q_EMIT accountsChanged();
}

void Broker::becomeStandby(const QString &why)
{
    m_role = BrokerRole::Standby;
    m_roleWhy = why;
    m_roleSinceMs = QDateTime::currentMSecsSinceEpoch();
    m_standbyNote.clear();
    log(QStringLiteral("broker %1 at %2 is a standby: %3; it takes over when the active instance's lock is free")
            .arg(m_config.name, ownAddress(), why));
    m_standbyTimer.start(m_config.standbyPollMs);
    Q_EMIT roleChanged(m_role);
}

void Broker::stepDown(const QString &why)
{
    m_storeTimer.stop();
    m_leaseRenewed.invalidate();
    m_refreshTimer.stop();
    m_phones->dropPendingPresence();
    if (m_federation)
        m_federation->stop();
    m_phones->closeAll(); // their calls end; the phones try the other instances
    m_store.close(); // what was not committed is lost, and its afterCommit() work was told so
    becomeStandby(QStringLiteral("it lost its store (%1)").arg(why));
}

void Broker::pollStandby()
{
    if (!m_store.isOpen()) {
        if (auto r = m_store.open(m_location); !r) {
            if (r.error().message != m_standbyNote)
                log(QStringLiteral("standby %1: cannot reach the store: %2").arg(m_config.name, r.error().message));
            m_standbyNote = r.error().message;
            return;
        }
        (void)m_store.registerBrokerAddress(ownAddress());
    }
    if (m_store.connectionLost()) {
        m_store.close();
        return;
    }
    if (m_store.tryLockActive()) {
        becomeActive(QStringLiteral("the active instance's lock was released (it stopped, died or lost the store)"));
        return;
    }
    // A paused active keeps its session, and with it the lock: its lease says whether it lives.
    if (m_store.breakExpiredLease())
        log(QStringLiteral("standby %1: the active instance's lease ran out (paused or frozen): its store session was "
                           "ended, and its lock with it")
                .arg(m_config.name));
}

bool Broker::leaseHolds()
{
    // Two clocks: the monotonic one stops while a VM is frozen, the wall clock does not. A third
    // of the lease as margin: the server fixed the expiry while the renewal ran.
    const qint64 margin = m_config.leaseMs / 3;
    const bool overdue = m_leaseRenewed.isValid()
        && (m_leaseRenewed.elapsed() > m_config.leaseMs - margin
            || QDateTime::currentMSecsSinceEpoch() - m_leaseRenewedWallMs > m_config.leaseMs - margin);
    if (m_role != BrokerRole::Active || !overdue)
        return true;
    // Overdue (paused, or a loop that was busy that long): a standby may have ended our session
    // and taken the store. The server says: a renewal on a live session means we still hold the
    // lock (nobody else can be active); on an ended one it fails.
    if (!m_store.connectionLost() && m_store.renewLease(m_config.leaseMs)) {
        m_leaseRenewed.restart();
        m_leaseRenewedWallMs = QDateTime::currentMSecsSinceEpoch();
        return true;
    }
    return false;
}

bool Broker::mayServe()
{
    if (leaseHolds())
        return true;
    // Back from a pause longer than the lease, and the store ended our session: a standby may be
    // active now. Step down from the event loop (not from inside a connection's frame); until
    // then, answer nothing.
    if (!std::exchange(m_stepDownQueued, true)) {
        QMetaObject::invokeMethod(this, [this] {
            m_stepDownQueued = false;
            checkStore();
        }, Qt::QueuedConnection);
    }
    return false;
}

void Broker::checkStore()
{
    if (m_role != BrokerRole::Active)
        return;
    // First: were we away longer than the lease (SIGSTOP, a frozen VM) and did a standby end
    // our session meanwhile? Then nothing of ours may go on — not even one more answer.
    if (const qint64 away = m_leaseRenewed.isValid() ? m_leaseRenewed.elapsed() : 0; !leaseHolds()) {
        stepDown(QStringLiteral("its lease ran out while it was not running (%1 ms) and the store ended its session").arg(away));
        return;
    }
    if (m_store.connectionLost() || m_store.failed()) {
        stepDown(m_store.failed() ? QStringLiteral("a write failed") : QStringLiteral("its session with the server ended"));
        return;
    }
    // The clocks start before the statement: the server counts the lease from while it ran.
    QElapsedTimer renewed;
    renewed.start();
    const qint64 renewedWall = QDateTime::currentMSecsSinceEpoch();
    if (!m_store.renewLease(m_config.leaseMs)) {
        stepDown(QStringLiteral("its lease could not be renewed (its session with the server ended)"));
        return;
    }
    m_leaseRenewed = renewed;
    m_leaseRenewedWallMs = renewedWall;
}

void Broker::refuseAsStandby(QTcpSocket *socket)
{
    // closeGracefully() deletes the socket once it is closed (or after 2 s): refused connections
    // cost a standby nothing it keeps, however many a client opens.
    auto *framed = new FramedSocket(socket, this);
    framed->send(wire::encodeCleartextError(
        ErrorCode::Standby, QStringLiteral("broker %1 at %2 is a standby; another instance serves this store")
                                .arg(m_config.name, ownAddress())));
    framed->closeGracefully();
}

BrokerStatus Broker::status()
{
    BrokerStatus s;
    s.role = m_role;
    s.why = m_roleWhy;
    s.store = m_store.isOpen() ? m_store.path() : m_location.toString();
    s.address = ownAddress();
    s.instances = m_store.isOpen() && m_location.isPostgres() ? m_store.brokerAddresses() : QStringList{ownAddress()};
    s.sinceMs = m_roleSinceMs;
    s.sessions = int(sessions().size());
    s.online = m_phones->onlineCount();
    if (m_pool)
        s.relays = m_pool->status();
    return s;
}

// The federation and the call router, each given what it uses (routercontext.h, federation.h),
// made once the name is known; a restart makes them afresh.
void Broker::makeRouting()
{
    // A restart: the last run's sessions ended with its connections. The old federation goes
    // first, and quietly: its links' news would reach a router that is being replaced.
    if (m_federation) {
        m_federation->disconnect(this);
        m_federation->stop();
    }
    m_router.reset(); // before the federation it refers to
    m_federation.reset();
    m_federation = std::make_unique<Federation>(FederationContext{
        .store = m_store,
        .config = m_config,
        .identity = m_static,
        .localAccounts = [this] { return m_router->localAccounts(); },
        .log = [this](const QString &line) { log(line); },
    });
    if (m_pool)
        m_pool->endAll(); // the last run's sessions are over at the relays too
    m_router = std::make_unique<CallRouter>(RouterContext{
        .store = m_store,
        .media = *m_media,
        .peers = *m_federation,
        .outbox = *m_phones,
        .config = m_config,
        .log = [this](const QString &line) { log(line); },
    });
    connect(m_federation.get(), &Federation::peersChanged, this, &Broker::peersChanged);
    connect(m_federation.get(), &Federation::message, this,
            [this](const QString &peer, const wire::Message &m) { m_router->onPeerMessage(peer, m); });
    connect(m_federation.get(), &Federation::presenceChanged, this,
            [this](const QString &address, bool online) { m_phones->broadcastPresence(address, online); });
    connect(m_federation.get(), &Federation::linkUp, this, [this](const QString &peer) { m_router->onPeerUp(peer); });
    connect(m_federation.get(), &Federation::linkDown, this, [this](const QString &peer) { m_router->onPeerDown(peer); });
}

void Broker::stop()
{
    if (!m_server)
        return;
    m_standbyTimer.stop();
    m_storeTimer.stop();
    m_role = BrokerRole::Stopped;
    m_roleWhy = QStringLiteral("stopped by its operator");
    Q_EMIT roleChanged(m_role);
    m_refreshTimer.stop();
    m_phones->dropPendingPresence();
    if (m_federation)
        m_federation->stop();
    m_relay.stop();
    if (m_pool)
        m_pool->stop();
    m_admin.close();
    m_server->close();
    m_phones->closeAll();
    m_store.flush();
    m_store.close();
    m_lock.reset();
    delete m_server;
    m_server = nullptr;
    log(QStringLiteral("broker %1 stopped; its store is committed").arg(m_config.name));
}

quint16 Broker::port() const
{
    return m_server ? m_server->serverPort() : m_config.port;
}

QString Broker::fingerprint() const
{
    return skbp::fingerprint(m_static.publicKey);
}

QString Broker::inviteAddress() const
{
    if (!m_config.advertise.isEmpty())
        return m_config.advertise;
    const QString stored = m_server && !m_location.isPostgres() ? const_cast<Store &>(m_store).metaValue(QStringLiteral("advertise")) : QString();
    if (!stored.isEmpty())
        return stored;
    return QStringLiteral("%1:%2").arg(advertisedHost(m_config.address)).arg(port());
}

Result<QString> Broker::createInvite(const InviteRequest &request)
{
    if (!m_server)
        return makeError(ErrorCode::Usage, QStringLiteral("the broker is not running"));
    auto link = broker::createInvite(m_store, m_static.publicKey, inviteAddress(), request);
    if (link)
        log(QStringLiteral("invite created for %1%2").arg(request.account, request.replace ? QStringLiteral(" (a replacement device)") : QString()));
    return link;
}

Result<void> Broker::revoke(const QString &account)
{
    const AccountRecord *a = m_store.account(account);
    if (!a || (a->revoked && !a->hasPending()))
        return makeError(ErrorCode::UnknownAccount, QStringLiteral("no account \"%1\"").arg(account));
    const QString fp = a->isEnrolled() ? skbp::fingerprint(a->key) : QString();
    if (m_router)
        m_router->revoke(account);
    m_phones->closeAll(account); // offline at once (the others are told); a handshake under way for it goes too
    if (auto r = m_store.revoke(account); !r)
        return r;
    log(QStringLiteral("%1 revoked by the operator%2: its keys are erased").arg(account, fp.isEmpty() ? QString() : QStringLiteral(" (key %1)").arg(fp)));
    Q_EMIT accountsChanged();
    return {};
}

void Broker::retireOldDevice(const QString &account, PhoneConnection *replacement)
{
    // The old device's calls end ("revoked"; a conference re-keys without it), its channel and
    // any handshake it has under way close: from now on its key is refused like any wrong key.
    if (m_router)
        m_router->revoke(account);
    m_phones->closeAll(account, replacement);
    Q_EMIT accountsChanged();
}

// The admin channel's commands on the running broker: changes take effect at once.
class Broker::Admin final : public AdminHandler
{
public:
    explicit Admin(Broker &broker) : m_broker(broker) {}

private:
    Result<QJsonObject> status() override { return statusJson(m_broker.status()); }
    Result<void> mayAct() override
    {
        if (m_broker.m_role == BrokerRole::Active)
            return {};
        return makeError(ErrorCode::Standby, QStringLiteral("broker %1 at %2 is a standby: ask the active instance (sotto broker status)")
                                                 .arg(m_broker.m_config.name, m_broker.ownAddress()));
    }
    QJsonArray accounts() override
    {
        QJsonArray list;
        for (const AccountRecord *a : m_broker.m_store.accounts())
            list.append(accountSummary(*a, m_broker.isOnline(a->name)));
        return list;
    }
    Result<void> revoke(const QString &account) override { return m_broker.revoke(account); }
    Result<QString> invite(const InviteRequest &request, const QString &advertise) override
    {
        if (advertise.isEmpty())
            return m_broker.createInvite(request);
        return broker::createInvite(m_broker.m_store, m_broker.m_static.publicKey, advertise, request);
    }
    Result<void> commit() override
    {
        m_broker.m_store.flush();
        return {};
    }

    Broker &m_broker;
};

QJsonObject Broker::handleAdmin(const QJsonObject &request)
{
    auto command = AdminCommand::parse(request);
    Admin admin(*this);
    auto answer = command ? admin.run(*command) : Result<QJsonObject>(command.error());
    if (!answer)
        return QJsonObject{{QStringLiteral("ok"), false}, {QStringLiteral("error"), answer.error().message}};
    return *answer;
}

std::vector<AccountView> Broker::accounts() const
{
    std::vector<AccountView> out;
    for (const AccountRecord *a : m_store.accounts()) {
        out.push_back({a->name, a->epoch, a->isEnrolled() ? skbp::fingerprint(a->key) : QString(),
                       isOnline(a->name), a->pendingKind == PendingKind::Rotate, a->revoked, a->lastLogin});
    }
    return out;
}

std::vector<SessionView> Broker::sessions() const
{
    return m_router ? m_router->sessions() : std::vector<SessionView>{};
}

std::vector<PeerView> Broker::peers() const
{
    if (m_federation)
        return m_federation->peers();
    std::vector<PeerView> out; // not started yet: configured, no link
    for (const PeerConfig &p : m_config.peers)
        out.push_back({p.name, QStringLiteral("%1:%2").arg(p.host).arg(p.port), PeerView::State::Down, 0, {}, false, {},
                       m_store.peer(p.name) != nullptr});
    return out;
}

bool Broker::isOnline(const QString &account) const
{
    return m_phones->isOnline(account);
}

int Broker::connectionCount() const
{
    return m_phones->connectionCount();
}

void Broker::onNewConnection()
{
    while (QTcpSocket *s = m_server->nextPendingConnection()) {
        if (m_role != BrokerRole::Active || !mayServe()) {
            refuseAsStandby(s);
            continue;
        }
        auto *c = new PhoneConnection(PhoneConnectionContext{
                                     .store = m_store,
                                     .config = m_config,
                                     .identity = m_static,
                                     .router = *m_router,
                                     .federation = m_federation.get(),
                                     .outbox = *m_phones,
                                     .online = [this](PhoneConnection *online) { m_phones->registerOnline(online); },
                                     .subscribed = [this](PhoneConnection *c) { m_phones->subscribe(c->account()); },
                                     .refreshIn = [this](const AccountRecord &a) { return refreshIn(a); },
                                     .brokers = [this] { return m_instances; },
                                     .log = [this](const QString &line) { log(line); },
                                     .replaced = [this](const QString &account, PhoneConnection *by) { retireOldDevice(account, by); },
                                     .mayServe = [this] { return mayServe(); },
                                 },
                                 s, this);
        m_phones->add(c);
    }
}

qint64 Broker::refreshIn(const AccountRecord &a) const
{
    return std::max<qint64>(0, a.refreshedAt + m_config.refreshIntervalSecs - QDateTime::currentSecsSinceEpoch());
}

void Broker::checkRefreshPolicy()
{
    if (m_federation)
        m_federation->refreshDue();
    // Ask idle clients whose broker key is older than the interval to run the DH refresh.
    std::unordered_set<QString> busy;
    for (const SessionView &s : m_router->sessions()) {
        busy.insert(s.members.begin(), s.members.end());
        busy.insert(s.ringing.begin(), s.ringing.end());
    }
    for (const QString &name : m_phones->onlineAccounts()) {
        const AccountRecord *a = m_store.account(name);
        if (!a || a->hasPending() || refreshIn(*a) > 0 || busy.contains(name))
            continue;
        m_phones->sendTo(name, wire::message(wire::MessageType::RefreshDue));
    }
}

Result<void> Broker::forgetPeer(const QString &name)
{
    if (!m_federation || !m_server)
        return makeError(ErrorCode::Usage, QStringLiteral("the broker is not running"));
    const AccountRecord *p = m_store.peer(name);
    const QString fp = p && p->isEnrolled() ? skbp::fingerprint(p->key) : QString();
    if (auto r = m_federation->forget(name); !r)
        return r;
    log(QStringLiteral("peer %1: inter-broker key%2 forgotten by the operator; the next handshake uses the peering secret")
            .arg(name, fp.isEmpty() ? QString() : QStringLiteral(" %1").arg(fp)));
    return {};
}

void Broker::log(const QString &line)
{
    qCInfo(lcBroker).noquote() << line;
    Q_EMIT logEvent(line);
}

} // namespace sotto::broker
