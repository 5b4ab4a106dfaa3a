// `sotto phone` and `sotto broker` command lines read as a table (CLI.md): each row a command line
// and what it must give — the configuration it names, or the one line the command prints. Nothing
// runs: no window, no socket.

#include "commands.h"

#include <QTemporaryDir>
#include <QTest>

using namespace sotto;
using namespace sotto::app;

class TestOptions : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void phoneRefusals_data();
    void phoneRefusals();
    void phoneHeadless();
    void phoneWindowAndHelp();
    void brokerRefusals_data();
    void brokerRefusals();
    void brokerConfig();
};

namespace {
QStringList words(const char *line)
{
    return QString::fromUtf8(line).split(u' ', Qt::SkipEmptyParts);
}
} // namespace

void TestOptions::phoneRefusals_data()
{
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<QString>("error");
    QTest::newRow("stray word") << words("bob") << QStringLiteral("unexpected argument \"bob\"");
    QTest::newRow("unknown option") << words("--frobnicate") << QStringLiteral("Unknown option 'frobnicate'.");
    QTest::newRow("headless option, window") << words("--call bob") << QStringLiteral("--call is for the headless phone (add --headless)");
    QTest::newRow("no profile") << words("--headless") << QStringLiteral("--profile DIR is required with --headless");
    QTest::newRow("bad link") << words("--headless --profile /p --join nonsense") << QStringLiteral("bad invite link:");
    QTest::newRow("bad callee") << words("--headless --profile /p --call Bob!") << QStringLiteral("\"Bob!\" is not a valid account name");
    QTest::newRow("bad invitee") << words("--headless --profile /p --call bob --invite C@") << QStringLiteral("\"C@\" is not a valid account name");
    QTest::newRow("invite, no call") << words("--headless --profile /p --invite carol") << QStringLiteral("--invite needs a call: give --call or --answer");
    QTest::newRow("hangup not seconds") << words("--headless --profile /p --hangup-after soon") << QStringLiteral("--hangup-after takes seconds, not \"soon\"");
    QTest::newRow("hangup over a day") << words("--headless --profile /p --hangup-after 86401") << QStringLiteral("--hangup-after takes seconds");
    QTest::newRow("loss over 100") << words("--headless --profile /p --loss 101") << QStringLiteral("--loss takes a percentage from 0 to 100, not \"101\"");
}

void TestOptions::phoneRefusals()
{
    QFETCH(QStringList, args);
    QFETCH(QString, error);
    auto parsed = parsePhoneCommand(args);
    QVERIFY(!parsed.ok());
    QCOMPARE(parsed.error().code, ErrorCode::Usage);
    QVERIFY2(parsed.error().message.startsWith(error), qPrintable(parsed.error().message));
}

void TestOptions::phoneHeadless()
{
    auto parsed = parsePhoneCommand(words("--headless --profile /p --call dave@b --invite carol --hangup-after 2.5 "
                                          "--loss 5 --quiet --timeline t.jsonl --play in.wav --record out.wav "
                                          "--stats s.json --audio-device="));
    QVERIFY2(parsed.ok(), parsed.ok() ? "" : qPrintable(parsed.error().message));
    QVERIFY(parsed->command);
    const PhoneCommand &c = *parsed->command;
    QVERIFY(!c.window);
    const HeadlessOptions &o = c.headless;
    QCOMPARE(o.profileDir, QStringLiteral("/p"));
    QCOMPARE(o.call, QStringLiteral("dave@b"));
    QCOMPARE(o.invite, QStringLiteral("carol"));
    QCOMPARE(o.hangupAfterSecs, std::optional<double>(2.5));
    QCOMPARE(o.lossPercent, 5.0);
    QVERIFY(o.quiet && !o.answer && !o.answerAll && !o.join);
    QCOMPARE(o.timelineFile, QStringLiteral("t.jsonl"));
    QCOMPARE(o.playFile, QStringLiteral("in.wav"));
    QCOMPARE(o.recordFile, QStringLiteral("out.wav"));
    QCOMPARE(o.statsFile, QStringLiteral("s.json"));
    QCOMPARE(o.audioDevice, QStringLiteral("default")); // an empty name is the default device
    auto answering = parsePhoneCommand(words("--headless --profile /p --answer-all"));
    QVERIFY(answering.ok() && answering->command->headless.answerAll && answering->command->headless.call.isEmpty());
}

