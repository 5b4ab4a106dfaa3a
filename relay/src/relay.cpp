#include "relay/relay.h"

#include "core/crypto.h"
#include "core/relayauth.h"
#include "core/relaywire.h"

#include <QDateTime>
#include <QElapsedTimer>
#include <QTimer>
#include <QVariant>
#include <QNetworkDatagram>
#include <QUdpSocket>
#include <QSocketNotifier>
#include <QtEndian>

#include <algorithm>
#include <cstring>
#include <tuple>

#ifdef Q_OS_LINUX
#include <arpa/inet.h>
#include <pthread.h>
#include <time.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cerrno>
#endif

namespace sotto::relay {

void RelayTable::addMember(const QByteArray &sid, quint32 ssrc, const QByteArray &token, const SecretBytes &key)
{
    std::lock_guard lock(m_mutex);
    Member m;
    m.token = token;
    m.key = key;
    m.tokens = m_limits.burst;
    m.lastSeenMs = m_clock.elapsed();
    auto &members = m_sessions[sid].members;
    if (!members.contains(ssrc))
        ++m_memberCount;
    members[ssrc] = m;
}

void RelayTable::addTrunk(const QByteArray &sid, const QHostAddress &address, quint16 port, const QByteArray &token, bool home)
{
    std::lock_guard lock(m_mutex);
    Session &s = m_sessions[sid];
    for (const Trunk &t : s.trunks) {
        if (t.token == token)
            return;
    }
    s.trunks.push_back(Trunk{token, address, port, false, m_clock.elapsed(), 0, home});
}

void RelayTable::dropEndpoint(const QByteArray &sid, quint32 ssrc, const Member &m)
{
    if (m.endpoint.isEmpty())
        return;
    auto ep = m_endpoints.find(m.endpoint);
    if (ep != m_endpoints.end() && ep->second.sid == sid && ep->second.ssrc == ssrc)
        m_endpoints.erase(ep);
}

void RelayTable::removeMember(const QByteArray &sid, quint32 ssrc)
{
    std::lock_guard lock(m_mutex);
    auto it = m_sessions.find(sid);
    if (it == m_sessions.end())
        return;
    auto m = it->second.members.find(ssrc);
    if (m == it->second.members.end())
        return;
    dropEndpoint(sid, ssrc, m->second);
    it->second.members.erase(m);
    --m_memberCount;
}

std::size_t RelayTable::endpointCount()
{
    std::lock_guard lock(m_mutex);
    return m_endpoints.size();
}

void RelayTable::removeTrunks(const QByteArray &sid)
{
    std::lock_guard lock(m_mutex);
    auto it = m_sessions.find(sid);
    if (it != m_sessions.end())
        it->second.trunks.clear();
}

void RelayTable::endSession(const QByteArray &sid)
{
    std::lock_guard lock(m_mutex);
    auto it = m_sessions.find(sid);
    if (it == m_sessions.end())
        return;
    for (const auto &[ssrc, m] : it->second.members)
        dropEndpoint(sid, ssrc, m);
    m_memberCount -= it->second.members.size();
    m_sessions.erase(it);
}

void RelayTable::setSecret(SecretBytes secret)
{
    std::lock_guard lock(m_mutex);
    m_secret = std::move(secret);
}

QByteArray RelayTable::memberKey(const QByteArray &sid, quint32 ssrc)
{
    char be[4];
    qToBigEndian(ssrc, be);
    return sid + QByteArray(be, 4);
}

void RelayTable::revoke(const QByteArray &key, qint64 until)
{
    const qint64 now = QDateTime::currentSecsSinceEpoch();
    until = std::clamp<qint64>(until, now, now + relayauth::kMaxLifetimeS);
    const std::size_t cap = m_limits.maxRevocations ? m_limits.maxRevocations : 4 * m_limits.maxMembers;
    auto it = m_revoked.find(key);
    if (it != m_revoked.end()) {
        it->second = std::max(it->second, until);
        return;
    }
    if (m_revoked.size() >= cap) {
        // Never silently forgotten: nobody binds anew until this one would have expired.
        m_closedUntil = std::max(m_closedUntil, until);
        ++m_revocationOverflows;
        return;
    }
    m_revoked.emplace(key, until);
}

// The revocation first, then the removal: a bind that comes in between finds it revoked and
// cannot make the member anew behind it.
void RelayTable::revokeSession(const QByteArray &sid, qint64 until)
{
    {
        std::lock_guard lock(m_mutex);
        revoke(sid, until);
    }
    endSession(sid);
}

void RelayTable::revokeMember(const QByteArray &sid, quint32 ssrc, qint64 until)
{
    {
        std::lock_guard lock(m_mutex);
        revoke(memberKey(sid, ssrc), until);
    }
    removeMember(sid, ssrc);
}

bool RelayTable::isRevoked(const QByteArray &sid, quint32 ssrc, qint64 nowUnix) const
{
    for (const QByteArray &k : {sid, memberKey(sid, ssrc)}) {
        auto it = m_revoked.find(k);
        if (it != m_revoked.end() && it->second >= nowUnix)
            return true;
    }
    return false;
}

RelayTable::Load RelayTable::load()
{
    std::lock_guard lock(m_mutex);
    Load l;
    l.sessions = m_sessions.size();
    l.members = m_memberCount;
    for (const auto &[sid, s] : m_sessions)
        l.trunks += s.trunks.size();
    l.revocations = m_revoked.size();
    l.revocationOverflows = m_revocationOverflows;
    return l;
}

void RelayTable::reap(qint64 nowMs, qint64 nowUnix)
{
    for (auto s = m_sessions.begin(); s != m_sessions.end();) {
        auto &members = s->second.members;
        for (auto m = members.begin(); m != members.end();) {
            if (nowMs - m->second.lastSeenMs > m_limits.idleMs) {
                dropEndpoint(s->first, m->first, m->second);
                m = members.erase(m);
                --m_memberCount;
            } else {
                ++m;
            }
        }
        std::erase_if(s->second.trunks, [&](const Trunk &t) { return nowMs - t.lastHeardMs > m_limits.trunkIdleMs; });
        if (members.empty() && s->second.trunks.empty())
            s = m_sessions.erase(s);
        else
            ++s;
    }
    std::erase_if(m_revoked, [&](const auto &r) { return r.second < nowUnix; });
}

class RelayWorker : public QObject
{
public:
    explicit RelayWorker(RelayTable &table) : m_table(table) {}

