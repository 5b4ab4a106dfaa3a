// The commit rule under faults (PROTOCOL.md §4, §6.2): at every step of enrolment, refresh and
// rotation, lose the next message, kill the broker process with SIGKILL, crash the client, or
// (on PostgreSQL) kill the active broker so that its standby takes over — then the two sides
// still share a key and can call.
#include "core/crypto.h"
#include "core/skbp.h"
#include "support/fixtures.h"
#include "support/pgserver.h"
#include "support/wiretap.h"

#include <QCborMap>
#include <QDateTime>
#include <QDeadlineTimer>
#include <QDir>
#include <QFile>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTest>

using namespace sotto;
using namespace sotto::test;

namespace {

enum class Phase { Enrol, Refresh, Rotate };
enum class Fault { Drop, KillBroker, CrashClient, FailOver };
using Dir = FrameProxy::Direction;

// The message of each step, as (direction, index within that direction on its connection).
struct Step
{
    const char *name;
    Dir dir;
    int index;
};
const Step kHandshakeSteps[] = {
    {"msg1", Dir::ToBroker, 0}, {"msg2", Dir::ToClient, 0}, {"confirm", Dir::ToBroker, 1}, {"enrolled", Dir::ToClient, 1}};

// Sealed sizes of `rotate` and `rotate_ack` for epoch 2: how the proxy recognises them on the
// encrypted channel.
int sealedSize(const QCborMap &m)
{
    return int(wire::encodeMessage(m).size()) + 16;
}
int rotateSize()
{
    QCborMap m = wire::message(wire::MessageType::Rotate);
    m.insert(QLatin1StringView("epoch"), 2);
    m.insert(QLatin1StringView("wrapped"), QByteArray(skbp::kWrappedSize, 'w'));
    return sealedSize(m);
}
int ackSize()
{
    QCborMap m = wire::message(wire::MessageType::RotateAck);
    m.insert(QLatin1StringView("epoch"), 2);
    m.insert(QLatin1StringView("proof"), QByteArray(32, 'p'));
    return sealedSize(m);
}

bool waitFor(const std::function<bool()> &cond, int ms)
{
    QDeadlineTimer deadline(ms);
    while (!cond() && !deadline.hasExpired())
        QTest::qWait(10);
    return cond();
}

} // namespace

Q_DECLARE_METATYPE(Phase)
Q_DECLARE_METATYPE(Fault)

class TestFaults : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void initTestCase() { QStandardPaths::setTestModeEnabled(true); }
    void commitRule_data();
    void commitRule();
    void inviteWorksOnceAndExpires();
    void oneBrokerPerStore();
};

void TestFaults::commitRule_data()
{
    QTest::addColumn<Phase>("phase");
    QTest::addColumn<int>("step");
    QTest::addColumn<Fault>("fault");
    std::vector<std::pair<Fault, const char *>> faults = {
        {Fault::Drop, "drop"}, {Fault::KillBroker, "kill-9-broker"}, {Fault::CrashClient, "crash-client"}};
    if (onPostgres())
        faults.push_back({Fault::FailOver, "kill-9-active-standby-takes-over"});
    for (const auto &[fault, fname] : faults) {
        for (int i = 0; i < 4; ++i) {
            QTest::addRow("enrol-%s-%s", kHandshakeSteps[i].name, fname) << Phase::Enrol << i << fault;
            QTest::addRow("refresh-%s-%s", kHandshakeSteps[i].name, fname) << Phase::Refresh << i << fault;
        }
        QTest::addRow("rotate-rotate-%s", fname) << Phase::Rotate << 0 << fault;
        QTest::addRow("rotate-ack-%s", fname) << Phase::Rotate << 1 << fault;
    }
}

