// The broker store, on the engine of this run: a real SQLite file, or (SOTTO_TEST_STORE=
// postgresql) a real PostgreSQL server this test starts itself, reopened to prove durability.
// The same conformance cases run on both; each engine has a few of its own.
#include "broker/broker.h"
#include "broker/store.h"
#include "core/crypto.h"
#include "core/privatefile.h"
#include "core/skbp.h"
#include "support/fixtures.h"
#include "support/pgserver.h"

#include <QSqlDatabase>
#include <QSqlQuery>
#include <QUuid>

#include <QDateTime>
#include <QElapsedTimer>
#include <QFile>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include <atomic>
#include <optional>
#include <thread>

using namespace sotto;
using namespace sotto::broker;

class TestStore : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    // Conformance: both engines.
    void pendingAndCommitSurviveReopen();
    void groupCommitBatchesWrites();
    void invitesAreSingleUseAndExpire();
    void revocationAndPeersSurviveReopen();
    void answeredHandshakesAreBounded();
    void brokerKeepsItsName();
    void aNewerSchemaIsRefused();
    void anotherDatabaseIsNotTaken();
    // Locations.
    void locationsParse_data();
    void locationsParse();
    // SQLite.
    void fileModeIsPrivate();
    void corruptFilesAreReportedAndLeftAlone_data();
    void corruptFilesAreReportedAndLeftAlone();
    void aStoreFromBeforeTheMigrationTableIsUpgraded();
    void keysLeaveNothingInTheQuery();
    // PostgreSQL.
    void anUnreachableServerIsNamedWithoutSecrets();
    void aServerRestartIsNoticedAndNothingCommittedIsLost();
    void twoBrokersMigrateOneStoreTogether();
};

namespace {

// A fresh store location of this run's engine.
QString freshLocation(const QTemporaryDir &dir)
{
    return test::testStoreAt(dir.filePath(QStringLiteral("broker.db")));
}

Result<void> openAt(Store &s, const QString &spec)
{
    auto location = StoreLocation::parse(spec);
    if (!location)
        return location.error();
    return s.open(*location);
}

// SQL straight to the engine, behind the store's back: the first column of the first row
// (an empty QVariant for a statement without rows), nullopt when the statement fails.
std::optional<QVariant> rawValue(const QString &spec, const QString &sql)
{
    auto location = StoreLocation::parse(spec);
    if (!location)
        return std::nullopt;
    const QString name = QUuid::createUuid().toString();
    std::optional<QVariant> out;
    {
        QSqlDatabase db;
        if (location->isPostgres()) {
            db = QSqlDatabase::addDatabase(QStringLiteral("QPSQL"), name);
            db.setHostName(location->host);
            db.setPort(location->port);
            db.setUserName(location->user);
            db.setDatabaseName(location->database);
        } else {
            db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), name);
            db.setDatabaseName(location->path);
        }
        if (db.open()) {
            QSqlQuery q(db);
            if (q.exec(sql))
                out = q.next() ? q.value(0) : QVariant();
        }
        db.close();
    }
    QSqlDatabase::removeDatabase(name);
    return out;
}

bool rawExec(const QString &spec, const QString &sql)
{
    return rawValue(spec, sql).has_value();
}

} // namespace

static QString s(const char *text)
{
    return QString::fromUtf8(text);
}
static QString s_(const char *text)
{
    return QString::fromUtf8(text);
}

static SecretBytes key(char c)
{
    return SecretBytes::copyOf(QByteArray(32, c));
}

