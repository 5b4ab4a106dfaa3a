// The broker store: a real SQLite file, reopened to prove durability.
#include "broker/broker.h"
#include "broker/store.h"
#include "core/crypto.h"
#include "core/skbp.h"

#include <QDateTime>
#include <QFile>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

using namespace sotto;
using namespace sotto::broker;

class TestStore : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void pendingAndCommitSurviveReopen();
    void groupCommitBatchesWrites();
    void invitesAreSingleUseAndExpire();
    void fileModeIsPrivate();
    void brokerKeepsItsName();
    void corruptFilesAreReportedAndLeftAlone_data();
    void corruptFilesAreReportedAndLeftAlone();
};

static SecretBytes key(char c)
{
    return SecretBytes::copyOf(QByteArray(32, c));
}

void TestStore::pendingAndCommitSurviveReopen()
{
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("broker.db"));
    {
        Store s;
        QVERIFY(s.open(path).ok());
        QVERIFY(s.setPending(QStringLiteral("alice"), 1, key('a'), PendingKind::Handshake).ok());
        QVERIFY(s.flush());
    }
    {
        Store s;
        QVERIFY(s.open(path).ok());
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
    QVERIFY(s.open(path).ok());
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
    QVERIFY(s.open(dir.filePath(QStringLiteral("broker.db"))).ok());
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
    QVERIFY(s.open(dir.filePath(QStringLiteral("broker.db"))).ok());
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
    cfg.name = QStringLiteral("north");
    {
        broker::Broker b(cfg);
        QVERIFY(b.start().ok());
        QCOMPARE(b.name(), QStringLiteral("north"));
        b.stop();
    }
    cfg.name.clear();
    broker::Broker again(cfg);
    QVERIFY(again.start().ok());
    QCOMPARE(again.name(), QStringLiteral("north"));
    again.stop();
}

void TestStore::fileModeIsPrivate()
{
#ifdef Q_OS_WIN
    QSKIP("POSIX file modes");
#endif
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("broker.db"));
    Store s;
    QVERIFY(s.open(path).ok());
    const auto perms = QFile::permissions(path) & (QFileDevice::ReadOwner | QFileDevice::WriteOwner | QFileDevice::ExeOwner
                                                   | QFileDevice::ReadGroup | QFileDevice::WriteGroup | QFileDevice::ExeGroup
                                                   | QFileDevice::ReadOther | QFileDevice::WriteOther | QFileDevice::ExeOther);
    QCOMPARE(perms, QFileDevice::ReadOwner | QFileDevice::WriteOwner);
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

QTEST_GUILESS_MAIN(TestStore)
#include "tst_store.moc"
