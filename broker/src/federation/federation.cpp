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

void Federation::refuse(FramedSocket *socket, const QString &peer, const QString &why)
{
    m_ctx.log(QStringLiteral("peer connection from \"%1\" refused: %2").arg(peer, why));
    // Same answer whatever was wrong: not a peer, another static key, a wrong secret.
    socket->sendAndClose(wire::encodeCleartextError(ErrorCode::Auth, QStringLiteral("authentication failed")));
}

void Federation::adopt(FramedSocket *socket, const QByteArray &firstFrame)
{
    socket->setParent(this);
    // Whatever becomes of it (refused, handshake done, a link that later drops), it goes.
    connect(socket, &FramedSocket::disconnected, socket, &QObject::deleteLater);
    if (quint8(firstFrame[0]) == wire::kFederateTag)
        acceptHandshake(socket, firstFrame);
    else
        acceptLogin(socket, firstFrame);
}

// A dialler that opens a handshake or a login and goes quiet holds a socket (and, after msg1, a
// pending K_AB that nobody may hold): it has handshakeTimeoutMs, the phones' deadline (§3), then
// the socket goes. The dialler's own deadline is twice that (peerattempts.h).
QTimer *Federation::armResponderDeadline(FramedSocket *socket)
{
    auto *deadline = new QTimer(socket);
    deadline->setSingleShot(true);
    connect(deadline, &QTimer::timeout, socket, &FramedSocket::abort);
    deadline->start(m_ctx.config.handshakeTimeoutMs);
    return deadline;
}

void Federation::acceptHandshake(FramedSocket *socket, const QByteArray &frame)
{
    auto f = wire::decodeEnroll1(frame, wire::kFederateTag);
    if (!f) {
        socket->sendAndClose(wire::encodeCleartextError(ErrorCode::BadRequest, f.error().message));
        return;
    }
    Link *link = find(f->account);
    if (!link)
        return refuse(socket, f->account, QStringLiteral("not a configured peer"));
    const AccountRecord *p = m_ctx.store.peer(f->account);
    SecretBytes psk;
    if (f->epoch == 0 && p && p->isEnrolled()) // §8: after the first run, only K_AB
        return refuse(socket, f->account,
                      QStringLiteral("the peering secret has been used: K_AB epoch %1 is held (if %2 lost its "
                                     "store, forget its key here - console, or `sotto broker forget-peer %2` "
                                     "while stopped - to pair afresh)")
                          .arg(p->epoch)
                          .arg(f->account));
    if (f->epoch == 0)
        psk = link->config.secret;
    else if (p && p->isEnrolled() && p->epoch == f->epoch)
        psk = p->key;
    else
        return refuse(socket, f->account, QStringLiteral("unknown inter-broker key epoch %1").arg(f->epoch));
    noise::HandshakeConfig hc;
    hc.pattern = noise::Pattern::KKpsk0;
    hc.initiator = false;
    hc.prologue = skbp::federatePrologue(f->account, m_ctx.config.name, f->epoch);
    hc.localStatic = m_ctx.identity.privateKey;
    hc.remoteStatic = link->config.publicKey;
    hc.psk = psk;
    auto hs = noise::HandshakeState::create(std::move(hc));
    // A copy of the dialler's msg1 must not make a pending K_AB that nobody holds (§4's replay
    // rule, as for phones): answered ephemeral keys are kept with the pending key.
    const QString replayKey = QLatin1Char('@') + f->account; // never an account's name
    const QByteArray ephemeral = f->noiseMessage.left(skbp::kKeySize);
    const bool replayed = m_ctx.store.handshakeAnswered(replayKey, f->epoch, ephemeral);
    auto payload = hs ? hs->readMessage(f->noiseMessage) : Result<QByteArray>(hs.error());
    if (!payload)
        return refuse(socket, f->account, QStringLiteral("handshake failed (wrong static key or secret)"));
    if (replayed)
        return refuse(socket, f->account, QStringLiteral("a replayed handshake message"));
    const quint32 newEpoch = f->epoch + 1;
    QCborMap reply;
    reply.insert(key::epoch, qint64(newEpoch));
    auto msg2 = hs->writeMessage(wire::encodeMessage(reply));
    if (!msg2)
        return refuse(socket, f->account, msg2.error().message);
    auto [i2r, r2i] = hs->split();
    auto key = skbp::interBrokerKey(hs->handshakeHash(), i2r.key(), r2i.key());
    if (!key || !m_ctx.store.recordHandshake(replayKey, f->epoch, ephemeral)
        || !m_ctx.store.setPeerPending(f->account, newEpoch, *key))
        return refuse(socket, f->account, QStringLiteral("store failure"));
    auto channel = std::make_shared<SecureChannel>(r2i, i2r);
    auto madeKey = std::make_shared<SecretBytes>(*key);
    const QString name = f->account;
    const QByteArray out = wire::encodeEnroll2(*msg2, wire::kFederateTag);
    m_ctx.store.afterCommit([socket = QPointer<FramedSocket>(socket), out](bool ok) {
        if (socket && ok)
            socket->send(out);
        else if (socket)
            socket->abort();
    });
    armResponderDeadline(socket);
    connect(socket, &FramedSocket::frameReceived, this, [this, socket, channel, name, newEpoch, madeKey](const QByteArray &body) {
        auto m = channel->open(body);
        if (!m || m->type() != wire::MessageType::Confirm) {
            socket->sendAndClose(wire::encodeCleartextError(ErrorCode::Auth, QStringLiteral("expected confirm")));
            return;
        }
        const AccountRecord *rec = m_ctx.store.peer(name);
        if (!rec || rec->pendingEpoch != newEpoch || !rec->pendingKey.equals(*madeKey)
            || !m_ctx.store.commitPeerPending(name)) {
            socket->sendAndClose(wire::encodeCleartextError(ErrorCode::Auth, QStringLiteral("handshake superseded")));
            return;
        }
        m_ctx.log(QStringLiteral("peer %1: inter-broker key epoch %2 committed (confirm), fp %3")
                         .arg(name)
                         .arg(newEpoch)
                         .arg(skbp::fingerprint(m_ctx.store.peer(name)->key)));
        QCborMap enrolled = wire::message(wire::MessageType::Enrolled);
        enrolled.insert(key::epoch, qint64(newEpoch));
        auto sealed = channel->seal(enrolled);
        m_ctx.store.afterCommit([socket = QPointer<FramedSocket>(socket), sealed](bool ok) {
            if (!socket)
                return;
            if (ok && sealed)
                socket->send(*sealed);
            socket->closeGracefully();
        });
        Q_EMIT peersChanged();
    });
}

