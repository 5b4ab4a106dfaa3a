#pragma once

// The sessions homed at this broker (PROTOCOL.md §6) and, beside them, who is involved where.
// Every change to which sessions exist, and to who is in them, goes through this table, so that
// its per-account index stays true: admission checks and an account's leaving look only at the
// sessions that account is involved in, so a call costs the same however many sessions others
// hold. (Flags of a member already in — joined, muted — change in place and are not indexed.)
// Private to the broker; main thread only. No method fails.

#include "core/secretbytes.h"

#include <QByteArray>
#include <QCborMap>
#include <QDateTime>
#include <QString>

#include <map>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

namespace sotto::broker {

struct Member
{
    QString account;  // ours ("alice") or behind a peer ("dave@b")
    quint32 ssrc = 0;
    QByteArray token; // a placeholder grant's for a member behind a peer (its broker grants)
    QCborMap relay;   // the grant of a member of ours (MediaPlane::admit)
    bool joined = false;
    bool muted = false;
    QString ringBy; // while ringing: who made it ring (the caller, or the member who invited)
};

struct Session
{
    QByteArray sid;
    QString caller;
    QString callee;
    quint32 calleeEpoch = 0; // of the callee's key SK_0 came from: a rotation must pass it
    quint32 gen = 0;
    SecretBytes key; // SK_gen
    std::vector<Member> members;
    bool answered = false;
    bool awaitingKey = false;      // a remote callee's broker has not sent SK_0 yet
    std::optional<quint32> callId; // the caller's request id, while awaiting the key
    QByteArray trunkToken;         // for the relays' trunk to the peer, if any
    qint64 startedMs = QDateTime::currentMSecsSinceEpoch();
    bool adopted = false;  // kept over a take-over: no key here (CallRouter::resume)
    bool recorded = false; // in the store's live sessions (Adoption::record)

    Member *find(const QString &account);
    const Member *find(const QString &account) const { return const_cast<Session *>(this)->find(account); }
    int joinedCount() const;
};

class SessionTable
{
public:
    using Map = std::map<QByteArray, std::unique_ptr<Session>>;

    bool contains(const QByteArray &sid) const { return m_sessions.contains(sid); }
    Session *find(const QByteArray &sid);
    // The session and this account's place in it, or nulls.
    std::pair<Session *, Member *> locate(const QByteArray &sid, const QString &account);
    // In sid order.
    const Map &all() const { return m_sessions; }

    Session &insert(std::unique_ptr<Session> session);
    // Out of the table (and the index); null when there is no such session.
    std::unique_ptr<Session> take(const QByteArray &sid);
    void addMember(Session &s, const Member &m);
    // Every member named `account` leaves `s`.
    void dropMember(Session &s, const QString &account);

    // Counts over the sessions `account` is involved in.
    int joinedSessionsOf(const QString &account) const; // it has joined
    int ringingTo(const QString &account) const;        // it is ringing in
    // Members ringing because of `by` (toward `to`, when given).
    int ringingBy(const QString &by, const QString &to = {}) const;
    // The sids of the sessions `account` is a member of, in sid order.
    std::vector<QByteArray> sessionsWith(const QString &account) const;
    // How many accounts the index holds (for tests: it empties as sessions go).
    std::size_t indexedAccounts() const { return m_involved.size(); }

    // The live sessions `account` is involved in: a member of, or the one who made a member of
    // it ring.
    template<typename F>
    void forEachInvolving(const QString &account, F &&f) const
    {
        if (auto it = m_involved.find(account); it != m_involved.end()) {
            for (const auto &[session, count] : it->second)
                f(*session);
        }
    }

private:
    void involve(const Member &m, Session *s, int delta);

    Map m_sessions;
    // account → the sessions it is involved in, each with how many of its members' account and
    // ringBy fields name it.
    std::unordered_map<QString, std::unordered_map<const Session *, int>> m_involved;
};

} // namespace sotto::broker
