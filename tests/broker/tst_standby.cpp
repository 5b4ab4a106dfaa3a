// Active and standby brokers on one PostgreSQL store (a real server this test starts): two
// `sotto broker` processes share the store and the static key; one is active, the other
// refuses phones and takes over when the active is killed with SIGKILL. Phones follow the
// broker's addresses in turn, log in with the keys they hold and call; keys that keyed calls
// live at the kill are rotated by the new active. A PostgreSQL restart under a running broker
// loses nothing.
#include "core/invite.h"
#include "core/skbp.h"
#include "core/wire.h"
#include "support/fixtures.h"
#include "support/pgserver.h"
#include "support/relaymember.h"

#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QJsonArray>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTcpSocket>
#include <QTest>

#ifdef Q_OS_UNIX
#include <csignal>
#include <sys/types.h>
#endif
#include <QUrl>
#include <QtEndian>

using namespace sotto;
using namespace sotto::test;

namespace {

QString s(const char *text)
{
    return QString::fromUtf8(text);
}

// Two instances of one broker: their own data dirs, one store, one static key.
struct Pair
{
    QTemporaryDir dirA, dirB;
    QString store = PgServer::shared().createDatabase();
    std::unique_ptr<BrokerProcess> a, b;
    QStringList extra; // for both instances

    bool start()
    {
        a = std::make_unique<BrokerProcess>(dirA.path(), freePort(), QStringList{s("--store"), store, s("--name"), s("org")} + extra);
        if (!a->start() || a->waitForRole(s("active"), 10000) != s("active"))
            return false;
        // The second instance gets a copy of the key the first one made.
        if (!QFile::copy(QDir(dirA.path()).filePath(s("broker.key")), QDir(dirB.path()).filePath(s("broker.key"))))
            return false;
        b = std::make_unique<BrokerProcess>(dirB.path(), freePort(), QStringList{s("--store"), store, s("--name"), s("org")} + extra);
        return b->start() && b->waitForRole(s("standby"), 10000) == s("standby");
    }
    BrokerProcess &active() { return a->isRunning() && a->status().value(s("role")).toString() == s("active") ? *a : *b; }
    QString address(const BrokerProcess &p) const { return s("127.0.0.1:%1").arg(p.port()); }
};

InviteLink parseInvite(const QString &text)
{
    auto link = InviteLink::parse(text);
    if (!link)
        qFatal("invite: %s (%s)", qPrintable(link.error().message), qPrintable(text));
    return std::move(*link);
}

// The first frame a broker sends on a fresh connection (a standby's refusal), decoded.
std::optional<Error> firstCleartextError(quint16 port)
{
    QTcpSocket socket;
    socket.connectToHost(QHostAddress::LocalHost, port);
    if (!socket.waitForConnected(3000))
        return std::nullopt;
    QByteArray in;
    QDeadlineTimer deadline(3000);
    while (!deadline.hasExpired()) {
        if (in.size() >= 2 && in.size() >= 2 + qFromBigEndian<quint16>(in.constData()))
            break;
        socket.waitForReadyRead(100);
        in += socket.readAll();
    }
    if (in.size() < 2)
        return std::nullopt;
    return wire::decodeCleartextError(QByteArrayView(in).sliced(2, qMin<qsizetype>(in.size() - 2, qFromBigEndian<quint16>(in.constData()))));
}

} // namespace

class TestStandby : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void initTestCase()
    {
        QStandardPaths::setTestModeEnabled(true);
#ifndef Q_OS_LINUX
        QSKIP("active/standby shares a PostgreSQL store, the Linux server's (the Windows SDK has no libpq or "
              "QPSQL driver; the suite starts a Debian PostgreSQL server)");
#endif
    }
    void oneIsActiveAndTheOtherRefusesPhones();
    void aForeignKeyIsRefused();
    void theStandbyTakesOverFromAKilledActive();
    void twoInstancesNeverBothAct_data();
    void twoInstancesNeverBothAct();
    void aPostgresRestartUnderARunningBrokerLosesNothing();
    void aCallOnARelayOfItsOwnGoesOnThroughATakeOver();
};

