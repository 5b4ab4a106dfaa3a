#pragma once

// An event dispatcher on Linux's epoll, for servers with many connections.
//
// Qt's own dispatchers (poll(2) in QEventDispatcherUNIX, glib's main loop) hand the kernel
// every socket notifier on every pass, so each pass of a broker with 10,000 phones logged in
// costs 10,000 socket polls whether or not anything happened: the cost of a call grows with
// the clients logged in. Here the kernel keeps the interest list (epoll_ctl when a notifier is
// enabled or disabled) and a pass costs what is ready.
//
// Semantics follow QEventDispatcherUNIX: level-triggered notifiers (hang-up and error wake
// the read notifier, error the write one too), timers fired at most once per pass in deadline
// order and rescheduled from their deadline (or from now, when late), posted events sent
// first, wakeUp() through an eventfd from any thread. All timer types are kept to the
// millisecond. Not thread-safe but for wakeUp() and interrupt(): like every dispatcher it
// belongs to one thread (install it with QCoreApplication::setEventDispatcher before the
// application, or QThread::setEventDispatcher before start()).
//
// If epoll or eventfd cannot be had (isValid() false), install Qt's own instead.

#include <QAbstractEventDispatcher>
#include <QtGlobal>

#include <atomic>
#include <map>
#include <unordered_map>

namespace sotto::net {

// The dispatcher for a server's thread: an EpollEventDispatcher on Linux (nullptr elsewhere, or
// when epoll fails, or when SOTTO_EVENT_DISPATCHER=qt asks for Qt's own). Give it to
// QCoreApplication::setEventDispatcher or QThread::setEventDispatcher, which own it.
QAbstractEventDispatcher *createServerEventDispatcher();

#ifdef Q_OS_LINUX
class EpollEventDispatcher final : public QAbstractEventDispatcher
{
public:
    explicit EpollEventDispatcher(QObject *parent = nullptr);
    ~EpollEventDispatcher() override;

    bool isValid() const { return m_epoll >= 0 && m_wake >= 0; }

    bool processEvents(QEventLoop::ProcessEventsFlags flags) override;

    void registerSocketNotifier(QSocketNotifier *notifier) override;
    void unregisterSocketNotifier(QSocketNotifier *notifier) override;

    void registerTimer(int timerId, qint64 interval, Qt::TimerType timerType, QObject *object) override;
    bool unregisterTimer(int timerId) override;
    bool unregisterTimers(QObject *object) override;
    QList<TimerInfo> registeredTimers(QObject *object) const override;
    int remainingTime(int timerId) override;

    void wakeUp() override;
    void interrupt() override;

private:
    struct Notifiers
    {
        QSocketNotifier *read = nullptr;
        QSocketNotifier *write = nullptr;
        QSocketNotifier *exception = nullptr;
        bool added = false; // in the epoll set
    };
    struct Timer
    {
        qint64 interval = 0; // ms
        Qt::TimerType type = Qt::CoarseTimer;
        QObject *object = nullptr;
        qint64 deadline = 0; // steady clock, ns
    };

    void updateInterest(int fd, Notifiers &n);
    // Fires the timers due now; returns how many fired.
    int activateTimers();
    // ms until the next timer is due (0: due now), or -1 without timers.
    int nextTimeoutMs() const;
    void dispatchSocket(int fd, unsigned events);

    int m_epoll = -1;
    int m_wake = -1; // eventfd
    std::atomic<bool> m_wakePending{false};
    std::atomic<bool> m_interrupted{false};
    std::unordered_map<int, Notifiers> m_notifiers;
    std::unordered_map<int, Timer> m_timers;      // id → timer
    std::multimap<qint64, int> m_deadlines;       // deadline → id
};

#endif // Q_OS_LINUX

} // namespace sotto::net