void TestStore::pendingAndCommitSurviveReopen()
{
    QTemporaryDir dir;
    const QString path = freshLocation(dir);
    {
        Store s;
        QVERIFY(openAt(s, path).ok());
        QVERIFY(s.setPending(QStringLiteral("alice"), 1, key('a'), PendingKind::Handshake).ok());
        QVERIFY(s.flush());
    }
    {
        Store s;
        QVERIFY(openAt(s, path).ok());
        const AccountRecord *a = s.account(QStringLiteral("alice"));
        QVERIFY(a);
        QCOMPARE(a->epoch, 0u);
        QVERIFY(!a->isEnrolled());
        QCOMPARE(a->pendingEpoch, 1u);
        QVERIFY(a->pendingKey.equals(key('a')));
        QVERIFY(s.commitPending(QStringLiteral("alice")).ok());
        QVERIFY(s.setPending(QStringLiteral("alice"), 2, key('b'), PendingKind::Rotate).ok());
        // Not flushed explicitly: close() commits what is batched.
    }
    Store s;
    QVERIFY(openAt(s, path).ok());
    const AccountRecord *a = s.account(QStringLiteral("alice"));
    QCOMPARE(a->epoch, 1u);
    QVERIFY(a->key.equals(key('a')));
    QCOMPARE(a->pendingKind, PendingKind::Rotate);
    QCOMPARE(a->pendingEpoch, 2u);
    QVERIFY(a->refreshedAt > 0);
    QVERIFY(!s.commitPending(QStringLiteral("nobody")).ok());
}

void TestStore::groupCommitBatchesWrites()
{
    QTemporaryDir dir;
    Store s;
    QVERIFY(openAt(s, freshLocation(dir)).ok());
    const int before = s.commitCount();
    std::vector<int> order;
    for (int i = 0; i < 50; ++i) {
        QVERIFY(s.setPending(QStringLiteral("u%1").arg(i), 1, key(char(i)), PendingKind::Handshake).ok());
        s.afterCommit([&order, i](bool ok) {
            QVERIFY(ok);
            order.push_back(i);
        });
    }
    QVERIFY(order.empty()); // nothing runs before the commit
    QTRY_COMPARE(int(order.size()), 50);
    QCOMPARE(s.commitCount(), before + 1); // fifty writes, one commit
    for (int i = 0; i < 50; ++i)
        QCOMPARE(order[std::size_t(i)], i);
    // With nothing batched, afterCommit runs at once.
    bool ran = false;
    s.afterCommit([&ran](bool) { ran = true; });
    QVERIFY(ran);
}

void TestStore::invitesAreSingleUseAndExpire()
{
    QTemporaryDir dir;
    Store s;
    QVERIFY(openAt(s, freshLocation(dir)).ok());
    const qint64 now = QDateTime::currentSecsSinceEpoch();
    QVERIFY(s.createInvite(QStringLiteral("bob"), key('y'), now - 1).ok()); // already expired
    QVERIFY(s.openInvites(QStringLiteral("bob"), now).empty());
    QVERIFY(s.createInvite(QStringLiteral("bob"), key('w'), now + 60).ok());
    QVERIFY(s.createInvite(QStringLiteral("bob"), key('x'), now + 60).ok()); // replaces w (§4: one open invite)
    auto open = s.openInvites(QStringLiteral("bob"), now);
    QCOMPARE(int(open.size()), 1);
    QVERIFY(open.front().secret.equals(key('x')));
    QVERIFY(s.openInvites(QStringLiteral("carol"), now).empty());
    QVERIFY(s.setPending(QStringLiteral("bob"), 1, key('k'), PendingKind::Handshake, open.front().id).ok());
    QCOMPARE(int(s.openInvites(QStringLiteral("bob"), now).size()), 1); // pending does not consume
    QVERIFY(s.commitPending(QStringLiteral("bob")).ok());
    QVERIFY(s.flush());
    QVERIFY(s.openInvites(QStringLiteral("bob"), now).empty()); // committed enrolment consumes it
}

