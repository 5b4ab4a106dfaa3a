#include "broker/storebackend.h"

#include "core/privatefile.h"

#include <QFile>
#include <QFileInfo>
#include <QSqlError>
#include <QSqlQuery>
#include <QUrl>

namespace sotto::broker {

namespace {

// The schema, one list of statements per version. Types are written as {int} (64-bit), {blob},
// {id} (an integer key the engine assigns) and {order} (a column that orders rows by insertion,
// where the engine has none of its own); each backend spells them in its dialect.
const std::vector<std::vector<const char *>> kMigrations = {
    // 1: the first store.
    {
        "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS accounts("
        " name TEXT PRIMARY KEY,"
        " epoch {int} NOT NULL,"
        " key {blob},"
        " pending_epoch {int} NOT NULL DEFAULT 0,"
        " pending_key {blob},"
        " pending_kind {int} NOT NULL DEFAULT 0,"
        " pending_invite {int} NOT NULL DEFAULT 0,"
        " refreshed_at {int} NOT NULL DEFAULT 0)",
        // Inter-broker keys K_AB of peered brokers (§8), under the same commit rule.
        "CREATE TABLE IF NOT EXISTS peers("
        " name TEXT PRIMARY KEY,"
        " epoch {int} NOT NULL,"
        " key {blob},"
        " pending_epoch {int} NOT NULL DEFAULT 0,"
        " pending_key {blob},"
        " refreshed_at {int} NOT NULL DEFAULT 0)",
        // Ephemeral keys of the msg1s answered per account and epoch (§4: a replay is refused).
        "CREATE TABLE IF NOT EXISTS handshakes("
        " account TEXT NOT NULL,"
        " epoch {int} NOT NULL,"
        " ephemeral {blob} NOT NULL,"
        " {order}"
        " PRIMARY KEY(account, epoch, ephemeral))",
        "CREATE TABLE IF NOT EXISTS invites("
        " id {id},"
        " account TEXT NOT NULL,"
        " secret {blob} NOT NULL,"
        " expires_at {int} NOT NULL,"
        " consumed_at {int})",
    },
    // 2: revocation, last login, and the rotation a session set up makes due.
    {
        "ALTER TABLE accounts ADD COLUMN revoked {int} NOT NULL DEFAULT 0",
        "ALTER TABLE accounts ADD COLUMN last_login {int} NOT NULL DEFAULT 0",
        "ALTER TABLE accounts ADD COLUMN rotate_due {int} NOT NULL DEFAULT 0",
    },
    // 3: calls live on relays of their own, for the instance that takes over (PROTOCOL.md).
    {
        "CREATE TABLE IF NOT EXISTS live_sessions(sid {blob} PRIMARY KEY, record TEXT NOT NULL)",
    },
    // 4: a replacement device's enrolment beside the old device's pending key, and the highest
    // epoch an account ever had (epochs only grow, across revocations and replacements too).
    {
        "ALTER TABLE accounts ADD COLUMN replace_epoch {int} NOT NULL DEFAULT 0",
        "ALTER TABLE accounts ADD COLUMN replace_key {blob}",
        "ALTER TABLE accounts ADD COLUMN replace_invite {int} NOT NULL DEFAULT 0",
        "ALTER TABLE accounts ADD COLUMN epoch_high {int} NOT NULL DEFAULT 0",
        "UPDATE accounts SET epoch_high = epoch",
    },
};

struct Dialect
{
    const char *integer;
    const char *blob;
    const char *id;
    const char *order;
};

std::vector<QString> spell(int version, const Dialect &d)
{
    std::vector<QString> out;
    if (version < 1 || version > int(kMigrations.size()))
        return out;
    for (const char *stmt : kMigrations[std::size_t(version - 1)]) {
        QString s = QString::fromLatin1(stmt);
        s.replace(QLatin1StringView("{int}"), QLatin1StringView(d.integer));
        s.replace(QLatin1StringView("{blob}"), QLatin1StringView(d.blob));
        s.replace(QLatin1StringView("{id}"), QLatin1StringView(d.id));
        s.replace(QLatin1StringView("{order}"), QLatin1StringView(d.order));
        out.push_back(s);
    }
    return out;
}

Error driverMissing(const char *driver, const char *package)
{
    return makeError(ErrorCode::Usage, QStringLiteral("this Qt has no %1 driver (install %2)")
                                           .arg(QLatin1StringView(driver), QLatin1StringView(package)));
}

bool stillConnected(QSqlDatabase &db)
{
    QSqlQuery q(db);
    return db.isOpen() && q.exec(QStringLiteral("SELECT 1")) && q.next();
}

class SqliteBackend final : public StoreBackend
{
public:
    explicit SqliteBackend(StoreLocation location) : m_location(std::move(location)) {}

