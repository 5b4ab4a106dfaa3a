#pragma once

// The phones this broker serves and what is sent to them (PROTOCOL.md §6.2): every connection
// (a handshake under way, or online), the one online channel per account, messages to an
// account in order — one that waits for a group commit holds back those after it, other
// accounts are not held up — and presence, coalesced: each account's change goes to the phones
// that asked for the directory at most once per presenceIntervalMs (the first at once), and a
// change undone within the interval sends nothing. It is the call router's Outbox.
// Private to the broker; main thread only. A message to an account that is not online is
// dropped (its calls end with its connection anyway).

#include "routercontext.h"

#include "broker/config.h"
#include "broker/store.h"

#include <QElapsedTimer>
#include <QObject>
#include <QTimer>

#include <functional>
#include <map>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace sotto::broker {

class PhoneConnection;

class Switchboard final : public Outbox
{
public:
    struct Context
    {
        Store &store;
        const BrokerConfig &config;
        std::function<void(const QString &)> log;
        std::function<void(const QString &account)> wentOffline; // its calls end (the router)
        std::function<void(const QString &account, bool online)> toPeers; // an account of ours, to the peers
        std::function<void()> sessionsChanged;
        std::function<void()> accountsChanged;
    };
    explicit Switchboard(Context context);
    ~Switchboard() override;

    // A new connection: kept until it closes, then deleted.
    void add(PhoneConnection *c);
    // `c` logged in: its account's channel from now on (an older channel of the account closes).
    void registerOnline(PhoneConnection *c);
    // The account asked for the directory: presence goes to it from now on.
    void subscribe(const QString &account) { m_subscribers.insert(account); }
    // Closes every connection of `account` — online, or a handshake under way — but `except`;
    // every connection when `account` is empty.
    void closeAll(const QString &account = {}, const PhoneConnection *except = nullptr);
    // Presence not yet sent is dropped (the broker stops or steps down).
    void dropPendingPresence();

    int connectionCount() const { return int(m_connections.size()); }
    int onlineCount() const { return int(m_online.size()); }
    std::vector<QString> onlineAccounts() const;

    // Outbox.
    void sendTo(const QString &account, const QCborMap &message, Delivery delivery = Delivery::Now) override;
    bool isOnline(const QString &account) const override { return m_online.contains(account); }
    // What subscribers have been told of an account (a change not yet flushed is not shown, so
    // that a directory fetched meanwhile agrees with the presence that follows it).
    bool presenceShown(const QString &account) const override;
    void broadcastPresence(const QString &account, bool online) override;
    void sessionsChanged() override { m_ctx.sessionsChanged(); }
    void accountsChanged() override { m_ctx.accountsChanged(); }

private:
    void onClosed(PhoneConnection *c);
    void flushPresence();

    Context m_ctx;
    QObject m_context; // connections' and timers' receiver: they die with us
    std::vector<PhoneConnection *> m_connections; // owned through QObject parenting (the broker's)
    std::unordered_map<QString, PhoneConnection *> m_online;
    std::unordered_set<QString> m_subscribers;  // online accounts that asked for the directory
    std::unordered_map<QString, int> m_queued;  // messages per account waiting for a commit
    QTimer m_presenceTimer;
    QElapsedTimer m_sincePresenceFlush;
    std::map<QString, bool> m_presencePending;        // changes not yet sent
    std::unordered_map<QString, bool> m_presenceSent; // what subscribers were last told
};

} // namespace sotto::broker
