// The phone's link to its broker alone (PROTOCOL.md §5), on real loopback sockets: how it walks
// the broker's addresses and backs off when none answers (a failed attempt moves to the next
// address at once; a whole round that failed waits, the wait doubling up to its ceiling), what
// it says while offline, that stop() ends the retries, and that a profile with no key to prove
// is refused at once instead of retried.

#include "client/brokersession.h"
#include "client/profile.h"

#include "support/profiles.h"

#include <QSignalSpy>
#include <QTcpServer>
#include <QTemporaryDir>
#include <QTest>

using namespace sotto;

namespace {

// A loopback port nobody listens on: bound, then let go.
quint16 closedPort()
{
    QTcpServer s;
    if (!s.listen(QHostAddress::LocalHost, 0))
        return 0;
    const quint16 port = s.serverPort();
    s.close();
    return port;
}

} // namespace

class TestBrokerSession : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void backoff_data();
    void backoff();
    void stopEndsTheRetries();
    void aProfileWithNoKeyIsRefusedAtOnce();
};

void TestBrokerSession::backoff_data()
{
    QTest::addColumn<int>("addresses");
    QTest::addColumn<QList<int>>("waits"); // the retryScheduled waits in order, in ms

    QTest::newRow("one address: each failure waits, doubling to the ceiling") << 1 << QList<int>{20, 40, 80, 80, 80};
    QTest::newRow("two: the next at once, the wait after each round") << 2 << QList<int>{0, 20, 0, 40, 0, 80, 0, 80};
    QTest::newRow("three: a round is three attempts") << 3 << QList<int>{0, 0, 20, 0, 0, 40};
}

void TestBrokerSession::backoff()
{
    QFETCH(int, addresses);
    QFETCH(QList<int>, waits);

    QTemporaryDir dir;
    const quint16 port = closedPort();
    QVERIFY(port != 0);
    auto profile = test::profileWithKeys(dir.path(), QStringLiteral("alice"), {{1, '1'}}, port);
    QVERIFY(profile.ok());
    QStringList others;
    for (int i = 1; i < addresses; ++i)
        others << QStringLiteral("127.0.0.1:%1").arg(closedPort());
    QVERIFY(profile->setBrokerAlternates(others).ok());
    QCOMPARE(profile->brokerAddresses().size(), addresses);

    BrokerSession session(*profile, {.device = QStringLiteral("sotto/test"),
                                     .minBackoffMs = 20,
                                     .maxBackoffMs = 80,
                                     .loginTimeoutMs = 2000,
                                     .keepAliveMs = 0});
    QSignalSpy retries(&session, &BrokerSession::retryScheduled);
    QSignalSpy lost(&session, &BrokerSession::lost);
    QSignalSpy failed(&session, &BrokerSession::loginFailed);
    session.start();
    QTRY_VERIFY_WITH_TIMEOUT(retries.size() >= waits.size(), 30000); // Windows waits ~1 s for a refusal
    session.stop();
    QList<int> seen;
    for (qsizetype i = 0; i < waits.size(); ++i)
        seen << retries.at(i).at(0).toInt();
    QCOMPARE(seen, waits);
    // Every attempt says where and why, and none of them was a refusal of the key.
    const QString reason = retries.at(0).at(1).toString();
    QVERIFY2(reason.startsWith(QStringLiteral("cannot reach 127.0.0.1:")) && reason.contains(QStringLiteral("refused")),
             qPrintable(reason));
    QVERIFY(lost.size() >= waits.size());
    for (const QList<QVariant> &l : lost)
        QCOMPARE(l.at(0).toBool(), false); // never logged in
    QCOMPARE(failed.size(), 0);
    QVERIFY(!session.refused());
    QVERIFY(!session.loggedIn());
}

void TestBrokerSession::stopEndsTheRetries()
{
    QTemporaryDir dir;
    const quint16 port = closedPort();
    QVERIFY(port != 0);
    auto profile = test::profileWithKeys(dir.path(), QStringLiteral("alice"), {{1, '1'}}, port);
    QVERIFY(profile.ok());
    BrokerSession session(*profile, {.device = QStringLiteral("sotto/test"),
                                     .minBackoffMs = 20,
                                     .maxBackoffMs = 20,
                                     .loginTimeoutMs = 2000,
                                     .keepAliveMs = 0});
    QSignalSpy retries(&session, &BrokerSession::retryScheduled);
    QSignalSpy connecting(&session, &BrokerSession::connecting);
    session.start();
    QVERIFY(session.running());
    QTRY_VERIFY_WITH_TIMEOUT(retries.size() >= 2, 5000);
    QVERIFY(session.nextRetry().isValid());
    session.stop();
    QVERIFY(!session.running());
    QVERIFY(!session.nextRetry().isValid());
    const auto attempts = connecting.size();
    QTest::qWait(200); // ten back-offs' worth
    QCOMPARE(connecting.size(), attempts);
    session.reconnectNow(); // not running: nothing
    QCOMPARE(connecting.size(), attempts);
}

void TestBrokerSession::aProfileWithNoKeyIsRefusedAtOnce()
{
    QTemporaryDir dir;
    auto profile = Profile::open(dir.path());
    QVERIFY(profile.ok());
    BrokerSession session(*profile, {.device = QStringLiteral("sotto/test")});
    QSignalSpy failed(&session, &BrokerSession::loginFailed);
    QSignalSpy connecting(&session, &BrokerSession::connecting);
    session.start();
    QCOMPARE(failed.size(), 1);
    QCOMPARE(failed.at(0).at(0).value<Error>().code, ErrorCode::Usage);
    QCOMPARE(connecting.size(), 0);
    QVERIFY(!session.running());
    QVERIFY(!session.refused()); // not the broker's refusal: a new invite is not the only way back
}

QTEST_GUILESS_MAIN(TestBrokerSession)
#include "tst_brokersession.moc"