    const StoreLocation &location() const override { return m_location; }

    Result<QSqlDatabase> connect(const QString &name) override
    {
        const QString &path = m_location.path;
        if (QFileInfo::exists(path)) {
            QFile f(path);
            if (!f.open(QIODevice::ReadOnly))
                return makeError(ErrorCode::Io, QStringLiteral("cannot read %1").arg(path));
            const QByteArray head = f.read(16);
            if (!head.isEmpty() && head != QByteArrayLiteral("SQLite format 3\0"))
                return makeError(ErrorCode::Corrupt,
                                 QStringLiteral("%1 is not a Sotto store (not an SQLite file)").arg(path));
        } else {
            QFile f(path);
            if (!f.open(QIODevice::WriteOnly))
                return makeError(ErrorCode::Io, QStringLiteral("cannot create %1").arg(path));
            f.close();
            if (auto r = makeOwnerOnly(path); !r)
                return r.error();
        }
        QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), name);
        db.setDatabaseName(path);
        db.setConnectOptions(QStringLiteral("QSQLITE_BUSY_TIMEOUT=5000"));
        if (!db.open())
            return makeError(ErrorCode::Io, QStringLiteral("cannot open store: %1").arg(db.lastError().text()));
        QSqlQuery q(db);
        for (const char *pragma : {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL"}) {
            if (!q.exec(QLatin1StringView(pragma)))
                return makeError(ErrorCode::Corrupt, QStringLiteral("%1 is not a usable store: %2")
                                                         .arg(path, q.lastError().text()));
        }
        return db;
    }

    std::vector<QString> migration(int version) const override
    {
        return spell(version, {"INTEGER", "BLOB", "INTEGER PRIMARY KEY AUTOINCREMENT", ""});
    }
    Result<void> lockSchema(QSqlDatabase &) override { return {}; }
    QString insertionOrder() const override { return QStringLiteral("rowid"); }
    bool connectionLost(QSqlDatabase &) override { return false; } // a file does not go away
    bool tryLockActive(QSqlDatabase &) override { return true; }
    void opened() override
    {
        (void)makeOwnerOnly(m_location.path); // again, for a store made by an older version; made so when created
    }

private:
    StoreLocation m_location;
};

// Advisory lock keys: the first half spells "Sott"; the second names the lock.
constexpr int kLockSpace = 0x536f7474;
constexpr int kSchemaLock = 1;
constexpr int kActiveLock = 2;

class PostgresBackend final : public StoreBackend
{
public:
    explicit PostgresBackend(StoreLocation location) : m_location(std::move(location)) {}

    const StoreLocation &location() const override { return m_location; }