void TestOptions::phoneWindowAndHelp()
{
    auto window = parsePhoneCommand(words("--profile /q"));
    QVERIFY(window.ok() && window->command);
    QVERIFY(window->command->window);
    QCOMPARE(window->command->profile, QStringLiteral("/q"));
    QVERIFY(window->command->link.isEmpty());
    // A sotto:// link opened elsewhere (the link handler the packages register) opens the window
    // with it; the headless phone takes links by --join only.
    const QString link = QStringLiteral("sotto://127.0.0.1:7420/join?account=alice");
    auto opened = parsePhoneCommand({link});
    QVERIFY(opened.ok() && opened->command);
    QVERIFY(opened->command->window);
    QCOMPARE(opened->command->link, link);
    auto headless = parsePhoneCommand({QStringLiteral("--headless"), QStringLiteral("--profile"), QStringLiteral("/q"), link});
    QVERIFY(!headless.ok());
    QVERIFY(headless.error().message.contains(QLatin1StringView("unexpected argument")));
    auto help = parsePhoneCommand(words("--help"));
    QVERIFY(help.ok() && !help->command);
    QVERIFY(help->help.startsWith(QLatin1StringView("Usage: sotto phone [options]")));
    QVERIFY(help->help.contains(QLatin1StringView("--answer-all")));
}

void TestOptions::brokerRefusals_data()
{
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<QString>("error");
    QTest::newRow("stray word") << words("start") << QStringLiteral("unknown broker command \"start\"");
    QTest::newRow("listen, not an address") << words("--listen somewhere:7420") << QStringLiteral("--listen wants an IP address and port, not \"somewhere:7420\"");
    QTest::newRow("listen, bad port") << words("--listen 127.0.0.1:70000") << QStringLiteral("--listen wants an IP address and port");
    QTest::newRow("advertise") << words("--advertise :") << QStringLiteral("--advertise wants HOST:PORT, not \":\"");
    QTest::newRow("key mode") << words("--key-mode xor") << QStringLiteral("--key-mode is derived or patent, not \"xor\"");
    QTest::newRow("refresh") << words("--refresh-interval often") << QStringLiteral("--refresh-interval:");
    QTest::newRow("peer") << words("--peer b") << QString();
    QTest::newRow("secret of no peer") << words("--peer-secret-file b=/nonexistent") << QString();
}

void TestOptions::brokerRefusals()
{
    QFETCH(QStringList, args);
    QFETCH(QString, error);
    QTemporaryDir dir; // no peers.ini: only the command line's peers
    auto parsed = parseBrokerCommand(args + QStringList{QStringLiteral("--data"), dir.path()});
    QVERIFY(!parsed.ok());
    QCOMPARE(parsed.error().code, ErrorCode::Usage);
    QVERIFY(!parsed.error().message.isEmpty());
    QVERIFY2(parsed.error().message.startsWith(error), qPrintable(parsed.error().message));
}

void TestOptions::brokerConfig()
{
    QTemporaryDir dir;
    auto parsed = parseBrokerCommand(QStringList{QStringLiteral("--headless"), QStringLiteral("--listen"), QStringLiteral("127.0.0.1:7499"),
                                                 QStringLiteral("--data"), dir.path(), QStringLiteral("--name"), QStringLiteral("a"),
                                                 QStringLiteral("--key-mode"), QStringLiteral("patent"), QStringLiteral("--refresh-interval"),
                                                 QStringLiteral("2h"), QStringLiteral("--advertise"), QStringLiteral("sotto.example.org:7420")});
    QVERIFY2(parsed.ok(), parsed.ok() ? "" : qPrintable(parsed.error().message));
    const BrokerCommand &c = *parsed->command;
    QVERIFY(!c.window);
    QCOMPARE(c.config.address, QHostAddress(QHostAddress::LocalHost));
    QCOMPARE(c.config.port, quint16(7499));
    QCOMPARE(c.config.dataDir, dir.path());
    QCOMPARE(c.config.name, QStringLiteral("a"));
    QCOMPARE(c.config.keyMode, skbp::KeyMode::Patent);
    QCOMPARE(c.config.refreshIntervalSecs, qint64(7200));
    QCOMPARE(c.config.advertise, QStringLiteral("sotto.example.org:7420"));
    QVERIFY(c.config.peers.empty());
    auto defaults = parseBrokerCommand(QStringList{QStringLiteral("--data"), dir.path()});
    QVERIFY(defaults.ok() && defaults->command->window);
    QCOMPARE(defaults->command->config.keyMode, skbp::KeyMode::Derived);
    QCOMPARE(defaults->command->config.port, skbp::kDefaultPort);
}

QTEST_GUILESS_MAIN(TestOptions)
#include "tst_options.moc"
