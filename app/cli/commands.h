#pragma once

#include "broker/broker.h"
#include "core/result.h"
#include "headlessphone.h"

#include <QStringList>

#include <span>
#include <utility>

#include <optional>

// The subcommands of `sotto` (CLI.md). Each takes the arguments after its name and returns the
// process exit code.
namespace sotto::app {

// A command line read: the command to run, or (command empty) the help text --help asked for.
// An error is a usage error (exit 2) with the one line the command prints.
template <typename T>
struct ParsedCommand
{
    std::optional<T> command;
    QString help;
};

struct PhoneCommand
{
    bool window = true;
    QString profile;          // the window's (empty: the settings' or the default one)
    QString link;             // a sotto:// invite link opened with the window (the join page shows it)
    HeadlessOptions headless; // with window == false
};
struct BrokerCommand
{
    bool window = true;
    broker::BrokerConfig config;
};

// `sotto phone` and `sotto broker` (CLI.md) without running anything: no window, no socket, no
// output. The broker's reads its data dir's peers.ini and the --peer-secret-file files it names.
Result<ParsedCommand<PhoneCommand>> parsePhoneCommand(const QStringList &args);
Result<ParsedCommand<BrokerCommand>> parseBrokerCommand(const QStringList &args);

int runPhone(int argc, char **argv, const QStringList &args);
int runBroker(int argc, char **argv, const QStringList &args);
int runInvite(int argc, char **argv, const QStringList &args);
int runAccounts(int argc, char **argv, const QStringList &args);
int runRevoke(int argc, char **argv, const QStringList &args);
int runStatus(int argc, char **argv, const QStringList &args);
int runPubkey(int argc, char **argv, const QStringList &args);
int runForgetPeer(int argc, char **argv, const QStringList &args);
int runDemo(int argc, char **argv, const QStringList &args);
// `sotto relay --listen HOST:PORT --secret-file FILE`: a relay of its own until SIGTERM/SIGINT.
int runRelay(int argc, char **argv, const QStringList &args);

// Every subcommand, once: its words ("broker invite"), what runs it, and whether it runs without a
// window (then main() installs the server event dispatcher). The more specific come first.
struct Subcommand
{
    QLatin1StringView words;
    int (*run)(int argc, char **argv, const QStringList &args);
    bool headless;
};
std::span<const Subcommand> subcommands();
// The subcommand `args` starts with, and the arguments after its words; null when none does.
std::pair<const Subcommand *, QStringList> findSubcommand(const QStringList &args);

} // namespace sotto::app
