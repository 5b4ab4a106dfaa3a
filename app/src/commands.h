#pragma once

#include <QStringList>

// The subcommands of `sotto` (CLI.md). Each takes the arguments after its name and returns the
// process exit code.
namespace sotto::app {

int runPhone(int argc, char **argv, const QStringList &args);
int runBroker(int argc, char **argv, const QStringList &args);
int runInvite(int argc, char **argv, const QStringList &args);
int runAccounts(int argc, char **argv, const QStringList &args);
int runRevoke(int argc, char **argv, const QStringList &args);
int runPubkey(int argc, char **argv, const QStringList &args);
int runForgetPeer(int argc, char **argv, const QStringList &args);
int runDemo(int argc, char **argv, const QStringList &args);

} // namespace sotto::app
