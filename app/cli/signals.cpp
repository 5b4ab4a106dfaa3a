#include "signals.h"

#include <QTimer>

#include <atomic>

#ifdef Q_OS_WIN
#include <QAbstractNativeEventFilter>
#include <QCoreApplication>
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

// Another program's polite "stop" (QProcess::terminate, a task manager without force) is WM_CLOSE
// posted to the main thread, which has no window to receive it in a headless run.
class CloseMessageFilter final : public QAbstractNativeEventFilter
{
public:
    bool nativeEventFilter(const QByteArray &type, void *message, qintptr *) override
    {
        const auto *msg = static_cast<const MSG *>(message);
        if (type == "windows_generic_MSG" && msg->message == WM_CLOSE && msg->hwnd == nullptr) {
            g_terminate.store(true);
            return true;
        }
        return false;
    }
};
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
    static CloseMessageFilter closeFilter; // lives as long as the application that holds it
    QCoreApplication::instance()->installNativeEventFilter(&closeFilter);
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