void TestFaults::commitRule()
{
    QFETCH(Phase, phase);
    QFETCH(int, step);
    QFETCH(Fault, fault);

    // The broker: in-process, or a child process when it is to be killed.
    std::unique_ptr<TestBroker> inProcess;
    std::unique_ptr<QTemporaryDir> processDir;
    std::unique_ptr<BrokerProcess> process;
    std::unique_ptr<QTemporaryDir> standbyDir;
    std::unique_ptr<BrokerProcess> standby; // FailOver: the second instance of the store
    quint16 brokerPort = 0;
    if (fault == Fault::KillBroker || fault == Fault::FailOver) {
        processDir = std::make_unique<QTemporaryDir>();
        QStringList args;
        if (fault == Fault::FailOver)
            args = {QStringLiteral("--store"), PgServer::shared().createDatabase()};
        process = std::make_unique<BrokerProcess>(processDir->path(), freePort(), args);
        QVERIFY2(process->start(), process->output().constData());
        brokerPort = process->port();
        if (fault == Fault::FailOver) {
            QCOMPARE(process->waitForRole(QStringLiteral("active"), 10000), QStringLiteral("active"));
            standbyDir = std::make_unique<QTemporaryDir>();
            QVERIFY(QFile::copy(QDir(processDir->path()).filePath(QStringLiteral("broker.key")),
                                QDir(standbyDir->path()).filePath(QStringLiteral("broker.key"))));
            standby = std::make_unique<BrokerProcess>(standbyDir->path(), freePort(), args);
            QVERIFY(standby->start());
            QCOMPARE(standby->waitForRole(QStringLiteral("standby"), 10000), QStringLiteral("standby"));
        }
    } else {
        inProcess = std::make_unique<TestBroker>();
        brokerPort = inProcess->port();
    }
    auto inviteFor = [&](const QString &account, quint16 via) {
        if (inProcess)
            return inProcess->invite(account, via);
        auto link = InviteLink::parse(process->invite(account));
        if (!link)
            qFatal("invite: %s", qPrintable(link.error().message));
        if (via)
            link->port = via;
        return std::move(*link);
    };

    FrameProxy proxy(brokerPort);
    auto victim = std::make_unique<TestPhone>(QString::fromLatin1(phase == Phase::Rotate ? "bob" : "victim"));
    TestPhone partner(QString::fromLatin1(phase == Phase::Rotate ? "alice" : "partner"));
    QVERIFY(partner.enrol(inviteFor(partner.account(), 0)));
    QVERIFY(partner.goOnline());
    const InviteLink victimLink = inviteFor(victim->account(), proxy.port());
    if (phase != Phase::Enrol) {
        QVERIFY(victim->enrol(victimLink));
        QVERIFY(victim->goOnline());
    }

    // Which frame the fault hits.
    FrameProxy::Match match;
    if (phase == Phase::Rotate) {
        const int size = step == 0 ? rotateSize() : ackSize();
        const Dir dir = step == 0 ? Dir::ToClient : Dir::ToBroker;
        match = [size, dir](int, Dir d, int, const QByteArray &body) { return d == dir && body.size() == size; };
    } else {
        const Step s = kHandshakeSteps[step];
        match = [&proxy, s](int conn, Dir d, int index, const QByteArray &) {
            if (d != s.dir || index != s.index)
                return false;
            for (const auto &f : proxy.frames()) { // an enrolment connection starts with 0x01
                if (f.connection == conn && f.direction == Dir::ToBroker)
                    return quint8(f.body.at(0)) == wire::kEnrollTag;
            }
            return false;
        };
    }
    bool hit = false;
    if (fault == Fault::Drop)
        proxy.dropNext([&hit, match](int c, Dir d, int i, const QByteArray &b) { return hit = hit || match(c, d, i, b); });
    else
        proxy.holdNext(match);

    // Run the step.
    switch (phase) {
    case Phase::Enrol:
        victim->engine().enrol(victimLink);
        break;
    case Phase::Refresh:
        victim->engine().refresh();
        break;
    case Phase::Rotate: {
        const QByteArray sid = establishCall(partner, *victim);
        QVERIFY(!sid.isEmpty());
        partner.engine().leave(sid);
        break;
    }
    }
    QVERIFY2(waitFor([&] { return fault == Fault::Drop ? hit : proxy.held(); }, 5000), "the fault never hit its frame");

    // The fault.
    if (fault == Fault::KillBroker) {
        process->kill();
        proxy.cutAll();
        QVERIFY(process->start());
    } else if (fault == Fault::FailOver) {
        process->kill();
        proxy.setTargetPort(standby->port()); // the victim's address now leads to the new active
        proxy.cutAll();
        QCOMPARE(standby->waitForRole(QStringLiteral("active"), 5000), QStringLiteral("active"));
    } else if (fault == Fault::CrashClient) {
        victim->crashAndReopen();
        proxy.cutAll();
    }
    QTest::qWait(50);

    // Recovery, as a user would: a profile that holds a key (current or pending) logs in; one
    // that holds nothing enrols again with its (unconsumed) invite.
    victim->engine().stop();
    if (!victim->profile().isEnrolled() && victim->profile().pendingEpoch() == 0)
        QVERIFY2(victim->enrol(victimLink), "re-enrolment with the unconsumed invite failed");
    QVERIFY2(victim->goOnline(), "no login after the fault");
    QCOMPARE(victim->profile().pendingEpoch(), 0u); // login settled any pending key

    // Both sides hold the same current key ...
    if (inProcess) {
        const auto *a = inProcess->broker().store().account(victim->account());
        QVERIFY(a);
        QTRY_COMPARE_WITH_TIMEOUT(a->epoch, victim->profile().epoch(), 3000);
        QCOMPARE(skbp::fingerprint(a->key), skbp::fingerprint(victim->profile().key()));
    }
    // ... proved the hard way: a fresh login under it, and calls in both directions.
    victim->engine().stop();
    QVERIFY(victim->goOnline());
    // A killed broker took the partner's connection too: it is back once its back-off lets it.
    QVERIFY2(partner.goOnline(), "the partner did not log in again");
    QVERIFY(callWorks(partner, *victim));
    QVERIFY(callWorks(*victim, partner));
}

