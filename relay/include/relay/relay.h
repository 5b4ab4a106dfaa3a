#pragma once

// The media relay of PROTOCOL.md §7: UDP on the broker's port, on a thread of its own (off the
// control event loop). A member binds with `0x01 || sid || u32(ssrc) || token` and gets
// `0x02 || sid || u32(ssrc)`; from then on every RTP packet (first byte 0x80–0xBF) from that
// address and SSRC goes to the other bound members of the session. The relay never decrypts.
// Unbound, malformed and over-rate packets are dropped and counted.
//
// Federation (§8; extension): a session with members behind a peered broker has a *trunk* to
// that broker's relay. Each relay binds to the other with `0x04 || sid || trunk token` (every
// second, as a keep-alive) and sends its members' packets over as `0x03 || sid || RTP`; what
// comes in over a bound trunk goes to the local members only. Still never decrypted.
//
// Stateless (a relay of its own, `sotto relay`; §9.1, extension): with a secret set, the table
// needs no member list from anyone. A bind whose token the secret verifies for its sid and SSRC
// (relayauth::checkToken) makes the member; an expired or forged one is refused and counted. A
// member's binding lives while its address keeps talking (binds or media) and goes after
// Limits::idleMs of silence, so the relay holds only the bindings it has seen, and only live
// ones. A re-bind from the bound address with the token it bound with is a keep-alive even past
// the token's expiry: the expiry bounds when a binding can be made, not how long a call lasts.
// The broker's control channel (relayserver.h) revokes sessions and members that ended: their
// tokens make no binding again until they expire.

#include <QByteArray>
#include <QElapsedTimer>
#include <QHostAddress>
#include <QObject>
#include <QThread>

#include "core/secretbytes.h"

#include <atomic>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

class QUdpSocket;

namespace sotto::relay {

struct RelayCounters
{
    quint64 forwarded = 0; // packets sent on (one per recipient)
    quint64 binds = 0;
    quint64 droppedUnbound = 0;
    quint64 droppedMalformed = 0;
    quint64 droppedRate = 0;
    quint64 droppedBadToken = 0;
    quint64 trunked = 0; // packets sent to or taken from a peer broker's relay
    quint64 droppedExpired = 0; // binds with an expired (or too long-lived) token
    quint64 droppedFull = 0;    // binds refused because the relay holds Limits::maxMembers
};

// Who may send in which session: written by the call router (control thread), read by the relay.
class RelayTable
{
public:
    // Per sender: a 20 ms stream is 50 packets a second; the default allows bursts and slack.
    struct Limits
    {
        double packetsPerSecond = 120;
        double burst = 240;
        // Stateless mode only: a member silent this long is forgotten (phones re-bind every 5 s),
        // a trunk that heard nothing this long too; at most this many members at once.
        qint64 idleMs = 20000;
        qint64 trunkIdleMs = 30000;
        std::size_t maxMembers = 100000;
        // Datagrams a relay thread takes or sends per recvmmsg/sendmmsg (1–64; Linux, IPv4).
        int batch = 64;
        // Revocations held at once (0: four per member the relay may hold). Past it the relay
        // fails closed: no new binding anywhere until entries expire (keep-alives of bindings
        // that exist go on), and the overflow is counted.
        std::size_t maxRevocations = 0;
    };
    RelayTable() { m_clock.start(); }
    explicit RelayTable(Limits limits) : m_limits(limits) { m_clock.start(); }

