#pragma once

#include <QObject>

namespace sotto::app {

// Turns SIGINT/SIGTERM into a Qt signal on the main thread, portably: the C handler only sets an
// atomic flag, which a timer polls (no POSIX-only self-pipe needed).
class TerminationWatcher : public QObject
{
    Q_OBJECT
public:
    explicit TerminationWatcher(QObject *parent = nullptr);

Q_SIGNALS:
    void terminationRequested();
};

} // namespace sotto::app
