#include "media/relaypool.h"

#include "relay/control.h"

#include "core/crypto.h"
#include "core/framedsocket.h"
#include "core/messages.h"
#include "core/relayauth.h"

#include <QCborValue>
#include <QDateTime>

#include <map>
#include <QTcpSocket>

#include <algorithm>
#include <tuple>

namespace sotto::broker {

namespace {

constexpr int kTickMs = 250;
constexpr int kPingMs = 500;
constexpr int kSilentMs = 2000;   // no pong this long: the relay is gone
constexpr int kHandshakeMs = 3000;
constexpr int kRetryMs = 1000;

QString hostPort(const QHostAddress &host, quint16 port)
{
    return host.protocol() == QAbstractSocket::IPv6Protocol ? QStringLiteral("[%1]:%2").arg(host.toString()).arg(port)
                                                             : QStringLiteral("%1:%2").arg(host.toString()).arg(port);
}

} // namespace

struct RelayPool::Link
{
    Endpoint at;
    enum class State { Down, Handshake, Up } state = State::Down;
    FramedSocket *socket = nullptr;
    QByteArray relayNonce, brokerNonce;
    relayauth::ControlKeys keys; // one MAC key per direction, once the relay proved the secret
    quint64 seqIn = 0, seqOut = 0;
    QElapsedTimer since;   // in this state since (Handshake), or since the last pong (Up)
    QElapsedTimer lastPing;
    QElapsedTimer downSince;
    quint32 pingId = 0;
    int sessions = 0;      // ours placed on it
    relay::control::Pong load;
    QString why = QStringLiteral("not connected yet");
    bool wasUp = false;
    // Revocations ordered on this relay whose tokens may still be alive (sid, or sid || ssrc →
    // the order): sent again every time the link comes up — the relay may have restarted and
    // forgotten them, or the order may have found the link down — and dropped once expired.
    std::map<QByteArray, relay::control::Order> revocations;
};

RelayPool::RelayPool(std::vector<Endpoint> relays, SecretBytes secret, std::function<void(const QString &)> log, QObject *parent)
    : QObject(parent), m_secret(std::move(secret)), m_log(std::move(log))
{
    for (const Endpoint &e : relays) {
        auto l = std::make_unique<Link>();
        l->at = e;
        m_links.push_back(std::move(l));
    }
    connect(&m_tick, &QTimer::timeout, this, &RelayPool::tick);
}

RelayPool::~RelayPool()
{
    stop();
}

void RelayPool::start()
{
    m_lastTick.invalidate();
    m_tick.start(kTickMs);
    tick();
}

void RelayPool::stop()
{
    m_tick.stop();
    for (auto &l : m_links) {
        if (l->socket) {
            l->socket->disconnect(this);
            l->socket->abort();
            l->socket->deleteLater();
            l->socket = nullptr;
        }
        l->state = Link::State::Down;
        l->sessions = 0;
    }
    m_placement.clear();
}

void RelayPool::tick()
{
    // A loop of ours that stalled read no pongs meanwhile: that is no relay's silence.
    if (m_lastTick.isValid() && m_lastTick.elapsed() > kSilentMs / 2) {
        for (auto &l : m_links)
            l->since.restart();
    }
    m_lastTick.restart();
    for (auto &lp : m_links) {
        Link &l = *lp;
        pruneRevocations(l);
        switch (l.state) {
        case Link::State::Down:
            if (!l.downSince.isValid() || l.downSince.elapsed() >= kRetryMs)
                connectLink(l);
            break;
        case Link::State::Handshake:
            if (l.since.elapsed() > kHandshakeMs)
                lose(l, QStringLiteral("no handshake within %1 s").arg(kHandshakeMs / 1000));
            break;
        case Link::State::Up:
            if (l.since.elapsed() > kSilentMs) {
                lose(l, QStringLiteral("silent for %1 s").arg(kSilentMs / 1000));
            } else if (l.lastPing.elapsed() >= kPingMs) {
                relay::control::Order ping;
                ping.id = ++l.pingId;
                send(l, ping);
                l.lastPing.restart();
            }
            break;
        }
    }
}

void RelayPool::connectLink(Link &l)
{
    auto nonce = crypto::randomBytes(relayauth::kNonceSize);
    if (!nonce)
        return;
    auto *tcp = new QTcpSocket;
    l.socket = new FramedSocket(tcp, this);
    l.brokerNonce = *nonce;
    l.keys = relayauth::ControlKeys();
    l.seqIn = l.seqOut = 0;
    l.state = Link::State::Handshake;
    l.since.start();
    Link *raw = &l;
    connect(l.socket, &FramedSocket::frameReceived, this, [this, raw](const QByteArray &f) { onFrame(*raw, f); });
    connect(l.socket, &FramedSocket::disconnected, this, [this, raw] {
        if (raw->state == Link::State::Up)
            lose(*raw, QStringLiteral("its connection closed"));
        else if (!raw->relayNonce.isEmpty()) // it hung up on our proof
            lose(*raw, QStringLiteral("it refused our proof: it does not share our relay secret"));
        else
            lose(*raw, QStringLiteral("cannot connect"));
    });
    connect(l.socket, &FramedSocket::protocolError, this, [this, raw](const QString &why) { lose(*raw, why); });
    tcp->connectToHost(l.at.host, l.at.port);
}

void RelayPool::onFrame(Link &l, const QByteArray &frame)
{
    if (l.state == Link::State::Handshake) {
        const QCborMap m = [&] { auto d = wire::decodeMap(frame); return d ? *d : QCborMap(); }(); // malformed: not a relay's
        const QString t = m.value(QStringLiteral("t")).toString();
        if (t == QLatin1String("hello") && l.relayNonce.isEmpty()) {
            l.relayNonce = m.value(QStringLiteral("nonce")).toByteArray();
            if (l.relayNonce.size() != relayauth::kNonceSize) {
                lose(l, QStringLiteral("not a Sotto relay"));
                return;
            }
            QCborMap auth;
            auth.insert(QStringLiteral("t"), QStringLiteral("auth"));
            auth.insert(QStringLiteral("nonce"), l.brokerNonce);
            auth.insert(QStringLiteral("proof"), relayauth::controlProof(m_secret.view(), "broker", l.relayNonce, l.brokerNonce));
            l.socket->send(auth.toCborValue().toCbor());
            return;
        }
        const QByteArray expected = relayauth::controlProof(m_secret.view(), "relay", l.relayNonce, l.brokerNonce);
        if (t != QLatin1String("ok") || l.relayNonce.isEmpty() || expected.isEmpty()
            || !crypto::constantTimeEquals(expected, m.value(QStringLiteral("proof")).toByteArray())) {
            lose(l, QStringLiteral("it does not share our relay secret"));
            return;
        }
        l.keys = relayauth::controlKeys(m_secret.view(), l.relayNonce, l.brokerNonce);
        l.state = Link::State::Up;
        l.since.start();
        l.lastPing.start();
        l.why.clear();
        l.wasUp = true;
        m_log(QStringLiteral("relay %1 is up").arg(hostPort(l.at.host, l.at.port)));
        pruneRevocations(l);
        const auto live = l.revocations; // send() may lose the link (and add to the list)
        for (const auto &[key, order] : live) {
            if (l.state != Link::State::Up)
                break;
            send(l, order);
        }
        return;
    }
    auto m = relayauth::openFrame(l.keys.relayToBroker, l.seqIn++, frame);
    auto pong = m ? relay::control::decodePong(*m) : std::nullopt;
    if (!pong) {
        lose(l, QStringLiteral("a frame failed its MAC"));
        return;
    }
    l.load = *pong;
    l.since.restart();
}

void RelayPool::lose(Link &l, const QString &why)
{
    if (l.socket) {
        l.socket->disconnect(this);
        l.socket->abort();
        l.socket->deleteLater();
        l.socket = nullptr;
    }
    const bool wasUp = l.state == Link::State::Up;
    l.state = Link::State::Down;
    l.relayNonce.clear();
    l.keys = relayauth::ControlKeys();
    l.downSince.start();
    if (why != l.why || wasUp)
        m_log(QStringLiteral("relay %1 is down: %2").arg(hostPort(l.at.host, l.at.port), why));
    l.why = why;
    std::vector<QByteArray> lost;
    for (auto it = m_placement.begin(); it != m_placement.end();) {
        if (it->second == &l) {
            lost.push_back(it->first);
            it = m_placement.erase(it);
        } else {
            ++it;
        }
    }
    l.sessions = 0;
    // Those sessions end (m_onLost): their tokens must bind no more there, even at a relay
    // that restarts with nothing in memory. Sent when the link comes back.
    for (const QByteArray &sid : lost)
        revoke(l, sid, std::nullopt);
    // Told from the event loop, never from here: lose() runs inside send(), and the router that
    // sent is still holding the session (and its members) it is about to end.
    if (!lost.empty() && m_onLost)
        QMetaObject::invokeMethod(this, [this, lost] { m_onLost(lost); }, Qt::QueuedConnection);
}

void RelayPool::send(Link &l, const relay::control::Order &order)
{
    if (l.state != Link::State::Up)
        return;
    const QByteArray frame = relayauth::sealFrame(l.keys.brokerToRelay, l.seqOut++, relay::control::encode(order));
    if (frame.isEmpty() || !l.socket->send(frame))
        lose(l, QStringLiteral("cannot send to it"));
}

RelayPool::Link *RelayPool::placed(const QByteArray &sid)
{
    if (auto it = m_placement.find(sid); it != m_placement.end())
        return it->second;
    Link *best = nullptr;
    for (auto &l : m_links) {
        if (l->state != Link::State::Up)
            continue;
        if (!best || std::tie(l->sessions, l->load.members) < std::tie(best->sessions, best->load.members))
            best = l.get();
    }
    if (best) {
        m_placement.emplace(sid, best);
        ++best->sessions;
    }
    return best;
}

bool RelayPool::anyUp() const
{
    return std::any_of(m_links.begin(), m_links.end(), [](const auto &l) { return l->state == Link::State::Up; });
}

Result<QCborMap> RelayPool::admit(const QByteArray &sid, quint32 ssrc)
{
    Link *l = placed(sid);
    if (!l)
        return makeError(ErrorCode::Offline, QStringLiteral("no relay is up"));
    const quint32 expiry = quint32(QDateTime::currentSecsSinceEpoch()) + kTokenLifetimeS;
    const QByteArray token = relayauth::mintToken(m_secret.view(), sid, ssrc, expiry);
    if (token.isEmpty())
        return makeError(ErrorCode::Internal, QStringLiteral("cannot mint a relay token"));
    // The relay derives the same key from its secret; the member proves it in every bind.
    const SecretBytes key = relayauth::grantKey(m_secret.view(), sid, ssrc, token);
    if (key.isEmpty())
        return makeError(ErrorCode::Internal, QStringLiteral("cannot derive a relay grant key"));
    return wire::relayGrant(l->at.port, token, l->at.host.toString(), key);
}

void RelayPool::revoke(Link &l, const QByteArray &sid, std::optional<quint32> ssrc)
{
    relay::control::Order o;
    o.kind = ssrc ? relay::control::Order::Kind::Leave : relay::control::Order::Kind::End;
    o.sid = sid;
    o.ssrc = ssrc.value_or(0);
    // Every token minted for it so far expires by then.
    o.until = quint32(QDateTime::currentSecsSinceEpoch()) + kTokenLifetimeS + 1;
    QByteArray key = sid;
    if (ssrc)
        key += QByteArray(reinterpret_cast<const char *>(&*ssrc), sizeof *ssrc);
    l.revocations[key] = o;
    if (l.state == Link::State::Up)
        send(l, o); // a link that is down gets it when it is back
}

void RelayPool::pruneRevocations(Link &l)
{
    const qint64 now = QDateTime::currentSecsSinceEpoch();
    std::erase_if(l.revocations, [&](const auto &r) { return qint64(r.second.until) < now; });
}

void RelayPool::removeMember(const QByteArray &sid, quint32 ssrc)
{
    auto it = m_placement.find(sid);
    if (it == m_placement.end())
        return;
    revoke(*it->second, sid, ssrc);
}

void RelayPool::endSession(const QByteArray &sid)
{
    auto it = m_placement.find(sid);
    if (it == m_placement.end())
        return;
    Link *l = it->second;
    m_placement.erase(it);
    --l->sessions;
    revoke(*l, sid, std::nullopt);
}

bool RelayPool::addTrunk(const QByteArray &sid, const QHostAddress &address, quint16 port, const QByteArray &token, bool home)
{
    Link *l = placed(sid);
    if (!l)
        return false;
    relay::control::Order o;
    o.kind = relay::control::Order::Kind::Trunk;
    o.sid = sid;
    o.host = address;
    o.port = port;
    o.token = token;
    o.home = home;
    send(*l, o);
    return true;
}

void RelayPool::removeTrunks(const QByteArray &sid)
{
    auto it = m_placement.find(sid);
    if (it == m_placement.end())
        return;
    relay::control::Order o;
    o.kind = relay::control::Order::Kind::Untrunk;
    o.sid = sid;
    send(*it->second, o);
}

QString RelayPool::relayAt(const QByteArray &sid) const
{
    auto it = m_placement.find(sid);
    return it == m_placement.end() ? QString() : hostPort(it->second->at.host, it->second->at.port);
}

bool RelayPool::adopt(const QByteArray &sid, const QString &relayAt)
{
    if (m_placement.contains(sid))
        return relayAt == this->relayAt(sid);
    // Placed there even while our link to it is still coming up (a restarted broker's phones
    // may resume before it is): if the link fails instead, lose() ends the call like any other.
    for (auto &l : m_links) {
        if (hostPort(l->at.host, l->at.port) == relayAt) {
            m_placement.emplace(sid, l.get());
            ++l->sessions;
            return true;
        }
    }
    return false;
}

void RelayPool::endAll()
{
    std::vector<QByteArray> sids;
    for (const auto &[sid, l] : m_placement)
        sids.push_back(sid);
    for (const QByteArray &sid : sids)
        endSession(sid);
}

std::vector<RelayStatus> RelayPool::status() const
{
    std::vector<RelayStatus> out;
    for (const auto &l : m_links) {
        RelayStatus s;
        s.address = hostPort(l->at.host, l->at.port);
        s.up = l->state == Link::State::Up;
        s.why = s.up ? QString() : l->why;
        s.sessions = l->sessions;
        s.relaySessions = l->load.sessions;
        s.members = l->load.members;
        s.forwarded = l->load.forwarded;
        s.refused = l->load.refused;
        out.push_back(s);
    }
    return out;
}

} // namespace sotto::broker