    // In process: the member binds with this token and proves this key (relayauth::bindProof).
    void addMember(const QByteArray &sid, quint32 ssrc, const QByteArray &token, const SecretBytes &key);
    // A trunk of this session to a peer's relay at address:port (token: skbp::trunkToken).
    // `home`: this relay is the session's home broker's side (its trunk binds say so; it takes
    // only the other side's).
    void addTrunk(const QByteArray &sid, const QHostAddress &address, quint16 port, const QByteArray &token, bool home);
    void removeMember(const QByteArray &sid, quint32 ssrc);
    void removeTrunks(const QByteArray &sid);
    void endSession(const QByteArray &sid);
    // Stateless mode: checks tokens with this secret (call before the relay starts).
    void setSecret(SecretBytes secret);
    bool isStateless() const { return !m_secret.isEmpty(); }
    // Ends a session (or one member) and refuses its tokens until `until` (Unix seconds: when the
    // last token the broker minted for it expires; at most kMaxLifetimeS ahead), when the entry
    // goes. A revocation that finds the table full fails closed (Limits::maxRevocations).
    void revokeSession(const QByteArray &sid, qint64 until);
    void revokeMember(const QByteArray &sid, quint32 ssrc, qint64 until);
    struct Load
    {
        std::size_t sessions = 0;
        std::size_t members = 0; // bound or waiting for their bind
        std::size_t trunks = 0;
        std::size_t revocations = 0;     // held now
        quint64 revocationOverflows = 0; // revocations that found the table full (it failed closed)
    };
    Load load();
    // Source addresses the relay knows (one per bound member at most): they go with the member
    // or the session, so the relay's memory follows the live sessions, not its history.
    std::size_t endpointCount();

private:
    friend class RelayWorker;
    struct Member
    {
        QByteArray token;
        SecretBytes key;        // in process: the grant's key (stateless: derived per bind)
        quint64 lastStamp = 0;  // of the last bind taken: a bind must be newer
        QHostAddress address;
        quint16 port = 0;
        bool bound = false;
        double tokens = 0;   // rate limit bucket
        qint64 lastRefillMs = 0;
        QByteArray endpoint; // key of m_endpoints while bound
        qint64 lastSeenMs = 0; // stateless mode: the last bind or packet from it
        // The bound address as IPv4 in network byte order (v4 false for IPv6): what the Linux
        // fast path sends to without touching QHostAddress.
        bool v4 = false;
        quint32 v4Address = 0;
        quint16 v4Port = 0;
    };
    struct Endpoint
    {
        QByteArray sid;
        quint32 ssrc = 0;
    };
    struct Trunk
    {
        QByteArray token;
        QHostAddress address; // where the peer's relay is (and, once bound, where it sent from)
        quint16 port = 0;
        bool bound = false;
        qint64 lastHeardMs = 0; // stateless mode: ordered, or last bind or media from the peer
        quint64 lastStamp = 0;  // of the last trunk bind taken
        bool home = false;      // we are the home broker's relay for this session
    };
    struct Session
    {
        std::unordered_map<quint32, Member> members;
        std::vector<Trunk> trunks;
    };
    // Under m_mutex. Forgets a member's endpoint (if it still names that member).
    void dropEndpoint(const QByteArray &sid, quint32 ssrc, const Member &m);
    // Under m_mutex, stateless mode: forgets idle members and trunks, empty sessions and old
    // revocations (nowMs on the worker's clock).
    void reap(qint64 nowMs, qint64 nowUnix);
    bool isRevoked(const QByteArray &sid, quint32 ssrc, qint64 nowUnix) const;
    // Under m_mutex: a revocation did not fit, so no new binding is made before this (Unix s).
    bool failingClosed(qint64 nowUnix) const { return nowUnix <= m_closedUntil; }
    void revoke(const QByteArray &key, qint64 until);
    static QByteArray memberKey(const QByteArray &sid, quint32 ssrc);
    Limits m_limits;
    SecretBytes m_secret;
    std::size_t m_memberCount = 0; // stateless mode: members across sessions
    std::unordered_map<QByteArray, qint64> m_revoked; // sid, or sid || u32(ssrc) → until (Unix s)
    qint64 m_closedUntil = 0;         // see failingClosed()
    quint64 m_revocationOverflows = 0;
    QElapsedTimer m_clock; // for idle times and rate buckets (monotonic; any thread may read it)
    std::mutex m_mutex;
    std::unordered_map<QByteArray, Session> m_sessions;
    std::unordered_map<QByteArray, Endpoint> m_endpoints; // source address:port → the member bound there
};

class RelayWorker;

// The relay's threads. With threads > 1 (Linux, IPv4) each has a socket of its own on the one
// port (SO_REUSEPORT): the kernel hands each sender's packets to one socket, by its address, so
// a member's stream stays in order on one thread while forwarding grows with cores; all share
// the RelayTable under its mutex. The first thread also sends the trunks' binds and reaps.
// start() and stop() from one thread (the owner's); counters() and cpuSeconds() from any.
class Relay
{
public:
    explicit Relay(RelayTable &table);
    ~Relay();
    // Binds the UDP port on the relay threads; false with a reason on failure. Falls back to
    // one thread where the port cannot be shared (IPv6, not Linux).
    bool start(const QHostAddress &address, quint16 port, QString *error = nullptr, int threads = 1);
    void stop();
    int threads() const { return int(m_workers.size()); }
    RelayCounters counters() const;
    // CPU time the relay threads have used (user + system), in seconds; -1 where unknown.
    double cpuSeconds() const;

private:
    RelayTable &m_table;
    std::vector<std::unique_ptr<QThread>> m_threads;
    std::vector<RelayWorker *> m_workers;
};

} // namespace sotto::relay
