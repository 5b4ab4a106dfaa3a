#include "client/timeline.h"

#include "core/skbp.h"

namespace sotto {

QString TimelineEvent::kindName(Kind kind)
{
    switch (kind) {
    case Kind::Enrolled:
        return QStringLiteral("enrolled");
    case Kind::Refreshed:
        return QStringLiteral("refreshed");
    case Kind::CallKey:
        return QStringLiteral("call_key");
    case Kind::SessionKey:
        return QStringLiteral("session_key");
    case Kind::Incoming:
        return QStringLiteral("incoming");
    case Kind::Answered:
        return QStringLiteral("answered");
    case Kind::Joined:
        return QStringLiteral("joined");
    case Kind::Left:
        return QStringLiteral("left");
    case Kind::Rekeyed:
        return QStringLiteral("rekey");
    case Kind::Ended:
        return QStringLiteral("ended");
    case Kind::Rotated:
        return QStringLiteral("rotated");
    case Kind::Relayed:
        return QStringLiteral("relayed");
    }
    return {};
}

std::optional<TimelineEvent::Kind> TimelineEvent::kindFromName(const QString &name)
{
    for (int k = int(Kind::Enrolled); k <= int(Kind::Relayed); ++k) {
        if (kindName(Kind(k)) == name)
            return Kind(k);
    }
    return std::nullopt;
}

std::optional<TimelineEvent> TimelineEvent::fromJson(const QJsonObject &o)
{
    TimelineEvent e;
    const auto kind = kindFromName(o.value(QLatin1StringView("event")).toString());
    e.ts = QDateTime::fromString(o.value(QLatin1StringView("ts")).toString(), Qt::ISODateWithMs);
    if (!kind || !e.ts.isValid())
        return std::nullopt;
    e.kind = *kind;
    const QJsonValue sid = o.value(QLatin1StringView("sid"));
    if (sid.isString()) {
        e.sid = QByteArray::fromHex(sid.toString().toLatin1());
        if (e.sid.size() != skbp::kSidSize)
            return std::nullopt;
    }
    const auto number = [&](const char *key) -> std::optional<quint32> {
        const QJsonValue v = o.value(QLatin1StringView(key));
        if (!v.isDouble() || v.toInteger(-1) < 0 || v.toInteger() > 0xffffffffLL)
            return std::nullopt;
        return quint32(v.toInteger());
    };
    e.gen = number("gen");
    e.epoch = number("epoch");
    e.fp = o.value(QLatin1StringView("fp")).toString();
    e.peer = o.value(QLatin1StringView("peer")).toString();
    e.notation = o.value(QLatin1StringView("notation")).toString();
    e.text = o.value(QLatin1StringView("text")).toString();
    return e;
}

QJsonObject TimelineEvent::toJson() const
{
    QJsonObject o;
    o.insert(QLatin1StringView("ts"), ts.toUTC().toString(Qt::ISODateWithMs));
    o.insert(QLatin1StringView("event"), kindName(kind));
    o.insert(QLatin1StringView("sid"), sid.isEmpty() ? QJsonValue() : QString::fromLatin1(sid.toHex()));
    o.insert(QLatin1StringView("gen"), gen ? QJsonValue(qint64(*gen)) : QJsonValue());
    o.insert(QLatin1StringView("epoch"), epoch ? QJsonValue(qint64(*epoch)) : QJsonValue());
    o.insert(QLatin1StringView("fp"), fp.isEmpty() ? QJsonValue() : fp);
    if (!peer.isEmpty())
        o.insert(QLatin1StringView("peer"), peer);
    if (!notation.isEmpty())
        o.insert(QLatin1StringView("notation"), notation);
    o.insert(QLatin1StringView("text"), text);
    return o;
}

Timeline::Timeline(QObject *parent) : QAbstractListModel(parent) {}

int Timeline::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : int(m_events.size());
}

QVariant Timeline::data(const QModelIndex &index, int role) const
{
    if (!index.isValid() || index.row() < 0 || index.row() >= rowCount())
        return {};
    const TimelineEvent &e = m_events[std::size_t(index.row())];
    switch (role) {
    case Qt::DisplayRole:
        return e.text;
    case Qt::ToolTipRole:
        return e.notation;
    case KindRole:
        return int(e.kind);
    case SidRole:
        return e.sid;
    case GenRole:
        return e.gen ? QVariant(*e.gen) : QVariant();
    case EpochRole:
        return e.epoch ? QVariant(*e.epoch) : QVariant();
    case FingerprintRole:
        return e.fp;
    case PeerRole:
        return e.peer;
    case NotationRole:
        return e.notation;
    case TimeRole:
        return e.ts;
    default:
        return {};
    }
}

QHash<int, QByteArray> Timeline::roleNames() const
{
    return {{Qt::DisplayRole, "text"}, {KindRole, "kind"},       {SidRole, "sid"},
            {GenRole, "gen"},          {EpochRole, "epoch"},     {FingerprintRole, "fp"},
            {PeerRole, "peer"},        {NotationRole, "notation"}, {TimeRole, "ts"}};
}

void Timeline::append(TimelineEvent event)
{
    if (!event.ts.isValid())
        event.ts = QDateTime::currentDateTimeUtc();
    const int row = rowCount();
    beginInsertRows({}, row, row);
    m_events.push_back(std::move(event));
    endInsertRows();
    Q_EMIT appended(m_events.back());
    if (m_events.size() > std::size_t(kMaxEvents)) {
        const int drop = kMaxEvents / 4;
        beginRemoveRows({}, 0, drop - 1);
        m_events.erase(m_events.begin(), m_events.begin() + drop);
        endRemoveRows();
    }
}

void Timeline::prepend(std::vector<TimelineEvent> earlier)
{
    if (earlier.size() + m_events.size() > std::size_t(kMaxEvents))
        earlier.erase(earlier.begin(), earlier.begin() + std::ptrdiff_t(std::min(earlier.size(), earlier.size() + m_events.size() - kMaxEvents)));
    if (earlier.empty())
        return;
    beginInsertRows({}, 0, int(earlier.size()) - 1);
    m_events.insert(m_events.begin(), std::make_move_iterator(earlier.begin()), std::make_move_iterator(earlier.end()));
    endInsertRows();
}

std::vector<TimelineEvent> Timeline::eventsFor(const QByteArray &sid) const
{
    std::vector<TimelineEvent> out;
    for (const TimelineEvent &e : m_events) {
        if (e.sid == sid)
            out.push_back(e);
    }
    return out;
}

} // namespace sotto
