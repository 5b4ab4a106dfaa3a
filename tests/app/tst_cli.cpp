// The `sotto` command line as scripts see it (CLI.md): exit codes, one-line errors, invite
// links, a headless call between two real phone processes through a real broker process, damaged
// files left alone, and SIGTERM. Every child is waited for with a timeout.
#include "core/crypto.h"
#include "core/invite.h"
#include "core/localchannel.h"
#include "core/privatefile.h"
#include "client/profile.h"
#include "support/filemodes.h"
#include "support/fixtures.h"

#include <QCborMap>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSignalSpy>
#include <QCborValue>
#include <QDeadlineTimer>
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLocalSocket>
#include <QProcess>
#include <QRegularExpression>
#include <QSettings>
#include <QStandardPaths>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTemporaryDir>
#include <QTest>

#include <memory>

using namespace sotto;
using namespace sotto::test;

namespace {

QString s(const char *text)
{
    return QString::fromUtf8(text);
}

QString sottoBinary()
{
    return QStringLiteral(SOTTO_BINARY);
}

QByteArray readAll(const QString &path)
{
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly))
        return {};
    return f.readAll();
}

bool writeRaw(const QString &path, const QByteArray &bytes)
{
    QFile f(path);
    return f.open(QIODevice::WriteOnly | QIODevice::Truncate) && f.write(bytes) == bytes.size();
}

QStringList lines(const QByteArray &text)
{
    QStringList l = QString::fromUtf8(text).split(u'\n');
    if (!l.isEmpty() && l.last().isEmpty())
        l.removeLast();
    return l;
}

struct Outcome
{
    bool finished = false;
    QProcess::ExitStatus status = QProcess::CrashExit;
    int code = -1;
    QByteArray out;
    QByteArray err;

    QString describe() const
    {
        return QStringLiteral("finished=%1 status=%2 code=%3\nstdout: %4\nstderr: %5")
            .arg(finished)
            .arg(int(status))
            .arg(code)
            .arg(QString::fromUtf8(out), QString::fromUtf8(err));
    }
    bool exited(int expected) const
    {
        return finished && status == QProcess::NormalExit && code == expected;
    }
};

// Runs `sotto ARGS` to the end (killing it after timeoutMs).
Outcome run(const QStringList &args, int timeoutMs = 15000)
{
    QProcess p;
    p.start(sottoBinary(), args);
    Outcome o;
    if (!p.waitForStarted(kProgramStartMs))
        return o;
    o.finished = p.waitForFinished(timeoutMs);
    if (!o.finished) {
        p.kill();
        p.waitForFinished(3000);
    }
    o.status = p.exitStatus();
    o.code = p.exitCode();
    o.out = p.readAllStandardOutput();
    o.err = p.readAllStandardError();
    return o;
}

// A child that runs in the background; killed (and waited for) if the test leaves early.
class Child
{
public:
    explicit Child(const QStringList &args)
    {
        m_process.start(sottoBinary(), args);
        m_process.waitForStarted(kProgramStartMs);
    }
    ~Child()
    {
        if (m_process.state() != QProcess::NotRunning) {
            m_process.kill();
            // Until it is gone, profile lock and all (a killed Wine process takes a moment).
            m_process.waitForFinished(kProgramStartMs);
        }
    }
    QProcess &process() { return m_process; }
    bool running() const { return m_process.state() == QProcess::Running; }
    // Waits for the end (killing the child after timeoutMs); the outcome's output is everything
    // the child wrote. Not for QVERIFY2 messages: Qt evaluates those even when the check passes.
    Outcome wait(int timeoutMs)
    {
        Outcome o;
        o.finished =
            m_process.state() == QProcess::NotRunning || m_process.waitForFinished(timeoutMs);
        if (!o.finished) {
            m_process.kill();
            m_process.waitForFinished(3000);
        }
        o.status = m_process.exitStatus();
        o.code = m_process.exitCode();
        o.out = m_process.readAllStandardOutput();
        o.err = m_err + m_process.readAllStandardError();
        return o;
    }
    // Waits (running the event loop) until the child's stderr holds `needle`.
    bool waitForStderr(const QByteArray &needle, int timeoutMs)
    {
        QDeadlineTimer deadline(timeoutMs);
        while (!deadline.hasExpired()) {
            m_err += m_process.readAllStandardError();
            if (m_err.contains(needle))
                return true;
            if (!running())
                return false;
            QTest::qWait(50);
        }
        return false;
    }
    QByteArray stderrSoFar() { return m_err += m_process.readAllStandardError(); }

private:
    QProcess m_process;
    QByteArray m_err;
};

// The lines of a run's stderr that say why it failed ("sotto: …"), without its progress lines.
QStringList errorLines(const QByteArray &err)
{
    QStringList out;
    for (const QString &l : lines(err)) {
        if (l.startsWith(QStringLiteral("sotto: ")))
            out.append(l);
    }
    return out;
}

// Waits (running the event loop) until `file` holds `needle`, or the child has ended.
bool waitForText(const QString &file, const QByteArray &needle, Child &child, int timeoutMs)
{
    QDeadlineTimer deadline(timeoutMs);
    while (!deadline.hasExpired()) {
        if (readAll(file).contains(needle))
            return true;
        if (!child.running())
            return readAll(file).contains(needle);
        QTest::qWait(50);
    }
    return false;
}

QList<QJsonObject> timeline(const QString &file, QString *error)
{
    QList<QJsonObject> events;
    const QStringList ls = lines(readAll(file));
    for (const QString &line : ls) {
        QJsonParseError err;
        const QJsonDocument doc = QJsonDocument::fromJson(line.toUtf8(), &err);
        if (err.error != QJsonParseError::NoError || !doc.isObject()) {
            *error = QStringLiteral("not a JSON object line: %1").arg(line);
            return {};
        }
        events.append(doc.object());
    }
    return events;
}

QStringList eventNames(const QList<QJsonObject> &events)
{
    QStringList names;
    for (const QJsonObject &e : events)
        names.append(e.value(QLatin1StringView("event")).toString());
    return names;
}

// `want` appears in `names` in this order (other events may come between).
bool inOrder(const QStringList &names, const QStringList &want)
{
    qsizetype at = 0;
    for (const QString &w : want) {
        at = names.indexOf(w, at);
        if (at < 0)
            return false;
        ++at;
    }
    return true;
}

QJsonObject firstEvent(const QList<QJsonObject> &events, const char *name)
{
    for (const QJsonObject &e : events) {
        if (e.value(QLatin1StringView("event")).toString() == QLatin1StringView(name))
            return e;
    }
    return {};
}

// Every encoding of every key in a profile's keys.cbor under which it must never be printed.
QList<QByteArray> keyTexts(const QString &profileDir)
{
    QList<QByteArray> texts;
    const QCborMap m =
        QCborValue::fromCbor(readAll(QDir(profileDir).filePath(s("keys.cbor")))).toMap();
    for (const char *field : {"key", "pending_key"}) {
        const QByteArray k = m.value(QLatin1StringView(field)).toByteArray();
        if (k.isEmpty())
            continue;
        texts << k.toHex() << k.toHex().toUpper() << k.toBase64()
              << k.toBase64(QByteArray::Base64UrlEncoding | QByteArray::OmitTrailingEquals);
    }
    return texts;
}

} // namespace

class TestCli : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void cleanupTestCase();
    void version();
    void help();
    void badUsage_data();
    void badUsage();
    void brokerInvitePrintsOneLink();
    void everySubcommandHasHelp();
    void manPageCoversEveryOption();
    void oneProcessPerProfile();
    void operatorToolsOnARunningAndAStoppedBroker();
    void brokersPeerFromTheCommandLine();
    void headlessDemo_data();
    void headlessDemo();
    void endToEndCall();
    void callToUnknownAccount();
    void corruptBrokerFiles_data();
    void corruptBrokerFiles();
    void corruptProfile();
    void sigtermEndsOnlinePhone();
    void headlessSaysWhyItIsOffline();
    void readmeByHandWorksWhenPasted();
    void answerAllStaysAndAConferenceOutlivesItsCreator();
    void everyRefusalEndsWithALineNotASignal();

