#include "calls/sessiontable.h"

#include <algorithm>

namespace sotto::broker {

Member *Session::find(const QString &account)
{
    for (Member &m : members) {
        if (m.account == account)
            return &m;
    }
    return nullptr;
}

int Session::joinedCount() const
{
    int n = 0;
    for (const Member &m : members)
        n += m.joined ? 1 : 0;
    return n;
}

Session *SessionTable::find(const QByteArray &sid)
{
    auto it = m_sessions.find(sid);
    return it == m_sessions.end() ? nullptr : it->second.get();
}

std::pair<Session *, Member *> SessionTable::locate(const QByteArray &sid, const QString &account)
{
    Session *s = find(sid);
    return {s, s ? s->find(account) : nullptr};
}

void SessionTable::involve(const Member &m, Session *s, int delta)
{
    for (const QString *name : {&m.account, &m.ringBy}) {
        if (name->isEmpty())
            continue;
        auto &sessions = m_involved[*name];
        if ((sessions[s] += delta) <= 0)
            sessions.erase(s);
        if (sessions.empty())
            m_involved.erase(*name);
    }
}

Session &SessionTable::insert(std::unique_ptr<Session> session)
{
    Session *s = session.get();
    const QByteArray sid = s->sid;
    for (const Member &m : s->members)
        involve(m, s, +1);
    m_sessions.emplace(sid, std::move(session));
    return *s;
}

std::unique_ptr<Session> SessionTable::take(const QByteArray &sid)
{
    auto it = m_sessions.find(sid);
    if (it == m_sessions.end())
        return nullptr;
    std::unique_ptr<Session> s = std::move(it->second);
    m_sessions.erase(it);
    for (const Member &m : s->members)
        involve(m, s.get(), -1);
    return s;
}

void SessionTable::addMember(Session &s, const Member &m)
{
    s.members.push_back(m);
    involve(m, &s, +1);
}

void SessionTable::dropMember(Session &s, const QString &account)
{
    std::erase_if(s.members, [&](const Member &m) {
        if (m.account != account)
            return false;
        involve(m, &s, -1);
        return true;
    });
}

int SessionTable::joinedSessionsOf(const QString &account) const
{
    int n = 0;
    forEachInvolving(account, [&](const Session &s) {
        for (const Member &m : s.members)
            n += m.account == account && m.joined ? 1 : 0;
    });
    return n;
}

int SessionTable::ringingBy(const QString &by, const QString &to) const
{
    int n = 0;
    forEachInvolving(by, [&](const Session &s) {
        for (const Member &m : s.members)
            n += !m.joined && m.ringBy == by && (to.isEmpty() || m.account == to) ? 1 : 0;
    });
    return n;
}

int SessionTable::ringingTo(const QString &account) const
{
    int n = 0;
    forEachInvolving(account, [&](const Session &s) {
        for (const Member &m : s.members)
            n += !m.joined && m.account == account ? 1 : 0;
    });
    return n;
}

std::vector<QByteArray> SessionTable::sessionsWith(const QString &account) const
{
    std::vector<QByteArray> sids;
    forEachInvolving(account, [&](const Session &s) {
        if (s.find(account))
            sids.push_back(s.sid);
    });
    std::sort(sids.begin(), sids.end()); // the order of the sessions map
    return sids;
}

} // namespace sotto::broker
