#pragma once

// Relays of their own (`--relay HOST:PORT`, repeated; PROTOCOL.md §9.1, extension) as the
// routers' MediaPlane. The pool keeps one control connection to each relay: it proves the shared
// secret, pings every 500 ms and reads each relay's load from the pongs. A relay is up from its
// proof until its connection closes or 2 s pass without a pong; then the sessions on it are
// handed to onLost (the broker ends them) and the pool reconnects every second.
//
// Placement: a session goes, at its first admit() or addTrunk(), to the up relay with the fewest
// of this broker's live sessions (ties: the fewest members it reports, then the order given).
// Grants name the relay's literal address and carry a token minted from the secret
// (relayauth::mintToken) that expires kTokenLifetimeS later. Orders to a relay that is down
// are dropped: its sessions are being ended anyway. Main thread.

#include "routercontext.h"

#include "broker/views.h"

#include "core/secretbytes.h"

#include <QElapsedTimer>
#include <QHostAddress>
#include <QObject>
#include <QTimer>

#include <functional>
#include <optional>
#include <memory>
#include <unordered_map>
#include <vector>

namespace sotto {
class FramedSocket;
}

namespace sotto::relay::control {
struct Order;
}

namespace sotto::broker {

class RelayPool final : public QObject, public MediaPlane
{
public:
    static constexpr quint32 kTokenLifetimeS = 300;
    struct Endpoint
    {
        QHostAddress host;
        quint16 port = 0;
    };
    RelayPool(std::vector<Endpoint> relays, SecretBytes secret, std::function<void(const QString &)> log,
              QObject *parent = nullptr);
    ~RelayPool() override;

    // The broker ends these sessions: their relay is gone.
    // Called (from the event loop, after the order that found it out has returned) with the
    // sessions placed on a relay that went down.
    void setOnLost(std::function<void(const std::vector<QByteArray> &)> onLost) { m_onLost = std::move(onLost); }
    void start();
    void stop();
    std::vector<RelayStatus> status() const;
    // Ends every session placed (a broker that steps down or is made anew).
    void endAll();
    bool anyUp() const;

    Result<QCborMap> admit(const QByteArray &sid, quint32 ssrc) override;
    void removeMember(const QByteArray &sid, quint32 ssrc) override;
    void endSession(const QByteArray &sid) override;
    bool addTrunk(const QByteArray &sid, const QHostAddress &address, quint16 port, const QByteArray &token, bool home) override;
    void removeTrunks(const QByteArray &sid) override;
    QString relayAt(const QByteArray &sid) const override;
    bool adopt(const QByteArray &sid, const QString &relayAt) override;

private:
    struct Link;
    void tick();
    void connectLink(Link &l);
    void onFrame(Link &l, const QByteArray &frame);
    void lose(Link &l, const QString &why);
    void send(Link &l, const relay::control::Order &order);
    // Orders the relay to refuse the member's (or, without ssrc, the session's) tokens for as
    // long as any minted so far lives, and keeps the order to send again at every reconnect.
    void revoke(Link &l, const QByteArray &sid, std::optional<quint32> ssrc);
    void pruneRevocations(Link &l);
    // The session's relay, placing it if new; nullptr when none is up.
    Link *placed(const QByteArray &sid);

    std::vector<std::unique_ptr<Link>> m_links;
    SecretBytes m_secret;
    std::function<void(const QString &)> m_log;
    std::function<void(const std::vector<QByteArray> &)> m_onLost;
    std::unordered_map<QByteArray, Link *> m_placement;
    QTimer m_tick;
    QElapsedTimer m_lastTick;
};

} // namespace sotto::broker
