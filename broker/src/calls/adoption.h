#pragma once

// Calls kept over a broker take-over (extension `resume`, PROTOCOL.md §9, §9.2): an answered call on a
// relay of our own, with no member behind a peer, is recorded in the store while it lives; the
// instance that takes over loads those records and keeps each call, at its relay, for its
// members to resume within kResumeDeadlineMs — after which what nobody resumed is forgotten.
// The key went with the instance that is gone: a kept call can be hung up and left, not re-keyed
// from the old key or joined. Private to the broker; main thread only. Nothing here fails
// toward its caller: a record that cannot be written is simply not kept.

#include "routercontext.h"

#include "calls/sessiontable.h"

#include <QByteArray>
#include <QObject>
#include <QString>

#include <map>
#include <optional>

namespace sotto::broker {

class Adoption
{
public:
    explicit Adoption(RouterContext context) : m_ctx(std::move(context)) {}

    struct Kept
    {
        QString caller, callee, relay;
        std::map<QString, quint32> members; // account → ssrc
        quint32 gen = 0;       // the generation its members hold (from the record)
        bool rekeyDue = false; // a member was removed meanwhile: a fresh key at the first resume
    };

    // Writes (or rewrites) the session's record: an answered call at a relay of our own with no
    // member behind a peer. Nothing otherwise.
    void record(Session &s);
    // At take-over (or start): the calls the store records as live; records that are not ours
    // (malformed, fewer than two members) are dropped.
    void load();
    // The kept call `sid`, out of the list, when `member` was in it; nullopt otherwise.
    std::optional<Kept> take(const QByteArray &sid, const QString &member);
    // The operator revoked `account`: it is out of every kept call, at its relay at once, and the
    // first member back gets a fresh key; a call left with one member ends.
    void revoke(const QString &account);
    std::size_t size() const { return m_kept.size(); }

    static constexpr int kResumeDeadlineMs = 30000;

private:
    RouterContext m_ctx;
    std::map<QByteArray, Kept> m_kept; // live at the instance that is gone, not resumed yet
    QObject m_timers;                  // the deadline dies with us
};

} // namespace sotto::broker
