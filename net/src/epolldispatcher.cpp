#include "net/epolldispatcher.h"

#include <QCoreApplication>
#include <QSocketNotifier>

#ifdef Q_OS_LINUX
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <memory>
#include <vector>
#endif

namespace sotto::net {

QAbstractEventDispatcher *createServerEventDispatcher()
{
#ifdef Q_OS_LINUX
    if (qEnvironmentVariable("SOTTO_EVENT_DISPATCHER") == QLatin1StringView("qt"))
        return nullptr;
    auto d = std::make_unique<EpollEventDispatcher>();
    return d->isValid() ? d.release() : nullptr;
#else
    return nullptr;
#endif
}

#ifdef Q_OS_LINUX

namespace {

qint64 nowNs()
{
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

constexpr int kMaxEventsPerPass = 256;

} // namespace

EpollEventDispatcher::EpollEventDispatcher(QObject *parent) : QAbstractEventDispatcher(parent)
{
    m_epoll = ::epoll_create1(EPOLL_CLOEXEC);
    m_wake = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (m_epoll >= 0 && m_wake >= 0) {
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.fd = m_wake;
        if (::epoll_ctl(m_epoll, EPOLL_CTL_ADD, m_wake, &ev) != 0) {
            ::close(m_wake);
            m_wake = -1;
        }
    }
}

EpollEventDispatcher::~EpollEventDispatcher()
{
    if (m_wake >= 0)
        ::close(m_wake);
    if (m_epoll >= 0)
        ::close(m_epoll);
}

// ---- socket notifiers --------------------------------------------------------------------

void EpollEventDispatcher::updateInterest(int fd, Notifiers &n)
{
    epoll_event ev{};
    ev.data.fd = fd;
    ev.events = (n.read ? EPOLLIN : 0u) | (n.write ? EPOLLOUT : 0u) | (n.exception ? EPOLLPRI : 0u);
    if (ev.events == 0) {
        if (n.added)
            ::epoll_ctl(m_epoll, EPOLL_CTL_DEL, fd, nullptr); // may already be gone with its fd
        m_notifiers.erase(fd);
        return;
    }
    if (n.added && ::epoll_ctl(m_epoll, EPOLL_CTL_MOD, fd, &ev) == 0)
        return;
    // Not added yet, or the kernel dropped it when an earlier file on this number was closed.
    if (::epoll_ctl(m_epoll, EPOLL_CTL_ADD, fd, &ev) == 0 || (errno == EEXIST && ::epoll_ctl(m_epoll, EPOLL_CTL_MOD, fd, &ev) == 0)) {
        n.added = true;
        return;
    }
    qWarning("EpollEventDispatcher: cannot watch socket %d (errno %d)", fd, errno);
    n.added = false;
}

void EpollEventDispatcher::registerSocketNotifier(QSocketNotifier *notifier)
{
    const int fd = int(notifier->socket());
    Notifiers &n = m_notifiers[fd];
    switch (notifier->type()) {
    case QSocketNotifier::Read: n.read = notifier; break;
    case QSocketNotifier::Write: n.write = notifier; break;
    case QSocketNotifier::Exception: n.exception = notifier; break;
    }
    updateInterest(fd, n);
}

void EpollEventDispatcher::unregisterSocketNotifier(QSocketNotifier *notifier)
{
    const int fd = int(notifier->socket());
    auto it = m_notifiers.find(fd);
    if (it == m_notifiers.end())
        return;
    Notifiers &n = it->second;
    if (n.read == notifier)
        n.read = nullptr;
    else if (n.write == notifier)
        n.write = nullptr;
    else if (n.exception == notifier)
        n.exception = nullptr;
    else
        return;
    updateInterest(fd, n);
}

void EpollEventDispatcher::dispatchSocket(int fd, unsigned events)
{
    // Each handler may disable, delete or replace any notifier: look them up afresh each time.
    auto fire = [&](QSocketNotifier *Notifiers::*which) {
        auto it = m_notifiers.find(fd);
        if (it == m_notifiers.end())
            return;
        if (QSocketNotifier *notifier = it->second.*which) {
            QEvent event(QEvent::SockAct);
            QCoreApplication::sendEvent(notifier, &event);
        }
    };
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
        fire(&Notifiers::read);
    if (events & (EPOLLOUT | EPOLLERR))
        fire(&Notifiers::write);
    if (events & EPOLLPRI)
        fire(&Notifiers::exception);
}

// ---- timers ------------------------------------------------------------------------------

void EpollEventDispatcher::registerTimer(int timerId, qint64 interval, Qt::TimerType timerType, QObject *object)
{
    unregisterTimer(timerId);
    Timer t;
    t.interval = interval;
    t.type = timerType;
    t.object = object;
    t.deadline = nowNs() + interval * 1000000;
    m_deadlines.emplace(t.deadline, timerId);
    m_timers.emplace(timerId, t);
}

bool EpollEventDispatcher::unregisterTimer(int timerId)
{
    auto it = m_timers.find(timerId);
    if (it == m_timers.end())
        return false;
    auto [from, to] = m_deadlines.equal_range(it->second.deadline);
    for (auto d = from; d != to; ++d) {
        if (d->second == timerId) {
            m_deadlines.erase(d);
            break;
        }
    }
    m_timers.erase(it);
    return true;
}

bool EpollEventDispatcher::unregisterTimers(QObject *object)
{
    std::vector<int> ids;
    for (const auto &[id, t] : m_timers) {
        if (t.object == object)
            ids.push_back(id);
    }
    for (int id : ids)
        unregisterTimer(id);
    return !ids.empty();
}

QList<QAbstractEventDispatcher::TimerInfo> EpollEventDispatcher::registeredTimers(QObject *object) const
{
    QList<TimerInfo> out;
    for (const auto &[id, t] : m_timers) {
        if (t.object == object)
            out.append(TimerInfo(id, int(t.interval), t.type));
    }
    return out;
}

int EpollEventDispatcher::remainingTime(int timerId)
{
    auto it = m_timers.find(timerId);
    if (it == m_timers.end())
        return -1;
    const qint64 left = it->second.deadline - nowNs();
    return left <= 0 ? 0 : int((left + 999999) / 1000000);
}

int EpollEventDispatcher::nextTimeoutMs() const
{
    if (m_deadlines.empty())
        return -1;
    const qint64 left = m_deadlines.begin()->first - nowNs();
    return left <= 0 ? 0 : int(std::min<qint64>((left + 999999) / 1000000, 24 * 3600 * 1000));
}

int EpollEventDispatcher::activateTimers()
{
    const qint64 now = nowNs();
    // The timers due now, taken before any fires: one started by a handler waits for its next
    // pass, and one killed by a handler is skipped.
    std::vector<int> due;
    for (auto d = m_deadlines.begin(); d != m_deadlines.end() && d->first <= now; ++d)
        due.push_back(d->second);
    int fired = 0;
    for (int id : due) {
        auto it = m_timers.find(id);
        if (it == m_timers.end() || it->second.deadline > now)
            continue;
        Timer &t = it->second;
        auto [from, to] = m_deadlines.equal_range(t.deadline);
        for (auto d = from; d != to; ++d) {
            if (d->second == id) {
                m_deadlines.erase(d);
                break;
            }
        }
        t.deadline += t.interval * 1000000;
        if (t.deadline <= now) // late (or interval 0): the next one counts from now
            t.deadline = now + t.interval * 1000000;
        m_deadlines.emplace(t.deadline, id);
        QObject *object = t.object;
        QTimerEvent event(id);
        QCoreApplication::sendEvent(object, &event); // may unregister or re-register anything
        ++fired;
    }
    return fired;
}

// ---- the loop ----------------------------------------------------------------------------

void EpollEventDispatcher::wakeUp()
{
    if (!m_wakePending.exchange(true)) {
        const quint64 one = 1;
        [[maybe_unused]] const ssize_t n = ::write(m_wake, &one, sizeof one);
    }
}

void EpollEventDispatcher::interrupt()
{
    m_interrupted.store(true);
    wakeUp();
}

bool EpollEventDispatcher::processEvents(QEventLoop::ProcessEventsFlags flags)
{
    m_interrupted.store(false);
    Q_EMIT awake();
    QCoreApplication::sendPostedEvents();
    if (m_interrupted.load())
        return false;

    const bool wait = (flags & QEventLoop::WaitForMoreEvents) && !m_wakePending.load();
    int timeout = wait ? nextTimeoutMs() : 0;
    if (timeout != 0)
        Q_EMIT aboutToBlock();
    epoll_event events[kMaxEventsPerPass];
    int n = ::epoll_wait(m_epoll, events, kMaxEventsPerPass, timeout);
    if (n < 0)
        n = 0; // EINTR: a signal; go round again

    int handled = 0;
    // Sockets first, then timers, as QEventDispatcherUNIX does.
    const bool sockets = !(flags & QEventLoop::ExcludeSocketNotifiers);
    for (int i = 0; i < n && !m_interrupted.load(); ++i) {
        const int fd = events[i].data.fd;
        if (fd == m_wake) {
            quint64 count = 0;
            [[maybe_unused]] const ssize_t r = ::read(m_wake, &count, sizeof count);
            m_wakePending.store(false);
            ++handled; // posted events are waiting: the next pass sends them
        } else if (sockets) {
            dispatchSocket(fd, unsigned(events[i].events));
            ++handled;
        }
    }
    if (!m_interrupted.load() && !(flags & QEventLoop::X11ExcludeTimers))
        handled += activateTimers();
    return handled > 0;
}

#endif // Q_OS_LINUX

} // namespace sotto::net
