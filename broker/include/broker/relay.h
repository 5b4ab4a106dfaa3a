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

#include <QByteArray>
#include <QHostAddress>
#include <QObject>
#include <QThread>

#include <atomic>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

class QUdpSocket;

namespace sotto::broker {

struct RelayCounters
{
    quint64 forwarded = 0; // packets sent on (one per recipient)
    quint64 binds = 0;
    quint64 droppedUnbound = 0;
    quint64 droppedMalformed = 0;
    quint64 droppedRate = 0;
    quint64 droppedBadToken = 0;
    quint64 trunked = 0; // packets sent to or taken from a peer broker's relay
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
    };
    RelayTable() = default;
    explicit RelayTable(Limits limits) : m_limits(limits) {}

    void addMember(const QByteArray &sid, quint32 ssrc, const QByteArray &token);
    // A trunk of this session to a peer's relay at address:port (token: skbp::trunkToken).
    void addTrunk(const QByteArray &sid, const QHostAddress &address, quint16 port, const QByteArray &token);
    void removeMember(const QByteArray &sid, quint32 ssrc);
    void removeTrunks(const QByteArray &sid);
    void endSession(const QByteArray &sid);
    // Source addresses the relay knows (one per bound member at most): they go with the member
    // or the session, so the relay's memory follows the live sessions, not its history.
    std::size_t endpointCount();

private:
    friend class RelayWorker;
    struct Member
    {
        QByteArray token;
        QHostAddress address;
        quint16 port = 0;
        bool bound = false;
        double tokens = 0;   // rate limit bucket
        qint64 lastRefillMs = 0;
        QByteArray endpoint; // key of m_endpoints while bound
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
    };
    struct Session
    {
        std::unordered_map<quint32, Member> members;
        std::vector<Trunk> trunks;
    };
    // Under m_mutex. Forgets a member's endpoint (if it still names that member).
    void dropEndpoint(const QByteArray &sid, quint32 ssrc, const Member &m);
    Limits m_limits;
    std::mutex m_mutex;
    std::unordered_map<QByteArray, Session> m_sessions;
    std::unordered_map<QByteArray, Endpoint> m_endpoints; // source address:port → the member bound there
};

class RelayWorker;

class Relay
{
public:
    explicit Relay(RelayTable &table);
    ~Relay();
    // Binds the UDP port on the relay thread; false with a reason on failure.
    bool start(const QHostAddress &address, quint16 port, QString *error = nullptr);
    void stop();
    RelayCounters counters() const;

private:
    RelayTable &m_table;
    QThread m_thread;
    RelayWorker *m_worker = nullptr;
};

} // namespace sotto::broker
