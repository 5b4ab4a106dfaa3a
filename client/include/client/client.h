#pragma once

// The phone engine, no GUI: a thin front over its parts — BrokerSession (connect, log in, keep
// alive, reconnect: §5), CallBook (calls, conferences, kept calls: §6), Directory, KeyKeeper
// (the call keys) — plus enrolment, refresh and rotation under the commit rule (§4, §6.4) and
// the key timeline. Everything a GUI or the headless phone needs is a signal or a getter here.
// Lives on one thread (the one that created it).

#include "client/brokersession.h"
#include "client/callbook.h"
#include "client/directory.h"
#include "client/enroller.h"
#include "client/keykeeper.h"
#include "client/profile.h"
#include "client/timeline.h"
#include "core/channels.h"
#include "core/skbp.h"

#include <QDateTime>
#include <QHostAddress>
#include <QObject>
#include <QPointer>
#include <QTimer>

#include <optional>
#include <vector>

namespace sotto {

struct InviteLink;

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
    bool isIdle() const { return m_calls.isEmpty(); }
    // The broker's address as connected (the relay lives there too, PROTOCOL §7); null offline.
    QHostAddress brokerAddress() const;
    // When the next periodic refresh is due (invalid when none is scheduled). It runs then, or
    // as soon after as the phone is idle.
    QDateTime nextRefresh() const;
    void setRefreshInterval(qint64 secs);
    // While not online: why the last attempt failed ("connection refused", "login timed out",
    // "connection lost", the broker's error…; empty before the first attempt), and when the next
    // one starts (invalid when none is scheduled). reconnectNow() skips the wait.
    QString offlineReason() const { return m_link.offlineReason(); }
    // The broker refused this device's key for good (revoked, or replaced by another device):
    // the engine stopped and does not retry; loginFailed() said so. A new invite (enrol())
    // brings the account back; start() tries again regardless.
    bool refused() const { return m_link.refused(); }
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
    void onOnline(const wire::Message &welcome, BrokerLogin::Pending pending);
    void onLost();
    // The broker's events (§6.2): the calls' go to the CallBook.
    void onDirectory(const wire::Message &m) override; // a page of the directory
    void onPresence(const wire::Message &m) override;
    void onCallKey(const wire::Message &m) override { m_calls.takeCallKey(m); }
    void onIncoming(const wire::Message &m) override { m_calls.takeIncoming(m); }
    void onAnswered(const wire::Message &m) override { m_calls.takeAnswered(m); }
    void onSessionKey(const wire::Message &m) override { m_calls.takeSessionKey(m); }
    void onJoined(const wire::Message &m) override { m_calls.takeJoined(m); }
    void onRinging(const wire::Message &m) override { m_calls.takeRinging(m); }
    void onMuted(const wire::Message &m) override { m_calls.takeMuted(m); }
    void onLeft(const wire::Message &m) override { m_calls.takeLeft(m); }
    void onRekey(const wire::Message &m) override { m_calls.takeRekey(m); }
    void onEnded(const wire::Message &m) override { m_calls.takeEnded(m); }
    void onOk(const wire::Message &m) override { m_calls.takeOk(m); }
    void onError(const wire::Message &m) override { m_calls.takeError(m); }
    void onRotate(const wire::Message &m) override;
    void onRefreshDue(const wire::Message &m) override;
    void onPing(const wire::Message &) override {} // answers with nothing to act on
    // Not for a phone, or not now (the welcome came before): ignored, as a newer broker's
    // extension would be.
    void unexpected(const wire::Message &) override {}
    void setState(State s);
    void maybeRefresh();
    void scheduleRefresh(qint64 brokerSecs);
    // One step of the key timeline, its fields named: addEvent({.kind = …, .sid = …, .text = …}).
    void addEvent(TimelineEvent e);

    Profile &m_profile;
    ClientOptions m_options;
    Timeline m_timeline;
    State m_state = State::Offline;
    skbp::KeyMode m_keyMode = skbp::KeyMode::Derived;
    QTimer m_refreshTimer;
    bool m_refreshWanted = false;
    QDateTime m_refreshDue;       // the sooner of the broker's and our own schedule
    QDateTime m_brokerRefreshDue; // from the welcome's refresh_in
    QDateTime m_lastRefresh;
    QPointer<Enroller> m_enroller;
    Directory m_directory;
    KeyKeeper m_keys{m_profile, m_options.previousKeyMs};
    BrokerSession m_link;
    CallBook m_calls{m_profile, m_keys, m_timeline, m_link};
};

} // namespace sotto
