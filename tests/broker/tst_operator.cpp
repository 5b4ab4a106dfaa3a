// The operator's account tools against a real broker: revocation (calls end, conferences re-key,
// keys erased, logins refused), an invite for a replacement device (the commit rule decides when
// the old key goes), the admin channel, and a start that fails leaving nothing behind.
#include "broker/admin.h"
#include "support/fixtures.h"
#include "support/pgserver.h"
#include "support/rawclient.h"

#include <QJsonArray>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTcpServer>
#include <QTest>

using namespace sotto;
using namespace sotto::test;

namespace {

QString s(const char *text)
{
    return QString::fromLatin1(text);
}

QJsonObject request(const char *cmd, const QString &account = {})
{
    QJsonObject r{{QStringLiteral("cmd"), QString::fromLatin1(cmd)}};
    if (!account.isEmpty())
        r.insert(QStringLiteral("account"), account);
    return r;
}

} // namespace

class TestOperator : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void initTestCase() { QStandardPaths::setTestModeEnabled(true); }
    void revokeEndsCallsAndErasesKeys();
    void replacementDeviceTakesOverOnCommit();
    void adminChannelServesARunningBroker();
    void failedStartLeavesNothing();
};

void TestOperator::revokeEndsCallsAndErasesKeys()
{
    TestBroker broker;
    TestPhone alice(s("alice")), bob(s("bob")), carol(s("carol"));
    for (TestPhone *p : {&alice, &bob, &carol})
        QVERIFY(enrolAndLogin(broker, *p));
    // A conference of three: revoking carol re-keys alice and bob without her.
    const QByteArray sid = establishCall(alice, bob);
    QVERIFY(!sid.isEmpty());
    QSignalSpy carolRings(&carol.engine(), &ClientEngine::incomingCall);
    alice.engine().invite(sid, s("carol"));
    QVERIFY(carolRings.wait(5000));
    QSignalSpy joined(&alice.engine(), &ClientEngine::memberJoined);
    carol.engine().answer(sid);
    QVERIFY(joined.wait(5000));
    const quint32 genBefore = alice.engine().session(sid)->gen;
    QSignalSpy left(&alice.engine(), &ClientEngine::memberLeft);
    QVERIFY(broker.broker().revoke(s("carol")).ok());
    QVERIFY(left.wait(5000));
    QTRY_VERIFY(alice.engine().session(sid)->gen > genBefore); // re-keyed without her
    QTRY_VERIFY(!broker.broker().isOnline(s("carol")));
    const auto *rec = broker.broker().store().account(s("carol"));
    QVERIFY(rec && rec->revoked && rec->epoch == 0 && rec->key.isEmpty() && !rec->hasPending());
    // Her keys are refused at login and at refresh, and nothing changes by trying.
    carol.engine().stop();
    const QString before = broker.storeDump();
    {
        RawClient c(broker.port());
        QVERIFY(!c.login(s("carol"), carol.profile().epoch(), carol.profile().key()));
    }
    RawHandshake refresh(broker.port(), broker.broker().publicKey(), s("carol"), carol.profile().epoch(), carol.profile().key());
    QVERIFY(!refresh.start());
    QCOMPARE(broker.storeDump(), before);

    // In a call of two, the other side's call ends as "revoked".
    QSignalSpy ended(&alice.engine(), &ClientEngine::callEnded);
    QVERIFY(broker.broker().revoke(s("bob")).ok());
    QVERIFY(ended.wait(5000));
    QCOMPARE(ended.first().at(1).value<EndReason>(), EndReason::Revoked);
    QVERIFY(!broker.broker().revoke(s("bob")).ok()); // nothing left to revoke
    QVERIFY(!broker.broker().revoke(s("nobody")).ok());
    // The store is otherwise unchanged: alice still calls, a new invite brings carol back.
    TestPhone carol2(s("carol"));
    QVERIFY(carol2.enrol(broker.invite(s("carol"))));
    QVERIFY(carol2.goOnline());
    QVERIFY(!broker.broker().store().account(s("carol"))->revoked);
    QVERIFY(callWorks(alice, carol2));
}