void TestStore::brokerKeepsItsName()
{
    // A broker restarted on its data dir without --name keeps the name it had (phones and
    // peers know it by that name), rather than taking the host's.
    QTemporaryDir dir;
    broker::BrokerConfig cfg;
    cfg.address = QHostAddress::LocalHost;
    cfg.port = 0;
    cfg.dataDir = dir.path();
    cfg.store = test::testStoreLocation(dir.path());
    cfg.name = QStringLiteral("north");
    {
        broker::Broker b(cfg);
        QVERIFY(b.start().ok());
        QCOMPARE(b.name(), QStringLiteral("north"));
        b.stop();
    }
    cfg.name.clear();
    cfg.store.clear(); // the data dir names its store
    broker::Broker again(cfg);
    QVERIFY(again.start().ok());
    QCOMPARE(again.name(), QStringLiteral("north"));
    again.stop();
}

void TestStore::fileModeIsPrivate()
{
    if (test::onPostgres())
        QSKIP("SQLite's own case: the server keeps PostgreSQL's files");
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("broker.db"));
    Store s;
    QVERIFY(s.open(path).ok());
    // The user's alone: mode 0600 on POSIX, an owner-only DACL on Windows (core/privatefile.h).
    QVERIFY2(isOwnerOnly(path).value(), qPrintable(describeAccess(path).value()));
#ifdef Q_OS_UNIX
    const auto perms = QFile::permissions(path) & (QFileDevice::ReadOwner | QFileDevice::WriteOwner | QFileDevice::ExeOwner
                                                   | QFileDevice::ReadGroup | QFileDevice::WriteGroup | QFileDevice::ExeGroup
                                                   | QFileDevice::ReadOther | QFileDevice::WriteOther | QFileDevice::ExeOther);
    QCOMPARE(perms, QFileDevice::ReadOwner | QFileDevice::WriteOwner);
#endif
}

void TestStore::corruptFilesAreReportedAndLeftAlone_data()
{
    QTest::addColumn<QByteArray>("content");
    QTest::newRow("garbage") << QByteArray("this is not a database at all, but it is long enough");
    QByteArray header("SQLite format 3\0", 16);
    QTest::newRow("truncated sqlite") << header + QByteArray(84, '\x01');
}

void TestStore::corruptFilesAreReportedAndLeftAlone()
{
    if (test::onPostgres())
        QSKIP("SQLite's own case (PostgreSQL: anotherDatabaseIsNotTaken)");
    QFETCH(QByteArray, content);
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("broker.db"));
    {
        QFile f(path);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write(content);
    }
    Store s;
    auto r = s.open(path);
    QVERIFY(!r.ok());
    QVERIFY(r.error().code == ErrorCode::Corrupt || r.error().code == ErrorCode::Io);
    QVERIFY(!r.error().message.isEmpty());
    QFile f(path);
    QVERIFY(f.open(QIODevice::ReadOnly));
    QCOMPARE(f.readAll(), content);
}

void TestStore::revocationAndPeersSurviveReopen()
{
    QTemporaryDir dir;
    const QString path = freshLocation(dir);
    QString before;
    {
        Store s;
        QVERIFY(openAt(s, path).ok());
        QVERIFY(s.setPending(QStringLiteral("alice"), 1, key('a'), PendingKind::Handshake).ok());
        QVERIFY(s.commitPending(QStringLiteral("alice")).ok());
        QVERIFY(s.setPending(QStringLiteral("bob"), 1, key('b'), PendingKind::Handshake).ok());
        QVERIFY(s.commitPending(QStringLiteral("bob")).ok());
        QVERIFY(s.setRotateDue(QStringLiteral("bob"), 1).ok());
        QVERIFY(s.noteLogin(QStringLiteral("bob"), 1700000000).ok());
        QVERIFY(s.revoke(QStringLiteral("alice")).ok());
        QVERIFY(s.setPeerPending(QStringLiteral("north"), 1, key('n')).ok());
        QVERIFY(s.commitPeerPending(QStringLiteral("north")).ok());
        QVERIFY(s.setPeerPending(QStringLiteral("north"), 2, key('o')).ok());
        QVERIFY(s.setMetaValue(QStringLiteral("name"), QStringLiteral("south")).ok());
        before = s.dump();
    }
    Store s;
    QVERIFY(openAt(s, path).ok());
    QCOMPARE(s.dump(), before);
    const AccountRecord *alice = s.account(QStringLiteral("alice"));
    QVERIFY(alice && alice->revoked && !alice->isEnrolled() && alice->key.size() == 0);
    const AccountRecord *bob = s.account(QStringLiteral("bob"));
    QVERIFY(bob && bob->key.equals(key('b')));
    QCOMPARE(bob->rotateDue, 1u);
    QCOMPARE(bob->lastLogin, qint64(1700000000));
    const AccountRecord *north = s.peer(QStringLiteral("north"));
    QVERIFY(north && north->key.equals(key('n')) && north->pendingKey.equals(key('o')));
    QCOMPARE(north->pendingEpoch, 2u);
    QCOMPARE(s.metaValue(QStringLiteral("name")), QStringLiteral("south"));
    QVERIFY(s.forgetPeer(QStringLiteral("north")).ok());
    QVERIFY(s.flush());
    QVERIFY(!s.peer(QStringLiteral("north")));
}

