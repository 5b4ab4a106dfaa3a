#pragma once

// A real PostgreSQL server for tests, started by the test itself: initdb into a temporary
// directory, the postmaster as a child process on a free port of 127.0.0.1 (and a Unix socket
// in that directory), password authentication (scram-sha-256) with the password in a 0600
// PGPASSFILE, so that the broker's libpq finds it the way an operator's would. Run as root (CI),
// the server runs as the system user `postgres`, which initdb requires. The postmaster gets
// SIGINT (a fast shutdown) if the test process dies, so no server outlives its test.
//
// Broker and store suites run twice under ctest: once on SQLite and once with
// SOTTO_TEST_STORE=postgresql, where TestBroker, BrokerProcess and the store tests put each
// broker on a fresh database of the one server this process shares.

#include <QProcess>
#include <QString>
#include <QTemporaryDir>

#include <memory>

namespace sotto::test {

// Whether this run's brokers use PostgreSQL (SOTTO_TEST_STORE=postgresql).
bool onPostgres();

class PgServer
{
public:
    PgServer();
    ~PgServer();

    // The server this process shares, started on first use; qFatal with the reason when it
    // cannot start (no server binaries, initdb failed): a PostgreSQL run must not pass unrun.
    static PgServer &shared();

    bool start(QString *error);
    // A fast shutdown (pg_ctl stop -m fast), waiting for it.
    void stop();
    // SIGKILL to the postmaster: the crash of the store's machine.
    void kill();
    bool isRunning() const;
    quint16 port() const { return m_port; }
    QString socketDir() const { return m_dir.path(); }

    // A new, empty database; its postgresql:// URL (TCP on 127.0.0.1, no password in it).
    QString createDatabase();
    QString url(const QString &database) const;
    // Runs SQL as the superuser on `database`; false with the error on failure.
    bool exec(const QString &database, const QString &sql, QString *error = nullptr);

private:
    QStringList asServerUser(const QString &program, const QStringList &args) const;
    bool waitReady(int timeoutMs);

    QTemporaryDir m_dir;
    QString m_bin;
    QString m_data;
    quint16 m_port = 0;
    int m_databases = 0;
    std::unique_ptr<QProcess> m_postmaster;
};

// The store location tests give a broker of `dataDir`: on PostgreSQL a fresh database of the
// shared server the first time (later starts find it recorded in the data dir); else empty.
QString testStoreLocation(const QString &dataDir);
// For a Store opened by hand: a fresh database on PostgreSQL, else the SQLite file `sqlitePath`.
QString testStoreAt(const QString &sqlitePath);
// Drops everything a stopped broker of `dataDir` stored (its SQLite files, or its tables on
// PostgreSQL), as a lost disk would: its key file stays.
bool wipeStore(const QString &dataDir);

} // namespace sotto::test
