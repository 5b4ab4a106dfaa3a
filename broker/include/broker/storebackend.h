#pragma once

// Where the broker's store lives, and the SQL engine behind it. The Store (store.h) keeps the
// accounts in memory, batches every change into a group commit and runs afterCommit() work; a
// StoreBackend is the rest: the engine's connection, its dialect of the schema, and the locks
// that engine offers. Two implementations, both through QtSql:
//
//   SQLite (default)  a file in the data dir, WAL, synchronous=FULL, mode 0600.
//   PostgreSQL        `postgresql://USER@HOST:PORT/DB` through the QPSQL driver (libpq). The
//                     password comes only from libpq's own means (~/.pgpass or PGPASSFILE); a
//                     location that carries one is refused, so it never reaches a command line
//                     or a log. HOST may be a Unix-socket directory, percent-encoded (%2Frun…).
//
// Single-threaded, like the Store: one QSqlDatabase connection, named by the Store.

#include "core/result.h"

#include <QSqlDatabase>
#include <QString>

#include <memory>
#include <vector>

namespace sotto::broker {

struct StoreLocation
{
    enum class Engine { Sqlite, Postgres };
    Engine engine = Engine::Sqlite;
    QString path;     // SQLite: the database file
    QString user;     // PostgreSQL: role (empty: libpq's default, the OS user)
    QString host;     // host name, address or socket directory (empty: libpq's default)
    quint16 port = 0; // 0: libpq's default (5432)
    QString database;

    // "postgresql://…" (or "postgres://…"), or a path to an SQLite file. Usage errors say why.
    static Result<StoreLocation> parse(const QString &spec);
    static StoreLocation sqlite(const QString &path);
    // The location as a person reads it (never a password: none is held).
    QString toString() const;
    bool isPostgres() const { return engine == Engine::Postgres; }
};

class StoreBackend
{
public:
    virtual ~StoreBackend() = default;

    virtual const StoreLocation &location() const = 0;
    // Adds the QtSql connection `name` and opens it. Io when the engine cannot be reached (its
    // reason, without secrets); Corrupt when what is there is not a Sotto store.
    virtual Result<QSqlDatabase> connect(const QString &name) = 0;
    // The schema of `version` from version-1 (1: from nothing), in this engine's dialect.
    virtual std::vector<QString> migration(int version) const = 0;
    // Taken inside the schema transaction, so that brokers starting at once on one store
    // migrate it one at a time (PostgreSQL: a transaction-scoped advisory lock; SQLite: the
    // file's own write lock suffices).
    virtual Result<void> lockSchema(QSqlDatabase &db) = 0;
    // The column that orders handshake rows by insertion (SQLite's rowid, PostgreSQL's serial).
    virtual QString insertionOrder() const = 0;
    // Whether a failed statement means the connection to the engine is gone (PostgreSQL's
    // server restarted or unreachable), as opposed to a refused statement.
    virtual bool connectionLost(QSqlDatabase &db) = 0;
    // Called once the schema is in place (SQLite: the file's mode).
    virtual void opened() {}
    // Takes the active broker's lock if it is free: held until this connection's session ends
    // (PostgreSQL: a session-level advisory lock, released by the server when the session
    // goes, however it goes). SQLite: always true, the data dir's lock file already admits one.
    virtual bool tryLockActive(QSqlDatabase &db) = 0;
    // The active instance's lease, beside its lock: a lock alone lives as long as the session,
    // and a paused process (SIGSTOP, a frozen VM) keeps its session — the kernel still answers
    // keep-alives — so a standby would wait for it forever. The active renews the lease (until
    // leaseMs from now, by the server's clock); a standby that finds the lease run out ends the
    // holder's session (pg_terminate_backend), which releases the lock and makes every later
    // statement of the old active fail, so it can commit nothing more. SQLite: no lease (the
    // data dir's lock file admits one process). False when the statement failed.
    virtual bool renewLease(QSqlDatabase &, int /*leaseMs*/) { return true; }
    // For a standby: ends the session of an active whose lease has run out. True when it did.
    virtual bool breakExpiredLease(QSqlDatabase &) { return false; }
};

// The backend for a location. Usage error when QtSql lacks the engine's driver (it names the
// package: libqt6sql6-sqlite or libqt6sql6-psql).
Result<std::unique_ptr<StoreBackend>> makeStoreBackend(const StoreLocation &location);

// The schema version this build writes; a store at a higher one is refused.
int storeSchemaVersion();

} // namespace sotto::broker