    Result<QSqlDatabase> connect(const QString &name) override
    {
        QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QPSQL"), name);
        db.setDatabaseName(m_location.database);
        if (!m_location.user.isEmpty())
            db.setUserName(m_location.user);
        if (!m_location.host.isEmpty())
            db.setHostName(m_location.host);
        if (m_location.port)
            db.setPort(m_location.port);
        // A lost server or network must be noticed in seconds, not at the kernel's two hours:
        // the advisory lock of the active broker lives as long as this session.
        db.setConnectOptions(QStringLiteral("connect_timeout=5;keepalives=1;keepalives_idle=2;"
                                            "keepalives_interval=1;keepalives_count=3;tcp_user_timeout=5000;"
                                            "application_name=sotto-broker"));
        if (!db.open()) {
            // libpq's message names the host and why; it never carries the password.
            return makeError(ErrorCode::Io, QStringLiteral("cannot reach the store %1: %2")
                                                .arg(m_location.toString(), db.lastError().databaseText().trimmed()));
        }
        QSqlQuery q(db);
        // Quiet notices ("relation already exists, skipping") and a sane text encoding.
        (void)q.exec(QStringLiteral("SET client_min_messages TO warning"));
        return db;
    }

    std::vector<QString> migration(int version) const override
    {
        return spell(version, {"BIGINT", "BYTEA", "BIGSERIAL PRIMARY KEY", "seq BIGSERIAL,"});
    }
    Result<void> lockSchema(QSqlDatabase &db) override
    {
        QSqlQuery q(db);
        if (!q.exec(QStringLiteral("SELECT pg_advisory_xact_lock(%1, %2)").arg(kLockSpace).arg(kSchemaLock)))
            return makeError(ErrorCode::Io, QStringLiteral("cannot lock the schema: %1").arg(q.lastError().text()));
        return {};
    }
    QString insertionOrder() const override { return QStringLiteral("seq"); }
    bool connectionLost(QSqlDatabase &db) override { return !stillConnected(db); }
    bool tryLockActive(QSqlDatabase &db) override
    {
        QSqlQuery q(db);
        return q.exec(QStringLiteral("SELECT pg_try_advisory_lock(%1, %2)").arg(kLockSpace).arg(kActiveLock)) && q.next()
            && q.value(0).toBool();
    }
    // meta.active_lease = "PID EXPIRES": the holder's server process and when the lease runs out
    // (milliseconds since the epoch, server clock — the standby compares with the same clock).
    bool renewLease(QSqlDatabase &db, int leaseMs) override
    {
        QSqlQuery q(db);
        return q.exec(QStringLiteral("INSERT INTO meta(key, value) VALUES('active_lease', pg_backend_pid()::text || ' ' || "
                                     "(floor(extract(epoch from clock_timestamp()) * 1000) + %1)::bigint::text) "
                                     "ON CONFLICT(key) DO UPDATE SET value = excluded.value")
                          .arg(leaseMs));
    }
    bool breakExpiredLease(QSqlDatabase &db) override
    {
        // One statement: only the session that holds the active lock now, and only when the lease
        // it wrote has run out (a stale lease of an instance that is gone names another pid).
        QSqlQuery q(db);
        return q.exec(QStringLiteral("SELECT pg_terminate_backend(l.pid) FROM pg_locks l JOIN meta m ON m.key = 'active_lease' "
                                     "WHERE l.locktype = 'advisory' AND l.classid = %1 AND l.objid = %2 AND l.granted "
                                     "AND l.pid <> pg_backend_pid() AND split_part(m.value, ' ', 1)::int = l.pid "
                                     "AND split_part(m.value, ' ', 2)::bigint < floor(extract(epoch from clock_timestamp()) * 1000)")
                          .arg(kLockSpace)
                          .arg(kActiveLock))
            && q.next() && q.value(0).toBool();
    }

private:
    StoreLocation m_location;
};

} // namespace

StoreLocation StoreLocation::sqlite(const QString &path)
{
    StoreLocation l;
    l.engine = Engine::Sqlite;
    l.path = path;
    return l;
}