void TestStore::answeredHandshakesAreBounded()
{
    // Only the newest 64 msg1s per account are kept: the insertion order is each engine's own
    // (SQLite's rowid, a serial column on PostgreSQL).
    QTemporaryDir dir;
    Store s;
    QVERIFY(openAt(s, freshLocation(dir)).ok());
    auto ephemeral = [](int i) { return QByteArray(31, char(i)) + char(i / 256); };
    for (int i = 0; i < 70; ++i)
        QVERIFY(s.recordHandshake(QStringLiteral("alice"), 1, ephemeral(i)).ok());
    QVERIFY(s.recordHandshake(QStringLiteral("bob"), 1, ephemeral(0)).ok());
    QVERIFY(s.recordHandshake(QStringLiteral("alice"), 1, ephemeral(69)).ok()); // a repeat is no error
    QVERIFY(s.flush());
    for (int i = 0; i < 6; ++i)
        QVERIFY2(!s.handshakeAnswered(QStringLiteral("alice"), 1, ephemeral(i)), qPrintable(QString::number(i)));
    for (int i = 6; i < 70; ++i)
        QVERIFY2(s.handshakeAnswered(QStringLiteral("alice"), 1, ephemeral(i)), qPrintable(QString::number(i)));
    QVERIFY(s.handshakeAnswered(QStringLiteral("bob"), 1, ephemeral(0)));
    QVERIFY(!s.handshakeAnswered(QStringLiteral("alice"), 2, ephemeral(69)));
    // A committed key forgets the msg1s of older epochs.
    QVERIFY(s.setPending(QStringLiteral("alice"), 2, key('a'), PendingKind::Handshake).ok());
    QVERIFY(s.commitPending(QStringLiteral("alice")).ok());
    QVERIFY(s.flush());
    QVERIFY(!s.handshakeAnswered(QStringLiteral("alice"), 1, ephemeral(69)));
}

void TestStore::aNewerSchemaIsRefused()
{
    QTemporaryDir dir;
    const QString path = freshLocation(dir);
    {
        Store s;
        QVERIFY(openAt(s, path).ok());
        QVERIFY(s.setPending(QStringLiteral("alice"), 1, key('a'), PendingKind::Handshake).ok());
    }
    QVERIFY(rawExec(path, QStringLiteral("INSERT INTO schema_migrations(version, applied_at) VALUES(%1, 0)")
                              .arg(storeSchemaVersion() + 1)));
    {
        Store s;
        auto r = openAt(s, path);
        QVERIFY(!r.ok());
        QCOMPARE(r.error().code, ErrorCode::Corrupt);
        QVERIFY2(r.error().message.contains(QStringLiteral("newer")), qPrintable(r.error().message));
        QVERIFY(!s.isOpen());
    }
    // Nothing was changed: without the newer row it opens as it was.
    QVERIFY(rawExec(path, QStringLiteral("DELETE FROM schema_migrations WHERE version > %1").arg(storeSchemaVersion())));
    Store s;
    QVERIFY(openAt(s, path).ok());
    QVERIFY(s.account(QStringLiteral("alice")) && s.account(QStringLiteral("alice"))->pendingKey.equals(key('a')));
}