void Federation::acceptLogin(FramedSocket *socket, const QByteArray &frame)
{
    auto hello = wire::decodeHello(frame, wire::kPeerLoginTag);
    if (!hello) {
        socket->sendAndClose(wire::encodeCleartextError(ErrorCode::BadRequest, hello.error().message));
        return;
    }
    Link *link = find(hello->account);
    if (!link)
        return refuse(socket, hello->account, QStringLiteral("not a configured peer"));
    const AccountRecord *p = m_ctx.store.peer(hello->account);
    SecretBytes key;
    bool commit = false;
    if (p && p->isEnrolled() && p->epoch == hello->epoch) {
        key = p->key;
    } else if (p && p->pendingEpoch != 0 && p->pendingEpoch == hello->epoch) {
        key = p->pendingKey;
        commit = true;
    } else {
        return refuse(socket, hello->account, QStringLiteral("unknown inter-broker key epoch %1").arg(hello->epoch));
    }
    auto nb = crypto::randomBytes(skbp::kNonceSize);
    auto keys = nb ? skbp::channelKeys(key, hello->account, hello->epoch, hello->nonce, *nb)
                   : Result<skbp::ChannelKeys>(nb.error());
    if (!keys)
        return refuse(socket, hello->account, keys.error().message);
    auto channel = std::make_shared<SecureChannel>(noise::CipherState(std::move(keys->brokerToClient)),
                                                   noise::CipherState(std::move(keys->clientToBroker)));
    // A login under the pending K_AB commits exactly that key (§4): not one a later handshake
    // put in its place between the hello and the login frame.
    auto loginKey = std::make_shared<SecretBytes>(key);
    const QString name = hello->account;
    const quint32 epoch = hello->epoch;
    QTimer *deadline = armResponderDeadline(socket);
    connect(socket, &FramedSocket::frameReceived, this,
            [this, socket, channel, name, epoch, commit, deadline, loginKey](const QByteArray &body) {
                auto m = channel->open(body);
                if (!m || m->type() != wire::MessageType::Login) {
                    m_ctx.log(QStringLiteral("peer %1: login refused (epoch %2)").arg(name).arg(epoch));
                    socket->sendAndClose(
                        wire::encodeCleartextError(ErrorCode::Auth, QStringLiteral("authentication failed")));
                    return;
                }
                // The key may have been forgotten (Broker::forgetPeer) while this login ran.
                const AccountRecord *rec = m_ctx.store.peer(name);
                const bool same = rec
                    && (commit ? rec->pendingEpoch == epoch && crypto::constantTimeEquals(rec->pendingKey.view(), loginKey->view())
                               : rec->isEnrolled() && rec->epoch == epoch && crypto::constantTimeEquals(rec->key.view(), loginKey->view()));
                loginKey->clear();
                if (!same) {
                    m_ctx.log(QStringLiteral("peer %1: login under a key forgotten meanwhile (epoch %2)").arg(name).arg(epoch));
                    socket->sendAndClose(
                        wire::encodeCleartextError(ErrorCode::Auth, QStringLiteral("authentication failed")));
                    return;
                }
                if (commit) {
                    if (!m_ctx.store.commitPeerPending(name)) {
                        socket->abort();
                        return;
                    }
                    m_ctx.log(QStringLiteral("peer %1: inter-broker key epoch %2 committed (login under pending key)")
                                     .arg(name)
                                     .arg(epoch));
                }
                deadline->stop();
                socket->disconnect(this);
                disconnect(socket, &FramedSocket::disconnected, socket, &QObject::deleteLater);
                QCborMap welcome = wire::message(wire::MessageType::Welcome);
                welcome.insert(key::epoch, qint64(epoch));
                welcome.insert(key::broker, m_ctx.config.name);
                welcome.insert(key::fp, skbp::fingerprint(m_ctx.identity.publicKey));
                auto sealed = channel->seal(welcome);
                if (sealed)
                    socket->send(*sealed);
                Link *l = find(name);
                setUp(*l, socket, std::move(*channel));
            });
    socket->send(wire::encodeChallenge(*nb, wire::kPeerLoginTag));
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
