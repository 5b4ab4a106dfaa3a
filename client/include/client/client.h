#pragma once

// The phone engine, no GUI: login with reconnect and back-off (§5), calls as caller and callee,
// conference invite and join, leave, rotation and refresh under the commit rule (§4, §6), and
// the key timeline. Everything a GUI or the headless phone needs is a signal or a getter here.
// Lives on one thread (the one that created it).

#include "core/channel.h"
#include "core/channels.h"
#include "client/directory.h"
#include "client/enroller.h"
#include "client/keykeeper.h"
#include "core/framedsocket.h"
#include "client/profile.h"
#include "core/skbp.h"
#include "client/timeline.h"

#include <QDateTime>
#include <QElapsedTimer>
#include <QHostAddress>
#include <QObject>
#include <QPointer>
#include <QStringList>
#include <QTimer>

#include <map>
#include <memory>
#include <optional>
#include <vector>

namespace sotto {

struct InviteLink;

struct MemberInfo
{
    QString account;
    quint32 ssrc = 0;
};

struct SessionInfo
{
    enum class Role { Caller, Callee, Invitee };
    QByteArray sid;
    Role role = Role::Caller;
    QString peer;   // the callee (for the caller) or who rang us
    QString callee; // whose key the session key came from
    bool answered = false;
    bool keyed = false; // we hold a key for it
    quint32 gen = 0;
    quint32 ownSsrc = 0;
    quint16 relayPort = 0;
    QString relayHost; // a relay of its own (a literal address); empty: the broker's host
    QByteArray relayToken;
    std::vector<MemberInfo> members; // the others who are in the call
    QStringList ringing;             // invited into it, not answered yet (extension `ringing`)
    QStringList muted;               // members who said they are muted (extension `muted`)
    QDateTime answeredAt;            // when the call was answered (UTC); invalid before
    QString keyFingerprint;
};

struct ClientOptions
{
    QString device = QStringLiteral("sotto/" SOTTO_VERSION);
    int minBackoffMs = 250;
    int maxBackoffMs = 30000;
    int loginTimeoutMs = 5000;
    int enrolTimeoutMs = 10000;
    // How long the previous generation of a session key is kept after a switch (§6.2: ≤ 2 s).
    int previousKeyMs = 2000;
    // The phone's own ceiling on the time between Diffie-Hellman refreshes (0: the broker's
    // schedule alone). The sooner of the two wins.
    qint64 refreshIntervalSecs = 0;
    // While online the phone pings this often, so that the broker's idle timeout never takes a
    // live phone for a vanished one; a broker silent for three intervals is taken as gone and
    // the phone reconnects. 0: no pings.
    int keepAliveMs = 30000;
};

// What the broker says once online is a wire::BrokerEventHandler: one on<Event> each; anything
// else is ignored (a newer broker's extension).
class ClientEngine : public QObject, private wire::BrokerEventHandler<void>
{
    Q_OBJECT
public:
    enum class State { Offline, Connecting, Online };
    Q_ENUM(State)

    ClientEngine(Profile &profile, ClientOptions options = {}, QObject *parent = nullptr);
    ~ClientEngine() override;

    Profile &profile() { return m_profile; }
    Timeline &timeline() { return m_timeline; }
    State state() const { return m_state; }
    QString account() const { return m_profile.account(); }
    skbp::KeyMode keyMode() const { return m_keyMode; }

    // Enrol from an invite (the profile takes the identity first). Result: enrolled()/enrolFailed().
    // An enrolled profile takes a new invite only once its key was refused (refused()).
    void enrol(const InviteLink &link);
    // Go online and stay online (reconnecting with back-off) until stop().
    void start();
    void stop();
    // Run the Diffie-Hellman refresh now (when idle); result: refreshed() or refreshFailed().
    void refresh();

    // Returns a request id; the result is callStarted() or callFailed().
    quint32 call(const QString &account);
    // The session id is taken by value: a slot run from our signals may clear the caller's copy.
    void answer(QByteArray sid);
    void decline(QByteArray sid);
    void invite(QByteArray sid, const QString &account);
    void leave(QByteArray sid);
    // Tells the others in the call that we are muted (or not); the media is muted by the caller.
    void setMuted(QByteArray sid, bool muted);
    void requestDirectory();