void TestStore::anotherDatabaseIsNotTaken()
{
    QTemporaryDir dir;
    const QString path = freshLocation(dir);
    QVERIFY(rawExec(path, QStringLiteral("CREATE TABLE orders(id INTEGER PRIMARY KEY, item TEXT)")));
    Store s;
    auto r = openAt(s, path);
    QVERIFY(!r.ok());
    QCOMPARE(r.error().code, ErrorCode::Corrupt);
    QVERIFY2(r.error().message.contains(QStringLiteral("not a Sotto store")), qPrintable(r.error().message));
    QVERIFY(rawExec(path, QStringLiteral("SELECT id FROM orders")));
    QVERIFY(!rawExec(path, QStringLiteral("SELECT key FROM meta"))); // nothing of ours was made there
    QVERIFY(!rawExec(path, QStringLiteral("SELECT version FROM schema_migrations")));
}

void TestStore::locationsParse_data()
{
    QTest::addColumn<QString>("spec");
    QTest::addColumn<QString>("expect"); // engine|user|host|port|db, or "error: words"
    QTest::newRow("tcp") << s("postgresql://sotto@127.0.0.1:5433/brokers") << s("pg|sotto|127.0.0.1|5433|brokers");
    QTest::newRow("short scheme, defaults") << s("postgres://db.example.org/brokers") << s("pg||db.example.org|0|brokers");
    QTest::newRow("socket dir") << s("postgresql://sotto@%2Fvar%2Frun%2Fpostgresql/b") << s("pg|sotto|/var/run/postgresql|0|b");
    QTest::newRow("ipv6") << s("postgresql://sotto@[::1]:5432/b") << s("pg|sotto|::1|5432|b");
    QTest::newRow("sqlite path") << s("/var/lib/sotto-broker/broker.db") << s("sqlite||||");
    QTest::newRow("password") << s("postgresql://sotto:hunter2@db/brokers") << s("error: pgpass");
    QTest::newRow("no database") << s("postgresql://sotto@db:5432/") << s("error: name the database");
    QTest::newRow("other scheme") << s("mysql://sotto@db/brokers") << s("error: unknown scheme");
    QTest::newRow("options") << s("postgresql://sotto@db/brokers?sslmode=disable") << s("error: options");
    QTest::newRow("bad port") << s("postgresql://sotto@db:99999/brokers") << s("error: port");
    QTest::newRow("empty") << QString() << s("error: empty");
}

void TestStore::locationsParse()
{
    QFETCH(QString, spec);
    QFETCH(QString, expect);
    auto l = StoreLocation::parse(spec);
    if (expect.startsWith(s("error: "))) {
        QVERIFY(!l);
        QCOMPARE(l.error().code, ErrorCode::Usage);
        QVERIFY2(l.error().message.contains(expect.mid(7)), qPrintable(l.error().message));
        QVERIFY(!l.error().message.contains(s("hunter2")));
        return;
    }
    QVERIFY2(l.ok(), qPrintable(l ? QString() : l.error().message));
    const QString got = l->isPostgres() ? s("pg|%1|%2|%3|%4").arg(l->user, l->host).arg(l->port).arg(l->database) : s("sqlite||||");
    QCOMPARE(got, expect);
    auto again = StoreLocation::parse(l->toString()); // what logs show reads back as the same place
    QVERIFY(again.ok());
    QCOMPARE(again->toString(), l->toString());
    QCOMPARE(again->host, l->host);
}