// spec      = "postgresql://" authority "/" database | "postgres://" … | path   (libpq's URI, no password)
// authority = [user "@"] [host] [":" port]      host: a name, an address, "[v6]", or %2F… a socket dir
// Each part is percent-decoded. A path (no "://") is an SQLite file.
Result<StoreLocation> StoreLocation::parse(const QString &spec)
{
    if (!spec.contains(QLatin1StringView("://"))) {
        if (spec.isEmpty())
            return makeError(ErrorCode::Usage, QStringLiteral("--store: empty"));
        return sqlite(spec);
    }
    auto usage = [](const QString &why) { return makeError(ErrorCode::Usage, QStringLiteral("--store: ") + why); };
    const QString form = QStringLiteral(" (postgresql://USER@HOST:PORT/DB)");
    const qsizetype schemeEnd = spec.indexOf(QLatin1StringView("://"));
    const QString scheme = spec.left(schemeEnd);
    if (scheme != QLatin1StringView("postgresql") && scheme != QLatin1StringView("postgres"))
        return usage(QStringLiteral("unknown scheme %1:").arg(scheme) + form);
    const QString rest = spec.mid(schemeEnd + 3);
    if (rest.contains(u'?') || rest.contains(u'#'))
        return usage(QStringLiteral("options after ? or # are not taken"));
    const qsizetype slash = rest.indexOf(u'/');
    if (slash < 0)
        return usage(QStringLiteral("name the database") + form);
    QString authority = rest.left(slash);
    auto decode = [](const QString &part) { return QUrl::fromPercentEncoding(part.toUtf8()); };
    StoreLocation l;
    l.engine = Engine::Postgres;
    l.database = decode(rest.mid(slash + 1));
    if (l.database.isEmpty() || l.database.contains(u'/'))
        return usage(QStringLiteral("name the database") + form);
    if (const qsizetype at = authority.lastIndexOf(u'@'); at >= 0) {
        const QString userinfo = authority.left(at);
        authority = authority.mid(at + 1);
        if (userinfo.contains(u':'))
            return usage(QStringLiteral("a password does not belong on the command line; put it in ~/.pgpass "
                                        "or the file PGPASSFILE names"));
        l.user = decode(userinfo);
    }
    QString port;
    if (authority.startsWith(u'[')) { // [v6]:port
        const qsizetype close = authority.indexOf(u']');
        if (close < 0)
            return usage(QStringLiteral("unclosed [ in the host"));
        l.host = authority.mid(1, close - 1);
        const QString after = authority.mid(close + 1);
        if (!after.isEmpty() && !after.startsWith(u':'))
            return usage(QStringLiteral("bad host"));
        port = after.mid(1);
    } else if (const qsizetype colon = authority.lastIndexOf(u':'); colon >= 0) {
        l.host = decode(authority.left(colon));
        port = authority.mid(colon + 1);
    } else {
        l.host = decode(authority);
    }
    if (!port.isEmpty()) {
        bool ok = false;
        const uint n = port.toUInt(&ok);
        if (!ok || n == 0 || n > 65535)
            return usage(QStringLiteral("bad port %1").arg(port));
        l.port = quint16(n);
    }
    return l;
}

QString StoreLocation::toString() const
{
    if (engine == Engine::Sqlite)
        return path;
    QString out = QStringLiteral("postgresql://");
    if (!user.isEmpty())
        out += QString::fromUtf8(QUrl::toPercentEncoding(user)) + u'@';
    if (host.contains(u':')) // an IPv6 address
        out += u'[' + host + u']';
    else
        out += QString::fromUtf8(QUrl::toPercentEncoding(host, "."));
    if (port)
        out += u':' + QString::number(port);
    return out + u'/' + database;
}

Result<std::unique_ptr<StoreBackend>> makeStoreBackend(const StoreLocation &location)
{
    const QStringList drivers = QSqlDatabase::drivers();
    if (location.engine == StoreLocation::Engine::Postgres) {
        if (!drivers.contains(QStringLiteral("QPSQL")))
            return driverMissing("QPSQL", "libqt6sql6-psql");
        return std::unique_ptr<StoreBackend>(std::make_unique<PostgresBackend>(location));
    }
    if (!drivers.contains(QStringLiteral("QSQLITE")))
        return driverMissing("QSQLITE", "libqt6sql6-sqlite");
    return std::unique_ptr<StoreBackend>(std::make_unique<SqliteBackend>(location));
}

int storeSchemaVersion()
{
    return int(kMigrations.size());
}

} // namespace sotto::broker
