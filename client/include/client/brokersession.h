#pragma once

// The phone's link to its broker (PROTOCOL.md §5): connect to the broker's addresses in turn,
// log in (BrokerLogin), keep the link alive with pings, and reconnect with back-off after a
// loss or a failed attempt. Once online, what the broker says comes out as message(); nothing
// else in the engine sees a socket.
//
// Addresses: a failed attempt moves on to the next address at once; only a whole round that
// failed waits for the back-off (Kerberos tries its KDCs so).
// Failure modes: every network fault, a standby, a broker that cannot serve now and a login
// that times out schedule a retry (retryScheduled); only the broker refusing this device's key
// (refused()) or a profile with no key to prove stops it (loginFailed).
// Thread: the one that created it. Every signal is emitted last, after the session's own state
// is settled: its handler may stop the session or destroy its owner, and nothing runs on after.

#include "client/brokerlogin.h"
#include "core/framedsocket.h"

#include <QDateTime>
#include <QElapsedTimer>
#include <QHostAddress>
#include <QObject>
#include <QTimer>

#include <optional>

namespace sotto {

class Profile;

class BrokerSession : public QObject
{
    Q_OBJECT
public:
    struct Options
    {
        QString device;
        int minBackoffMs = 250;
        int maxBackoffMs = 30000;
        int loginTimeoutMs = 5000;
        int keepAliveMs = 30000; // 0: no pings
    };

    BrokerSession(Profile &profile, Options options, QObject *parent = nullptr);
    ~BrokerSession() override;

    // Go online and stay online until stop() (or a refusal).
    void start();
    // No more attempts; the connection closes after what was sent.
    void stop();
    void reconnectNow();

    bool running() const { return m_running; }
    bool loggedIn() const { return m_loggedIn; }
    bool refused() const { return m_refused; }
    // Sealed to the broker; dropped while not logged in.
    void send(const QCborMap &message);
    // The broker's address as connected; null offline.
    QHostAddress brokerAddress() const;
    QString offlineReason() const { return m_offlineReason; }
    QDateTime nextRetry() const;

Q_SIGNALS:
    // An attempt starts.
    void connecting();
    // Logged in: the welcome, and what it did to a pending key (the owner commits or discards).
    void online(const sotto::wire::Message &welcome, sotto::BrokerLogin::Pending pending);
    void message(const sotto::wire::Message &message);
    // The connection went (or an attempt failed). A retry follows if running() still holds.
    void lost(bool wasLoggedIn);
    // Stopped for good: the profile has no key to prove, or the broker refused it (refused()).
    void loginFailed(const sotto::Error &error);
    void retryScheduled(int ms, const QString &reason);

private:
    void connectNow();
    void onConnected();
    void onFrame(const QByteArray &body);
    void onLogin(BrokerLogin::Progress progress);
    void onDisconnected();
    void onKeepAlive();
    void dropConnection(const QString &why);
    void refuseForGood(const Error &error);
    void dropSocket();
    void scheduleReconnect();
    std::pair<QString, quint16> currentAddress() const;
    QString currentAddressText() const;

    Profile &m_profile;
    Options m_options;
    bool m_running = false;
    bool m_refused = false;
    bool m_loggedIn = false;
    // The broker refused the pending key: the current one is proved until a welcome or a refusal.
    bool m_pendingRefused = false;
    FramedSocket *m_socket = nullptr;
    std::optional<BrokerLogin> m_login;
    SecureChannel m_channel;
    int m_backoffMs = 0;
    int m_addressIndex = 0;
    int m_failedInRound = 0;
    QString m_offlineReason;
    QString m_failure; // why the connection being torn down went, set where it is known
    QTimer m_reconnectTimer;
    QTimer m_loginTimer;
    QTimer m_keepAliveTimer;
    QElapsedTimer m_sinceLastFrame;
};

} // namespace sotto
