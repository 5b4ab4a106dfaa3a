#include "signals.h"

#include <QTimer>

#include <atomic>
#include <csignal>

namespace sotto::app {

namespace {
std::atomic<bool> g_terminate{false}; // the one piece of global state a C signal handler needs

extern "C" void onSignal(int)
{
    g_terminate.store(true);
}
} // namespace

TerminationWatcher::TerminationWatcher(QObject *parent) : QObject(parent)
{
    std::signal(SIGINT, onSignal);
    std::signal(SIGTERM, onSignal);
    auto *timer = new QTimer(this);
    connect(timer, &QTimer::timeout, this, [this] {
        if (g_terminate.exchange(false))
            Q_EMIT terminationRequested();
    });
    timer->start(50);
}

} // namespace sotto::app