private:
    bool ensureBroker();
    QString inviteLink(const QString &dataDir, const QString &account);
    // A profile enrolled with the shared broker by `sotto phone --headless --join`.
    QString enrolledProfile(const QString &account);

    QTemporaryDir m_tmp;
    QString m_brokerDir;
    std::unique_ptr<BrokerProcess> m_broker;
};

void TestCli::initTestCase()
{
    QVERIFY(m_tmp.isValid());
    QVERIFY2(QFileInfo(sottoBinary()).isExecutable(), SOTTO_BINARY);
    QStandardPaths::setTestModeEnabled(true);
    // Children never see a real home or a key log.
    const QString home = m_tmp.filePath(s("home"));
    QVERIFY(QDir().mkpath(home));
    qputenv("HOME", home.toLocal8Bit());
    qputenv("XDG_DATA_HOME", QDir(home).filePath(s(".local/share")).toLocal8Bit());
    qputenv("XDG_CONFIG_HOME", QDir(home).filePath(s(".config")).toLocal8Bit());
    qputenv("QT_QPA_PLATFORM", "offscreen");
    qunsetenv("SOTTO_KEYLOGFILE");
}

void TestCli::cleanupTestCase()
{
    if (m_broker)
        m_broker->stop();
}

void TestCli::version()
{
    const Outcome o = run({s("--version")});
    QVERIFY2(o.exited(0), qPrintable(o.describe()));
    QVERIFY2(QRegularExpression(s("^sotto \\d+\\.\\d+(\\.\\d+)?\\s*$"))
                 .match(QString::fromUtf8(o.out))
                 .hasMatch(),
             o.out.constData());
    QVERIFY(o.err.isEmpty());
}

void TestCli::help()
{
    const Outcome o = run({s("--help")});
    QVERIFY2(o.exited(0), qPrintable(o.describe()));
    const QString text = QString::fromUtf8(o.out);
    QVERIFY(text.contains(s("phone --headless")));
    QVERIFY(text.contains(s("broker invite ACCOUNT")));
    QVERIFY(text.contains(s("--version")));
    QVERIFY(o.err.isEmpty());
}

