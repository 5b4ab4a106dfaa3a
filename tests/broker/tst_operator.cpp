// The operator's account tools against a real broker: revocation (calls end, conferences re-key,
// keys erased, logins refused), an invite for a replacement device (the commit rule decides when
// the old key goes), the admin channel, and a start that fails leaving nothing behind.
#include "broker/admin.h"
#include "broker/store.h"
#include "core/crypto.h"
#include "support/fixtures.h"
#include "support/pgserver.h"
#include "support/rawclient.h"

#include <QJsonArray>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTcpServer>
#include <QJsonDocument>
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
    void replacementWaitsBesideTheOldDevicesRotation();
    void replacementCommitsByLogin();
    void adminChannelServesARunningBroker();
    void adminCommandsParseOnce_data();
    void adminCommandsParseOnce();
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

// Issue 22 §9: a replacement's msg1 used to overwrite the old device's pending rotation (the old
// device, which had adopted K_next, was locked out if the replacement never confirmed); epochs
// restarted at 1; and the old device's channel stayed open after the replacement committed.
void TestOperator::replacementWaitsBesideTheOldDevicesRotation()
{
    TestBroker broker;
    TestPhone bob(s("bob"));
    QVERIFY(enrolAndLogin(broker, bob));
    const quint32 oldEpoch = bob.profile().epoch();
    bob.engine().stop();
    // The old device has adopted a rotation the broker has not seen acknowledged yet.
    broker::Store &store = broker.broker().store();
    const SecretBytes next = crypto::randomSecret(32).value();
    QVERIFY(store.setPending(s("bob"), oldEpoch + 1, next, broker::PendingKind::Rotate).ok());
    QVERIFY(store.flush());

    auto link = broker.broker().createInvite(broker::InviteRequest{s("bob"), 3600, true});
    QVERIFY(link.ok());
    RawHandshake laptop(broker.port(), broker.broker().publicKey(), s("bob"), 0, InviteLink::parse(*link)->secret);
    QVERIFY(laptop.start());
    QVERIFY2(laptop.newEpoch() > oldEpoch + 1, "a replacement is numbered above every key the account has");
    // The rotation is still there, and the old device, holding K_next, logs in and commits it.
    QCOMPARE(store.account(s("bob"))->pendingKind, broker::PendingKind::Rotate);
    RawClient old(broker.port());
    QVERIFY(old.login(s("bob"), oldEpoch + 1, next));
    QCOMPARE(store.account(s("bob"))->epoch, oldEpoch + 1);
    QVERIFY(old.isConnected());

    // The replacement commits: the old device's open channel closes at once, its key is refused.
    QVERIFY(laptop.confirm());
    QVERIFY(old.waitClosed(3000));
    QCOMPARE(store.account(s("bob"))->epoch, laptop.newEpoch());
    QVERIFY(!store.account(s("bob"))->hasPending());
    {
        RawClient again(broker.port());
        QVERIFY(!again.login(s("bob"), oldEpoch + 1, next));
    }
    RawClient fresh(broker.port());
    QVERIFY(fresh.login(s("bob"), laptop.newEpoch(), laptop.newKey()));

    // Revoked and invited again: the epoch still grows, and it survives a restart of the broker.

    QVERIFY(broker.broker().revoke(s("bob")).ok());
    broker.restart();
    auto again = broker.broker().createInvite(s("bob"), 3600);
    QVERIFY(again.ok());
    RawHandshake phone(broker.port(), broker.broker().publicKey(), s("bob"), 0, InviteLink::parse(*again)->secret);
    QVERIFY(phone.start());
    QVERIFY(phone.newEpoch() > laptop.newEpoch());
    QVERIFY(phone.confirm());
}

