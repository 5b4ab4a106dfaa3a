#pragma once

namespace sotto::app {

// CLI.md: 0 success, 1 a call (or the run) failed, 2 bad usage.
enum ExitCode { ExitOk = 0, ExitFailed = 1, ExitUsage = 2 };

// One line on stderr, "sotto: <message>".
void printError(const QString &message);

} // namespace sotto::app
