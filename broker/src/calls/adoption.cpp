#include "calls/adoption.h"

#include "calls/routing.h"

#include "broker/store.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTimer>

#include <algorithm>

namespace sotto::broker {

using routing::shortSid;

void Adoption::record(Session &s)
{
    const QString at = m_ctx.media.relayAt(s.sid);
    if (at.isEmpty() || !s.answered)
        return;
    QJsonArray members;
    for (const Member &m : s.members) {
        if (skbp::Address::parse(m.account).isRemote())
            return; // a call across brokers is not kept: its other half is the peer's
        if (m.joined || s.adopted)
            members.append(QJsonObject{{QStringLiteral("account"), m.account}, {QStringLiteral("ssrc"), double(m.ssrc)}});
    }
    const QJsonObject record{{QStringLiteral("relay"), at},
                             {QStringLiteral("caller"), s.caller},
                             {QStringLiteral("callee"), s.callee},
                             {QStringLiteral("gen"), double(s.gen)},
                             {QStringLiteral("members"), members}};
    if (m_ctx.store.setLiveSession(s.sid, QString::fromUtf8(QJsonDocument(record).toJson(QJsonDocument::Compact))))
        s.recorded = true;
}

void Adoption::load()
{
    m_kept.clear();
    for (const auto &[sid, text] : m_ctx.store.liveSessions()) {
        const QJsonObject o = QJsonDocument::fromJson(text.toUtf8()).object();
        Kept kept{o.value(QStringLiteral("caller")).toString(), o.value(QStringLiteral("callee")).toString(),
                  o.value(QStringLiteral("relay")).toString(), {},
                  quint32(std::clamp(o.value(QStringLiteral("gen")).toDouble(), 0.0, 1e9)), false};
        for (const QJsonValue &v : o.value(QStringLiteral("members")).toArray()) {
            const QJsonObject m = v.toObject();
            kept.members[m.value(QStringLiteral("account")).toString()] = quint32(m.value(QStringLiteral("ssrc")).toDouble());
        }
        if (sid.size() != skbp::kSidSize || kept.relay.isEmpty() || kept.members.size() < 2) {
            (void)m_ctx.store.dropLiveSession(sid); // not one of ours: nothing to keep
            continue;
        }
        m_kept.emplace(sid, std::move(kept));
    }
    if (m_kept.empty())
        return;
    m_ctx.log(QStringLiteral("%1 calls were live at relays of our own: they are kept for their members to resume").arg(m_kept.size()));
    QTimer::singleShot(kResumeDeadlineMs, &m_timers, [this] {
        for (const auto &[sid, kept] : m_kept) {
            m_ctx.media.endSession(sid); // placed by a revocation meanwhile: its relay lets it go
            (void)m_ctx.store.dropLiveSession(sid);
        }
        if (!m_kept.empty())
            m_ctx.log(QStringLiteral("%1 kept calls were not resumed: forgotten").arg(m_kept.size()));
        m_kept.clear();
    });
}

std::optional<Adoption::Kept> Adoption::take(const QByteArray &sid, const QString &member)
{
    auto it = m_kept.find(sid);
    if (it == m_kept.end() || !it->second.members.contains(member))
        return std::nullopt;
    Kept kept = std::move(it->second);
    m_kept.erase(it);
    return kept;
}

void Adoption::revoke(const QString &account)
{
    for (auto it = m_kept.begin(); it != m_kept.end();) {
        auto member = it->second.members.find(account);
        if (member == it->second.members.end()) {
            ++it;
            continue;
        }
        const QByteArray sid = it->first;
        if (m_ctx.media.adopt(sid, it->second.relay))
            m_ctx.media.removeMember(sid, member->second);
        it->second.members.erase(member);
        it->second.rekeyDue = true;
        m_ctx.log(QStringLiteral("%1 revoked: out of session %2, kept over a take-over; it re-keys when resumed")
                         .arg(account, shortSid(sid)));
        if (it->second.members.size() < 2) {
            m_ctx.media.endSession(sid);
            (void)m_ctx.store.dropLiveSession(sid);
            it = m_kept.erase(it);
        } else {
            ++it;
        }
    }
}

} // namespace sotto::broker