void TestStandby::oneIsActiveAndTheOtherRefusesPhones()
{
    Pair pair;
    QVERIFY2(pair.start(), pair.a->outputSoFar().constData());
    const QJsonObject a = pair.a->status();
    const QJsonObject b = pair.b->status();
    QCOMPARE(a.value(s("role")).toString(), s("active"));
    QCOMPARE(b.value(s("role")).toString(), s("standby"));
    QVERIFY(b.value(s("why")).toString().contains(s("another instance holds the store's lock")));
    QCOMPARE(a.value(s("store")).toString(), pair.store);
    QVERIFY(!a.value(s("store")).toString().contains(s("pgpass")));
    const QStringList instances{pair.address(*pair.a), pair.address(*pair.b)};
    QCOMPARE(b.value(s("instances")).toArray().toVariantList(), QVariant(instances).toList());
    QTRY_VERIFY(pair.a->outputSoFar().contains("is active"));
    QTRY_VERIFY(pair.b->outputSoFar().contains("is a standby"));

    // A phone at the standby is told so, by name and address.
    const auto refusal = firstCleartextError(pair.b->port());
    QVERIFY(refusal);
    QCOMPARE(refusal->code, ErrorCode::Standby);
    QVERIFY2(refusal->message.contains(pair.address(*pair.b)) && refusal->message.contains(s("standby")), qPrintable(refusal->message));
    // Its operator tools say where to go; the active's work.
    QProcess invite;
    invite.start(s(SOTTO_BINARY), {s("broker"), s("invite"), s("x"), s("--data"), pair.dirB.path()});
    QVERIFY(invite.waitForFinished(10000));
    QCOMPARE(invite.exitCode(), 1);
    QVERIFY(invite.readAllStandardError().contains("standby"));

    // Invites carry every instance; a phone that starts at the standby's address moves on.
    InviteLink link = parseInvite(pair.a->invite(s("alice")));
    QCOMPARE(link.port, pair.a->port());
    QCOMPARE(link.alternates, QStringList{pair.address(*pair.b)});
    TestPhone alice(s("alice"));
    QVERIFY(alice.enrol(link));
    QVERIFY(alice.goOnline());
    QCOMPARE(alice.profile().brokerAddresses(), instances);
    TestPhone bob(s("bob"));
    QVERIFY(bob.enrol(parseInvite(pair.a->invite(s("bob")))));
    QVERIFY(bob.goOnline());
    QVERIFY(callWorks(alice, bob));
}

void TestStandby::aForeignKeyIsRefused()
{
    Pair pair;
    QVERIFY(pair.start());
    // A third data dir with a key of its own (not a copy): refused at start, the store untouched.
    QTemporaryDir other;
    BrokerProcess stranger(other.path(), freePort(), {s("--store"), pair.store});
    QVERIFY(!stranger.start(5000));
    const QByteArray said = stranger.outputSoFar();
    QVERIFY2(said.contains("belongs to the broker with key") && said.contains("copy broker.key"), said.constData());
    QCOMPARE(pair.a->status().value(s("instances")).toArray().size(), 2);
}

void TestStandby::theStandbyTakesOverFromAKilledActive()
{
    Pair pair;
    QVERIFY(pair.start());
    TestPhone alice(s("alice")), bob(s("bob")), carol(s("carol"));
    for (TestPhone *p : {&alice, &bob, &carol}) {
        QVERIFY(p->enrol(parseInvite(pair.a->invite(p->account()))));
        QVERIFY(p->goOnline());
    }
    for (int round = 0; round < 3; ++round) {
        BrokerProcess &dying = pair.active();
        BrokerProcess &next = &dying == pair.a.get() ? *pair.b : *pair.a;
        if (!next.isRunning()) { // the one killed last round comes back, as a standby
            QVERIFY(next.start());
            QCOMPARE(next.waitForRole(s("standby"), 10000), s("standby"));
        }
        // A call is live when the active dies: the key that keyed it must rotate afterwards.
        const QByteArray sid = establishCall(alice, bob);
        QVERIFY(!sid.isEmpty());
        const quint32 bobEpoch = bob.profile().epoch();
        QSignalSpy ended(&alice.engine(), &ClientEngine::callEnded);
        QElapsedTimer sinceKill;
        dying.kill();
        sinceKill.start();
        QCOMPARE(next.waitForRole(s("active"), 5000), s("active"));
        const qint64 activeAfter = sinceKill.elapsed();
        QVERIFY2(activeAfter < 3000, qPrintable(s("the standby took %1 ms").arg(activeAfter)));
        QTRY_VERIFY(next.outputSoFar().contains("lock was released"));
        QTRY_VERIFY_WITH_TIMEOUT(!ended.isEmpty(), 5000); // the call went with its broker
        // Every phone logs in at the other address, with the key it holds.
        for (TestPhone *p : {&alice, &bob, &carol})
            QTRY_VERIFY_WITH_TIMEOUT(p->engine().state() == ClientEngine::State::Online, 10000);
        // The key of the call that was live is rotated by the new active.
        QTRY_VERIFY_WITH_TIMEOUT(bob.profile().epoch() > bobEpoch, 10000);
        QVERIFY(callWorks(alice, bob));
        QVERIFY(callWorks(bob, carol));
        QVERIFY(callWorks(carol, alice));
    }
}

