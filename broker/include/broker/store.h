#pragma once

// The broker's durable store: accounts with their current and pending keys, and invites.
// On SQLite (default) or PostgreSQL, through QtSql (storebackend.h). Accounts are cached in
// memory; every change is written inside a batch transaction that commits at the end of the
// current event-loop pass (group commit), and work that must wait for durability (sending
// `rotate`, `enrolled`) is queued with afterCommit(). The schema is created and migrated on
// open (table schema_migrations); a store newer than this build is refused.
// Single-threaded: use from the thread that opened it.

#include "broker/storebackend.h"
#include "core/result.h"
#include "core/secretbytes.h"

#include <QDateTime>
#include <QObject>
#include <QSqlDatabase>
#include <QSqlQuery>
#include <QString>

#include <algorithm>
#include <functional>
#include <map>
#include <set>
#include <memory>
#include <vector>

namespace sotto::broker {

enum class PendingKind { None = 0, Handshake = 1, Rotate = 2 };

struct AccountRecord
{
    QString name;
    quint32 epoch = 0; // 0: enrolment not yet committed
    SecretBytes key;
    quint32 pendingEpoch = 0; // 0: nothing pending
    SecretBytes pendingKey;
    PendingKind pendingKind = PendingKind::None;
    qint64 pendingInvite = 0;    // invite consumed when this pending enrolment commits
    qint64 refreshedAt = 0;      // unix seconds of the last committed Diffie-Hellman
    bool revoked = false;        // by the operator: no key; only a new invite brings it back
    qint64 lastLogin = 0;        // unix seconds (0: never)
    // The highest epoch of this account's key that keyed a session: the key must rotate past it
    // once that session is over (0: nothing due). Written when the session is set up, so that a
    // broker killed mid-call still rotates after its restart.
    quint32 rotateDue = 0;
    // A replacement device's enrolment (`invite --replace`), pending beside the current device's
    // own pending key: it becomes the account's key only when it commits (its confirm, or a
    // login under it). Until then the old device's key — and a rotation or refresh it has
    // pending — keeps working; at the commit both go. 0: none.
    quint32 replaceEpoch = 0;
    SecretBytes replaceKey;
    qint64 replaceInvite = 0;
    // The highest epoch the account's keys have had (committed, or held by a device when it was
    // revoked), kept through a revocation: every new key is numbered above it (epochs only grow,
    // so no two keys of an account share an epoch).
    quint32 epochHigh = 0;

    bool isEnrolled() const { return epoch > 0; }
    // The epoch a new enrolment of this account (first, replacement or after a revocation) is
    // given: above every key it has had, and above the enrolled device's own pending rotation or
    // refresh. A repeated first enrolment (another msg1 for the same invite) or a repeated
    // replacement gets the same epoch, and its pending key replaces the earlier one (§4). 1 for
    // an account never seen.
    quint32 nextEnrolmentEpoch() const
    {
        return std::max({epoch, epochHigh, isEnrolled() ? pendingEpoch : 0u}) + 1;
    }
    bool hasPending() const { return pendingKind != PendingKind::None; }

    // The commit rule (PROTOCOL.md §4), for accounts and peers alike: a key is committed (or
    // logged in under) only by the exchange that made or named it — the same epoch and the same
    // key, compared in constant time — never one another exchange put in its place meanwhile.
    bool holdsPending(quint32 atEpoch, const SecretBytes &own) const;
    bool holdsReplacement(quint32 atEpoch, const SecretBytes &own) const;
    bool holdsCurrent(quint32 atEpoch, const SecretBytes &own) const;
};

struct Invite
{
    qint64 id = 0;
    QString account;
    SecretBytes secret;
    qint64 expiresAt = 0;
};

class Store : public QObject
{
    Q_OBJECT
public:
    explicit Store(QObject *parent = nullptr);
    ~Store() override;

    // Opens or creates the database file (mode 0600). A file that is not a Sotto store is
    // reported (ErrorCode::Corrupt) and left untouched.
    Result<void> open(const QString &path);
    // The same on any location: an SQLite file or a PostgreSQL database (created tables, the
    // schema migrated). Io when the engine cannot be reached; Corrupt when the database holds
    // something else or a newer schema; Usage when QtSql lacks the driver.
    Result<void> open(const StoreLocation &location);
    void close();
    bool isOpen() const { return bool(m_backend); }
    // Where it is, as a person reads it (a path or a postgresql:// URL without a password).
    QString path() const { return m_path; }
    // Whether the engine is still there (PostgreSQL: its session is alive). A store whose
    // connection is gone must be closed and opened again; what it had not committed is lost,
    // and afterCommit() work was told so.
    bool connectionLost();
    // Active/standby brokers on one store: takes the active's lock if it is free (kept for as
    // long as this store's connection lives; always true on SQLite). Then reload() reads what
    // the previous active left.
    bool tryLockActive();
    // The active's lease (StoreBackend::renewLease): committed at once. False when the
    // statement failed (the session is gone).
    bool renewLease(int leaseMs);
    // A standby: ends an active whose lease ran out (StoreBackend::breakExpiredLease).
    bool breakExpiredLease();
    Result<void> reload();
    // The addresses (HOST:PORT) of every broker instance that has served this store, in the
    // order they first registered: invites and `welcome` carry them. Added and committed at once
    // (a standby registers itself too); read from the engine, not the cache.
    Result<void> registerBrokerAddress(const QString &hostPort);
    QStringList brokerAddresses();
    // A write or a commit has failed since open(): memory may be ahead of the engine, so every
    // later afterCommit() is told `false` until the store is opened again.
    bool failed() const { return m_failed; }