    // reusePort: one of several sockets on the port; primary: the one that sends trunk binds
    // and reaps.
    bool open(const QHostAddress &address, quint16 port, QString *error, bool reusePort = false, bool primary = true)
    {
        m_primary = primary;
#ifdef Q_OS_LINUX
        pthread_getcpuclockid(pthread_self(), &m_cpuClock);
        m_haveCpuClock = true;
        // Linux: our own socket and recvmmsg/sendmmsg, a few syscalls per batch of packets
        // instead of three or four per packet through QUdpSocket.
        if (address.protocol() == QAbstractSocket::IPv4Protocol || address == QHostAddress::Any) {
            m_fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            sockaddr_in sa{};
            sa.sin_family = AF_INET;
            sa.sin_port = htons(port);
            sa.sin_addr.s_addr = htonl(address == QHostAddress::Any ? INADDR_ANY : address.toIPv4Address());
            const int size = 4 * 1024 * 1024;
            const int one = 1;
            if (m_fd >= 0 && reusePort)
                ::setsockopt(m_fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
            if (m_fd < 0 || ::bind(m_fd, reinterpret_cast<sockaddr *>(&sa), sizeof sa) != 0) {
                if (error)
                    *error = QString::fromLocal8Bit(std::strerror(errno));
                if (m_fd >= 0)
                    ::close(m_fd);
                m_fd = -1;
                return false;
            }
            ::setsockopt(m_fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
            ::setsockopt(m_fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
            m_notifier = std::make_unique<QSocketNotifier>(m_fd, QSocketNotifier::Read);
            connect(m_notifier.get(), &QSocketNotifier::activated, this, &RelayWorker::onReadyReadBatched);
            startTrunkTimer();
            return true;
        }
#endif
        if (reusePort) {
            if (error)
                *error = QStringLiteral("several relay threads need Linux and IPv4");
            return false;
        }
        m_socket = std::make_unique<QUdpSocket>();
        if (!m_socket->bind(address, port)) {
            if (error)
                *error = m_socket->errorString();
            m_socket.reset();
            return false;
        }
        m_socket->setSocketOption(QAbstractSocket::ReceiveBufferSizeSocketOption, QVariant(4 * 1024 * 1024));
        m_socket->setSocketOption(QAbstractSocket::SendBufferSizeSocketOption, QVariant(4 * 1024 * 1024));
        connect(m_socket.get(), &QUdpSocket::readyRead, this, &RelayWorker::onReadyRead);
        startTrunkTimer();
        return true;
    }
    void close()
    {
        m_trunkTimer.reset();
        m_reapTimer.reset();
        m_socket.reset();
#ifdef Q_OS_LINUX
        m_notifier.reset();
        if (m_fd >= 0)
            ::close(m_fd);
        m_fd = -1;
#endif
    }

    double cpuSeconds() const
    {
#ifdef Q_OS_LINUX
        timespec ts{};
        if (m_haveCpuClock && clock_gettime(m_cpuClock, &ts) == 0)
            return double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
#endif
        return -1;
    }

    RelayCounters counters() const
    {
        RelayCounters c;
        c.forwarded = m_forwarded.load();
        c.binds = m_binds.load();
        c.droppedUnbound = m_unbound.load();
        c.droppedMalformed = m_malformed.load();
        c.droppedRate = m_rate.load();
        c.droppedBadToken = m_badToken.load();
        c.trunked = m_trunked.load();
        c.droppedExpired = m_expired.load();
        c.droppedFull = m_full.load();
        return c;
    }

private:
    void startTrunkTimer()
    {
        if (!m_primary)
            return;
        m_trunkTimer = std::make_unique<QTimer>();
        connect(m_trunkTimer.get(), &QTimer::timeout, this, &RelayWorker::sendTrunkBinds);
        m_trunkTimer->start(500);
        if (m_table.isStateless()) {
            m_reapTimer = std::make_unique<QTimer>();
            connect(m_reapTimer.get(), &QTimer::timeout, this, [this] {
                std::lock_guard lock(m_table.m_mutex);
                m_table.reap(m_table.m_clock.elapsed(), QDateTime::currentSecsSinceEpoch());
            });
            m_reapTimer->start(1000);
        }
    }

    // Each trunk binds to the peer's relay again and again: the first bind opens the way (and
    // any NAT), the rest keep it open.
    void sendTrunkBinds()
    {
        std::vector<std::tuple<QByteArray, QHostAddress, quint16>> binds;
        // Strictly growing, so that the peer relay takes each one (and a replay of none).
        m_trunkStamp = std::max<quint64>(m_trunkStamp + 1, quint64(QDateTime::currentMSecsSinceEpoch()));
        {
            std::lock_guard lock(m_table.m_mutex);
            for (const auto &[sid, s] : m_table.m_sessions) {
                for (const RelayTable::Trunk &t : s.trunks)
                    binds.emplace_back(relaywire::encodeProvenTrunkBind({sid, m_trunkStamp, relayauth::trunkProof(t.token, sid, m_trunkStamp, t.home)}),
                                       t.address, t.port);
            }
        }
        for (const auto &[packet, addr, port] : binds)
            sendTo(packet, addr, port);
#ifdef Q_OS_LINUX
        if (m_fd >= 0)
            flushBatch();
#endif
    }

    // A peer relay's trunk binds (and keeps binding) to us from where its media will come.
    void bindTrunk(const relaywire::ProvenTrunkBind &b, const QHostAddress &from, quint16 port)
    {
        std::lock_guard lock(m_table.m_mutex);
        auto s = m_table.m_sessions.find(b.sid);
        if (s != m_table.m_sessions.end()) {
            for (RelayTable::Trunk &t : s->second.trunks) {
                // The trunk token is the key: the bind proves it without carrying it.
                // From the other side only: our own bind, reflected back to us, fails here.
                const QByteArray expected = relayauth::trunkProof(t.token, b.sid, b.stamp, !t.home);
                if (!expected.isEmpty() && crypto::constantTimeEquals(expected, b.proof)) {
                    if (!relayauth::freshStamp(b.stamp, QDateTime::currentMSecsSinceEpoch()) || b.stamp <= t.lastStamp) {
                        ++m_expired;
                        return;
                    }
                    t.lastStamp = b.stamp;
                    t.address = from;
                    t.port = port;
                    t.bound = true;
                    t.lastHeardMs = m_table.m_clock.elapsed();
                    return;
                }
            }
        }
        ++m_badToken;
    }

    // Trunk media: only from the address a trunk of this session bound, only to local members.
    void forwardTrunkMedia(const relaywire::TrunkMedia &media, const QHostAddress &from, quint16 port)
    {
        m_targets.clear();
        {
            std::lock_guard lock(m_table.m_mutex);
            auto s = m_table.m_sessions.find(media.sid);
            RelayTable::Trunk *trunk = nullptr;
            if (s != m_table.m_sessions.end()) {
                for (RelayTable::Trunk &t : s->second.trunks) {
                    if (t.bound && t.port == port && t.address.isEqual(from))
                        trunk = &t;
                }
            }
            if (!trunk) {
                ++m_unbound;
                return;
            }
            trunk->lastHeardMs = m_table.m_clock.elapsed();
            if (s->second.members.contains(*relaywire::rtpSsrc(media.rtp))) {
                ++m_unbound; // a peer may not speak for one of our own members
                return;
            }
            for (const auto &[other, m] : s->second.members) {
                if (m.bound)
                    m_targets.emplace_back(m.address, m.port);
            }
        }
        ++m_trunked;
        for (const auto &[addr, p] : m_targets) {
            sendTo(media.rtp, addr, p);
            ++m_forwarded;
        }
    }

    void onReadyRead()
    {
        char buf[2048];
        while (m_socket && m_socket->hasPendingDatagrams()) {
            QHostAddress from;
            quint16 port = 0;
            const qint64 n = m_socket->readDatagram(buf, sizeof buf, &from, &port);
            if (n <= 0) {
                ++m_malformed;
                continue;
            }
            handle(QByteArrayView(buf, n), from, port);
        }
    }

#ifdef Q_OS_LINUX
    static constexpr int kBatch = 64;
    void onReadyReadBatched()
    {
        for (;;) {
            mmsghdr msgs[kBatch];
            iovec iov[kBatch];
            sockaddr_storage from[kBatch];
            std::memset(msgs, 0, sizeof msgs);
            for (int i = 0; i < kBatch; ++i) {
                iov[i] = {m_in[i], sizeof m_in[i]};
                msgs[i].msg_hdr.msg_iov = &iov[i];
                msgs[i].msg_hdr.msg_iovlen = 1;
                msgs[i].msg_hdr.msg_name = &from[i];
                msgs[i].msg_hdr.msg_namelen = sizeof from[i];
            }
            const int batch = std::clamp(m_table.m_limits.batch, 1, kBatch);
            const int n = ::recvmmsg(m_fd, msgs, unsigned(batch), MSG_DONTWAIT, nullptr);
            if (n <= 0)
                break;
            for (int i = 0; i < n; ++i) {
                if (msgs[i].msg_len == 0) {
                    ++m_malformed;
                    continue;
                }
                const QByteArrayView d(m_in[i], msgs[i].msg_len);
                const auto *v4 = reinterpret_cast<const sockaddr_in *>(&from[i]);
                // Media, the bulk of it, without QHostAddress or a copy (forwardMediaV4).
                if (v4->sin_family == AF_INET && relaywire::classify(d) == relaywire::Kind::Rtp && forwardMediaV4(d, *v4))
                    continue;
                const QHostAddress addr(reinterpret_cast<const sockaddr *>(&from[i]));
                handle(d, addr, ntohs(v4->sin_port));
            }
            flushBatch();
            if (n < batch)
                break;
        }
    }
    void flushBatch()
    {
        std::size_t done = 0;
        while (done < m_out.size()) {
            const std::size_t count = std::min<std::size_t>(m_out.size() - done, std::size_t(std::clamp(m_table.m_limits.batch, 1, kBatch)));
            mmsghdr msgs[kBatch];
            iovec iov[kBatch];
            std::memset(msgs, 0, sizeof msgs);
            for (std::size_t i = 0; i < count; ++i) {
                Outgoing &o = m_out[done + i];
                iov[i] = o.borrowed ? iovec{const_cast<char *>(o.borrowed), o.borrowedSize}
                                    : iovec{o.data.data(), std::size_t(o.data.size())};
                msgs[i].msg_hdr.msg_iov = &iov[i];
                msgs[i].msg_hdr.msg_iovlen = 1;
                msgs[i].msg_hdr.msg_name = &o.to;
                msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_in);
            }
            const int sent = ::sendmmsg(m_fd, msgs, unsigned(count), 0);
            done += sent > 0 ? std::size_t(sent) : count; // a full buffer drops, like UDP does
        }
        m_out.clear();
    }
    struct Outgoing
    {
        QByteArray data;
        sockaddr_in to;
        const char *borrowed = nullptr; // a received datagram's bytes, valid until flushBatch()
        std::size_t borrowedSize = 0;
    };

    // The fast path for RTP from an IPv4 member, under one lock: the endpoint looked up by a
    // key on the stack, recipients taken from their cached IPv4 addresses, the datagram sent
    // on from the receive buffer. False, having done nothing, for what it leaves to
    // forwardMedia(): a sender not bound here, a session with trunks or IPv6 members.
    bool forwardMediaV4(QByteArrayView d, const sockaddr_in &from)
    {
        const auto ssrc = relaywire::rtpSsrc(d);
        if (!ssrc)
            return false;
        char key[18] = {};
        key[10] = key[11] = char(0xff); // the IPv4-mapped IPv6 form of endpointKey()
        std::memcpy(key + 12, &from.sin_addr.s_addr, 4);
        std::memcpy(key + 16, &from.sin_port, 2);
        const std::size_t before = m_out.size();
        {
            std::lock_guard lock(m_table.m_mutex);
            auto ep = m_table.m_endpoints.find(QByteArray::fromRawData(key, sizeof key));
            if (ep == m_table.m_endpoints.end() || *ssrc != ep->second.ssrc)
                return false;
            auto s = m_table.m_sessions.find(ep->second.sid);
            if (s == m_table.m_sessions.end() || !s->second.trunks.empty())
                return false;
            auto me = s->second.members.find(*ssrc);
            if (me == s->second.members.end() || !me->second.bound)
                return false;
            for (const auto &[other, m] : s->second.members) {
                if (other != *ssrc && m.bound && !m.v4)
                    return false;
            }
            if (!takeToken(me->second))
                return true; // dropped, and counted
            for (const auto &[other, m] : s->second.members) {
                if (other == *ssrc || !m.bound)
                    continue;
                Outgoing o;
                o.to.sin_family = AF_INET;
                o.to.sin_port = m.v4Port;
                o.to.sin_addr.s_addr = m.v4Address;
                o.borrowed = d.data();
                o.borrowedSize = std::size_t(d.size());
                m_out.push_back(std::move(o));
            }
        }
        m_forwarded += m_out.size() - before;
        return true;
    }
    int m_fd = -1;
    std::unique_ptr<QSocketNotifier> m_notifier;
    char m_in[kBatch][2048];
    std::vector<Outgoing> m_out;
#endif

    // Sends at once (QUdpSocket) or with the batch being handled (Linux).
    void sendTo(QByteArrayView data, const QHostAddress &addr, quint16 port)
    {
#ifdef Q_OS_LINUX
        if (m_fd >= 0) {
            Outgoing o{data.toByteArray(), {}};
            o.to.sin_family = AF_INET;
            o.to.sin_port = htons(port);
            o.to.sin_addr.s_addr = htonl(addr.toIPv4Address());
            m_out.push_back(std::move(o));
            return;
        }
#endif
        m_socket->writeDatagram(data.data(), data.size(), addr, port);
    }

    static QByteArray endpointKey(const QHostAddress &a, quint16 port)
    {
        const Q_IPV6ADDR v6 = a.toIPv6Address();
        QByteArray k(reinterpret_cast<const char *>(v6.c), 16);
        k.append(char(port >> 8)).append(char(port & 0xff));
        return k;
    }

    // One datagram, whatever it is (relaywire tells): nothing malformed or unbound is answered.
    void handle(QByteArrayView d, const QHostAddress &from, quint16 port)
    {
        switch (relaywire::classify(d)) {
        case relaywire::Kind::Rtp:
            forwardMedia(d, from, port);
            return;
        case relaywire::Kind::ProvenBind:
            bindMember(*relaywire::decodeProvenBind(d), from, port);
            return;
        case relaywire::Kind::ProvenTrunkBind:
            bindTrunk(*relaywire::decodeProvenTrunkBind(d), from, port);
            return;
        case relaywire::Kind::Bind:      // a bearer token in clear: whoever saw it could replay it
        case relaywire::Kind::TrunkBind: // from an address of their own. Only proven binds count.
            ++m_badToken;
            return;
        case relaywire::Kind::TrunkMedia:
            forwardTrunkMedia(*relaywire::decodeTrunkMedia(d), from, port);
            return;
        case relaywire::Kind::BindAck: // only a relay sends these
        case relaywire::Kind::Malformed:
            ++m_malformed;
            return;
        }
    }

    // A member binds its address with the token its call_key or incoming gave it; the ack echoes
    // sid and SSRC. Stateless, the token itself says whether it may (relay.h).
    void bindMember(const relaywire::ProvenBind &proven, const QHostAddress &from, quint16 port)
    {
        const relaywire::Bind &b = proven.bind;
        {
            std::lock_guard lock(m_table.m_mutex);
            const qint64 now = m_table.m_clock.elapsed();
            const QByteArray key = endpointKey(from, port);
            auto s = m_table.m_sessions.find(b.sid);
            RelayTable::Member *known = nullptr;
            if (s != m_table.m_sessions.end()) {
                auto it = s->second.members.find(b.ssrc);
                known = it == s->second.members.end() ? nullptr : &it->second;
            }
            const bool sameToken = known && crypto::constantTimeEquals(known->token, b.token);
            // Possession of the grant's key, which never crossed the wire: stateless, derived
            // from the secret as the token is checked; in process, the key the broker drew.
            const SecretBytes grantKey = m_table.isStateless()
                ? relayauth::grantKey(m_table.m_secret.view(), b.sid, b.ssrc, b.token)
                : (sameToken ? known->key : SecretBytes());
            const QByteArray expected = relayauth::bindProof(grantKey, b.sid, b.ssrc, b.token, proven.stamp);
            if (expected.isEmpty() || !crypto::constantTimeEquals(expected, proven.proof)) {
                ++m_badToken;
                return;
            }
            // Fresh, and newer than the binding's last: a bind seen on the wire, replayed from
            // elsewhere, moves nothing.
            if (!relayauth::freshStamp(proven.stamp, QDateTime::currentMSecsSinceEpoch())
                || (sameToken && proven.stamp <= known->lastStamp)) {
                ++m_expired;
                return;
            }
            const bool keepAlive = sameToken && known->bound && known->endpoint == key;
            if (!keepAlive && m_table.isStateless() && !admit(b, known)) {
                return;
            } else if (!m_table.isStateless() && !sameToken) {
                ++m_badToken;
                return;
            }
            if (!known) {
                RelayTable::Member fresh;
                fresh.tokens = m_table.m_limits.burst;
                fresh.lastRefillMs = now;
                known = &m_table.m_sessions[b.sid].members[b.ssrc];
                *known = fresh;
                ++m_table.m_memberCount;
            }
            // One endpoint per member: a member that binds from a new address (a NAT
            // rebinding, a reconnect) gives up the old one.
            RelayTable::Member &bound = *known;
            bound.token = b.token;
            bound.lastStamp = proven.stamp;
            if (bound.endpoint != key)
                m_table.dropEndpoint(b.sid, b.ssrc, bound);
            bound.address = from;
            bound.port = port;
            bool isV4 = false;
            const quint32 v4 = from.toIPv4Address(&isV4);
            bound.v4 = isV4;
            bound.v4Address = qToBigEndian(v4);
            bound.v4Port = qToBigEndian(port);
            bound.bound = true;
            bound.endpoint = key;
            bound.lastSeenMs = now;
            m_table.m_endpoints[key] = RelayTable::Endpoint{b.sid, b.ssrc};
        }
        ++m_binds;
        sendTo(relaywire::encodeBindAck({b.sid, b.ssrc}), from, port);
    }

    // Stateless mode, under the lock: whether a bind that is not a keep-alive may make or move a
    // binding. Counts what it refuses.
    bool admit(const relaywire::Bind &b, const RelayTable::Member *known)
    {
        const qint64 nowUnix = QDateTime::currentSecsSinceEpoch();
        switch (relayauth::checkToken(m_table.m_secret.view(), b.sid, b.ssrc, b.token, quint32(nowUnix))) {
        case relayauth::TokenCheck::Valid:
            break;
        case relayauth::TokenCheck::Forged:
            ++m_badToken;
            return false;
        case relayauth::TokenCheck::Expired:
        case relayauth::TokenCheck::TooLong:
            ++m_expired;
            return false;
        }
        if (m_table.isRevoked(b.sid, b.ssrc, nowUnix)) {
            ++m_badToken;
            return false;
        }
        if (m_table.failingClosed(nowUnix)) {
            ++m_full; // a revocation did not fit: no new binding until it would have expired
            return false;
        }
        if (!known && m_table.m_memberCount >= m_table.m_limits.maxMembers) {
            ++m_full;
            return false;
        }
        return true;
    }

    // RTP from a bound member's address, for its own SSRC, within its rate: to the session's other
    // members and to its trunks.
    void forwardMedia(QByteArrayView d, const QHostAddress &from, quint16 port)
    {
        const quint32 ssrc = *relaywire::rtpSsrc(d);
        m_targets.clear();
        m_trunkTargets.clear();
        {
            std::lock_guard lock(m_table.m_mutex);
            auto ep = m_table.m_endpoints.find(endpointKey(from, port));
            if (ep == m_table.m_endpoints.end() || ssrc != ep->second.ssrc) {
                ++m_unbound; // unknown address, or not the stream this address bound
                return;
            }
            auto s = m_table.m_sessions.find(ep->second.sid);
            if (s == m_table.m_sessions.end()) {
                ++m_unbound;
                return;
            }
            auto me = s->second.members.find(ssrc);
            if (me == s->second.members.end() || !me->second.bound) {
                ++m_unbound;
                return;
            }
            if (!takeToken(me->second))
                return;
            for (const auto &[other, m] : s->second.members) {
                if (other != ssrc && m.bound)
                    m_targets.emplace_back(m.address, m.port);
            }
            for (const RelayTable::Trunk &t : s->second.trunks)
                m_trunkTargets.emplace_back(t.address, t.port);
            if (!m_trunkTargets.empty())
                m_trunkPacket = relaywire::encodeTrunkMedia(s->first, d);
        }
        for (const auto &[addr, p] : m_targets) {
            sendTo(d, addr, p);
            ++m_forwarded;
        }
        for (const auto &[addr, p] : m_trunkTargets) {
            sendTo(m_trunkPacket, addr, p);
            ++m_trunked;
        }
    }

    // The sender's token bucket (under the table's lock): false, counted, when it is empty.
    bool takeToken(RelayTable::Member &sender)
    {
        const qint64 now = m_table.m_clock.elapsed(); // one clock read per packet: the bucket and idle time
        sender.lastSeenMs = now;
        const RelayTable::Limits &lim = m_table.m_limits;
        sender.tokens = std::min(lim.burst, sender.tokens + double(now - sender.lastRefillMs) * lim.packetsPerSecond / 1000.0);
        sender.lastRefillMs = now;
        if (sender.tokens < 1) {
            ++m_rate;
            return false;
        }
        sender.tokens -= 1;
        return true;
    }

    using Member = RelayTable::Member;
    RelayTable &m_table;
    bool m_primary = true;
#ifdef Q_OS_LINUX
    clockid_t m_cpuClock{};
    bool m_haveCpuClock = false;
#endif
    std::unique_ptr<QUdpSocket> m_socket;
    std::vector<std::pair<QHostAddress, quint16>> m_targets;
    std::vector<std::pair<QHostAddress, quint16>> m_trunkTargets;
    QByteArray m_trunkPacket;
    std::unique_ptr<QTimer> m_trunkTimer;
    std::unique_ptr<QTimer> m_reapTimer;
    quint64 m_trunkStamp = 0; // the last stamp of our trunk binds (the primary thread's only)
    std::atomic<quint64> m_trunked{0}, m_forwarded{0}, m_binds{0}, m_unbound{0}, m_malformed{0}, m_rate{0}, m_badToken{0},
        m_expired{0}, m_full{0};
};

Relay::Relay(RelayTable &table) : m_table(table) {}

Relay::~Relay()
{
    stop();
}

bool Relay::start(const QHostAddress &address, quint16 port, QString *error, int threads)
{
#ifdef Q_OS_LINUX
    const bool shareable = address.protocol() == QAbstractSocket::IPv4Protocol || address == QHostAddress::Any;
#else
    const bool shareable = false;
#endif
    const int count = shareable ? std::clamp(threads, 1, 64) : 1;
    for (int i = 0; i < count; ++i) {
        auto thread = std::make_unique<QThread>();
        thread->setObjectName(count == 1 ? QStringLiteral("relay") : QStringLiteral("relay %1").arg(i));
        auto *worker = new RelayWorker(m_table);
        worker->moveToThread(thread.get());
        thread->start();
        bool ok = false;
        QMetaObject::invokeMethod(worker, [&] { ok = worker->open(address, port, error, count > 1, i == 0); }, Qt::BlockingQueuedConnection);
        m_threads.push_back(std::move(thread));
        m_workers.push_back(worker);
        if (!ok) {
            stop();
            return false;
        }
    }
    return true;
}

void Relay::stop()
{
    for (std::size_t i = 0; i < m_workers.size(); ++i) {
        RelayWorker *worker = m_workers[i];
        QMetaObject::invokeMethod(worker, [worker] {
            worker->close();
            delete worker;
        }, Qt::BlockingQueuedConnection);
        m_threads[i]->quit();
        m_threads[i]->wait();
    }
    m_workers.clear();
    m_threads.clear();
}

RelayCounters Relay::counters() const
{
    RelayCounters sum;
    for (const RelayWorker *w : m_workers) {
        const RelayCounters c = w->counters();
        sum.forwarded += c.forwarded;
        sum.binds += c.binds;
        sum.droppedUnbound += c.droppedUnbound;
        sum.droppedMalformed += c.droppedMalformed;
        sum.droppedRate += c.droppedRate;
        sum.droppedBadToken += c.droppedBadToken;
        sum.trunked += c.trunked;
        sum.droppedExpired += c.droppedExpired;
        sum.droppedFull += c.droppedFull;
    }
    return sum;
}

double Relay::cpuSeconds() const
{
    double sum = 0;
    for (const RelayWorker *w : m_workers) {
        const double c = w->cpuSeconds();
        if (c < 0)
            return -1;
        sum += c;
    }
    return sum;
}

} // namespace sotto::relay