// The store hands QtSql copies of keys to bind and wipes them after the statement ran: the wipe
// must reach the value the query still holds (it shares the copy's buffer), and a key read back
// must leave no copy in the query's result either.
void TestStore::keysLeaveNothingInTheQuery()
{
    if (test::onPostgres())
        QSKIP("the mechanism is QtSql's, shown once on SQLite");
    QTemporaryDir dir;
    const QString name = QUuid::createUuid().toString();
    {
        QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), name);
        db.setDatabaseName(dir.filePath(QStringLiteral("q.db")));
        QVERIFY(db.open());
        QSqlQuery q(db);
        QVERIFY(q.exec(QStringLiteral("CREATE TABLE k(v BLOB)")));
        QVERIFY(q.prepare(QStringLiteral("INSERT INTO k(v) VALUES (?)")));
        const SecretBytes key = SecretBytes::copyOf(QByteArray(32, 'k'));
        QByteArray copy = key.view().toByteArray();
        q.addBindValue(QVariant(copy));
        QVERIFY(q.exec());
        wipeInPlace(copy); // what Store::writeDirtyAccounts does with its copies
        QCOMPARE(q.boundValue(0).toByteArray(), QByteArray(32, '\0'));
        QVERIFY(q.exec(QStringLiteral("SELECT v FROM k")) && q.next());
        QByteArray read = q.value(0).toByteArray();
        const SecretBytes back = SecretBytes::takeFrom(read);
        QVERIFY(back.equals(key));
        QVERIFY(read.isEmpty());
    }
    QSqlDatabase::removeDatabase(name);
}

void TestStore::aStoreFromBeforeTheMigrationTableIsUpgraded()
{
    if (test::onPostgres())
        QSKIP("SQLite's own case: PostgreSQL stores began with the migration table");
    // A version-1 store as the first broker wrote it, schema version in meta.
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("broker.db"));
    for (const char *sql :
         {"CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)",
          "CREATE TABLE accounts(name TEXT PRIMARY KEY, epoch INTEGER NOT NULL, key BLOB, pending_epoch INTEGER NOT NULL "
          "DEFAULT 0, pending_key BLOB, pending_kind INTEGER NOT NULL DEFAULT 0, pending_invite INTEGER NOT NULL DEFAULT 0, "
          "refreshed_at INTEGER NOT NULL DEFAULT 0)",
          "CREATE TABLE peers(name TEXT PRIMARY KEY, epoch INTEGER NOT NULL, key BLOB, pending_epoch INTEGER NOT NULL "
          "DEFAULT 0, pending_key BLOB, refreshed_at INTEGER NOT NULL DEFAULT 0)",
          "CREATE TABLE handshakes(account TEXT NOT NULL, epoch INTEGER NOT NULL, ephemeral BLOB NOT NULL, "
          "PRIMARY KEY(account, epoch, ephemeral))",
          "CREATE TABLE invites(id INTEGER PRIMARY KEY AUTOINCREMENT, account TEXT NOT NULL, secret BLOB NOT NULL, "
          "expires_at INTEGER NOT NULL, consumed_at INTEGER)",
          "INSERT INTO meta VALUES('schema', '1')",
          "INSERT INTO accounts(name, epoch, key) VALUES('alice', 3, x'6161616161616161616161616161616161616161616161616161616161616161')"})
        QVERIFY2(rawExec(path, QString::fromLatin1(sql)), sql);
    {
        Store s;
        QVERIFY(s.open(path).ok());
        const AccountRecord *a = s.account(QStringLiteral("alice"));
        QVERIFY(a && a->epoch == 3 && a->key.equals(key('a')) && !a->revoked && a->rotateDue == 0);
        QCOMPARE(s.metaValue(QStringLiteral("schema")), QString::number(storeSchemaVersion()));
        QVERIFY(s.revoke(QStringLiteral("alice")).ok()); // the new columns are there to write
    }
    Store s;
    QVERIFY(s.open(path).ok());
    QVERIFY(s.account(QStringLiteral("alice"))->revoked);
    QCOMPARE(rawValue(path, QStringLiteral("SELECT COUNT(*) FROM schema_migrations"))->toInt(), storeSchemaVersion());
}