    const AccountRecord *account(const QString &name) const;
    std::vector<const AccountRecord *> accounts() const;

    // Mutations: memory at once, disk at the next group commit.
    Result<void> setPending(const QString &name, quint32 epoch, const SecretBytes &key,
                            PendingKind kind, qint64 inviteId = 0);
    Result<void> commitPending(const QString &name);
    Result<void> discardPending(const QString &name);
    // A replacement device's enrolment (AccountRecord::replaceEpoch): set beside the pending
    // slot (a later replacement handshake replaces an earlier one), and committed — the account
    // takes that key and epoch, the old device's pending key goes, the invite is consumed.
    Result<void> setReplacement(const QString &name, quint32 epoch, const SecretBytes &key, qint64 inviteId);
    Result<void> commitReplacement(const QString &name);
    // Whether the account's replacement key (if any) is still backed by the invite it was made
    // under: open at `now`, not replaced by a newer one. One that is no longer is dropped (the
    // old device's key may move again) and false returned; false too when there is none.
    bool replacementStillOpen(const QString &name, qint64 now);
    // The operator's revocation: every key of the account (current and pending) erased, its open
    // invites and handshake records dropped, the account kept as revoked. UnknownAccount when
    // there is nothing to revoke.
    Result<void> revoke(const QString &name);
    Result<void> noteLogin(const QString &name, qint64 when);
    Result<void> setRotateDue(const QString &name, quint32 epoch);

    // Peered brokers' inter-broker keys (§8): the same record, the same commit rule.
    const AccountRecord *peer(const QString &name) const;
    Result<void> setPeerPending(const QString &name, quint32 epoch, const SecretBytes &key);
    Result<void> commitPeerPending(const QString &name);
    Result<void> discardPeerPending(const QString &name);
    // Drops every key held for a peer (current and pending), so that the next handshake runs
    // under the peering secret again: an operator's decision, after the other side lost its store.
    Result<void> forgetPeer(const QString &name);

    // Handshakes answered (§4 replay rule): the initiator's ephemeral key of each msg1 the
    // broker answered for an account and epoch, written in the batch of the pending key it made.
    // Rows of epochs below the account's current one are dropped when a key commits.
    bool handshakeAnswered(const QString &account, quint32 epoch, const QByteArray &ephemeral);
    Result<void> recordHandshake(const QString &account, quint32 epoch, const QByteArray &ephemeral);

    // Unconsumed, unexpired invites for an account (read straight from disk, so invites made by
    // another process while the broker runs are seen at once).
    std::vector<Invite> openInvites(const QString &account, qint64 now);
    // Writes and commits at once (for `sotto broker invite` and the console). At most one open
    // invite per account: a new one replaces any unconsumed older one.
    Result<void> createInvite(const QString &account, const SecretBytes &secret, qint64 expiresAt);

    // Calls on relays of their own (PROTOCOL.md: a call kept over a broker take-over): one record
    // per session (the router's text), written with the batch while the call is up and dropped
    // at its end, so the instance that takes over knows which calls it may adopt.
    Result<void> setLiveSession(const QByteArray &sid, const QString &record);
    Result<void> dropLiveSession(const QByteArray &sid);
    std::map<QByteArray, QString> liveSessions(); // read straight from the store

    // Runs `then(ok)` once everything written so far is durable (or has failed to be).
    void afterCommit(std::function<void(bool ok)> then);
    bool hasUncommitted() const { return m_inBatch; }
    // Commits the open batch now.
    bool flush();

    QString metaValue(const QString &key) const;
    Result<void> setMetaValue(const QString &key, const QString &value);

    // The whole stored state as text (keys as fingerprints), for tests to compare before/after.
    QString dump();

    int commitCount() const { return m_commits; }

Q_SIGNALS:
    void accountChanged(const QString &name);

private:
    Result<void> ensureBatch();
    // After a handshake's key (or a replacement's) committed at `epoch`: the older handshake
    // records go (when `forgetHandshakes`), and the invite it came from is spent.
    Result<void> afterKeyCommitted(const QString &name, quint32 epoch, bool forgetHandshakes, qint64 invite);
    Result<void> writeAccount(const AccountRecord &a);
    Result<void> writePeer(const AccountRecord &p);
    Result<void> load();
    Result<void> migrate(QSqlDatabase &db);
    void scheduleFlush();
    // A write's error: the store is failed() from now on.
    Error writeError(const QString &what, const QSqlError &e);

    std::unique_ptr<StoreBackend> m_backend;
    bool m_failed = false;
    QString m_connectionName;
    bool writeDirtyAccounts();
    std::set<QString> m_dirtyAccounts; // changed in this batch: written at its commit
    std::map<int, std::unique_ptr<QSqlQuery>> m_writeAccountQueries; // by row count, prepared once
    QString m_path;
    std::map<QString, std::unique_ptr<AccountRecord>> m_accounts;
    std::map<QString, std::unique_ptr<AccountRecord>> m_peers;
    std::vector<std::function<void(bool)>> m_afterCommit;
    bool m_inBatch = false;
    bool m_flushScheduled = false;
    int m_commits = 0;
};

} // namespace sotto::broker