void TestOperator::replacementDeviceTakesOverOnCommit()
{
    TestBroker broker;
    TestPhone alice(s("alice")), bob(s("bob"));
    QVERIFY(enrolAndLogin(broker, alice));
    QVERIFY(enrolAndLogin(broker, bob));
    // Without --replace an enrolled account gets no invite; with it, one for a new device.
    QVERIFY(!broker.broker().createInvite(s("bob"), 3600).ok());
    QVERIFY(!broker.broker().createInvite(broker::InviteRequest{s("nobody"), 3600, true}).ok());
    auto link = broker.broker().createInvite(broker::InviteRequest{s("bob"), 3600, true});
    QVERIFY2(link.ok(), link.ok() ? "" : qPrintable(link.error().message));
    auto parsed = InviteLink::parse(*link);
    QVERIFY(parsed);
    const quint32 oldEpoch = bob.profile().epoch();
    const SecretBytes oldKey = bob.profile().key();
    bob.engine().stop();
    RawHandshake laptop(broker.port(), broker.broker().publicKey(), s("bob"), 0, parsed->secret);
    QVERIFY(laptop.start()); // pending: the old device still logs in (commit rule)
    {
        RawClient old(broker.port());
        QVERIFY(old.login(s("bob"), oldEpoch, oldKey));
    }
    // That login under the current key must not discard the new device's pending enrolment.
    QVERIFY(laptop.confirm());
    {
        RawClient old(broker.port());
        QVERIFY(!old.login(s("bob"), oldEpoch, oldKey));
    }
    RawClient fresh(broker.port());
    QVERIFY(fresh.login(s("bob"), laptop.newEpoch(), laptop.newKey()));
    // The invite is spent.
    RawHandshake again(broker.port(), broker.broker().publicKey(), s("bob"), 0, parsed->secret);
    QVERIFY(!again.start());
}

void TestOperator::adminChannelServesARunningBroker()
{
    TestBroker broker;
    TestPhone alice(s("alice")), bob(s("bob"));
    QVERIFY(enrolAndLogin(broker, alice));
    QVERIFY(bob.enrol(broker.invite(s("bob"))));
    // The request is answered from the broker's thread while this one waits: run it elsewhere.
    auto ask = [&](const QJsonObject &r) {
        Result<QJsonObject> answer = makeError(ErrorCode::Internal, s("no answer"));
        QThread *t = QThread::create([&] { answer = broker::adminRequest(broker.dataDir() + s("/broker"), r); });
        t->start();
        while (!t->isFinished())
            QTest::qWait(5);
        t->wait();
        delete t;
        return answer;
    };
    auto accounts = ask(request("accounts"));
    QVERIFY2(accounts.ok(), accounts.ok() ? "" : qPrintable(accounts.error().message));
    QVERIFY(accounts->value(s("ok")).toBool());
    const QJsonArray list = accounts->value(s("accounts")).toArray();
    QCOMPARE(list.size(), 2);
    QJsonObject a = list.at(0).toObject();
    QCOMPARE(a.value(s("account")).toString(), s("alice"));
    QCOMPARE(a.value(s("online")).toBool(), true);
    QCOMPARE(a.value(s("fingerprint")).toString(), skbp::fingerprint(alice.profile().key()));
    QVERIFY(a.value(s("last_login")).toDouble() > 0);
    QCOMPARE(list.at(1).toObject().value(s("online")).toBool(), false);
    // A revocation takes effect at once.
    auto revoked = ask(request("revoke", s("alice")));
    QVERIFY(revoked.ok() && revoked->value(s("ok")).toBool());
    QTRY_VERIFY(!broker.broker().isOnline(s("alice")));
    QVERIFY(broker.broker().store().account(s("alice"))->revoked);
    auto bad = ask(request("revoke", s("nobody")));
    QVERIFY(bad.ok() && !bad->value(s("ok")).toBool());
    auto unknown = ask(request("shutdown"));
    QVERIFY(unknown.ok() && !unknown->value(s("ok")).toBool());
    // Invites with an advertised address.
    QJsonObject inv = request("invite", s("dave"));
    inv.insert(s("advertise"), s("sotto.example.org:443"));
    auto invite = ask(inv);
    QVERIFY(invite.ok() && invite->value(s("ok")).toBool());
    auto link = InviteLink::parse(invite->value(s("link")).toString());
    QVERIFY(link);
    QCOMPARE(link->host, s("sotto.example.org"));
    QCOMPARE(link->port, quint16(443));
}

void TestOperator::failedStartLeavesNothing()
{
    QTcpServer occupant;
    QVERIFY(occupant.listen(QHostAddress::LocalHost, 0));
    QTemporaryDir tmp;
    broker::BrokerConfig cfg;
    cfg.address = QHostAddress::LocalHost;
    cfg.port = occupant.serverPort();
    cfg.dataDir = tmp.filePath(s("broker"));
    cfg.store = test::testStoreLocation(cfg.dataDir);
    broker::Broker b(cfg);
    auto r = b.start();
    QVERIFY(!r);
    QVERIFY(r.error().message.contains(s("cannot listen")));
    QVERIFY(!QFileInfo::exists(cfg.dataDir));
    // And an existing data directory keeps exactly what it had.
    cfg.port = 0;
    {
        broker::Broker ok(cfg);
        QVERIFY(ok.start().ok());
    }
    const QStringList before = QDir(cfg.dataDir).entryList(QDir::Files);
    cfg.port = occupant.serverPort();
    broker::Broker again(cfg);
    QVERIFY(!again.start());
    QCOMPARE(QDir(cfg.dataDir).entryList(QDir::Files), before);
}

QTEST_GUILESS_MAIN(TestOperator)
#include "tst_operator.moc"
