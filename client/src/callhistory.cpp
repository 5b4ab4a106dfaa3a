#include "client/callhistory.h"

#include "client/client.h"
#include "core/privatefile.h"
#include "client/profile.h"

#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>

namespace sotto {

namespace {

QLatin1StringView key(const char *k)
{
    return QLatin1StringView(k);
}

QJsonObject toJson(const CallRecord &r)
{
    return QJsonObject{
        {key("direction"), r.direction == CallRecord::Direction::Outgoing ? QStringLiteral("out") : QStringLiteral("in")},
        {key("peer"), r.peer},
        {key("members"), QJsonArray::fromStringList(r.members)},
        {key("start"), r.start.toUTC().toString(Qt::ISODate)},
        {key("duration"), r.durationSecs},
        {key("answered"), r.answered},
        {key("reason"), r.reason},
    };
}

std::optional<CallRecord> fromJson(const QJsonValue &v)
{
    if (!v.isObject())
        return std::nullopt;
    const QJsonObject o = v.toObject();
    CallRecord r;
    const QString dir = o.value(key("direction")).toString();
    if (dir != QLatin1StringView("out") && dir != QLatin1StringView("in"))
        return std::nullopt;
    r.direction = dir == QLatin1StringView("out") ? CallRecord::Direction::Outgoing : CallRecord::Direction::Incoming;
    r.peer = o.value(key("peer")).toString();
    for (const QJsonValue &m : o.value(key("members")).toArray())
        r.members.append(m.toString());
    r.start = QDateTime::fromString(o.value(key("start")).toString(), Qt::ISODate);
    r.durationSecs = o.value(key("duration")).toInteger();
    r.answered = o.value(key("answered")).toBool();
    r.reason = o.value(key("reason")).toString();
    if (r.peer.isEmpty() || !r.start.isValid() || r.durationSecs < 0)
        return std::nullopt;
    return r;
}

} // namespace

CallHistory::CallHistory(ClientEngine &engine, QString path, QObject *parent)
    : QObject(parent), m_engine(engine), m_path(std::move(path))
{
    connect(&engine, &ClientEngine::callStarted, this, [this](const QByteArray &sid, const QString &callee) {
        begin(sid, CallRecord::Direction::Outgoing, callee);
    });
    connect(&engine, &ClientEngine::incomingCall, this, [this](const QByteArray &sid, const QString &from, bool) {
        begin(sid, CallRecord::Direction::Incoming, from);
    });
    connect(&engine, &ClientEngine::callAnswered, this, [this](const QByteArray &sid) {
        auto it = m_open.find(sid);
        if (it == m_open.end() || it->second.record.answered)
            return;
        it->second.record.answered = true;
        it->second.answeredAt = QDateTime::currentDateTimeUtc();
        if (const auto s = m_engine.session(sid)) {
            for (const MemberInfo &m : s->members) {
                if (m.account != it->second.record.peer && !it->second.record.members.contains(m.account))
                    it->second.record.members.append(m.account);
            }
        }
    });
    connect(&engine, &ClientEngine::memberJoined, this, [this](const QByteArray &sid, const QString &who) {
        auto it = m_open.find(sid);
        if (it != m_open.end() && who != it->second.record.peer && !it->second.record.members.contains(who))
            it->second.record.members.append(who);
    });
    connect(&engine, &ClientEngine::callEnded, this, &CallHistory::finish);
}

Result<void> CallHistory::load()
{
    QFile f(m_path);
    if (!f.exists())
        return {};
    if (!f.open(QIODevice::ReadOnly)) {
        m_writable = false;
        return makeError(ErrorCode::Io, QStringLiteral("cannot read the call history %1").arg(m_path));
    }
    QJsonParseError pe;
    const QJsonDocument doc = QJsonDocument::fromJson(f.readAll(), &pe);
    const QJsonArray calls = doc.object().value(key("calls")).toArray();
    std::vector<CallRecord> records;
    for (const QJsonValue &v : calls) {
        auto r = fromJson(v);
        if (!r) {
            pe.error = QJsonParseError::IllegalValue;
            break;
        }
        records.push_back(std::move(*r));
    }
    if (pe.error != QJsonParseError::NoError || !doc.isObject()) {
        m_writable = false; // keep what is there for a person to look at
        return makeError(ErrorCode::Corrupt,
                         QStringLiteral("the call history %1 is damaged; it is left as it is and not added to").arg(m_path));
    }
    m_records = std::move(records);
    Q_EMIT changed();
    return {};
}

void CallHistory::begin(const QByteArray &sid, CallRecord::Direction direction, const QString &peer)
{
    if (m_open.contains(sid))
        return;
    Open o;
    o.record.direction = direction;
    o.record.peer = peer;
    o.record.start = QDateTime::currentDateTimeUtc();
    m_open.emplace(sid, std::move(o));
}

void CallHistory::finish(const QByteArray &sid, EndReason reason)
{
    auto it = m_open.find(sid);
    if (it == m_open.end())
        return;
    Open o = std::move(it->second);
    m_open.erase(it);
    o.record.reason = endReasonName(reason); // kept as on the wire: a history outlives a build
    if (o.answeredAt.isValid())
        o.record.durationSecs = o.answeredAt.secsTo(QDateTime::currentDateTimeUtc());
    m_records.push_back(std::move(o.record));
    if (m_records.size() > std::size_t(kMaxRecords))
        m_records.erase(m_records.begin(), m_records.end() - kMaxRecords);
    if (auto r = save(); !r)
        Q_EMIT saveFailed(r.error());
    Q_EMIT changed();
}

Result<void> CallHistory::save() const
{
    if (!m_writable)
        return makeError(ErrorCode::Corrupt, QStringLiteral("the call history %1 is damaged; not saved").arg(m_path));
    QJsonArray calls;
    for (const CallRecord &r : m_records)
        calls.append(toJson(r));
    return writePrivateFile(m_path, QJsonDocument(QJsonObject{{key("calls"), calls}}).toJson());
}

} // namespace sotto