void TestCli::badUsage_data()
{
    QTest::addColumn<QStringList>("args"); // "@D@" is a fresh directory (not created)

    QTest::newRow("unknown-command") << QStringList{s("frobnicate")};
    QTest::newRow("phone-no-profile") << QStringList{s("phone"), s("--headless")};
    QTest::newRow("phone-unknown-option")
        << QStringList{s("phone"), s("--headless"), s("--profile"), s("@D@"), s("--frob")};
    QTest::newRow("phone-stray-argument")
        << QStringList{s("phone"), s("--headless"), s("--profile"), s("@D@"), s("extra")};
    QTest::newRow("hangup-after-abc") << QStringList{
        s("phone"), s("--headless"), s("--profile"), s("@D@"), s("--hangup-after"), s("abc")};
    QTest::newRow("hangup-after-negative") << QStringList{
        s("phone"), s("--headless"), s("--profile"), s("@D@"), s("--hangup-after"), s("-1")};
    QTest::newRow("call-bad-account") << QStringList{s("phone"), s("--headless"), s("--profile"),
                                                     s("@D@"),   s("--call"),     s("Bob")};
    QTest::newRow("invite-without-call") << QStringList{s("phone"), s("--headless"), s("--profile"),
                                                        s("@D@"),   s("--invite"),   s("carol")};
    QTest::newRow("join-not-a-link") << QStringList{s("phone"), s("--headless"), s("--profile"),
                                                    s("@D@"),   s("--join"),     s("not-a-link")};
    QTest::newRow("join-bad-account") << QStringList{
        s("phone"),
        s("--headless"),
        s("--profile"),
        s("@D@"),
        s("--join"),
        s("sotto://127.0.0.1:1/join?account=Bob&broker=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
          "&secret=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")};
    QTest::newRow("phone-not-enrolled")
        << QStringList{s("phone"), s("--headless"), s("--profile"), s("@D@")};
    // Media options are checked before anything is enrolled or written.
    const QString goodLink = s("sotto://127.0.0.1:1/join?account=bob&broker=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
                               "&secret=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    QTest::newRow("play-not-a-wav") << QStringList{s("phone"), s("--headless"), s("--profile"), s("@D@"),
                                                   s("--join"), goodLink, s("--play"), sottoBinary()};
    QTest::newRow("play-missing-file") << QStringList{s("phone"), s("--headless"), s("--profile"), s("@D@"),
                                                      s("--join"), goodLink, s("--play"), s("@D@/none.wav")};
    QTest::newRow("loss-over-100") << QStringList{s("phone"), s("--headless"), s("--profile"), s("@D@"),
                                                  s("--join"), goodLink, s("--loss"), s("150")};
    QTest::newRow("key-mode-sideways")
        << QStringList{s("broker"), s("--headless"), s("--key-mode"), s("sideways")};
    QTest::newRow("refresh-interval-5x")
        << QStringList{s("broker"), s("--headless"), s("--refresh-interval"), s("5x")};
    QTest::newRow("listen-nonsense")
        << QStringList{s("broker"), s("--headless"), s("--listen"), s("nonsense:port")};
    QTest::newRow("listen-port-too-big")
        << QStringList{s("broker"), s("--headless"), s("--listen"), s("127.0.0.1:99999")};
    QTest::newRow("broker-unknown-subcommand")
        << QStringList{s("broker"), s("--headless"), s("frob")};
    QTest::newRow("invite-no-account") << QStringList{s("broker"), s("invite")};
    QTest::newRow("invite-bad-account")
        << QStringList{s("broker"), s("invite"), s("Bad!Name"), s("--data"), s("@D@")};
    QTest::newRow("invite-two-accounts")
        << QStringList{s("broker"), s("invite"), s("alice"), s("bob"), s("--data"), s("@D@")};
    QTest::newRow("invite-no-data") << QStringList{s("broker"), s("invite"), s("alice")};
    const QString key = s("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    QTest::newRow("peer-no-address") << QStringList{s("broker"), s("--headless"), s("--data"), s("@D@"), s("--peer"), s("b")};
    QTest::newRow("peer-short-key") << QStringList{s("broker"), s("--headless"), s("--data"), s("@D@"),
                                                   s("--peer"), s("b=127.0.0.1:7421,AAAA")};
    QTest::newRow("peer-bad-name") << QStringList{s("broker"), s("--headless"), s("--data"), s("@D@"),
                                                  s("--peer"), s("B!=127.0.0.1:7421,") + key};
    QTest::newRow("peer-without-secret") << QStringList{s("broker"), s("--headless"), s("--data"), s("@D@"),
                                                        s("--peer"), s("b=127.0.0.1:7421,") + key};
    QTest::newRow("peer-secret-missing-file")
        << QStringList{s("broker"), s("--headless"), s("--data"), s("@D@"), s("--peer"), s("b=127.0.0.1:7421,") + key,
                       s("--peer-secret-file"), s("b=@D@/none")};
    QTest::newRow("peer-secret-for-no-peer")
        << QStringList{s("broker"), s("--headless"), s("--data"), s("@D@"), s("--peer-secret-file"), s("x=") + sottoBinary()};
    QTest::newRow("pubkey-no-data") << QStringList{s("broker"), s("pubkey")};
    QTest::newRow("forget-peer-no-data") << QStringList{s("broker"), s("forget-peer"), s("b")};
    QTest::newRow("forget-peer-no-name") << QStringList{s("broker"), s("forget-peer"), s("--data"), s("@D@")};
    QTest::newRow("invite-expires-5x") << QStringList{
        s("broker"), s("invite"), s("alice"), s("--expires"), s("5x"), s("--data"), s("@D@")};
}

void TestCli::badUsage()
{
    QFETCH(QStringList, args);
    QTemporaryDir tmp;
    const QString dir = tmp.filePath(s("d"));
    args.replaceInStrings(s("@D@"), dir);

    const Outcome o = run(args, 10000);
    QVERIFY2(o.exited(2), qPrintable(o.describe()));
    const QStringList err = lines(o.err);
    QVERIFY2(err.size() == 1, qPrintable(o.describe()));
    QVERIFY2(err.first().startsWith(s("sotto: ")) && err.first().size() > 7,
             qPrintable(err.first()));
    QVERIFY2(o.out.isEmpty(), o.out.constData());
    // Bad usage writes nothing that holds a key.
    for (const char *file : {"profile.json", "keys.cbor", "broker.key", "broker.db"})
        QVERIFY2(!QFile::exists(QDir(dir).filePath(QLatin1StringView(file))), file);
}

void TestCli::headlessDemo_data()
{
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<QStringList>("expected");
    QTest::newRow("one broker") << QStringList{s("demo"), s("--headless")}
                                << QStringList{s("alice calls bob"), s("carol holds generation 1"),
                                               s("re-keyed to generation 2"), s("bob's key rotated to epoch 2"),
                                               s("{SK}K_alice")};
    QTest::newRow("federated") << QStringList{s("demo"), s("--headless"), s("--federated")}
                               << QStringList{s("alice calls bob@b"), s("alice invites carol@b"),
                                              s("carol holds generation 1"), s("re-keyed to generation 2"),
                                              s("bob's key rotated to epoch 2"), s("{SK}K_AB"), s("{SK}K_alice"),
                                              s("{SK_1}K_carol"), s("{SK_2}K_bob")};
}

void TestCli::headlessDemo()
{
    QFETCH(QStringList, args);
    QFETCH(QStringList, expected);
    const Outcome o = run(args, 90000);
    QVERIFY2(o.exited(0), qPrintable(o.describe()));
    const QString out = QString::fromUtf8(o.out);
    for (const QString &e : expected)
        QVERIFY2(out.contains(e), qPrintable(e + s(" missing from:\n") + out));
    // Fingerprints only: nothing that looks like a whole key (64 hex digits or 43 base64 chars).
    QVERIFY(!out.contains(QRegularExpression(s("[0-9a-f]{64}"))));
    QVERIFY(!out.contains(QRegularExpression(s("[A-Za-z0-9_-]{43}"))));
}

void TestCli::brokersPeerFromTheCommandLine()
{
    // Two broker processes, peered the way an administrator would: each one's public key from
    // `sotto broker pubkey`, one shared secret file, --peer and --peer-secret-file.
    QTemporaryDir tmp;
    const QString da = tmp.filePath(s("a")), db = tmp.filePath(s("b"));
    const Outcome ka = run({s("broker"), s("pubkey"), s("--data"), da});
    const Outcome kb = run({s("broker"), s("pubkey"), s("--data"), db});
    QVERIFY2(ka.exited(0) && kb.exited(0), qPrintable(ka.describe() + kb.describe()));
    const QString keyA = QString::fromLatin1(ka.out.trimmed()), keyB = QString::fromLatin1(kb.out.trimmed());
    QCOMPARE(keyA.size(), 43);
    QCOMPARE(run({s("broker"), s("pubkey"), s("--data"), da}).out.trimmed(), ka.out.trimmed()); // stable
    const QString secret = tmp.filePath(s("ab.secret"));
    {
        QFile f(secret);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write(crypto::randomBytes(32)->toBase64() + '\n');
    }
    QVERIFY(makeOwnerOnly(secret).ok());
    const quint16 pa = freePort(), pb = freePort();
    // b has it in its data directory's peers.ini instead of options.
    {
        QSettings ini(QDir(db).filePath(s("peers.ini")), QSettings::IniFormat);
        ini.beginGroup(s("a"));
        ini.setValue(s("address"), s("127.0.0.1:%1").arg(pa));
        ini.setValue(s("key"), keyA);
        ini.setValue(s("secret_file"), secret);
        ini.endGroup();
    }
    BrokerProcess b(db, pb, {s("--name"), s("b")});
    BrokerProcess a(da, pa, {s("--name"), s("a"), s("--peer"), s("b=127.0.0.1:%1,%2").arg(pb).arg(keyB),
                             s("--peer-secret-file"), s("b=") + secret});
    QVERIFY(b.start());
    QVERIFY(a.start());
    QTRY_VERIFY_WITH_TIMEOUT(a.outputSoFar().contains("peer b up") && b.outputSoFar().contains("peer a up"), 10000);

    // A secret others can read is refused.
    QVERIFY(openToEveryone(secret));
    const Outcome open = run({s("broker"), s("--headless"), s("--data"), tmp.filePath(s("c")), s("--peer"),
                              s("b=127.0.0.1:%1,%2").arg(pb).arg(keyB), s("--peer-secret-file"), s("b=") + secret});
    QVERIFY2(open.exited(2) && open.err.contains("readable by others"), qPrintable(open.describe()));

    // After the first run the peering secret is spent (§8): if a lost its store it cannot pair
    // again alone, b refuses it. The operator drops K_AB with `forget-peer` - never under a
    // running broker.
    const Outcome busy = run({s("broker"), s("forget-peer"), s("b"), s("--data"), da});
    QVERIFY2(busy.exited(1) && busy.err.contains("another broker"), qPrintable(busy.describe()));
    a.stop();
    const Outcome forgot = run({s("broker"), s("forget-peer"), s("b"), s("--data"), da});
    QVERIFY2(forgot.exited(0) && forgot.out.contains("forgot the inter-broker key with b"), qPrintable(forgot.describe()));
    const Outcome again = run({s("broker"), s("forget-peer"), s("b"), s("--data"), da});
    QVERIFY2(again.exited(1) && again.err.contains("no inter-broker key"), qPrintable(again.describe()));
    const Outcome nowhere = run({s("broker"), s("forget-peer"), s("b"), s("--data"), tmp.filePath(s("none"))});
    QVERIFY2(nowhere.exited(1) && nowhere.err.contains("no broker store"), qPrintable(nowhere.describe()));
    QVERIFY(!QFile::exists(tmp.filePath(s("none"))));
    QVERIFY(makeOwnerOnly(secret).ok());
    const qsizetype mark = a.outputSoFar().size();
    QVERIFY2(a.start(), a.outputSoFar().mid(mark).constData());
    QTRY_VERIFY_WITH_TIMEOUT(b.outputSoFar().contains("the peering secret has been used"), 10000);
    QVERIFY(!a.outputSoFar().mid(mark).contains("peer b up"));
}

void TestCli::brokerInvitePrintsOneLink()
{
    QTemporaryDir tmp;
    const QString data = tmp.filePath(s("broker"));
    // No store there: one line saying so, exit 1, and nothing created (it used to make a new
    // broker key and print a link to a broker that does not exist).
    const Outcome none = run({s("broker"), s("invite"), s("alice"), s("--data"), data});
    QVERIFY2(none.exited(1), qPrintable(none.describe()));
    QCOMPARE(lines(none.err).size(), 1);
    QVERIFY2(none.err.contains("no broker store"), none.err.constData());
    QVERIFY(none.out.isEmpty());
    QVERIFY(!QFile::exists(data));
    {   // a broker that ran there once (stopped now): the invite comes from its store
        broker::BrokerConfig cfg;
        cfg.address = QHostAddress::LocalHost;
        cfg.port = 0;
        cfg.dataDir = data;
        broker::Broker b(cfg);
        QVERIFY(b.start().ok());
    }
    const Outcome o = run({s("broker"), s("invite"), s("alice"), s("--data"), data});
    QVERIFY2(o.exited(0), qPrintable(o.describe()));
    QVERIFY2(o.out.endsWith('\n'), o.out.constData());
    const QStringList out = lines(o.out);
    QCOMPARE(out.size(), 1);
    auto link = InviteLink::parse(out.first());
    QVERIFY2(link.ok(), qPrintable(link.ok() ? QString() : link.error().message));
    QCOMPARE(link->account, s("alice"));
    QCOMPARE(link->brokerPublicKey.size(), 32);
    QCOMPARE(link->secret.size(), std::size_t(32));
    QVERIFY2(o.err.isEmpty(), o.err.constData());

    // Another invite for the same (not yet enrolled) account: same broker, fresh secret.
    const Outcome again =
        run({s("broker"), s("invite"), s("alice"), s("--data"), data, s("--expires"), s("15m")});
    QVERIFY2(again.exited(0), qPrintable(again.describe()));
    QCOMPARE(lines(again.out).size(), 1);
    auto link2 = InviteLink::parse(lines(again.out).first());
    QVERIFY(link2.ok());
    QCOMPARE(link2->brokerPublicKey, link->brokerPublicKey);
    QVERIFY(!link2->secret.equals(link->secret));

    // The broker's key and store hold keys: the user's alone (0600; an owner-only DACL on Windows).
    QVERIFY(isOwnerOnly(QDir(data).filePath(s("broker.key"))).value());
    QVERIFY(isOwnerOnly(QDir(data).filePath(s("broker.db"))).value());
}

// A second phone on a profile already in use exits 1 at once, naming the first (before, the two
// logged each other off the broker in an endless loop).
void TestCli::oneProcessPerProfile()
{
    QVERIFY(ensureBroker());
    QTemporaryDir tmp;
    const QString profile = tmp.filePath(s("erin"));
    const QString link = inviteLink(m_brokerDir, s("erin"));
    QVERIFY(!link.isEmpty());
    Child first({s("phone"), s("--headless"), s("--profile"), profile, s("--join"), link});
    QVERIFY(first.running());
    QTRY_VERIFY_WITH_TIMEOUT(QFile::exists(QDir(profile).filePath(s("phone.lock"))), 5000);
    QTest::qWait(300);
    const Outcome second = run({s("phone"), s("--headless"), s("--profile"), profile});
    QVERIFY2(second.exited(1), qPrintable(second.describe()));
    QVERIFY2(second.err.contains(QStringLiteral("this profile is open in process %1").arg(first.process().processId()).toUtf8()),
             second.err.constData());
    QCOMPARE(lines(second.err).size(), 1);
    QVERIFY(first.running());

    // A second window on a profile whose window is open brings that window to the front and exits.
    const QString windowed = tmp.filePath(s("frank"));
    Child window({s("--profile"), windowed});
    const auto summonsListening = [&] {
        QLocalSocket probe;
        probe.connectToServer(localChannelName(windowed, s("phone")));
        return probe.waitForConnected(200);
    };
    QTRY_VERIFY_WITH_TIMEOUT(summonsListening(), 10000);
    const Outcome again = run({s("--profile"), windowed});
    QVERIFY2(again.exited(0), qPrintable(again.describe()));
    QVERIFY2(again.out.contains(QStringLiteral("this profile is open in process %1").arg(window.process().processId()).toUtf8())
                 && again.out.contains("brought to the front"),
             qPrintable(again.describe()));
    QVERIFY2(window.waitForStderr("a second launch asked for this window: shown", 5000), window.stderrSoFar().constData());
    QVERIFY(window.running());
}

void TestCli::manPageCoversEveryOption()
{
    // sotto(1) names every option that any --help prints, and every subcommand.
    const QByteArray man = readAll(QStringLiteral(QT_TESTCASE_SOURCEDIR "/../packaging/linux/sotto.1"));
    QVERIFY(!man.isEmpty());
    QString text = QString::fromUtf8(man);
    text.replace(QStringLiteral("\\-"), QStringLiteral("-"));
    static const QRegularExpression option(QStringLiteral("--[a-z][a-z-]+"));
    int checked = 0;
    for (const QStringList &args : {QStringList{s("--help")}, QStringList{s("phone"), s("--help")}, QStringList{s("broker"), s("--help")},
                                    QStringList{s("demo"), s("--help")}, QStringList{s("broker"), s("invite"), s("--help")},
                                    QStringList{s("broker"), s("accounts"), s("--help")}, QStringList{s("broker"), s("revoke"), s("--help")},
                                    QStringList{s("relay"), s("--help")}}) {
        const Outcome o = run(args);
        QVERIFY2(o.exited(0), qPrintable(o.describe()));
        for (auto it = option.globalMatch(QString::fromUtf8(o.out)); it.hasNext();) {
            const QString name = it.next().captured();
            QVERIFY2(text.contains(name), qPrintable(name + s(" is not in sotto(1)")));
            ++checked;
        }
    }
    QVERIFY(checked > 30);
    for (const char *sub : {"invite", "accounts", "revoke", "pubkey", "forget-peer", "demo", "phone", "relay", "status"})
        QVERIFY2(text.contains(QString::fromLatin1(sub)), sub);
}

void TestCli::everySubcommandHasHelp()
{
    const std::vector<std::pair<QStringList, const char *>> cases{
        {{s("phone"), s("--help")}, "--hangup-after"},   {{s("broker"), s("--help")}, "--advertise"},
        {{s("demo"), s("-h")}, "--federated"},           {{s("broker"), s("invite"), s("--help")}, "--replace"},
        {{s("broker"), s("accounts"), s("-h")}, "--json"}, {{s("broker"), s("revoke"), s("--help")}, "--data"},
        {{s("relay"), s("--help")}, "--secret-file"},
    };
    for (const auto &[args, option] : cases) {
        const Outcome o = run(args);
        QVERIFY2(o.exited(0), qPrintable(o.describe()));
        QVERIFY2(o.out.startsWith("Usage: sotto "), o.out.constData());
        QVERIFY2(o.out.contains(option), o.out.constData());
    }
    const Outcome all = run({s("--help")});
    for (const char *option : {"--play", "--record", "--stats", "--audio-device", "--loss", "--replace", "accounts", "revoke", "--answer-all", "--quiet"})
        QVERIFY2(all.out.contains(option), option);
    const Outcome bogus = run({s("--bogus")});
    QVERIFY(bogus.exited(2));
    QVERIFY2(bogus.err.contains("unknown option"), bogus.err.constData());
}

// accounts, revoke and invite --replace as an operator runs them: at once on a running broker
// (its admin channel), and on the store of a stopped one.
void TestCli::operatorToolsOnARunningAndAStoppedBroker()
{
    QTemporaryDir tmp;
    const QString data = tmp.filePath(s("broker"));
    BrokerProcess broker(data, freePort());
    QVERIFY(broker.start());
    const QString aliceLink = inviteLink(data, s("alice"));
    const QString bobLink = inviteLink(data, s("bob"));
    QVERIFY(!aliceLink.isEmpty() && !bobLink.isEmpty());
    TestPhone alice(s("alice")), bob(s("bob"));
    QVERIFY(alice.enrol(InviteLink::parse(aliceLink).value()) && alice.goOnline());
    QVERIFY(bob.enrol(InviteLink::parse(bobLink).value()));

    Outcome o = run({s("broker"), s("accounts"), s("--json"), s("--data"), data});
    QVERIFY2(o.exited(0), qPrintable(o.describe()));
    const QJsonArray list = QJsonDocument::fromJson(o.out).array();
    QCOMPARE(list.size(), 2);
    QCOMPARE(list.at(0).toObject().value(s("account")).toString(), s("alice"));
    QCOMPARE(list.at(0).toObject().value(s("online")).toBool(), true);
    QCOMPARE(list.at(0).toObject().value(s("fingerprint")).toString(), skbp::fingerprint(alice.profile().key()));
    QVERIFY(!o.out.contains(alice.profile().key().view().toByteArray().toHex()));
    o = run({s("broker"), s("accounts"), s("--data"), data});
    QVERIFY(o.exited(0));
    QVERIFY(o.out.contains("alice") && o.out.contains("LAST LOGIN"));

    // An enrolled account gets an invite only with --replace.
    o = run({s("broker"), s("invite"), s("alice"), s("--data"), data});
    QVERIFY(o.exited(1));
    QVERIFY2(o.err.contains("already enrolled"), o.err.constData());
    o = run({s("broker"), s("invite"), s("alice"), s("--replace"), s("--advertise"), s("phones.example.org:7420"), s("--data"), data});
    QVERIFY2(o.exited(0), qPrintable(o.describe()));
    QCOMPARE(InviteLink::parse(lines(o.out).first()).value().host, s("phones.example.org"));

    // Revoked at once: alice's channel closes and her key is refused from then on.
    o = run({s("broker"), s("revoke"), s("alice"), s("--data"), data});
    QVERIFY2(o.exited(0), qPrintable(o.describe()));
    QTRY_VERIFY_WITH_TIMEOUT(alice.engine().state() != ClientEngine::State::Online, 5000);
    QSignalSpy refused(&alice.engine(), &ClientEngine::loginFailed);
    QVERIFY(refused.wait(5000));
    alice.engine().stop();
    o = run({s("broker"), s("revoke"), s("alice"), s("--data"), data});
    QVERIFY(o.exited(1)); // nothing left to revoke

    // Stopped: the same tools on its store, under its lock.
    broker.stop();
    o = run({s("broker"), s("accounts"), s("--json"), s("--data"), data});
    QVERIFY2(o.exited(0), qPrintable(o.describe()));
    const QJsonArray after = QJsonDocument::fromJson(o.out).array();
    QCOMPARE(after.at(0).toObject().value(s("revoked")).toBool(), true);
    QCOMPARE(after.at(1).toObject().value(s("account")).toString(), s("bob"));
    o = run({s("broker"), s("revoke"), s("bob"), s("--data"), data});
    QVERIFY2(o.exited(0), qPrintable(o.describe()));
    o = run({s("broker"), s("invite"), s("bob"), s("--data"), data}); // revoked: a plain invite brings it back
    QVERIFY2(o.exited(0), qPrintable(o.describe()));
    o = run({s("broker"), s("accounts"), s("--data"), tmp.filePath(s("nothing-here"))});
    QVERIFY(o.exited(1));
    QVERIFY(!QFile::exists(tmp.filePath(s("nothing-here"))));
}

bool TestCli::ensureBroker()
{
    if (m_broker)
        return true;
    m_brokerDir = m_tmp.filePath(s("shared-broker"));
    m_broker = std::make_unique<BrokerProcess>(m_brokerDir, freePort());
    if (!m_broker->start()) {
        m_broker.reset();
        return false;
    }
    return true;
}

QString TestCli::inviteLink(const QString &dataDir, const QString &account)
{
    const Outcome o = run({s("broker"), s("invite"), account, s("--data"), dataDir});
    if (!o.exited(0) || lines(o.out).size() != 1) {
        qWarning("broker invite failed: %s", qPrintable(o.describe()));
        return {};
    }
    return lines(o.out).first();
}

QString TestCli::enrolledProfile(const QString &account)
{
    if (!ensureBroker())
        return {};
    const QString link = inviteLink(m_brokerDir, account);
    if (link.isEmpty())
        return {};
    const QString dir = m_tmp.filePath(s("profiles/") + account);
    const QString tl = m_tmp.filePath(s("profiles/") + account + s(".enrol.jsonl"));
    Child phone(
        {s("phone"), s("--headless"), s("--profile"), dir, s("--join"), link, s("--timeline"), tl});
    if (!waitForText(tl, "\"enrolled\"", phone, 15000)) {
        qWarning("%s did not enrol: %s", qPrintable(account), qPrintable(phone.wait(0).describe()));
        return {};
    }
    phone.process().terminate();
    phone.wait(5000);
    auto p = Profile::open(dir);
    return p && p->isEnrolled() ? dir : QString();
}

void TestCli::endToEndCall()
{
    QTemporaryDir tmp;
    const QString data = tmp.filePath(s("broker"));
    BrokerProcess broker(data, freePort());
    QVERIFY2(broker.start(), broker.output().constData());

    // Invites made while the broker runs, by another process, point at it and work at once.
    const QString linkBob = inviteLink(data, s("bob"));
    const QString linkAlice = inviteLink(data, s("alice"));
    QVERIFY(!linkBob.isEmpty() && !linkAlice.isEmpty());
    for (const QString &l : {linkBob, linkAlice}) {
        auto parsed = InviteLink::parse(l);
        QVERIFY(parsed.ok());
        QCOMPARE(parsed->host, s("127.0.0.1"));
        QCOMPARE(parsed->port, broker.port());
    }

    const QString pBob = tmp.filePath(s("bob"));
    const QString pAlice = tmp.filePath(s("alice"));
    const QString tb = tmp.filePath(s("bob.jsonl"));
    const QString ta = tmp.filePath(s("alice.jsonl"));

    Child bob({s("phone"), s("--headless"), s("--profile"), pBob, s("--join"), linkBob,
               s("--answer"), s("--timeline"), tb});
    if (!waitForText(tb, "\"enrolled\"", bob, 15000))
        QFAIL(qPrintable(QStringLiteral("bob did not enrol: ") + bob.wait(0).describe()));
    QTest::qWait(1000); // enrolled, then logged in
    if (!bob.running())
        QFAIL(qPrintable(QStringLiteral("bob did not stay online: ") + bob.wait(0).describe()));

    // Bob's key before the call (it is rotated after it) must not be printed either.
    QList<QByteArray> secrets = keyTexts(pBob);
    QVERIFY(!secrets.isEmpty());

    QElapsedTimer clock;
    clock.start();
    // Should bob not be logged in yet on a slow machine, the call fails (exit 1) before any key
    // moved; then alice, enrolled by now, tries again.
    Outcome alice;
    QByteArray aliceOutput;
    for (int attempt = 0; attempt < 3; ++attempt) {
        alice = run({s("phone"), s("--headless"), s("--profile"), pAlice, s("--join"), linkAlice,
                     s("--call"), s("bob"), s("--hangup-after"), s("1"), s("--timeline"), ta},
                    30000);
        aliceOutput += alice.out + alice.err;
        if (!alice.exited(1) || readAll(ta).contains("\"call_key\"") || !bob.running())
            break;
        qWarning("alice's call failed, retrying: %s", alice.err.constData());
        QTest::qWait(1000);
    }
    QVERIFY2(alice.exited(0), qPrintable(alice.describe()));
    const Outcome bobDone = bob.wait(10000);
    QVERIFY2(bobDone.exited(0), qPrintable(bobDone.describe()));
    QVERIFY2(clock.elapsed() < 25000, "the call took too long");

    // The timelines.
    QString error;
    const QList<QJsonObject> ea = timeline(ta, &error);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    const QList<QJsonObject> eb = timeline(tb, &error);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    const QStringList na = eventNames(ea);
    const QStringList nb = eventNames(eb);
    QVERIFY2(inOrder(na, {s("enrolled"), s("call_key"), s("answered"), s("ended")}),
             qPrintable(na.join(u',')));
    QVERIFY2(inOrder(nb, {s("enrolled"), s("incoming"), s("session_key"), s("answered"), s("ended"),
                          s("rotated")}),
             qPrintable(nb.join(u',')));

    const QStringList sessionEvents{s("call_key"), s("session_key"), s("incoming"), s("answered"),
                                    s("joined"),   s("left"),        s("rekey"),    s("ended")};
    QString sid;
    for (const QList<QJsonObject> *events : {&ea, &eb}) {
        for (const QJsonObject &e : *events) {
            const QString line = QString::fromUtf8(QJsonDocument(e).toJson(QJsonDocument::Compact));
            QVERIFY2(e.value(QLatin1StringView("ts")).isString(), qPrintable(line));
            QVERIFY2(QDateTime::fromString(e.value(QLatin1StringView("ts")).toString(),
                                           Qt::ISODateWithMs)
                         .isValid(),
                     qPrintable(line));
            QVERIFY2(e.value(QLatin1StringView("event")).isString(), qPrintable(line));
            if (!sessionEvents.contains(e.value(QLatin1StringView("event")).toString()))
                continue;
            const QString thisSid = e.value(QLatin1StringView("sid")).toString();
            QVERIFY2(!thisSid.isEmpty(), qPrintable(line));
            if (sid.isEmpty())
                sid = thisSid;
            QVERIFY2(thisSid == sid, qPrintable(line)); // one call, one session id on both sides
        }
    }
    const QString fpAlice = firstEvent(ea, "call_key").value(QLatin1StringView("fp")).toString();
    const QString fpBob = firstEvent(eb, "session_key").value(QLatin1StringView("fp")).toString();
    QVERIFY(!fpAlice.isEmpty());
    QCOMPARE(fpAlice, fpBob);
    const QJsonObject rotated = firstEvent(eb, "rotated");
    const QJsonObject enrolled = firstEvent(eb, "enrolled");
    QVERIFY(rotated.value(QLatin1StringView("epoch")).toInteger() >
            enrolled.value(QLatin1StringView("epoch")).toInteger());

    // Both profiles are enrolled; bob's key moved on.
    auto profA = Profile::open(pAlice);
    auto profB = Profile::open(pBob);
    QVERIFY(profA.ok() && profB.ok());
    QVERIFY(profA->isEnrolled());
    QCOMPARE(qint64(profB->epoch()), rotated.value(QLatin1StringView("epoch")).toInteger());
    QCOMPARE(skbp::fingerprint(profB->key()), rotated.value(QLatin1StringView("fp")).toString());
    for (const QString &dir : {pAlice, pBob}) {
        for (const char *file : {"keys.cbor", "profile.json"})
            QVERIFY2(isOwnerOnly(QDir(dir).filePath(QLatin1StringView(file))).value(), file);
    }

    // An enrolled account gets no second invite.
    for (const QString &account : {s("alice"), s("bob")}) {
        const Outcome again = run({s("broker"), s("invite"), account, s("--data"), data});
        QVERIFY2(again.finished && again.status == QProcess::NormalExit && again.code != 0,
                 qPrintable(again.describe()));
        QVERIFY2(again.out.isEmpty(), again.out.constData()); // no link
        QVERIFY2(lines(again.err).size() == 1, again.err.constData());
    }

    // No key, in any encoding, in a timeline or anything a process printed.
    secrets += keyTexts(pAlice);
    secrets += keyTexts(pBob);
    broker.stop();
    const QList<QPair<const char *, QByteArray>> printed{
        {"alice timeline", readAll(ta)}, {"bob timeline", readAll(tb)},
        {"alice output", aliceOutput},   {"bob stdout", bobDone.out},
        {"bob stderr", bobDone.err},     {"broker output", broker.output()},
    };
    for (const auto &[what, text] : printed) {
        for (const QByteArray &secret : std::as_const(secrets))
            QVERIFY2(!text.contains(secret), what);
    }
    QVERIFY(readAll(ta).contains(fpAlice.toLatin1())); // the check above looked at real text
}

void TestCli::callToUnknownAccount()
{
    const QString carol = enrolledProfile(s("carol"));
    QVERIFY(!carol.isEmpty());
    const Outcome o =
        run({s("phone"), s("--headless"), s("--profile"), carol, s("--call"), s("nobody")}, 20000);
    QVERIFY2(o.exited(1), qPrintable(o.describe()));
    QVERIFY2(errorLines(o.err).size() == 1, qPrintable(o.describe()));
    QVERIFY2(o.err.contains("calling nobody"), qPrintable(o.describe()));
    QVERIFY(o.out.isEmpty());
    // --quiet leaves only the reason.
    const Outcome q =
        run({s("phone"), s("--headless"), s("--quiet"), s("--profile"), carol, s("--call"), s("nobody")}, 20000);
    QVERIFY2(q.exited(1), qPrintable(q.describe()));
    QVERIFY2(lines(q.err).size() == 1 && lines(q.err).first().startsWith(s("sotto: ")), qPrintable(q.describe()));
}

void TestCli::corruptBrokerFiles_data()
{
    QTest::addColumn<QString>("file");
    QTest::addColumn<QByteArray>("bytes");
    QTest::newRow("broker.db-garbage")
        << s("broker.db") << QByteArray("this is not a database\x00\x01\x02\xff", 26);
    QTest::newRow("broker.db-almost-sqlite")
        << s("broker.db") << QByteArray("SQLite format 2\0garbage", 23);
    QTest::newRow("broker.key-short") << s("broker.key") << QByteArray(10, 'k');
}

void TestCli::corruptBrokerFiles()
{
    QFETCH(QString, file);
    QFETCH(QByteArray, bytes);
    QTemporaryDir tmp;
    const QString data = tmp.filePath(s("broker"));
    QVERIFY(QDir().mkpath(data));
    const QString path = QDir(data).filePath(file);
    QVERIFY(writeRaw(path, bytes));

    const quint16 port = freePort();
    const Outcome o = run({s("broker"), s("--headless"), s("--data"), data, s("--listen"),
                           QStringLiteral("127.0.0.1:%1").arg(port)},
                          10000);
    QVERIFY2(o.finished && o.status == QProcess::NormalExit && o.code != 0,
             qPrintable(o.describe()));
    const QStringList err = lines(o.err + o.out);
    QVERIFY2(err.size() == 1, qPrintable(o.describe()));
    QVERIFY2(err.first().contains(file), qPrintable(err.first()));
    QCOMPARE(readAll(path), bytes);
}

void TestCli::corruptProfile()
{
    QTemporaryDir tmp;
    const QString dir = tmp.filePath(s("p"));
    {
        auto p = Profile::open(dir);
        QVERIFY(p.ok());
        InviteLink l;
        l.host = s("127.0.0.1");
        l.port = freePort();
        l.account = s("alice");
        l.brokerPublicKey = QByteArray(32, 'b');
        l.secret = SecretBytes::copyOf(QByteArray(32, 's'));
        QVERIFY(p->adoptInvite(l).ok());
        QVERIFY(p->setPending(1, SecretBytes::copyOf(QByteArray(32, 'k'))).ok());
        QVERIFY(p->commitPending().ok());
    }
    const QString keys = QDir(dir).filePath(s("keys.cbor"));
    const QByteArray garbage("\xff\x00garbage, not CBOR\x01", 20);
    QVERIFY(writeRaw(keys, garbage));

    const Outcome o = run({s("phone"), s("--headless"), s("--profile"), dir}, 10000);
    QVERIFY2(o.finished && o.status == QProcess::NormalExit && o.code != 0,
             qPrintable(o.describe()));
    const QStringList err = lines(o.err);
    QVERIFY2(err.size() == 1, qPrintable(o.describe()));
    QVERIFY2(err.first().contains(s("keys.cbor")), qPrintable(err.first()));
    QCOMPARE(readAll(keys), garbage);

    // --join does not paper over it either.
    const QString link =
        QStringLiteral("sotto://127.0.0.1:1/join?account=alice&broker=%1&secret=%2")
            .arg(QString::fromLatin1(QByteArray(32, 'b').toBase64(QByteArray::Base64UrlEncoding |
                                                                  QByteArray::OmitTrailingEquals)),
                 QString::fromLatin1(QByteArray(32, 's').toBase64(QByteArray::Base64UrlEncoding |
                                                                  QByteArray::OmitTrailingEquals)));
    const Outcome j =
        run({s("phone"), s("--headless"), s("--profile"), dir, s("--join"), link}, 10000);
    QVERIFY2(j.finished && j.status == QProcess::NormalExit && j.code != 0,
             qPrintable(j.describe()));
    QVERIFY2(lines(j.err).size() == 1, qPrintable(j.describe()));
    QCOMPARE(readAll(keys), garbage);
}

// QProcess::terminate: SIGTERM on POSIX, WM_CLOSE to the main thread on Windows.
void TestCli::sigtermEndsOnlinePhone()
{
    const QString dave = enrolledProfile(s("dave"));
    QVERIFY(!dave.isEmpty());
    const QString tl = m_tmp.filePath(s("dave.jsonl"));
    Child phone({s("phone"), s("--headless"), s("--profile"), dave, s("--timeline"), tl});
    QVERIFY(phone.process().waitForStarted(kProgramStartMs));
    QTest::qWait(1500); // logged in, nothing to do: it stays online
    if (!phone.running())
        QFAIL(qPrintable(QStringLiteral("the phone did not stay online: ") +
                         phone.wait(0).describe()));

    QElapsedTimer clock;
    clock.start();
    phone.process().terminate();
    const Outcome o = phone.wait(5000);
    QVERIFY2(o.exited(0), qPrintable(o.describe()));
    QVERIFY2(clock.elapsed() < 2000, qPrintable(QStringLiteral("took %1 ms").arg(clock.elapsed())));
    QVERIFY2(errorLines(o.err).isEmpty(), o.err.constData());
    QVERIFY2(o.err.contains("dave: connecting to 127.0.0.1:") && o.err.contains("dave: online · epoch 1"), o.err.constData());
    QVERIFY(QFile::exists(tl)); // the timeline was opened, and closed cleanly
    auto p = Profile::open(dave);
    QVERIFY(p.ok() && p->isEnrolled());
}

void TestCli::readmeByHandWorksWhenPasted()
{
#ifdef Q_OS_WIN
    QSKIP("the README's \"By hand\" blocks are for a POSIX shell (bash, $S, &, wait)");
#endif
    // The README's "By hand" blocks, pasted into bash as they are (only the port made free and
    // the binary this build's): the two-party call, then the conference that outlives alice.
    const QByteArray readme = readAll(QStringLiteral(QT_TESTCASE_SOURCEDIR "/../README.md"));
    const qsizetype from = readme.indexOf("## By hand");
    const qsizetype to = readme.indexOf("\n## ", from + 1);
    QVERIFY(from >= 0 && to > from);
    QByteArray script = "set -e\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n"; // nothing outlives a failure
    bool inBlock = false;
    for (const QByteArray &line : readme.mid(from, to - from).split('\n')) {
        if (line.startsWith("```"))
            inBlock = line.startsWith("```sh");
        else if (inBlock)
            script += line + '\n';
    }
    QVERIFY(script.contains("--answer-all") && script.contains("--invite carol"));
    script.replace("127.0.0.1:7420", QStringLiteral("127.0.0.1:%1").arg(freePort()).toUtf8());
    script.replace("S=build/app/sotto", "S=" + QByteArray(SOTTO_BINARY));
    QProcess bash;
    bash.start(QStringLiteral("bash"), {QStringLiteral("-c"), QString::fromUtf8(script)});
    QVERIFY(bash.waitForFinished(90000));
    const QByteArray err = bash.readAllStandardError();
    QVERIFY2(bash.exitStatus() == QProcess::NormalExit && bash.exitCode() == 0, err.right(3000).constData());
    for (const char *step : {"bob: ended (hangup)", "bob: key rotated · epoch 2", "carol: alice left",
                             "bob: re-keyed · generation 2", "carol: ended (hangup)", "bob: key rotated · epoch 3"})
        QVERIFY2(err.contains(step), qPrintable(QString::fromUtf8(step) + QStringLiteral("\n") + QString::fromUtf8(err.right(3000))));
}

void TestCli::headlessSaysWhyItIsOffline()
{
    // A profile whose broker is not there: the phone says so, and when it tries again.
    QTemporaryDir tmp;
    const QString dir = tmp.filePath(s("p"));
    const quint16 port = freePort();
    {
        auto p = Profile::open(dir);
        QVERIFY(p.ok());
        InviteLink l;
        l.host = s("127.0.0.1");
        l.port = port;
        l.account = s("erin");
        l.brokerPublicKey = QByteArray(32, 'b');
        l.secret = SecretBytes::copyOf(QByteArray(32, 's'));
        QVERIFY(p->adoptInvite(l).ok());
        QVERIFY(p->setPending(1, SecretBytes::copyOf(QByteArray(32, 'k'))).ok());
        QVERIFY(p->commitPending().ok());
    }
    {
        Child phone({s("phone"), s("--headless"), s("--profile"), dir});
        const QByteArray want = QStringLiteral("erin: cannot reach 127.0.0.1:%1 (connection refused) · retrying in 1 s").arg(port).toUtf8();
        QVERIFY2(phone.waitForStderr(want, 5000), phone.stderrSoFar().constData());
        QVERIFY2(phone.waitForStderr("retrying in 2 s", 5000), phone.stderrSoFar().constData()); // backing off
        QVERIFY(phone.running()); // it keeps trying
    }
    Child quiet({s("phone"), s("--headless"), s("--quiet"), s("--profile"), dir});
    QTest::qWait(1500);
    QVERIFY2(quiet.running(), quiet.stderrSoFar().constData());
    QVERIFY2(quiet.stderrSoFar().isEmpty(), quiet.stderrSoFar().constData());
}

void TestCli::answerAllStaysAndAConferenceOutlivesItsCreator()
{
    const QString bob = enrolledProfile(s("bobby"));
    const QString carol = enrolledProfile(s("carla"));
    const QString alice = enrolledProfile(s("alicia"));
    QVERIFY(!bob.isEmpty() && !carol.isEmpty() && !alice.isEmpty());
    Child b({s("phone"), s("--headless"), s("--profile"), bob, s("--answer-all")});
    Child c({s("phone"), s("--headless"), s("--profile"), carol, s("--answer"), s("--hangup-after"), s("3")});
    QVERIFY2(b.waitForStderr("bobby: online", 10000), b.stderrSoFar().constData());
    QVERIFY2(c.waitForStderr("carla: online", 10000), c.stderrSoFar().constData());

    // alicia calls bobby, invites carla, and leaves after a second: bobby and carla go on.
    const Outcome a = run({s("phone"), s("--headless"), s("--profile"), alice, s("--call"), s("bobby"), s("--invite"),
                           s("carla"), s("--hangup-after"), s("1")},
                          20000);
    QVERIFY2(a.exited(0), qPrintable(a.describe()));
    for (const char *step : {"alicia: calling bobby", "alicia: ringing bobby", "alicia: answered · generation 0",
                             "alicia: carla joined · generation 1", "alicia: ended (hangup)"})
        QVERIFY2(a.err.contains(step), qPrintable(QString::fromUtf8(step) + QStringLiteral("\n") + QString::fromUtf8(a.err)));
    QVERIFY2(c.waitForStderr("carla: alicia left", 10000), c.stderrSoFar().constData());
    QVERIFY2(c.waitForStderr("carla: re-keyed · generation 2", 5000), c.stderrSoFar().constData());
    // carla hangs up two seconds later: the call ends for bobby, carla exits (--answer).
    const Outcome cDone = c.wait(15000);
    QVERIFY2(cDone.exited(0), qPrintable(cDone.describe()));
    QVERIFY2(b.waitForStderr("bobby: ended (hangup)", 10000), b.stderrSoFar().constData());
    QVERIFY2(b.waitForStderr("bobby: key rotated · epoch 2", 10000), b.stderrSoFar().constData());

    // bobby stays (--answer-all) and takes the next call too.
    QTest::qWait(2500); // past the broker's minimum interval between rotations of one key
    const Outcome again = run({s("phone"), s("--headless"), s("--profile"), alice, s("--call"), s("bobby"),
                               s("--hangup-after"), s("1")},
                              20000);
    QVERIFY2(again.exited(0), qPrintable(again.describe()));
    QVERIFY2(b.waitForStderr("bobby: key rotated · epoch 3", 10000), b.stderrSoFar().constData());
    QVERIFY(b.running());
    b.process().terminate();
    const Outcome bDone = b.wait(5000);
    QVERIFY2(bDone.exited(0), qPrintable(bDone.describe()));

    // Headless calls are in the history, each its own row, and the key timeline is kept.
    const QJsonArray calls = QJsonDocument::fromJson(readAll(QDir(bob).filePath(s("history.json")))).object().value(s("calls")).toArray();
    QCOMPARE(calls.size(), 2);
    QCOMPARE(calls.at(0).toObject().value(s("peer")).toString(), s("alicia"));
    QCOMPARE(calls.at(0).toObject().value(s("members")).toArray().first().toString(), s("carla"));
    QVERIFY(calls.at(1).toObject().value(s("members")).toArray().isEmpty());
    QVERIFY(calls.at(0).toObject().value(s("start")).toString() < calls.at(1).toObject().value(s("start")).toString());
    const QString kept = QDir(bob).filePath(s("timeline.jsonl"));
    // (Wine keeps no file DACLs of its own and maps them onto Unix modes only in part: there the
    // journal's privacy is left to tst_core_profile.)
    QVERIFY(isOwnerOnly(kept).value() || underWine());
    QString error;
    const QStringList steps = eventNames(timeline(kept, &error));
    QVERIFY2(error.isEmpty(), qPrintable(error));
    QVERIFY2(inOrder(steps, {s("enrolled"), s("incoming"), s("session_key"), s("joined"), s("left"), s("rekey"), s("ended"),
                             s("rotated"), s("incoming"), s("ended"), s("rotated")}),
             qPrintable(steps.join(u',')));
    for (const QByteArray &secret : keyTexts(bob))
        QVERIFY(!readAll(kept).contains(secret));
}


namespace {

// Runs the child to its end while this process's event loop keeps running (a server of ours
// in this process must answer it): waitForFinished() would block that loop.
Outcome runLive(Child &child, int timeoutMs)
{
    QDeadlineTimer deadline(timeoutMs);
    while (child.running() && !deadline.hasExpired())
        QTest::qWait(50);
    return child.wait(0);
}

// A "broker" that takes a connection, reads its first frame and hangs up mid-handshake.
class HangUpServer : public QObject
{
public:
    HangUpServer()
    {
        m_server.listen(QHostAddress::LocalHost, 0);
        connect(&m_server, &QTcpServer::newConnection, this, [this] {
            while (QTcpSocket *c = m_server.nextPendingConnection()) {
                ++m_connections;
                connect(c, &QTcpSocket::readyRead, c, [c] {
                    c->readAll();
                    c->abort();
                    c->deleteLater();
                });
            }
        });
    }
    quint16 port() const { return m_server.serverPort(); }
    int connections() const { return m_connections; }

private:
    QTcpServer m_server;
    int m_connections = 0;
};

} // namespace

// Every way a broker can refuse or lose a headless phone ends with a line that says why and
// exit 1 (or, for a network fault, a retry line) — never a signal. Under the sanitizer build
// this is also the memory check of each path (the revoked case crashed with SIGSEGV: the
// engine's handler stopped the engine from inside its own signal).
void TestCli::everyRefusalEndsWithALineNotASignal()
{
    auto expectRefused = [](const Outcome &o, const char *needle) {
        if (!o.exited(1))
            return QStringLiteral("not exit 1: ") + o.describe();
        if (!o.err.contains(needle))
            return QStringLiteral("no \"%1\" line: ").arg(QString::fromUtf8(needle)) + o.describe();
        return QString();
    };
    const QByteArray refusedLine = "no longer accepts this device's key";
    QString why;

    // Revoked by the operator.
    const QString revoked = enrolledProfile(s("rvk"));
    QVERIFY(!revoked.isEmpty());
    QVERIFY(run({s("broker"), s("revoke"), s("rvk"), s("--data"), m_brokerDir}).exited(0));
    why = expectRefused(run({s("phone"), s("--headless"), s("--profile"), revoked}), refusedLine);
    QVERIFY2(why.isEmpty(), qPrintable(why));

    // Replaced: a new device enrolled with `invite --replace`; the old profile is refused.
    const QString replaced = enrolledProfile(s("rpl"));
    QVERIFY(!replaced.isEmpty());
    const Outcome replace = run({s("broker"), s("invite"), s("rpl"), s("--replace"), s("--data"), m_brokerDir});
    QVERIFY2(replace.exited(0), qPrintable(replace.describe()));
    {
        const QString laptop = m_tmp.filePath(s("profiles/rpl-laptop"));
        const QString tl = m_tmp.filePath(s("profiles/rpl-laptop.jsonl"));
        Child phone({s("phone"), s("--headless"), s("--profile"), laptop, s("--join"), lines(replace.out).first(),
                     s("--timeline"), tl});
        QVERIFY2(waitForText(tl, "\"enrolled\"", phone, 15000), qPrintable(phone.wait(0).describe()));
        phone.process().terminate();
        phone.wait(5000);
    }
    why = expectRefused(run({s("phone"), s("--headless"), s("--profile"), replaced}), refusedLine);
    QVERIFY2(why.isEmpty(), qPrintable(why));

    // A wrong key: the profile's key is not the broker's.
    const QString wrong = enrolledProfile(s("wky"));
    QVERIFY(!wrong.isEmpty());
    {
        const QString path = QDir(wrong).filePath(s("keys.cbor"));
        QCborMap m = QCborValue::fromCbor(readAll(path)).toMap();
        m.insert(QLatin1StringView("key"), crypto::randomBytes(32).value());
        QVERIFY(writeRaw(path, m.toCborValue().toCbor()));
    }
    why = expectRefused(run({s("phone"), s("--headless"), s("--profile"), wrong}), refusedLine);
    QVERIFY2(why.isEmpty(), qPrintable(why));

    // An invite already used.
    QVERIFY(ensureBroker());
    const QString used = inviteLink(m_brokerDir, s("usd"));
    QVERIFY(!used.isEmpty());
    {
        const QString tl = m_tmp.filePath(s("profiles/usd.jsonl"));
        Child first({s("phone"), s("--headless"), s("--profile"), m_tmp.filePath(s("profiles/usd")), s("--join"), used,
                     s("--timeline"), tl});
        QVERIFY(waitForText(tl, "\"enrolled\"", first, 15000));
        first.process().terminate();
        first.wait(5000);
    }
    why = expectRefused(run({s("phone"), s("--headless"), s("--profile"), m_tmp.filePath(s("profiles/usd-again")),
                             s("--join"), used}),
                        "enrolment failed");
    QVERIFY2(why.isEmpty(), qPrintable(why));

    // An invite that names another broker's key.
    InviteLink other = InviteLink::parse(inviteLink(m_brokerDir, s("oth"))).value();
    other.brokerPublicKey = crypto::randomBytes(32).value();
    why = expectRefused(run({s("phone"), s("--headless"), s("--profile"), m_tmp.filePath(s("profiles/oth")),
                             s("--join"), other.toString()}),
                        "enrolment failed");
    QVERIFY2(why.isEmpty(), qPrintable(why));

    // A broker that hangs up mid-handshake: an enrolment fails (exit 1)…
    HangUpServer hangUp;
    InviteLink toHangUp = InviteLink::parse(inviteLink(m_brokerDir, s("hup"))).value();
    toHangUp.port = hangUp.port();
    {
        Child phone({s("phone"), s("--headless"), s("--profile"), m_tmp.filePath(s("profiles/hup")), s("--join"),
                     toHangUp.toString()});
        why = expectRefused(runLive(phone, 20000), "enrolment failed");
        QVERIFY2(why.isEmpty(), qPrintable(why));
    }
    // …and a login is a network fault: it says so and tries again, until it is told to stop.
    const QString moved = enrolledProfile(s("mov"));
    QVERIFY(!moved.isEmpty());
    {
        const QString path = QDir(moved).filePath(s("profile.json"));
        QJsonObject o = QJsonDocument::fromJson(readAll(path)).object();
        QVERIFY(o.contains(s("broker_port")));
        o.insert(s("broker_port"), hangUp.port());
        QVERIFY(writeRaw(path, QJsonDocument(o).toJson()));
    }
    {
        Child phone({s("phone"), s("--headless"), s("--profile"), moved});
        QVERIFY2(phone.waitForStderr("retrying in", 10000), phone.stderrSoFar().constData());
        QVERIFY(hangUp.connections() >= 1);
        QVERIFY(phone.running());
        phone.process().terminate();
        const Outcome o = runLive(phone, 5000);
        QVERIFY2(o.exited(0), qPrintable(o.describe()));
    }

    // The broker killed mid-call: both ends say the call ended, exit 1.
    QTemporaryDir tmp;
    const QString data = tmp.filePath(s("broker"));
    BrokerProcess broker(data, freePort());
    QVERIFY(broker.start());
    const QString pBob = tmp.filePath(s("bob")), pAlice = tmp.filePath(s("alice"));
    const QString tb = tmp.filePath(s("bob.jsonl"));
    Child bob({s("phone"), s("--headless"), s("--profile"), pBob, s("--join"), inviteLink(data, s("bob")), s("--answer"),
               s("--timeline"), tb});
    QVERIFY(waitForText(tb, "\"enrolled\"", bob, 15000));
    QTest::qWait(500);
    Child alice({s("phone"), s("--headless"), s("--profile"), pAlice, s("--join"), inviteLink(data, s("alice")),
                 s("--call"), s("bob")});
    QVERIFY2(alice.waitForStderr("answered", 20000), alice.stderrSoFar().constData());
    broker.kill();
    for (Child *phone : {&alice, &bob}) {
        const Outcome o = runLive(*phone, 20000);
        why = expectRefused(o, "the call ended: disconnected");
        QVERIFY2(why.isEmpty(), qPrintable(why));
    }
}

QTEST_GUILESS_MAIN(TestCli)
#include "tst_cli.moc"
