#pragma once

// The phone's calls as the protocol sees them (PROTOCOL.md §6): calls placed and answered,
// conference invitations and joins, who rings and who is muted, leaves, re-keys, and calls
// kept over a lost broker (a relay of their own) until the next login resumes them. Keys are
// KeyKeeper's; each step goes to the key timeline.
//
// Fed by the engine with the broker's call events (take<Event>); sends through the BrokerSession.
// Failure modes: a key that does not unwrap declines or leaves that call and says so
// (requestFailed); a broker error to a pending request fails that request (callFailed).
// Thread: the one that created it. Every signal may end calls, start others or destroy the
// owner: each is emitted last, and nothing iterates the calls while it emits.

#include "client/keykeeper.h"
#include "client/timeline.h"
#include "core/skbp.h"
#include "core/wire.h"

#include <QDateTime>
#include <QObject>
#include <QStringList>
#include <QTimer>

#include <map>
#include <optional>
#include <vector>

namespace sotto {

class BrokerSession;
class Profile;

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

class CallBook : public QObject
{
    Q_OBJECT
public:
    CallBook(Profile &profile, KeyKeeper &keys, Timeline &timeline, BrokerSession &link, QObject *parent = nullptr);

    void setKeyMode(skbp::KeyMode mode) { m_keyMode = mode; }
    // A fresh request id (calls, invites, resumes, the directory share one sequence).
    quint32 nextId() { return m_nextId++; }

    quint32 call(const QString &account);
    void answer(QByteArray sid);
    void decline(QByteArray sid);
    void invite(QByteArray sid, const QString &account);
    void leave(QByteArray sid);
    void setMuted(QByteArray sid, bool muted);

    std::vector<SessionInfo> sessions() const;
    std::optional<SessionInfo> session(const QByteArray &sid) const;
    bool isEmpty() const { return m_sessions.empty(); }
    // The call whose end brings a rotation of our key (we were its callee), taken once.
    QByteArray takeLastCalleeSid() { return std::exchange(m_lastCalleeSid, {}); }

    // The broker's call events (§6.2).
    void takeCallKey(const wire::Message &m);
    void takeIncoming(const wire::Message &m);
    void takeAnswered(const wire::Message &m);
    void takeSessionKey(const wire::Message &m);
    void takeJoined(const wire::Message &m);
    void takeRinging(const wire::Message &m);
    void takeMuted(const wire::Message &m);
    void takeLeft(const wire::Message &m);
    void takeRekey(const wire::Message &m);
    void takeEnded(const wire::Message &m);
    void takeOk(const wire::Message &m);
    void takeError(const wire::Message &m);

    // After a login: asks the broker to take back each call kept over the lost connection.
    void resumeHeld();
    // The broker connection went. Calls on a relay of their own are kept (when `keep`: the
    // engine will reconnect) for up to kHoldMs; every other call ends, every request fails.
    void connectionLost(bool keep);
    // Leaves every call (told to the broker while online), ending each here.
    void leaveAll();

    // How long a call on a relay of its own is kept while the broker is lost (a standby takes
    // over within seconds; the broker forgets a kept call nobody resumed after 30 s).
    static constexpr int kHoldMs = 30000;

Q_SIGNALS:
    void callStarted(const QByteArray &sid, const QString &callee);
    void callFailed(quint32 requestId, const QString &account, const sotto::Error &error);
    void incomingCall(const QByteArray &sid, const QString &from, bool conference);
    void callAnswered(const QByteArray &sid);
    void sessionKeyChanged(const QByteArray &sid, quint32 gen);
    void memberJoined(const QByteArray &sid, const QString &account);
    void memberLeft(const QByteArray &sid, const QString &account);
    void membersChanged(const QByteArray &sid);
    void callEnded(const QByteArray &sid, sotto::EndReason reason);
    void requestFailed(const QString &what, const sotto::Error &error);

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

    void send(const QCborMap &message);
    void addRelayHop(const QByteArray &sid, quint32 gen, const QString &peer, const QString &text);
    void noteGenerationHop(const wire::Message &m, const QByteArray &sid, quint32 gen);
    void installGeneration(Session &s, quint32 gen, SecretBytes key);
    // A session_key's or rekey's generation: its first hop noted, unwrapped under our key and
    // installed. Null when the call is not ours, or (requestFailed says so) it does not unwrap.
    Session *takeGeneration(const wire::Message &m, skbp::WrapPurpose purpose, const QString &what);
    void endLocally(QByteArray sid, EndReason reason);
    void endHeld();
    // One step of the key timeline, its fields named: addEvent({.kind = …, .sid = …, .text = …}).
    void addEvent(TimelineEvent e) { m_timeline.append(std::move(e)); }
    Session *find(const QByteArray &sid);

    Profile &m_profile;
    KeyKeeper &m_keys;
    Timeline &m_timeline;
    BrokerSession &m_link;
    skbp::KeyMode m_keyMode = skbp::KeyMode::Derived;
    quint32 m_nextId = 1;
    std::map<quint32, QString> m_pendingCalls; // request id → whom it calls
    std::map<quint32, QByteArray> m_resumes;   // request id → the kept call it resumes
    std::map<QByteArray, Session> m_sessions;
    QByteArray m_lastCalleeSid;
    QTimer m_holdTimer;
};

} // namespace sotto