// The replacement's `enrolled` was lost: its login under the new epoch commits it (commit rule),
// and the old device is retired then.
void TestOperator::replacementCommitsByLogin()
{
    TestBroker broker;
    TestPhone bob(s("bob"));
    QVERIFY(enrolAndLogin(broker, bob));
    const quint32 oldEpoch = bob.profile().epoch();
    const SecretBytes oldKey = bob.profile().key();
    bob.engine().stop();
    auto link = broker.broker().createInvite(broker::InviteRequest{s("bob"), 3600, true});
    QVERIFY(link.ok());
    RawHandshake laptop(broker.port(), broker.broker().publicKey(), s("bob"), 0, InviteLink::parse(*link)->secret);
    QVERIFY(laptop.start());
    RawClient old(broker.port());
    QVERIFY(old.login(s("bob"), oldEpoch, oldKey)); // still good while the replacement is pending
    RawClient fresh(broker.port());
    QVERIFY(fresh.login(s("bob"), laptop.newEpoch(), laptop.newKey()));
    QVERIFY(old.waitClosed(3000));
    QCOMPARE(broker.broker().store().account(s("bob"))->epoch, laptop.newEpoch());
    RawClient again(broker.port());
    QVERIFY(!again.login(s("bob"), oldEpoch, oldKey));
    RawHandshake twice(broker.port(), broker.broker().publicKey(), s("bob"), 0, InviteLink::parse(*link)->secret);
    QVERIFY(!twice.start()); // the invite is spent

    // A replacement whose invite the operator has since replaced (a leaked link) commits nothing,
    // by confirm or by login: the account stays with the device that holds it.
    auto leaked = broker.broker().createInvite(broker::InviteRequest{s("bob"), 3600, true});
    QVERIFY(leaked.ok());
    RawHandshake thief(broker.port(), broker.broker().publicKey(), s("bob"), 0, InviteLink::parse(*leaked)->secret);
    QVERIFY(thief.start());
    QVERIFY(broker.broker().createInvite(broker::InviteRequest{s("bob"), 3600, true}).ok());
    RawClient byLogin(broker.port());
    QVERIFY(!byLogin.login(s("bob"), thief.newEpoch(), thief.newKey()));
    QVERIFY(!thief.confirm());
    RawClient stillBob(broker.port());
    QVERIFY(stillBob.login(s("bob"), laptop.newEpoch(), laptop.newKey()));
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

void TestOperator::adminCommandsParseOnce_data()
{
    // The admin grammar (admin.h), read in one place for the running broker and the stopped
    // one's store alike; what the command line sends is composed by the same type.
    QTest::addColumn<QByteArray>("json");
    QTest::addColumn<bool>("ok");
    QTest::addColumn<int>("kind");
    QTest::addColumn<QString>("account");
    QTest::addColumn<qint64>("expires");
    QTest::addColumn<bool>("replace");
    QTest::addColumn<QString>("advertise");
    using K = broker::AdminCommand::Kind;
    const qint64 week = 7 * 86400;
    QTest::newRow("status") << QByteArray(R"({"cmd":"status"})") << true << int(K::Status) << QString() << week << false << QString();
    QTest::newRow("accounts") << QByteArray(R"({"cmd":"accounts"})") << true << int(K::Accounts) << QString() << week << false
                              << QString();
    QTest::newRow("revoke") << QByteArray(R"({"cmd":"revoke","account":"alice"})") << true << int(K::Revoke) << s("alice") << week
                            << false << QString();
    QTest::newRow("invite, all of it") << QByteArray(R"({"cmd":"invite","account":"dave","expires":3600,"replace":true,"advertise":"h:1"})")
                                       << true << int(K::Invite) << s("dave") << qint64(3600) << true << s("h:1");
    QTest::newRow("invite, defaults") << QByteArray(R"({"cmd":"invite","account":"dave"})") << true << int(K::Invite) << s("dave")
                                      << week << false << QString();
    QTest::newRow("unknown") << QByteArray(R"({"cmd":"shutdown"})") << false << 0 << QString() << week << false << QString();
    QTest::newRow("no cmd") << QByteArray(R"({"account":"alice"})") << false << 0 << QString() << week << false << QString();
    QTest::newRow("cmd not a string") << QByteArray(R"({"cmd":3})") << false << 0 << QString() << week << false << QString();
    QTest::newRow("case matters") << QByteArray(R"({"cmd":"Status"})") << false << 0 << QString() << week << false << QString();
}

void TestOperator::adminCommandsParseOnce()
{
    QFETCH(QByteArray, json);
    QFETCH(bool, ok);
    QFETCH(int, kind);
    QFETCH(QString, account);
    QFETCH(qint64, expires);
    QFETCH(bool, replace);
    QFETCH(QString, advertise);
    const auto c = broker::AdminCommand::parse(QJsonDocument::fromJson(json).object());
    QCOMPARE(c.ok(), ok);
    if (!ok) {
        QCOMPARE(c.error().code, ErrorCode::Usage);
        QVERIFY(c.error().message.startsWith(s("unknown admin command")));
        return;
    }
    QCOMPARE(int(c->kind), kind);
    QCOMPARE(c->invite.account, account);
    QCOMPARE(c->invite.validForSecs, expires);
    QCOMPARE(c->invite.replace, replace);
    QCOMPARE(c->advertise, advertise);
    // What toJson() writes parses back to the same command.
    const auto again = broker::AdminCommand::parse(c->toJson());
    QVERIFY(again.ok());
    QCOMPARE(int(again->kind), kind);
    QCOMPARE(again->invite.account, account);
    QCOMPARE(again->invite.validForSecs, expires);
    QCOMPARE(again->invite.replace, replace);
    QCOMPARE(again->advertise, advertise);
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
