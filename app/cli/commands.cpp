#include "commands.h"
#include "phone/profilelock.h"

#include "broker/admin.h"
#include "broker/broker.h"
#include "broker/datadir.h"
#include "broker/peers.h"
#include "relay/relayserver.h"
#include "broker/store.h"
#include "brokerwindow.h"
#include "core/invite.h"
#include "exitcodes.h"
#include "guidemo.h"
#include "headlessdemo.h"
#include "headlessphone.h"
#include "joinpage.h"
#include "phone/phone.h"
#include "phonewindow.h"
#include "signals.h"
#include "resources/icons.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QCoreApplication>
#include <QThread>
#include <QDateTime>
#include <QDir>
#include <QIcon>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QMessageBox>
#include <QSettings>
#include <QStatusBar>
#include <QStandardPaths>

#include <cstdio>
#include <memory>

namespace sotto::app {

void printError(const QString &message)
{
    std::fprintf(stderr, "sotto: %s\n", message.toUtf8().constData());
    std::fflush(stderr);
}

namespace {

// Parses subcommand options; on error prints one line and gives ExitUsage. `-h`/`--help` prints
// the subcommand's own options and gives ExitOk.
Error usage(const QString &message)
{
    return makeError(ErrorCode::Usage, message);
}

// Reads the options: the help text when -h/--help was given, an error when they do not parse.
Result<std::optional<QString>> readOptions(QCommandLineParser &parser, const QString &name, const QStringList &args)
{
    parser.setSingleDashWordOptionMode(QCommandLineParser::ParseAsLongOptions);
    const QCommandLineOption help(QStringList{QStringLiteral("h"), QStringLiteral("help")}, QStringLiteral("these options"));
    parser.addOption(help);
    if (!parser.parse(QStringList{name} + args))
        return usage(parser.errorText());
    if (!parser.isSet(help))
        return std::optional<QString>();
    QString text = parser.helpText();
    // Qt names the program by argv[0]; ours is `sotto SUBCOMMAND`.
    const qsizetype eol = text.indexOf(u'\n');
    const QString line = QStringLiteral("Usage: sotto %1%2 [options]").arg(
        name == QLatin1StringView("phone") || name == QLatin1StringView("broker") || name == QLatin1StringView("demo")
            ? QString()
            : QStringLiteral("broker "),
        name);
    return std::optional<QString>(line + (eol >= 0 ? text.mid(eol) : QString()));
}

std::optional<int> parse(QCommandLineParser &parser, const QString &name, const QStringList &args)
{
    auto read = readOptions(parser, name, args);
    if (!read) {
        printError(read.error().message);
        return ExitUsage;
    }
    if (*read) {
        std::fputs((*read)->toUtf8().constData(), stdout);
        return ExitOk;
    }
    return std::nullopt;
}

// A parsed command's help, or its error, printed: the exit code, or nullopt to go on.
template <typename T>
std::optional<int> report(const Result<ParsedCommand<T>> &parsed)
{
    if (!parsed) {
        printError(parsed.error().message);
        return ExitUsage;
    }
    if (!parsed->command) {
        std::fputs(parsed->help.toUtf8().constData(), stdout);
        return ExitOk;
    }
    return std::nullopt;
}

QCommandLineOption opt(const char *name, const char *help, const char *value = nullptr)
{
    return value ? QCommandLineOption(QString::fromLatin1(name), QString::fromLatin1(help), QString::fromLatin1(value))
                 : QCommandLineOption(QString::fromLatin1(name), QString::fromLatin1(help));
}

QString defaultBrokerDir()
{
    return QDir(QStandardPaths::writableLocation(QStandardPaths::AppDataLocation)).filePath(QStringLiteral("broker"));
}

bool haveDisplay()
{
#if defined(Q_OS_LINUX) || defined(Q_OS_FREEBSD)
    return qEnvironmentVariableIsSet("QT_QPA_PLATFORM") || qEnvironmentVariableIsSet("DISPLAY")
        || qEnvironmentVariableIsSet("WAYLAND_DISPLAY");
#else
    return true;
#endif
}

template <typename Runner>
int exec(QCoreApplication &app, Runner &runner, void (Runner::*finishedSignal)(int))
{
    int code = ExitOk;
    QObject::connect(&runner, finishedSignal, &app, [&app, &code](int c) {
        code = c;
        app.exit(c);
    });
    app.exec();
    return code;
}

int runPhoneWindow(int argc, char **argv, const QString &profileOption, const QString &link)
{
    if (!haveDisplay()) {
        printError(QStringLiteral("no display for the phone's window; use sotto phone --headless"));
        return ExitUsage;
    }
    QApplication app(argc, argv);
    QApplication::setWindowIcon(icon(u"sotto"));
    QSettings store;
    PhoneSettings settings = PhoneSettings::load(store);
    QString dir = profileOption;
    if (dir.isEmpty())
        dir = settings.profileDir;
    if (dir.isEmpty())
        dir = QDir(QStandardPaths::writableLocation(QStandardPaths::AppDataLocation)).filePath(QStringLiteral("profile"));
    ClientOptions options;
    options.refreshIntervalSecs = qint64(settings.refreshHours) * 3600;
    auto phone = phone::Phone::open(dir, {}, options);
    if (!phone && phone.error().code == ErrorCode::Busy && phone::summonRunningWindow(dir)) {
        std::printf("%s: its window is brought to the front\n", qUtf8Printable(phone.error().message));
        return ExitOk;
    }
    if (!phone) {
        printError(phone.error().message);
        QMessageBox::critical(nullptr, QStringLiteral("Sotto"), phone.error().message);
        return phone.error().code == ErrorCode::Corrupt ? ExitFailed : ExitUsage;
    }
    (*phone)->setAudio(phone::PhoneAudio::fromDevices(settings.inputDevice, settings.outputDevice, settings.echoCancellation,
                                               settings.noiseSuppression));
    PhoneWindow window(**phone, settings, &store);
    window.show();
    if (!link.isEmpty()) {
        if (JoinPage *join = window.joinPage())
            join->offerLink(link);
        else
            window.statusBar()->showMessage(
                QCoreApplication::translate("sotto", "This phone has already joined its broker: the invite link was not used"), 15000);
    }
    phone::WindowSummons summons(dir);
    QObject::connect(&summons, &phone::WindowSummons::showRequested, &window, [&window] {
        window.showNormal();
        window.raise();
        window.activateWindow();
        std::fprintf(stderr, "sotto: a second launch asked for this window: shown\n");
    });
    if (!summons.listen())
        qWarning("cannot listen for second launches in %s", qPrintable(dir));
    TerminationWatcher term;
    QObject::connect(&term, &TerminationWatcher::terminationRequested, &app, &QCoreApplication::quit);
    app.exec();
    return ExitOk;
}

} // namespace

Result<ParsedCommand<PhoneCommand>> parsePhoneCommand(const QStringList &args)
{
    QCommandLineParser p;
    const auto headless = opt("headless", "no window");
    const auto profile = opt("profile", "profile directory", "DIR");
    const auto join = opt("join", "enrol first with this invite link", "LINK");
    const auto call = opt("call", "call this account", "ACCOUNT");
    const auto answer = opt("answer", "answer incoming calls; exit once the first call has ended");
    const auto answerAll = opt("answer-all", "answer every call, one at a time, and stay");
    const auto quiet = opt("quiet", "no progress lines on stderr");
    const auto invite = opt("invite", "invite this account once the call is answered", "ACCOUNT");
    const auto hangup = opt("hangup-after", "hang up this long after the call is answered", "SECONDS");
    const auto timeline = opt("timeline", "write the key timeline as JSON lines", "FILE");
    const auto play = opt("play", "microphone from a WAV file", "FILE.wav");
    const auto record = opt("record", "record what this phone hears", "FILE.wav");
    const auto device = opt("audio-device", "PortAudio device", "NAME");
    const auto loss = opt("loss", "drop this share of received packets", "PERCENT");
    const auto stats = opt("stats", "write receive statistics", "FILE");
    p.addOptions({headless, profile, join, call, answer, answerAll, quiet, invite, hangup, timeline, play, record, device, loss, stats});
    auto read = readOptions(p, QStringLiteral("phone"), args);
    if (!read)
        return read.error();
    if (*read)
        return ParsedCommand<PhoneCommand>{std::nullopt, **read};
    // `sotto sotto://…`: an invite link opened elsewhere (the desktop's or Windows's sotto:// handler).
    QString link;
    const QStringList positional = p.positionalArguments();
    if (positional.size() == 1 && !p.isSet(headless) && positional.first().startsWith(QLatin1StringView("sotto:"), Qt::CaseInsensitive))
        link = positional.first();
    else if (!positional.isEmpty())
        return usage(QStringLiteral("unexpected argument \"%1\"").arg(positional.first()));
    if (!p.isSet(headless)) {
        for (const auto &o : {join, call, answer, answerAll, quiet, invite, hangup, timeline, play, record, device, loss, stats}) {
            if (p.isSet(o))
                return usage(QStringLiteral("--%1 is for the headless phone (add --headless)").arg(o.names().first()));
        }
        return ParsedCommand<PhoneCommand>{PhoneCommand{true, p.value(profile), link, {}}, {}};
    }

    HeadlessOptions o;
    o.profileDir = p.value(profile);
    if (o.profileDir.isEmpty())
        return usage(QStringLiteral("--profile DIR is required with --headless"));
    if (p.isSet(join)) {
        auto link = InviteLink::parse(p.value(join));
        if (!link)
            return usage(QStringLiteral("bad invite link: %1").arg(link.error().message));
        o.join = std::move(*link);
    }
    o.call = p.value(call);
    if (!o.call.isEmpty() && !skbp::isValidAddress(o.call))
        return usage(QStringLiteral("\"%1\" is not a valid account name").arg(o.call));
    o.answer = p.isSet(answer);
    o.answerAll = p.isSet(answerAll);
    o.quiet = p.isSet(quiet);
    o.invite = p.value(invite);
    if (!o.invite.isEmpty() && !skbp::isValidAddress(o.invite))
        return usage(QStringLiteral("\"%1\" is not a valid account name").arg(o.invite));
    if (p.isSet(hangup)) {
        bool ok = false;
        const double secs = p.value(hangup).toDouble(&ok);
        if (!ok || secs < 0 || secs > 86400)
            return usage(QStringLiteral("--hangup-after takes seconds, not \"%1\"").arg(p.value(hangup)));
        o.hangupAfterSecs = secs;
    }
    if (!o.invite.isEmpty() && o.call.isEmpty() && !o.answer && !o.answerAll)
        return usage(QStringLiteral("--invite needs a call: give --call or --answer"));
    o.timelineFile = p.value(timeline);
    o.playFile = p.value(play);
    o.recordFile = p.value(record);
    o.statsFile = p.value(stats);
    if (p.isSet(device))
        o.audioDevice = p.value(device).isEmpty() ? QStringLiteral("default") : p.value(device);
    if (p.isSet(loss)) {
        bool ok = false;
        o.lossPercent = p.value(loss).toDouble(&ok);
        if (!ok || o.lossPercent < 0 || o.lossPercent > 100)
            return usage(QStringLiteral("--loss takes a percentage from 0 to 100, not \"%1\"").arg(p.value(loss)));
    }
    return ParsedCommand<PhoneCommand>{PhoneCommand{false, o.profileDir, {}, std::move(o)}, {}};
}

int runPhone(int argc, char **argv, const QStringList &args)
{
    auto parsed = parsePhoneCommand(args);
    if (auto code = report(parsed))
        return *code;
    PhoneCommand &c = *parsed->command;
    if (c.window)
        return runPhoneWindow(argc, argv, c.profile, c.link);
    QCoreApplication app(argc, argv);
    HeadlessPhone phone(std::move(c.headless));
    TerminationWatcher term;
    QObject::connect(&term, &TerminationWatcher::terminationRequested, &phone, &HeadlessPhone::terminate);
    if (auto code = phone.start())
        return *code;
    return exec(app, phone, &HeadlessPhone::finished);
}

namespace {

// "HOST:PORT" with a literal address and a port: where a relay of its own listens.
Result<std::pair<QHostAddress, quint16>> parseRelayAddress(const QString &spec, const QString &option)
{
    auto hp = parseHostPort(spec, 0);
    QHostAddress addr;
    if (!hp || hp->second == 0 || !addr.setAddress(hp->first))
        return usage(QStringLiteral("%1 wants an IP address and port, not \"%2\"").arg(option, spec));
    return std::pair{addr, hp->second};
}

} // namespace

Result<ParsedCommand<BrokerCommand>> parseBrokerCommand(const QStringList &args)
{
    QCommandLineParser p;
    const auto headless = opt("headless", "no window");
    const auto listen = opt("listen", "address to listen on (default 0.0.0.0:7420)", "HOST:PORT");
    const auto data = opt("data", "data directory", "DIR");
    const auto name = opt("name", "broker name", "NAME");
    const auto keyMode = opt("key-mode", "derived (default) or patent", "MODE");
    const auto refresh = opt("refresh-interval", "periodic Diffie-Hellman refresh (default 24h)", "DURATION");
    const auto peer = opt("peer", "federation peer NAME=HOST:PORT,PUBKEY (repeatable)", "PEER");
    const auto peerSecret = opt("peer-secret-file", "the peering secret shared with a peer (repeatable)", "NAME=FILE");
    const auto peerRelay = opt("peer-relay", "a relay of a peer's own that its calls may trunk to (repeatable)", "NAME=HOST:PORT");
    const auto advertise = opt("advertise", "the address invites carry: a DNS name, or the public side of a NAT (stored)", "HOST:PORT");
    const auto store = opt("store", "the store: postgresql://USER@HOST:PORT/DB (password from ~/.pgpass or PGPASSFILE; "
                                    "default: SQLite in the data dir; recorded there)", "LOCATION");
    const auto relay = opt("relay", "a relay of its own to place sessions on (repeatable; literal addresses)", "HOST:PORT");
    const auto relaySecret = opt("relay-secret-file", "the secret the broker shares with its relays (32 bytes, 0600)", "FILE");
    p.addOptions({headless, listen, data, name, keyMode, refresh, peer, peerSecret, peerRelay, advertise, store, relay, relaySecret});
    auto read = readOptions(p, QStringLiteral("broker"), args);
    if (!read)
        return read.error();
    if (*read)
        return ParsedCommand<BrokerCommand>{std::nullopt, **read};
    if (!p.positionalArguments().isEmpty())
        return usage(QStringLiteral("unknown broker command \"%1\"").arg(p.positionalArguments().first()));
    broker::BrokerConfig cfg;
    if (p.isSet(listen)) {
        auto hp = parseHostPort(p.value(listen), skbp::kDefaultPort);
        QHostAddress addr;
        if (!hp || !addr.setAddress(hp->first))
            return usage(QStringLiteral("--listen wants an IP address and port, not \"%1\"").arg(p.value(listen)));
        cfg.address = addr;
        cfg.port = hp->second;
    }
    cfg.dataDir = p.isSet(data) ? p.value(data) : defaultBrokerDir();
    // Peers: the data dir's peers.ini, then --peer and --peer-secret-file on top.
    auto fromFile = broker::loadPeersFile(cfg.dataDir);
    if (!fromFile)
        return usage(fromFile.error().message);
    cfg.peers = std::move(*fromFile);
    for (const QString &spec : p.values(peer)) {
        auto parsed = broker::parsePeer(spec);
        if (!parsed)
            return usage(parsed.error().message);
        std::erase_if(cfg.peers, [&](const broker::PeerConfig &c) { return c.name == parsed->name; });
        cfg.peers.push_back(std::move(*parsed));
    }
    for (const QString &spec : p.values(peerSecret)) {
        auto parsed = broker::parsePeerSecretOption(spec);
        auto secret = parsed ? broker::readPeerSecret(parsed->second) : Result<SecretBytes>(parsed.error());
        if (!secret)
            return usage(secret.error().message);
        auto it = std::find_if(cfg.peers.begin(), cfg.peers.end(),
                               [&](const broker::PeerConfig &c) { return c.name == parsed->first; });
        if (it == cfg.peers.end())
            return usage(QStringLiteral("--peer-secret-file %1: no such peer (give --peer %1=HOST:PORT,PUBKEY)").arg(parsed->first));
        it->secret = std::move(*secret);
    }
    for (const QString &spec : p.values(peerRelay)) {
        auto parsed = broker::parsePeerRelayOption(spec);
        if (!parsed)
            return usage(parsed.error().message);
        auto it = std::find_if(cfg.peers.begin(), cfg.peers.end(),
                               [&](const broker::PeerConfig &c) { return c.name == parsed->first; });
        if (it == cfg.peers.end())
            return usage(QStringLiteral("--peer-relay %1: no such peer (give --peer %1=HOST:PORT,PUBKEY)").arg(parsed->first));
        it->relays.append(parsed->second);
    }
    for (const broker::PeerConfig &c : cfg.peers) {
        if (c.secret.size() != 32)
            return usage(QStringLiteral("no peering secret for peer %1 (--peer-secret-file %1=FILE)").arg(c.name));
    }
    for (const QString &spec : p.values(relay)) {
        auto at = parseRelayAddress(spec, QStringLiteral("--relay"));
        if (!at)
            return at.error();
        cfg.relays.push_back(*at);
    }
    if (!cfg.relays.empty() && !p.isSet(relaySecret))
        return usage(QStringLiteral("--relay needs the relays' secret: --relay-secret-file FILE"));
    if (p.isSet(relaySecret)) {
        if (cfg.relays.empty())
            return usage(QStringLiteral("--relay-secret-file without --relay"));
        auto secret = broker::readSecretFile(p.value(relaySecret), QStringLiteral("relay secret"));
        if (!secret)
            return usage(secret.error().message);
        cfg.relaySecret = std::move(*secret);
    }
    cfg.name = p.value(name);
    if (p.isSet(store)) {
        if (auto location = broker::StoreLocation::parse(p.value(store)); !location)
            return usage(location.error().message);
        cfg.store = p.value(store);
    }
    if (p.isSet(advertise)) {
        if (!parseHostPort(p.value(advertise), skbp::kDefaultPort))
            return usage(QStringLiteral("--advertise wants HOST:PORT, not \"%1\"").arg(p.value(advertise)));
        cfg.advertise = p.value(advertise);
    }
    if (p.isSet(keyMode)) {
        const QString m = p.value(keyMode);
        if (m == QLatin1StringView("derived"))
            cfg.keyMode = skbp::KeyMode::Derived;
        else if (m == QLatin1StringView("patent"))
            cfg.keyMode = skbp::KeyMode::Patent;
        else {
            return usage(QStringLiteral("--key-mode is derived or patent, not \"%1\"").arg(m));
        }
    }
    if (p.isSet(refresh)) {
        auto secs = parseDuration(p.value(refresh));
        if (!secs)
            return usage(QStringLiteral("--refresh-interval: %1").arg(secs.error().message));
        cfg.refreshIntervalSecs = *secs;
    }
    return ParsedCommand<BrokerCommand>{BrokerCommand{!p.isSet(headless), std::move(cfg)}, {}};
}

int runBroker(int argc, char **argv, const QStringList &args)
{
    auto parsed = parseBrokerCommand(args);
    if (auto code = report(parsed))
        return *code;
    const bool gui = parsed->command->window;
    const broker::BrokerConfig &cfg = parsed->command->config;
    if (gui && !haveDisplay()) {
        printError(QStringLiteral("no display for the broker console; use --headless"));
        return ExitUsage;
    }
    std::unique_ptr<QCoreApplication> app = gui ? std::make_unique<QApplication>(argc, argv)
                                                : std::make_unique<QCoreApplication>(argc, argv);
    broker::Broker b(cfg);
    if (auto r = b.start(); !r) {
        printError(r.error().message);
        return r.error().code == ErrorCode::Network || r.error().code == ErrorCode::Usage ? ExitUsage : ExitFailed;
    }
    std::unique_ptr<BrokerWindow> window;
    if (gui) {
        window = std::make_unique<BrokerWindow>(b);
        window->show();
    }
    TerminationWatcher term;
    QObject::connect(&term, &TerminationWatcher::terminationRequested, app.get(), [&] {
        b.stop(); // commits the store
        app->quit();
    });
    app->exec();
    b.stop();
    return ExitOk;
}

namespace {

// The static key of a broker's data directory (created with it when absent); errors printed.
std::optional<crypto::X25519KeyPair> openBrokerKey(const QDir &dir)
{
    if (!QDir().mkpath(dir.path())) {
        printError(QStringLiteral("cannot create %1").arg(dir.path()));
        return std::nullopt;
    }
    auto key = broker::datadir::loadOrCreateStaticKey(dir.path());
    if (!key) {
        printError(key.error().message);
        return std::nullopt;
    }
    return std::move(*key);
}

} // namespace

int runPubkey(int argc, char **argv, const QStringList &args)
{
    QCommandLineParser p;
    const auto data = opt("data", "the broker's data directory", "DIR");
    p.addOptions({data});
    if (auto r = parse(p, QStringLiteral("pubkey"), args))
        return *r;
    if (!p.isSet(data) || !p.positionalArguments().isEmpty()) {
        printError(QStringLiteral("usage: sotto broker pubkey --data DIR"));
        return ExitUsage;
    }
    QCoreApplication app(argc, argv);
    const QDir dir(p.value(data));
    auto key = openBrokerKey(dir);
    if (!key)
        return ExitFailed;
    std::printf("%s\n", qUtf8Printable(broker::encodePublicKey(key->publicKey)));
    return ExitOk;
}

int runForgetPeer(int argc, char **argv, const QStringList &args)
{
    QCommandLineParser p;
    const auto data = opt("data", "the broker's data directory", "DIR");
    p.addOptions({data});
    if (auto r = parse(p, QStringLiteral("forget-peer"), args))
        return *r;
    if (!p.isSet(data) || p.positionalArguments().size() != 1) {
        printError(QStringLiteral("usage: sotto broker forget-peer NAME --data DIR"));
        return ExitUsage;
    }
    QCoreApplication app(argc, argv);
    const QString name = p.positionalArguments().first();
    if (auto r = broker::datadir::forgetPeer(p.value(data), name); !r) {
        printError(r.error().message);
        return ExitFailed;
    }
    std::printf("forgot the inter-broker key with %s; the next handshake uses the peering secret\n", qUtf8Printable(name));
    return ExitOk;
}

namespace {

// An operator's request: to the running broker over its admin channel (at once), else to the
// stopped broker's store under its lock. Errors are printed; the answer on success.
std::optional<QJsonObject> operatorRequest(const QString &dataDir, const QJsonObject &request)
{
    auto answer = broker::adminRequest(dataDir, request);
    if (!answer && answer.error().code == ErrorCode::Offline)
        answer = broker::adminOffline(dataDir, request);
    if (!answer) {
        printError(answer.error().message);
        return std::nullopt;
    }
    if (!answer->value(QStringLiteral("ok")).toBool()) {
        printError(answer->value(QStringLiteral("error")).toString());
        return std::nullopt;
    }
    return *answer;
}

// ACCOUNT --data DIR with the given options: the positional account, or usage.
std::optional<QString> accountArgument(const QCommandLineParser &p, const QCommandLineOption &data, const char *usage)
{
    if (p.positionalArguments().size() != 1 || !p.isSet(data)) {
        printError(QString::fromLatin1(usage));
        return std::nullopt;
    }
    const QString account = p.positionalArguments().first();
    if (!skbp::isValidAccount(account)) {
        printError(QStringLiteral("\"%1\" is not a valid account name (1-64 of a-z 0-9 . _ -)").arg(account));
        return std::nullopt;
    }
    return account;
}

} // namespace

int runInvite(int argc, char **argv, const QStringList &args)
{
    QCommandLineParser p;
    const auto expires = opt("expires", "how long the invite is valid (default 7d)", "DURATION");
    const auto replace = opt("replace", "for an enrolled account: an invite for a new device");
    const auto advertise = opt("advertise", "the address the link carries (default: the broker's)", "HOST:PORT");
    const auto data = opt("data", "the broker's data directory", "DIR");
    p.addOptions({expires, replace, advertise, data});
    if (auto r = parse(p, QStringLiteral("invite"), args))
        return *r;
    const auto account = accountArgument(p, data, "usage: sotto broker invite ACCOUNT [--expires DURATION] [--replace] "
                                                  "[--advertise HOST:PORT] --data DIR");
    if (!account)
        return ExitUsage;
    qint64 validFor = 7 * 86400;
    if (p.isSet(expires)) {
        auto secs = parseDuration(p.value(expires));
        if (!secs) {
            printError(QStringLiteral("--expires: %1").arg(secs.error().message));
            return ExitUsage;
        }
        validFor = *secs;
    }
    if (p.isSet(advertise) && !parseHostPort(p.value(advertise), skbp::kDefaultPort)) {
        printError(QStringLiteral("--advertise wants HOST:PORT, not \"%1\"").arg(p.value(advertise)));
        return ExitUsage;
    }
    QCoreApplication app(argc, argv);
    broker::AdminCommand command;
    command.kind = broker::AdminCommand::Kind::Invite;
    command.invite = {*account, validFor, p.isSet(replace)};
    command.advertise = p.value(advertise);
    const auto answer = operatorRequest(p.value(data), command.toJson());
    if (!answer)
        return ExitFailed;
    std::printf("%s\n", answer->value(QStringLiteral("link")).toString().toUtf8().constData());
    return ExitOk;
}

int runAccounts(int argc, char **argv, const QStringList &args)
{
    QCommandLineParser p;
    const auto json = opt("json", "one JSON array, for scripts");
    const auto data = opt("data", "the broker's data directory", "DIR");
    p.addOptions({json, data});
    if (auto r = parse(p, QStringLiteral("accounts"), args))
        return *r;
    if (!p.positionalArguments().isEmpty() || !p.isSet(data)) {
        printError(QStringLiteral("usage: sotto broker accounts [--json] --data DIR"));
        return ExitUsage;
    }
    QCoreApplication app(argc, argv);
    const auto answer = operatorRequest(p.value(data), broker::AdminCommand{.kind = broker::AdminCommand::Kind::Accounts}.toJson());
    if (!answer)
        return ExitFailed;
    const QJsonArray accounts = answer->value(QStringLiteral("accounts")).toArray();
    if (p.isSet(json)) {
        std::printf("%s\n", QJsonDocument(accounts).toJson(QJsonDocument::Indented).constData());
        return ExitOk;
    }
    std::printf("%-20s %6s  %-19s  %-7s  %-16s  %s\n", "ACCOUNT", "EPOCH", "KEY", "ONLINE", "LAST LOGIN", "STATE");
    for (const QJsonValue &v : accounts) {
        const QJsonObject a = v.toObject();
        const qint64 last = qint64(a.value(QStringLiteral("last_login")).toDouble());
        QStringList state;
        if (a.value(QStringLiteral("revoked")).toBool())
            state << QStringLiteral("revoked");
        if (a.value(QStringLiteral("rotation_pending")).toBool())
            state << QStringLiteral("rotation pending");
        if (a.value(QStringLiteral("enrolment_pending")).toBool())
            state << QStringLiteral("enrolment pending");
        std::printf("%-20s %6lld  %-19s  %-7s  %-16s  %s\n", qUtf8Printable(a.value(QStringLiteral("account")).toString()),
                    qlonglong(a.value(QStringLiteral("epoch")).toDouble()),
                    qUtf8Printable(a.value(QStringLiteral("fingerprint")).toString().isEmpty() ? QStringLiteral("-")
                                                                                          : a.value(QStringLiteral("fingerprint")).toString()),
                    a.value(QStringLiteral("online")).toBool() ? "yes" : "no",
                    qUtf8Printable(last ? QDateTime::fromSecsSinceEpoch(last).toString(QStringLiteral("yyyy-MM-dd hh:mm")) : QStringLiteral("never")),
                    qUtf8Printable(state.isEmpty() ? QStringLiteral("-") : state.join(QStringLiteral(", "))));
    }
    return ExitOk;
}

int runRevoke(int argc, char **argv, const QStringList &args)
{
    QCommandLineParser p;
    const auto data = opt("data", "the broker's data directory", "DIR");
    p.addOptions({data});
    if (auto r = parse(p, QStringLiteral("revoke"), args))
        return *r;
    const auto account = accountArgument(p, data, "usage: sotto broker revoke ACCOUNT --data DIR");
    if (!account)
        return ExitUsage;
    QCoreApplication app(argc, argv);
    if (!operatorRequest(p.value(data), broker::AdminCommand{.kind = broker::AdminCommand::Kind::Revoke, .invite = {*account}}.toJson()))
        return ExitFailed;
    std::printf("revoked %s: its keys are erased; a new invite (sotto broker invite %s) brings it back\n", qUtf8Printable(*account),
                qUtf8Printable(*account));
    return ExitOk;
}

int runStatus(int argc, char **argv, const QStringList &args)
{
    QCommandLineParser p;
    const auto json = opt("json", "as one JSON object");
    const auto data = opt("data", "the broker's data directory", "DIR");
    p.addOptions({json, data});
    if (auto r = parse(p, QStringLiteral("status"), args))
        return *r;
    if (!p.isSet(data) || !p.positionalArguments().isEmpty()) {
        printError(QStringLiteral("usage: sotto broker status [--json] --data DIR"));
        return ExitUsage;
    }
    QCoreApplication app(argc, argv);
    const auto answer = operatorRequest(p.value(data), broker::AdminCommand{.kind = broker::AdminCommand::Kind::Status}.toJson());
    if (!answer)
        return ExitFailed;
    if (p.isSet(json)) {
        std::printf("%s\n", QJsonDocument(*answer).toJson(QJsonDocument::Compact).constData());
        return ExitOk;
    }
    auto text = [&](const char *k) { return answer->value(QLatin1StringView(k)).toString(); };
    QStringList instances;
    for (const QJsonValue &v : answer->value(QStringLiteral("instances")).toArray())
        instances.append(v.toString());
    std::printf("role:      %s (%s)\n", qUtf8Printable(text("role")), qUtf8Printable(text("why")));
    if (!text("address").isEmpty())
        std::printf("address:   %s\n", qUtf8Printable(text("address")));
    std::printf("store:     %s\n", qUtf8Printable(text("store")));
    std::printf("instances: %s\n", qUtf8Printable(instances.join(QStringLiteral(", "))));
    if (text("role") != QLatin1StringView("stopped"))
        std::printf("load:      %d sessions, %d phones online\n", answer->value(QStringLiteral("sessions")).toInt(),
                    answer->value(QStringLiteral("online")).toInt());
    const QJsonArray relays = answer->value(QStringLiteral("relays")).toArray();
    for (const QJsonValue &r : relays)
        std::printf("relay:     %s\n", qUtf8Printable(r.toObject().value(QStringLiteral("text")).toString()));
    return ExitOk;
}

int runRelay(int argc, char **argv, const QStringList &args)
{
    QCommandLineParser p;
    const auto listen = opt("listen", "where to listen: UDP for media, TCP for the brokers' control", "HOST:PORT");
    const auto secretFile = opt("secret-file", "the secret shared with the brokers (32 bytes, 0600)", "FILE");
    const auto quiet = opt("quiet", "no log lines on stderr");
    const auto senderRate = opt("sender-rate", "packets a second each member may send (default 120, bursts of twice that)", "PPS");
    const auto threads = opt("threads", "relay threads on the one port (default: one per core, at most 8)", "N");
    p.addOptions({listen, secretFile, quiet, senderRate, threads});
    if (auto r = parse(p, QStringLiteral("relay"), args))
        return *r;
    if (!p.isSet(listen) || !p.isSet(secretFile) || !p.positionalArguments().isEmpty()) {
        printError(QStringLiteral("usage: sotto relay --listen HOST:PORT --secret-file FILE"));
        return ExitUsage;
    }
    auto at = parseRelayAddress(p.value(listen), QStringLiteral("--listen"));
    auto secret = at ? broker::readSecretFile(p.value(secretFile), QStringLiteral("relay secret")) : Result<SecretBytes>(at.error());
    if (!secret) {
        printError(secret.error().message);
        return ExitUsage;
    }
    relay::RelayTable::Limits limits;
    if (p.isSet(senderRate)) {
        bool ok = false;
        const double pps = p.value(senderRate).toDouble(&ok);
        if (!ok || pps < 1 || pps > 1e7) {
            printError(QStringLiteral("--sender-rate wants packets a second (1 to 10000000), not \"%1\"").arg(p.value(senderRate)));
            return ExitUsage;
        }
        limits.packetsPerSecond = pps;
        limits.burst = 2 * pps;
    }
    int threadCount = std::clamp(QThread::idealThreadCount(), 1, 8);
    if (p.isSet(threads)) {
        bool ok = false;
        threadCount = p.value(threads).toInt(&ok);
        if (!ok || threadCount < 1 || threadCount > 64) {
            printError(QStringLiteral("--threads wants a number from 1 to 64, not \"%1\"").arg(p.value(threads)));
            return ExitUsage;
        }
    }
    QCoreApplication app(argc, argv);
    relay::RelayServer relay(std::move(*secret), limits, threadCount);
    if (!p.isSet(quiet))
        QObject::connect(&relay, &relay::RelayServer::logLine, [](const QString &line) {
            std::fprintf(stderr, "%s\n", qUtf8Printable(line));
            std::fflush(stderr);
        });
    if (auto r = relay.start(at->first, at->second); !r) {
        printError(r.error().message);
        return ExitUsage;
    }
    TerminationWatcher term;
    QObject::connect(&term, &TerminationWatcher::terminationRequested, &app, &QCoreApplication::quit);
    app.exec();
    relay.stop();
    return ExitOk;
}

int runDemo(int argc, char **argv, const QStringList &args)
{
    QCommandLineParser p;
    const auto headless = opt("headless", "no windows: print the story and the key timeline");
    const auto federated = opt("federated", "two brokers (patent Fig. 3)");
    p.addOptions({headless, federated});
    if (auto r = parse(p, QStringLiteral("demo"), args))
        return *r;
    if (!p.isSet(headless)) {
        if (!haveDisplay()) {
            printError(QStringLiteral("no display for the demo's windows; use sotto demo --headless"));
            return ExitUsage;
        }
        QApplication app(argc, argv);
        QApplication::setWindowIcon(icon(u"sotto"));
        GuiDemo demo(p.isSet(federated));
        if (auto r = demo.start(); !r) {
            printError(r.error().message);
            return ExitFailed;
        }
        TerminationWatcher term;
        QObject::connect(&term, &TerminationWatcher::terminationRequested, &app, &QCoreApplication::quit);
        app.exec();
        return ExitOk;
    }
    QCoreApplication app(argc, argv);
    QTextStream out(stdout);
    HeadlessDemo demo(out, p.isSet(federated));
    if (auto code = demo.start())
        return *code;
    return exec(app, demo, &HeadlessDemo::finished);
}

std::span<const Subcommand> subcommands()
{
    using V = QLatin1StringView;
    static const Subcommand table[] = {
        {V("broker invite"), runInvite, true},
        {V("broker accounts"), runAccounts, true},
        {V("broker revoke"), runRevoke, true},
        {V("broker status"), runStatus, true},
        {V("broker pubkey"), runPubkey, true},
        {V("broker forget-peer"), runForgetPeer, true},
        {V("broker"), runBroker, false}, // --headless decides
        {V("phone"), runPhone, false},
        {V("relay"), runRelay, true},
        {V("demo"), runDemo, false},
    };
    return table;
}

std::pair<const Subcommand *, QStringList> findSubcommand(const QStringList &args)
{
    for (const Subcommand &c : subcommands()) {
        const QStringList words = QString(c.words).split(u' ');
        if (args.size() >= words.size() && args.mid(0, words.size()) == words)
            return {&c, args.mid(words.size())};
    }
    return {nullptr, {}};
}

} // namespace sotto::app
