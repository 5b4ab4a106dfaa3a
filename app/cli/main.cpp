// sotto — one binary: the phone, the broker and the demo (CLI.md).

#include "commands.h"
#include "exitcodes.h"

#include "net/epolldispatcher.h"

#include <QCoreApplication>
#include <QTextStream>

#include <cstdio>

#ifdef Q_OS_WIN
#include <windows.h>
#endif

namespace sotto::app {

namespace {

const char kUsage[] =
    "Usage:\n"
    "  sotto [--profile DIR] [sotto://LINK]       the phone, with its window (a link: the join page shows it)\n"
    "  sotto phone --headless --profile DIR [options]   the phone without a window\n"
    "        --join LINK  --call ACCOUNT  --answer | --answer-all  --invite ACCOUNT  --hangup-after SECONDS\n"
    "        --play FILE.wav  --record FILE.wav  --audio-device NAME  --loss PERCENT\n"
    "        --stats FILE  --timeline FILE  --quiet\n"
    "  sotto broker [--headless] [--listen HOST:PORT] [--data DIR] [--name NAME]\n"
    "               [--key-mode derived|patent] [--refresh-interval DURATION]\n"
    "               [--peer NAME=HOST:PORT,PUBKEY --peer-secret-file NAME=FILE\n"
    "                [--peer-relay NAME=HOST:PORT]...]...\n"
    "               [--advertise HOST:PORT] [--store postgresql://USER@HOST:PORT/DB]\n"
    "               [--relay HOST:PORT]... [--relay-secret-file FILE]\n"
    "  sotto broker invite ACCOUNT [--expires DURATION] [--replace] [--advertise HOST:PORT] --data DIR\n"
    "  sotto broker accounts [--json] --data DIR  every account: epoch, key, online, last login, state\n"
    "  sotto broker revoke ACCOUNT --data DIR     its calls end, its keys are erased (at once if it runs)\n"
    "  sotto broker pubkey --data DIR             the broker's public key, for its peers\n"
    "  sotto broker forget-peer NAME --data DIR   drop K_AB with a peer that lost its store (broker stopped)\n"
    "  sotto broker status [--json] --data DIR    active or standby, store, instances, load\n"
    "  sotto relay --listen HOST:PORT --secret-file FILE   a relay of its own (no store, no keys)\n"
    "  sotto demo [--headless] [--federated]      a broker (two, federated) and alice, bob, carol\n"
    "  sotto SUBCOMMAND --help                    a subcommand's own options\n"
    "  sotto --version | --help\n"
    "Durations: 90s, 15m, 24h, 7d.\n";

} // namespace
} // namespace sotto::app

int main(int argc, char **argv)
{
    using namespace sotto::app;
    QCoreApplication::setApplicationName(QStringLiteral("sotto"));
    QCoreApplication::setOrganizationName(QStringLiteral("Sotto"));
    QCoreApplication::setApplicationVersion(QStringLiteral(SOTTO_VERSION));

#ifdef Q_OS_WIN
    // What Sotto prints is UTF-8 (and so is its ANSI code page: packaging/windows/sotto.manifest):
    // a console shows it as such.
    SetConsoleOutputCP(CP_UTF8);
#endif
    QStringList args;
#ifdef Q_OS_WIN
    // The command line as Windows holds it (UTF-16), not argv's ANSI copy.
    int count = 0;
    if (wchar_t **wide = CommandLineToArgvW(GetCommandLineW(), &count)) {
        for (int i = 1; i < count; ++i)
            args.append(QString::fromWCharArray(wide[i]));
        LocalFree(wide);
    }
#else
    for (int i = 1; i < argc; ++i)
        args.append(QString::fromLocal8Bit(argv[i]));
#endif
    const QString command = args.value(0);
    if (command == QLatin1StringView("--version") || command == QLatin1StringView("-v")) {
        std::printf("sotto %s\n", SOTTO_VERSION);
        return ExitOk;
    }
    if (command == QLatin1StringView("--help") || command == QLatin1StringView("-h")) {
        std::fputs(kUsage, stdout);
        return ExitOk;
    }
    const auto [subcommand, rest] = findSubcommand(args);
    // Headless runs do not use glib's event dispatcher: it registers socket notifiers in lists,
    // which costs a broker with thousands of connections dearly.
    const bool headless = args.contains(QLatin1StringView("--headless")) || (subcommand && subcommand->headless);
    if (headless && !qEnvironmentVariableIsSet("QT_NO_GLIB"))
        qputenv("QT_NO_GLIB", "1");
    // And on Linux, epoll: poll(2) hands the kernel every connection on every pass.
    if (headless) {
        if (QAbstractEventDispatcher *d = sotto::net::createServerEventDispatcher())
            QCoreApplication::setEventDispatcher(d);
    }
    if (subcommand)
        return subcommand->run(argc, argv, rest);
    if (command.isEmpty() || command.startsWith(QLatin1StringView("--profile"))
        || command.startsWith(QLatin1StringView("sotto:"), Qt::CaseInsensitive))
        return runPhone(argc, argv, args);
    if (command.startsWith(u'-'))
        printError(QStringLiteral("unknown option \"%1\" (see sotto --help)").arg(command));
    else
        printError(QStringLiteral("unknown command \"%1\" (see sotto --help)").arg(command));
    return ExitUsage;
}
