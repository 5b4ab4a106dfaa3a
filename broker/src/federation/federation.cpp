#include "federation/federation.h"

#include <QPointer>

#include "broker/log.h"
#include "calls/callrouter.h"
#include "core/skbp.h"
#include "core/wire.h"

#include <QCborArray>
#include <QDateTime>
#include <QTcpSocket>

namespace sotto::broker {

namespace key = wire::key;

namespace {


} // namespace

Federation::Federation(FederationContext context) : m_ctx(std::move(context))
{
    for (const PeerConfig &pc : m_ctx.config.peers) {
        auto link = std::make_unique<Link>();
        link->config = pc;
        // One link per pair: the broker whose name sorts first dials, the other listens.
        link->initiator = m_ctx.config.name < pc.name;
        link->reconnect.setSingleShot(true);
        Link *raw = link.get();
        connect(&link->reconnect, &QTimer::timeout, this, [this, raw] { dial(*raw); });
        m_links.emplace(pc.name, std::move(link));
    }
}

Federation::~Federation()
{
    stop();
}

void Federation::start()
{
    m_running = true;
    for (auto &[name, link] : m_links) {
        if (link->initiator)
            dial(*link);
    }
}

void Federation::stop()
{
    m_running = false;
    // Every link is down first; then the news, once the walk is over: a handler (the router
    // ending the calls across a link) may reach back into the links.
    std::vector<QString> wereUp;
    for (auto &[name, link] : m_links) {
        link->reconnect.stop();
        dropAttempts(*link);
        if (link->state == PeerView::State::Up)
            wereUp.push_back(name);
        if (link->socket) {
            link->socket->disconnect(this);
            link->socket->closeGracefully();
        }
        link->socket = nullptr;
        link->state = PeerView::State::Down;
    }
    const QPointer<Federation> alive(this);
    for (const QString &name : wereUp) {
        Q_EMIT linkDown(name); // the calls across it end
        if (!alive)
            return;
    }
}

Result<void> Federation::forget(const QString &name)
{
    Link *link = find(name);
    if (!link)
        return makeError(ErrorCode::UnknownAccount, QStringLiteral("%1 is not a configured peer").arg(name));
    if (auto r = m_ctx.store.forgetPeer(name); !r)
        return r;
    dropAttempts(*link); // a handshake or login under the forgotten key
    link->pendingRefused = false;
    link->refreshWanted = false;
    if (link->state == PeerView::State::Up || link->socket) {
        setDown(*link, QStringLiteral("inter-broker key forgotten"));
    } else if (m_running && link->initiator) {
        link->reconnect.stop();
        link->backoffMs = 0;
        link->state = PeerView::State::Down; // an aborted attempt left it Connecting
        dial(*link);
    }
    Q_EMIT peersChanged();
    return {};
}

Federation::Link *Federation::find(const QString &name)
{
    auto it = m_links.find(name);
    return it == m_links.end() ? nullptr : it->second.get();
}

std::vector<QString> Federation::peerNames() const
{
    std::vector<QString> names;
    for (const auto &[name, link] : m_links)
        names.push_back(name);
    return names;
}

bool Federation::isUp(const QString &name) const
{
    auto it = m_links.find(name);
    return it != m_links.end() && it->second->state == PeerView::State::Up;
}

const AccountRecord *Federation::key(const QString &name) const
{
    const AccountRecord *p = m_ctx.store.peer(name);
    return p && p->isEnrolled() ? p : nullptr;
}

std::pair<QHostAddress, quint16> Federation::relayOf(const QString &name) const
{
    auto it = m_links.find(name);
    if (it == m_links.end())
        return {};
    const Link &l = *it->second;
    // The address the channel reached (or came from); the configured one before that.
    if (l.socket && l.socket->socket())
        return {l.socket->socket()->peerAddress(), l.config.port};
    return {QHostAddress(l.config.host), l.config.port};
}

bool Federation::allowsRelayAt(const QString &name, const QHostAddress &address, quint16 port) const
{
    auto it = m_links.find(name);
    if (it == m_links.end())
        return false;
    const Link &l = *it->second;
    // Where its channel actually comes from counts as its own host too (a name in the config).
    if (l.socket && l.socket->socket() && l.socket->socket()->peerAddress().isEqual(address, QHostAddress::TolerantConversion))
        return true;
    return l.config.allowsRelayAt(address, port);
}

const std::map<QString, bool> &Federation::directory(const QString &name) const
{
    static const std::map<QString, bool> none;
    auto it = m_links.find(name);
    return it == m_links.end() ? none : it->second->directory;
}

std::vector<PeerView> Federation::peers() const
{
    std::vector<PeerView> out;
    for (const auto &[name, l] : m_links) {
        PeerView v;
        v.name = name;
        v.address = QStringLiteral("%1:%2").arg(l->config.host).arg(l->config.port);
        v.state = l->state;
        v.initiator = l->initiator;
        v.lastError = l->lastError;
        v.keyHeld = m_ctx.store.peer(name) != nullptr;
        if (const AccountRecord *p = key(name)) {
            v.epoch = p->epoch;
            v.fingerprint = skbp::fingerprint(p->key);
        }
        out.push_back(std::move(v));
    }
    return out;
}

bool Federation::send(const QString &peer, const QCborMap &message)
{
    Link *l = find(peer);
    if (!l || l->state != PeerView::State::Up || !l->socket)
        return false;
    auto sealed = l->channel.seal(message);
    if (!sealed)
        return false;
    l->socket->send(*sealed);
    return true;
}

void Federation::broadcastPresence(const QString &account, bool online)
{
    QCborMap p = wire::message(wire::MessageType::Presence);
    p.insert(key::account, account);
    p.insert(key::online, online);
    for (auto &[name, l] : m_links)
        send(name, p);
}

// ---- initiator ---------------------------------------------------------------------------------

void Federation::dial(Link &link)
{
    if (!m_running || link.state != PeerView::State::Down)
        return;
    const AccountRecord *p = m_ctx.store.peer(link.config.name);
    link.state = PeerView::State::Connecting;
    Q_EMIT peersChanged();
    // Commit rule: a pending K_AB is tried first; its login commits it. Refused (or so it
    // seemed: a refusal can be forged), the current key is tried next, and only a login that
    // succeeds under it proves the peer never committed the pending one.
    if (p && p->pendingEpoch != 0 && (!link.pendingRefused || !p->isEnrolled()))
        login(link, p->pendingEpoch, true);
    else if (!p || !p->isEnrolled() || link.refreshWanted)
        handshake(link);
    else
        login(link, p->epoch, false);
}

void Federation::scheduleReconnect(Link &link, const QString &why)
{
    link.lastError = why;
    link.state = PeerView::State::Down;
    Q_EMIT peersChanged();
    if (!m_running || !link.initiator)
        return;
    const BrokerConfig &cfg = m_ctx.config;
    link.backoffMs = link.backoffMs == 0 ? cfg.peerMinBackoffMs : std::min(link.backoffMs * 2, cfg.peerMaxBackoffMs);
    link.reconnect.start(link.backoffMs);
}

AttemptContext Federation::attemptContext() const
{
    return {m_ctx.store, m_ctx.config.name, m_ctx.identity.privateKey, m_ctx.config, m_ctx.log};
}

void Federation::dropAttempts(Link &link)
{
    if (PeerHandshake *h = std::exchange(link.handshake, nullptr)) {
        h->disconnect(this);
        h->abort();
        h->deleteLater();
    }
    if (PeerLogin *l = std::exchange(link.login, nullptr)) {
        l->disconnect(this);
        l->abort();
        l->deleteLater();
    }
}

void Federation::handshake(Link &link)
{
    if (link.handshake)
        return; // one inter-broker handshake at a time
    auto *attempt = new PeerHandshake(attemptContext(), link.config, this);
    link.handshake = attempt;
    Link *l = &link;
    connect(attempt, &PeerHandshake::finished, this, [this, l, attempt](bool ok, quint32, const QString &why) {
        attempt->deleteLater();
        l->handshake = nullptr;
        if (!ok) {
            m_ctx.log(QStringLiteral("peer %1: inter-broker key handshake failed: %2").arg(l->config.name, why));
            if (l->state == PeerView::State::Up) { // a refresh: the channel stays, try again later
                l->refreshWanted = false;
                l->lastError = why;
                return;
            }
            scheduleReconnect(*l, why); // a refresh cut short by the link: the next dial runs it
            return;
        }
        l->refreshWanted = false;
        l->pendingRefused = false;
        Q_EMIT peersChanged();
        // Now the session channel, under the new key (unless the old one is still up).
        if (l->state == PeerView::State::Up)
            return;
        l->state = PeerView::State::Down;
        dial(*l);
    });
    attempt->start();
}

void Federation::login(Link &link, quint32 epoch, bool pending)
{
    auto *attempt = new PeerLogin(attemptContext(), link.config, epoch, pending, this);
    link.login = attempt;
    Link *l = &link;
    connect(attempt, &PeerLogin::finished, this, [this, l, attempt](bool ok, const QString &why, bool refused) {
        attempt->deleteLater();
        l->login = nullptr;
        if (!ok) {
            if (refused) // try the other key next time; nothing is forgotten on a refusal alone
                l->pendingRefused = attempt->pending();
            scheduleReconnect(*l, why);
            return;
        }
        l->pendingRefused = false;
        l->backoffMs = 0;
        FramedSocket *socket = attempt->takeSocket();
        socket->setParent(this);
        setUp(*l, socket, attempt->takeChannel());
    });
    attempt->start();
}

// ---- responder --------------------------------------------------------------------------------

void Federation::adopt(FramedSocket *socket, const QByteArray &firstFrame)
{
    socket->setParent(this);
    // Whatever becomes of it (refused, handshake done, a link that later drops), it goes.
    connect(socket, &FramedSocket::disconnected, socket, &QObject::deleteLater);
    const ResponderContext ctx{m_ctx.store, m_ctx.config, m_ctx.identity, m_ctx.log};
    if (quint8(firstFrame[0]) == wire::kFederateTag) {
        auto *responder = new PeerHandshakeResponder(ctx, socket); // the socket's child
        connect(responder, &PeerHandshakeResponder::finished, this, [this](bool ok) {
            if (ok)
                Q_EMIT peersChanged();
        });
        responder->start(firstFrame);
        return;
    }
    auto *responder = new PeerLoginResponder(ctx, socket);
    connect(responder, &PeerLoginResponder::finished, this, [this, responder](bool ok) {
        if (!ok)
            return;
        // The session channel: the link takes the socket over (it stays after the responder).
        FramedSocket *channelSocket = responder->socket();
        disconnect(channelSocket, &FramedSocket::disconnected, channelSocket, &QObject::deleteLater);
        Link *link = find(responder->peer());
        setUp(*link, channelSocket, responder->takeChannel());
        responder->deleteLater();
    });
    responder->start(firstFrame);
}

// ---- the session channel -------------------------------------------------------------------------

void Federation::setUp(Link &link, FramedSocket *socket, SecureChannel channel)
{
    if (link.socket && link.socket != socket) { // a newer channel replaces an older one
        FramedSocket *old = link.socket;
        old->disconnect(this);
        old->closeGracefully();
        link.state = PeerView::State::Down;
        Q_EMIT linkDown(link.config.name);
    }
    link.socket = socket;
    link.channel = std::move(channel);
    link.state = PeerView::State::Up;
    link.lastError.clear();
    link.directory.clear();
    link.incomingDirectory.clear();
    link.receivingDirectory = false;
    link.directoryRequested = false;
    link.overAccountLimit = false;
    Link *l = &link;
    connect(socket, &FramedSocket::frameReceived, this, [this, l](const QByteArray &body) { onChannelFrame(*l, body); });
    connect(socket, &FramedSocket::disconnected, this, [this, l, socket] {
        if (l->socket == socket)
            setDown(*l, socket->closeReason().isEmpty() ? QStringLiteral("connection lost") : socket->closeReason());
    });
    const AccountRecord *p = m_ctx.store.peer(link.config.name);
    m_ctx.log(QStringLiteral("peer %1 up · inter-broker key epoch %2 · fp %3")
                     .arg(link.config.name)
                     .arg(p ? p->epoch : 0)
                     .arg(p ? skbp::fingerprint(p->key) : QString()));
    link.directoryRequested = send(link.config.name, wire::message(wire::MessageType::Directory)); // ask for theirs
    Q_EMIT peersChanged();
    Q_EMIT linkUp(link.config.name);
}

void Federation::setDown(Link &link, const QString &why)
{
    if (link.socket) {
        link.socket->disconnect(this);
        link.socket->closeGracefully();
    }
    link.socket = nullptr;
    link.channel = SecureChannel();
    const bool wasUp = link.state == PeerView::State::Up;
    m_ctx.log(QStringLiteral("peer %1 down: %2").arg(link.config.name, why));
    link.state = PeerView::State::Down;
    if (wasUp)
        Q_EMIT linkDown(link.config.name); // with the directory still known: its accounts go offline
    link.directory.clear();
    link.incomingDirectory.clear();
    link.receivingDirectory = false;
    scheduleReconnect(link, why);
}

void Federation::onChannelFrame(Link &link, const QByteArray &body)
{
    auto m = link.channel.open(body);
    if (!m) {
        setDown(link, QStringLiteral("bad frame: %1").arg(m.error().message));
        return;
    }
    dispatch(link, *m);
}

void Federation::onDirectory(Link &link, const wire::Message &m)
{
    if (!m.has(key::accounts)) { // a request for ours
        for (const QCborMap &page : wire::directoryPages(m_ctx.localAccounts(), std::nullopt))
            send(link.config.name, page);
        return;
    }
    onDirectoryPage(link, m);
}

void Federation::unexpected(Link &link, const wire::Message &m)
{
    Q_EMIT message(link.config.name, m);
}

// Pages until one without "more" (§6.2), only in answer to our own request; what a peer may
// announce is bounded.
void Federation::onDirectoryPage(Link &link, const wire::Message &m)
{
    if (!link.directoryRequested)
        return;
    if (!link.receivingDirectory) {
        link.incomingDirectory.clear();
        link.receivingDirectory = true;
    }
    for (const QCborValue &v : m.map().value(key::accounts).toArray()) {
        const QString account = v.toMap().value(key::account).toString();
        if (!skbp::isValidAccount(account))
            continue;
        if (!admitPeerAccount(link, link.incomingDirectory, account))
            break;
        link.incomingDirectory[account] = v.toMap().value(key::online).toBool();
    }
    if (m.boolean(key::more))
        return;
    link.receivingDirectory = false;
    link.directoryRequested = false;
    // Our phones hear what changed: accounts that came online, went offline or are gone.
    const std::map<QString, bool> before = std::move(link.directory);
    link.directory = std::move(link.incomingDirectory);
    link.incomingDirectory.clear();
    for (const auto &[account, online] : link.directory) {
        auto was = before.find(account);
        if (was == before.end() ? online : was->second != online)
            Q_EMIT presenceChanged(skbp::Address{account, link.config.name}.toString(), online);
    }
    for (const auto &[account, online] : before) {
        if (online && !link.directory.contains(account))
            Q_EMIT presenceChanged(skbp::Address{account, link.config.name}.toString(), false);
    }
}

void Federation::onPresence(Link &link, const wire::Message &m)
{
    const QString account = m.text(key::account);
    if (!skbp::isValidAccount(account) || !admitPeerAccount(link, link.directory, account))
        return;
    const bool online = m.boolean(key::online);
    auto [it, fresh] = link.directory.try_emplace(account, online);
    if (!fresh && it->second == online)
        return;
    it->second = online;
    Q_EMIT presenceChanged(skbp::Address{account, link.config.name}.toString(), online);
}

bool Federation::admitPeerAccount(Link &link, const std::map<QString, bool> &into, const QString &account)
{
    if (into.contains(account) || into.size() < std::size_t(m_ctx.config.maxPeerAccounts))
        return true;
    if (!link.overAccountLimit) {
        link.overAccountLimit = true;
        m_ctx.log(QStringLiteral("peer %1 announces more than %2 accounts: the rest are ignored")
                         .arg(link.config.name)
                         .arg(m_ctx.config.maxPeerAccounts));
    }
    return false;
}

void Federation::refreshDue()
{
    const qint64 now = QDateTime::currentSecsSinceEpoch();
    for (auto &[name, l] : m_links) {
        const AccountRecord *p = m_ctx.store.peer(name);
        if (!l->initiator || !p || !p->isEnrolled() || p->pendingEpoch != 0)
            continue;
        if (p->refreshedAt + m_ctx.config.refreshIntervalSecs > now || l->refreshWanted)
            continue;
        // A fresh Diffie-Hellman under the current K_AB; the channel stays up meanwhile.
        l->refreshWanted = true;
        handshake(*l);
    }
}

} // namespace sotto::broker
