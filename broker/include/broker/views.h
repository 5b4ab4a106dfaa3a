#pragma once

// What a running broker shows of itself — its role, its relays, peers, sessions and accounts — to
// the console, `sotto broker status`/`accounts` and tests: copies, taken on the broker's thread.

#include <QByteArray>
#include <QString>
#include <QStringList>

#include <vector>

namespace sotto::broker {

// A relay of its own as the broker sees it.
struct RelayStatus
{
    QString address;     // HOST:PORT
    bool up = false;
    QString why;         // while down: why (never connected, refused, silent…)
    int sessions = 0;    // this broker's live sessions on it
    quint32 relaySessions = 0; // what the relay reports (every broker's)
    quint32 members = 0;
    quint64 forwarded = 0;
    quint64 refused = 0; // binds it refused (forged, expired, revoked, full)
};
// One line for the operator: "HOST:PORT up: …" or "HOST:PORT down: why" (status, console).
QString relayStatusText(const RelayStatus &r);

struct PeerView
{
    enum class State { Down, Connecting, Up };
    QString name;
    QString address; // host:port
    State state = State::Down;
    quint32 epoch = 0; // of the inter-broker key K_AB (0: none yet)
    QString fingerprint;
    bool initiator = false; // we dial
    QString lastError;
    bool keyHeld = false; // a key for it is stored, current or only pending: forgetPeer() has work
};

struct SessionView
{
    QByteArray sid;
    QString caller;
    QString callee;
    quint32 gen = 0;
    QStringList members; // joined
    QStringList ringing;
    qint64 startedMs = 0; // when it began to ring (ms since the epoch, UTC)
};

struct AccountView
{
    QString name;
    quint32 epoch = 0;
    QString fingerprint;
    bool online = false;
    bool rotationPending = false;
    bool revoked = false;
    qint64 lastLogin = 0; // unix seconds, 0: never
};

// Several brokers may share one PostgreSQL store (and one static key): exactly one is Active (it
// holds the store's advisory lock), the others are Standby. A standby listens and refuses every
// phone with a cleartext `standby` error naming itself, polls the lock, and takes over within
// standbyPollMs of the active's session ending (a stop, kill -9, a lost machine or network: the
// server ends the session). An active that loses its store steps down: its phones go, its
// uncommitted work is told it failed, and it becomes a standby. SQLite: always Active.
enum class BrokerRole { Stopped, Standby, Active };
QString brokerRoleName(BrokerRole role);

struct BrokerStatus
{
    BrokerRole role = BrokerRole::Stopped;
    QString why;          // how it came to be in that role
    QString store;        // where the store is (no password)
    QString address;      // this instance's HOST:PORT
    QStringList instances; // every instance of the store, in registration order
    qint64 sinceMs = 0;    // in this role since (ms since the epoch)
    int sessions = 0;      // live sessions
    int online = 0;        // phones logged in here
    std::vector<RelayStatus> relays; // relays of their own; empty: relayed in process
};

} // namespace sotto::broker
