#pragma once

#include <QObject>

namespace sotto::app {

// Turns a request to stop into a Qt signal on the main thread: SIGINT/SIGTERM on POSIX; on
// Windows, the console's control events (Ctrl+C, Ctrl+Break, the console closed, logoff,
// shutdown) and WM_CLOSE posted to the main thread (QProcess::terminate, a polite task manager). The system's handler only sets an atomic flag, which a timer polls (no POSIX-only
// self-pipe needed). Construct on the main thread, once, after the application object.
class TerminationWatcher : public QObject
{
    Q_OBJECT
public:
    explicit TerminationWatcher(QObject *parent = nullptr);

Q_SIGNALS:
    void terminationRequested();
};

} // namespace sotto::app