// Issue 22 §12: an active whose store session is cut from the server's side, or that is paused
// (SIGSTOP) past the standby's take-over and then resumed, stops serving; the phones move to the
// new active; nothing is committed by the old one after that; every account still calls. A
// paused process keeps its session (the kernel answers keep-alives) and so its lock: before the
// lease, the standby waited for it forever.
void TestStandby::twoInstancesNeverBothAct_data()
{
    QTest::addColumn<bool>("paused");
    QTest::newRow("session ended by the server (pg_terminate_backend)") << false;
    QTest::newRow("paused past the take-over (SIGSTOP), then resumed") << true;
}

void TestStandby::twoInstancesNeverBothAct()
{
#ifndef Q_OS_UNIX
    QSKIP("SIGSTOP is POSIX");
#else
    QFETCH(bool, paused);
    Pair pair;
    QVERIFY(pair.start());
    TestPhone alice(s("alice")), bob(s("bob")), carol(s("carol"));
    for (TestPhone *p : {&alice, &bob, &carol}) {
        QVERIFY(p->enrol(parseInvite(pair.a->invite(p->account()))));
        QVERIFY(p->goOnline());
    }
    QVERIFY(callWorks(alice, bob));
    BrokerProcess &old = pair.active();
    BrokerProcess &next = &old == pair.a.get() ? *pair.b : *pair.a;
    QCOMPARE(next.waitForRole(s("standby"), 1000), s("standby"));
    const QString database = QUrl(pair.store).path().mid(1);

    if (paused) {
        QCOMPARE(::kill(pid_t(old.pid()), SIGSTOP), 0);
    } else {
        // The server ends the active's session (the one holding the active lock).
        QString error;
        QVERIFY2(PgServer::shared().exec(database,
                                         s("SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
                                           "AND classid = %1 AND objid = 2 AND granted").arg(0x536f7474),
                                         &error),
                 qPrintable(error));
    }
    QElapsedTimer clock;
    clock.start();
    QCOMPARE(next.waitForRole(s("active"), 10000), s("active"));
    const qint64 takeOverMs = clock.elapsed();
    if (paused) {
        QTRY_VERIFY(next.outputSoFar().contains("lease ran out"));
        // While the old one sleeps, the new one serves: a phone that comes now gets in.
        TestPhone dave(s("dave"));
        QVERIFY(dave.enrol(parseInvite(next.invite(s("dave")))));
        QVERIFY(dave.goOnline());
        const QByteArray before = old.outputSoFar();
        QCOMPARE(::kill(pid_t(old.pid()), SIGCONT), 0);
        QCOMPARE(old.waitForRole(s("standby"), 10000), s("standby"));
        QTRY_VERIFY_WITH_TIMEOUT(old.outputSoFar().mid(before.size()).contains("lease ran out while it was not running"), 5000);
        QTest::qWait(500);
        const QByteArray after = old.outputSoFar().mid(before.size());
        QVERIFY2(!after.contains("committed"), after.constData()); // it committed nothing more
        QVERIFY(callWorks(dave, alice));
    } else {
        QCOMPARE(old.waitForRole(s("standby"), 10000), s("standby"));
        QTRY_VERIFY_WITH_TIMEOUT(old.outputSoFar().contains("lost its store"), 5000);
    }
    qInfo("the standby took over after %lld ms", takeOverMs);
    // Every phone is with the new active, and every account calls (keys committed there only).
    for (TestPhone *p : {&alice, &bob, &carol})
        QTRY_VERIFY_WITH_TIMEOUT(p->engine().state() == ClientEngine::State::Online, 15000);
    QVERIFY(callWorks(alice, bob));
    QVERIFY(callWorks(bob, carol));
    QVERIFY(callWorks(carol, alice));
    QCOMPARE(next.status().value(s("role")).toString(), s("active"));
    QCOMPARE(old.status().value(s("role")).toString(), s("standby"));
    QCOMPARE(old.status().value(s("online")).toInt(), 0);
#endif
}

