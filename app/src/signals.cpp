#include "signals.h"

#include <QTimer>

#include <atomic>

#ifdef Q_OS_WIN
#include <windows.h>
#else
#include <csignal>
#endif

namespace sotto::app {

namespace {
std::atomic<bool> g_terminate{false}; // the one piece of global state a handler of the system's needs

#ifdef Q_OS_WIN
// Runs on a thread of its own that Windows starts. Ctrl+C and Ctrl+Break ask to stop; for a
// closed console, a logoff or a shutdown Windows ends the process when this returns, so it waits
// (within the few seconds Windows grants) for the main thread to finish and exit by itself.
BOOL WINAPI onConsoleEvent(DWORD event)
{
    g_terminate.store(true);
    if (event == CTRL_CLOSE_EVENT || event == CTRL_LOGOFF_EVENT || event == CTRL_SHUTDOWN_EVENT)
        Sleep(4000);
    return TRUE;
}
#else
extern "C" void onSignal(int)
{
    g_terminate.store(true);
}
#endif
} // namespace

TerminationWatcher::TerminationWatcher(QObject *parent) : QObject(parent)
{
#ifdef Q_OS_WIN
    SetConsoleCtrlHandler(onConsoleEvent, TRUE);
#else
    std::signal(SIGINT, onSignal);
    std::signal(SIGTERM, onSignal);
#endif
    auto *timer = new QTimer(this);
    connect(timer, &QTimer::timeout, this, [this] {
        if (g_terminate.exchange(false))
            Q_EMIT terminationRequested();
    });
    timer->start(50);
}

} // namespace sotto::app