void TestFaults::inviteWorksOnceAndExpires()
{
    TestBroker broker;
    TestPhone first(QStringLiteral("alice")), second(QStringLiteral("alice"));
    const InviteLink link = broker.invite(QStringLiteral("alice"));
    QVERIFY(first.enrol(link));
    const QString before = broker.storeDump();
    QSignalSpy failed(&second.engine(), &ClientEngine::enrolFailed);
    QVERIFY(!second.enrol(link)); // the same invite again
    QCOMPARE(failed.size(), 1);
    QCOMPARE(failed.first().at(0).value<Error>().code, ErrorCode::Auth);
    QCOMPARE(broker.storeDump(), before);

    // An expired invite is refused too (made by the store with a past expiry).
    auto secret = crypto::randomSecret(32);
    QVERIFY(broker.broker().store().createInvite(QStringLiteral("late"), *secret, QDateTime::currentSecsSinceEpoch() - 5).ok());
    InviteLink expired{QStringLiteral("127.0.0.1"), broker.port(), QStringLiteral("late"), broker.broker().publicKey(), *secret, {}};
    TestPhone late(QStringLiteral("late"));
    const QString beforeLate = broker.storeDump();
    QVERIFY(!late.enrol(expired));
    QCOMPARE(broker.storeDump(), beforeLate);
    QVERIFY(!broker.broker().store().account(QStringLiteral("late")));
}

// Two brokers on one store would each keep the commit rule and break it together.
void TestFaults::oneBrokerPerStore()
{
    TestBroker first;
    broker::BrokerConfig config = first.broker().config();
    config.port = 0;
    broker::Broker second(config);
    const QString before = first.storeDump();
    auto refused = second.start();
    QVERIFY(!refused.ok());
    QCOMPARE(refused.error().code, ErrorCode::Busy);
    QVERIFY2(refused.error().message.contains(QStringLiteral("another broker")), qPrintable(refused.error().message));
    QCOMPARE(first.storeDump(), before);
    first.broker().stop();
    QVERIFY(second.start().ok()); // the lock goes with the broker that held it
    second.stop();

    // A lock from a broker on another host (a shared directory) is respected, and the error
    // says what to do; a damaged lock file is taken over once it is not brand new.
    const QString lockPath = QDir(config.dataDir).filePath(QStringLiteral("broker.lock"));
    auto writeLock = [&](const QByteArray &content, int ageSecs) {
        QFile f(lockPath);
        if (!f.open(QIODevice::WriteOnly | QIODevice::Truncate) || f.write(content) != content.size())
            return false;
        f.close();
        QFile touched(lockPath);
        return touched.open(QIODevice::ReadWrite)
            && touched.setFileTime(QDateTime::currentDateTime().addSecs(-ageSecs), QFileDevice::FileModificationTime);
    };
    QVERIFY(writeLock("4242\nsotto\nsomewhere-else\n", 3600));
    auto elsewhere = second.start();
    QVERIFY(!elsewhere.ok());
    QCOMPARE(elsewhere.error().code, ErrorCode::Busy);
    QVERIFY2(elsewhere.error().message.contains(QStringLiteral("somewhere-else"))
                 && elsewhere.error().message.contains(lockPath),
             qPrintable(elsewhere.error().message));
    QVERIFY(writeLock(QByteArray("\xff\x00garbage", 9), 60));
    auto damaged = second.start();
    QVERIFY2(damaged.ok(), damaged.ok() ? "" : qPrintable(damaged.error().message));
    second.stop();
}

QTEST_GUILESS_MAIN(TestFaults)
#include "tst_faults.moc"