void TestStandby::aCallOnARelayOfItsOwnGoesOnThroughATakeOver()
{
    // Both instances use one relay of their own; a call on it is live when the active dies.
    QTemporaryDir relayDir;
    const QString secretFile = relayDir.filePath(s("relay.secret"));
    writeRelaySecret(secretFile);
    RelayProcess relay(secretFile, freePort());
    QVERIFY(relay.start());
    Pair pair;
    pair.extra = {s("--relay"), relay.address(), s("--relay-secret-file"), secretFile};
    QVERIFY(pair.start());
    QTRY_VERIFY_WITH_TIMEOUT(pair.a->status().value(s("relays")).toArray().at(0).toObject().value(s("up")).toBool(), 5000);
    TestPhone alice(s("alice")), bob(s("bob"));
    for (TestPhone *p : {&alice, &bob}) {
        QVERIFY(p->enrol(parseInvite(pair.a->invite(p->account()))));
        QVERIFY(p->goOnline());
    }
    const QByteArray sid = establishCall(alice, bob);
    QVERIFY(!sid.isEmpty());
    auto call = bindRelayCall(alice, bob, sid);
    QVERIFY(call);
    QVERIFY(mediaFlows(*call->a, *call->b));
    QSignalSpy endedA(&alice.engine(), &ClientEngine::callEnded), endedB(&bob.engine(), &ClientEngine::callEnded);
    const quint32 bobEpoch = bob.profile().epoch();

    pair.a->kill();
    // Media flows through the relay while the brokers fail over…
    QVERIFY(mediaFlows(*call->a, *call->b));
    QCOMPARE(pair.b->waitForRole(s("active"), 5000), s("active"));
    for (TestPhone *p : {&alice, &bob})
        QTRY_VERIFY_WITH_TIMEOUT(p->engine().state() == ClientEngine::State::Online, 10000);
    // …and after: the new active adopts the call its store recorded, as both phones resume it.
    QTRY_COMPARE_WITH_TIMEOUT(pair.b->status().value(s("sessions")).toInt(), 1, 5000);
    QVERIFY(mediaFlows(*call->a, *call->b));
    QCOMPARE(endedA.size(), 0);
    QCOMPARE(endedB.size(), 0);
    // The key that keyed it is rotated as for any call live at a take-over.
    QTRY_VERIFY_WITH_TIMEOUT(bob.profile().epoch() > bobEpoch, 10000);
    // Hung up through the new active: the other side hears it, the relay lets the call go.
    bob.engine().leave(sid);
    QTRY_COMPARE_WITH_TIMEOUT(endedA.size(), 1, 5000);
    QCOMPARE(endedA.first().at(1).value<EndReason>(), EndReason::Hangup);
    QTest::qWait(300);
    call->b->sendRtp(1);
    QCOMPARE(call->a->drain(), 0);
    QVERIFY(callWorks(alice, bob));
}

void TestStandby::aPostgresRestartUnderARunningBrokerLosesNothing()
{
    QTemporaryDir dir;
    const QString store = PgServer::shared().createDatabase();
    BrokerProcess broker(dir.path(), freePort(), {s("--store"), store});
    QVERIFY(broker.start());
    QCOMPARE(broker.waitForRole(s("active"), 10000), s("active"));
    TestPhone alice(s("alice")), bob(s("bob"));
    for (TestPhone *p : {&alice, &bob}) {
        QVERIFY(p->enrol(parseInvite(broker.invite(p->account()))));
        QVERIFY(p->goOnline());
    }
    QVERIFY(callWorks(alice, bob));
    PgServer::shared().stop();
    // The broker notices, says why, and stops serving rather than serve keys it cannot keep.
    QTRY_VERIFY_WITH_TIMEOUT(broker.outputSoFar().contains("lost its store"), 10000);
    QTRY_VERIFY_WITH_TIMEOUT(alice.engine().state() != ClientEngine::State::Online, 10000);
    QString error;
    QVERIFY2(PgServer::shared().start(&error), qPrintable(error));
    QCOMPARE(broker.waitForRole(s("active"), 15000), s("active"));
    for (TestPhone *p : {&alice, &bob})
        QTRY_VERIFY_WITH_TIMEOUT(p->engine().state() == ClientEngine::State::Online, 15000);
    QVERIFY(callWorks(alice, bob));
    QVERIFY(callWorks(bob, alice));
    QVERIFY(broker.isRunning());
}

QTEST_GUILESS_MAIN(TestStandby)
#include "tst_standby.moc"