    std::vector<ContactInfo> contacts() const;
    std::vector<SessionInfo> sessions() const;
    std::optional<SessionInfo> session(const QByteArray &sid) const;
    bool isIdle() const { return m_sessions.empty(); }
    // The broker's address as connected (the relay lives there too, PROTOCOL §7); null offline.
    QHostAddress brokerAddress() const;
    // When the next periodic refresh is due (invalid when none is scheduled). It runs then, or
    // as soon after as the phone is idle.
    QDateTime nextRefresh() const;
    void setRefreshInterval(qint64 secs);
    // While not online: why the last attempt failed ("connection refused", "login timed out",
    // "connection lost", the broker's error…; empty before the first attempt), and when the next
    // one starts (invalid when none is scheduled). reconnectNow() skips the wait.
    QString offlineReason() const { return m_offlineReason; }
    // The broker refused this device's key for good (revoked, or replaced by another device):
    // the engine stopped and does not retry; loginFailed() said so. A new invite (enrol())
    // brings the account back; start() tries again regardless.
    bool refused() const { return m_refused; }
    QDateTime nextRetry() const;
    void reconnectNow();

    // For the media layer only (never shown): the session key of a generation we still hold,
    // and the SRTP master key and salt for one sender.
    std::optional<SecretBytes> sessionKey(const QByteArray &sid, quint32 gen) const;
    Result<skbp::SrtpMaterial> srtpMaterial(const QByteArray &sid, quint32 gen, quint32 ssrc) const;
    // The key of the session's relay grant (empty from a broker that gives none): the media
    // session proves it in every bind.
    SecretBytes relayGrantKey(const QByteArray &sid) const;

Q_SIGNALS:
    void stateChanged(sotto::ClientEngine::State state);
    void enrolled(quint32 epoch);
    void enrolFailed(const sotto::Error &error);
    void refreshed(quint32 epoch);
    void refreshFailed(const sotto::Error &error);
    // The broker refused this device's key (auth): the engine has stopped (refused() is true).
    // Emitted last: a handler may stop or destroy the engine. Network faults, a standby and a
    // broker that cannot serve now are not refusals: they only schedule a retry.
    void loginFailed(const sotto::Error &error);
    void directoryChanged();
    void presenceChanged(const QString &account, bool online);
    void callStarted(const QByteArray &sid, const QString &callee); // we hold the key; ringing
    void callFailed(quint32 requestId, const QString &account, const sotto::Error &error);
    void incomingCall(const QByteArray &sid, const QString &from, bool conference);
    void callAnswered(const QByteArray &sid);
    void sessionKeyChanged(const QByteArray &sid, quint32 gen);
    void memberJoined(const QByteArray &sid, const QString &account);
    void memberLeft(const QByteArray &sid, const QString &account);
    // Who rings in the call, or who is muted, changed (SessionInfo::ringing, ::muted).
    void membersChanged(const QByteArray &sid);
    void callEnded(const QByteArray &sid, sotto::EndReason reason);
    void rotated(quint32 epoch);
    void requestFailed(const QString &what, const sotto::Error &error);
    // An attempt to reach the broker failed (or the connection went): the next one in `ms`.
    void retryScheduled(int ms, const QString &reason);

private:
    struct Session
    {
        SessionInfo info; // its keys are m_keys'
        QString invitedBy;
        // Kept while the broker is lost: its media rides a relay of its own, which needs no
        // broker. Resumed at the next login (extension `resume`), ended if that fails or takes
        // longer than kHoldMs.
        bool held = false;
    };
    struct PendingCall
    {
        QString to;
    };