void TestStore::anUnreachableServerIsNamedWithoutSecrets()
{
    // Nothing listens on this port: the error names the place, fast, and holds no secret.
    const quint16 port = test::freePort();
    Store s;
    QElapsedTimer t;
    t.start();
    auto r = openAt(s, s_("postgresql://sotto@127.0.0.1:%1/brokers").arg(port));
    QVERIFY(!r.ok());
    if (!QSqlDatabase::drivers().contains(s_("QPSQL"))) {
        // A Qt without the driver (the Windows SDK has no libpq): said so, nothing opened.
        QCOMPARE(r.error().code, ErrorCode::Usage);
        QVERIFY2(r.error().message.contains(s_("no QPSQL driver")), qPrintable(r.error().message));
        QVERIFY(!s.isOpen());
        QSKIP("no QPSQL driver in this Qt: an unreachable server cannot be tried");
    }
    QCOMPARE(r.error().code, ErrorCode::Io);
    QVERIFY2(r.error().message.contains(s_("postgresql://sotto@127.0.0.1:%1/brokers").arg(port)), qPrintable(r.error().message));
    QVERIFY(t.elapsed() < 10000);
    QVERIFY(!s.isOpen());
}

void TestStore::aServerRestartIsNoticedAndNothingCommittedIsLost()
{
    if (!test::onPostgres())
        QSKIP("PostgreSQL's own case: a file does not restart");
    QTemporaryDir dir;
    const QString path = freshLocation(dir);
    Store s;
    QVERIFY(openAt(s, path).ok());
    QVERIFY(s.setPending(QStringLiteral("alice"), 1, key('a'), PendingKind::Handshake).ok());
    QVERIFY(s.commitPending(QStringLiteral("alice")).ok());
    QVERIFY(s.flush());
    QVERIFY(!s.connectionLost());
    test::PgServer::shared().stop();
    QVERIFY(s.connectionLost());
    // A write now fails, and the work waiting for it hears so: nothing is sent on a key that
    // may not be durable.
    QVERIFY(!s.setPending(QStringLiteral("bob"), 1, key('b'), PendingKind::Handshake).ok());
    bool told = false, outcome = true;
    s.afterCommit([&](bool ok) { told = true; outcome = ok; });
    QTRY_VERIFY(told);
    QVERIFY(!outcome);
    QVERIFY(s.failed());
    s.close();
    QString error;
    QVERIFY2(test::PgServer::shared().start(&error), qPrintable(error));
    QVERIFY(openAt(s, path).ok());
    QVERIFY(!s.failed());
    QVERIFY(s.account(QStringLiteral("alice")) && s.account(QStringLiteral("alice"))->key.equals(key('a')));
    QVERIFY(!s.account(QStringLiteral("bob")));
}

void TestStore::twoBrokersMigrateOneStoreTogether()
{
    if (!test::onPostgres())
        QSKIP("PostgreSQL's own case: an SQLite file has one broker");
    // Brokers started at once on a new database: one creates the schema, the other waits for it
    // (an advisory lock), and each version is recorded once.
    for (int round = 0; round < 3; ++round) {
        QTemporaryDir dir;
        const QString path = freshLocation(dir);
        std::atomic<int> opened{0};
        std::vector<std::thread> threads;
        for (int i = 0; i < 4; ++i) {
            threads.emplace_back([&] {
                Store s;
                if (openAt(s, path).ok())
                    ++opened;
                s.close();
            });
        }
        for (auto &t : threads)
            t.join();
        QCOMPARE(opened.load(), 4);
        Store s;
        QVERIFY(openAt(s, path).ok());
        QCOMPARE(s.metaValue(QStringLiteral("schema")), QString::number(storeSchemaVersion()));
        QCOMPARE(rawValue(path, QStringLiteral("SELECT COUNT(*) FROM schema_migrations"))->toInt(), storeSchemaVersion());
        QCOMPARE(rawValue(path, QStringLiteral("SELECT COUNT(DISTINCT version) FROM schema_migrations"))->toInt(), storeSchemaVersion());
    }
}

QTEST_GUILESS_MAIN(TestStore)
#include "tst_store.moc"