    void connectNow();
    void onConnected();
    void onFrame(const QByteArray &body);
    void onDisconnected();
    // Ends the connection attempt (`why` as the offline reason) and retries as after a loss.
    void dropConnection(const QString &why);
    // The broker refused our key for good: stop, no retry, then loginFailed().
    void refuseForGood(const Error &error);
    void dropSocket();
    void onKeepAlive();
    void scheduleReconnect();
    // The broker address this connection attempt uses (Profile::brokerAddresses, in turn).
    std::pair<QString, quint16> currentAddress() const;
    QString currentAddressText() const;
    void setState(State s);
    void send(const QCborMap &message);
    void handle(const wire::Message &m);
    void onWelcome(const wire::Message &m);
    // The broker's events (§6.2).
    void onDirectory(const wire::Message &m) override; // a page of the directory
    void onPresence(const wire::Message &m) override;
    void onCallKey(const wire::Message &m) override;
    void onIncoming(const wire::Message &m) override;
    void onAnswered(const wire::Message &m) override;
    void onSessionKey(const wire::Message &m) override;
    void onJoined(const wire::Message &m) override;
    void onRinging(const wire::Message &m) override;
    void onMuted(const wire::Message &m) override;
    void onLeft(const wire::Message &m) override;
    void onRekey(const wire::Message &m) override;
    void onEnded(const wire::Message &m) override;
    void onRotate(const wire::Message &m) override;
    void onRefreshDue(const wire::Message &m) override;
    void onError(const wire::Message &m) override;
    void onOk(const wire::Message &m) override;
    void onPing(const wire::Message &) override {} // answers with nothing to act on
    // Not for a phone, or not now (the welcome came before): ignored, as a newer broker's
    // extension would be.
    void unexpected(const wire::Message &) override {}
    void addRelayHop(const QByteArray &sid, quint32 gen, const QString &peer, const QString &text);
    void noteGenerationHop(const wire::Message &m, const QByteArray &sid, quint32 gen);
    // After a login: asks the broker to take back each call kept over the lost connection.
    void resumeHeld();
    void endHeld();
    void installGeneration(Session &s, quint32 gen, SecretBytes key);
    void endLocally(QByteArray sid, EndReason reason);
    void maybeRefresh();
    void scheduleRefresh(qint64 brokerSecs);
    // One step of the key timeline, its fields named: addEvent({.kind = …, .sid = …, .text = …}).
    void addEvent(TimelineEvent e);
    Session *find(const QByteArray &sid);

    Profile &m_profile;
    ClientOptions m_options;
    Timeline m_timeline;
    State m_state = State::Offline;
    bool m_running = false;
    bool m_refused = false;
    FramedSocket *m_socket = nullptr;
    SecureChannel m_channel;
    QByteArray m_nonce;
    quint32 m_loginEpoch = 0;
    bool m_pendingRefused = false;
    bool m_loggedIn = false;
    skbp::KeyMode m_keyMode = skbp::KeyMode::Derived;
    int m_backoffMs = 0;
    // Which of the broker's addresses is tried: a failed attempt moves on to the next at once;
    // only a whole round that failed waits for the back-off (Kerberos tries its KDCs so).
    int m_addressIndex = 0;
    int m_failedInRound = 0;
    QString m_offlineReason;
    QString m_failure; // why the connection being torn down went, set where it is known
    QTimer m_reconnectTimer;
    QTimer m_loginTimer;
    QTimer m_refreshTimer;
    QTimer m_keepAliveTimer;
    QElapsedTimer m_sinceLastFrame;
    bool m_refreshWanted = false;
    QDateTime m_refreshDue;       // the sooner of the broker's and our own schedule
    QDateTime m_brokerRefreshDue; // from the welcome's refresh_in
    QDateTime m_lastRefresh;
    QByteArray m_lastCalleeSid; // the call whose end brings a rotation of our key
    QPointer<Enroller> m_enroller;
    quint32 m_nextId = 1;
    std::map<quint32, PendingCall> m_pendingCalls;
    std::map<quint32, QByteArray> m_resumes; // request id → the kept call it resumes
    QTimer m_holdTimer;
    std::map<QByteArray, Session> m_sessions;
    Directory m_directory;
    KeyKeeper m_keys{m_profile, m_options.previousKeyMs};
};

} // namespace sotto
