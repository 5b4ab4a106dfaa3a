#include "client/timelinejournal.h"

#include "core/privatefile.h"
#include "client/profile.h"

#include <QJsonDocument>

namespace sotto {

TimelineJournal::TimelineJournal(Timeline &timeline, QString path, QObject *parent)
    : QObject(parent), m_timeline(timeline), m_path(std::move(path))
{
    connect(&m_timeline, &Timeline::appended, this, &TimelineJournal::onAppended);
}

Result<void> TimelineJournal::load()
{
    QFile in(m_path);
    std::vector<TimelineEvent> earlier;
    if (in.exists()) {
        if (!in.open(QIODevice::ReadOnly)) {
            m_failed = true;
            return makeError(ErrorCode::Io, QStringLiteral("cannot read the key timeline %1").arg(m_path));
        }
        // Bounded reading: a line longer than any step is not ours.
        while (!in.atEnd()) {
            const QByteArray line = in.readLine(64 * 1024);
            if (auto e = TimelineEvent::fromJson(QJsonDocument::fromJson(line).object()))
                earlier.push_back(std::move(*e));
        }
        in.close();
    }
    m_lines = int(earlier.size());
    if (earlier.size() > std::size_t(kMaxEvents))
        earlier.erase(earlier.begin(), earlier.end() - kMaxEvents);
    m_loading = true;
    m_timeline.prepend(std::move(earlier));
    m_loading = false;
    if (m_lines > 2 * kMaxEvents) {
        if (auto r = compact(); !r)
            return r;
    }
    if (!QFile::exists(m_path)) {
        if (auto r = writePrivateFile(m_path, {}); !r) { // created 0600, then appended to
            m_failed = true;
            return r;
        }
    }
    m_file.setFileName(m_path);
    if (!m_file.open(QIODevice::WriteOnly | QIODevice::Append)) {
        m_failed = true;
        return makeError(ErrorCode::Io, QStringLiteral("cannot write the key timeline %1").arg(m_path));
    }
    return {};
}

void TimelineJournal::onAppended(const TimelineEvent &e)
{
    if (m_loading || m_failed || !m_file.isOpen())
        return;
    const QByteArray line = QJsonDocument(e.toJson()).toJson(QJsonDocument::Compact) + '\n';
    if (m_file.write(line) != line.size() || !m_file.flush()) {
        m_failed = true;
        Q_EMIT writeFailed(makeError(ErrorCode::Io, QStringLiteral("cannot write the key timeline %1").arg(m_path)));
        return;
    }
    if (++m_lines > 2 * kMaxEvents) {
        m_file.close();
        if (auto r = compact(); !r) {
            m_failed = true;
            Q_EMIT writeFailed(r.error());
            return;
        }
        if (!m_file.open(QIODevice::WriteOnly | QIODevice::Append))
            m_failed = true;
    }
}

Result<void> TimelineJournal::compact()
{
    const auto &events = m_timeline.events();
    const std::size_t from = events.size() > std::size_t(kMaxEvents) ? events.size() - kMaxEvents : 0;
    QByteArray out;
    for (std::size_t i = from; i < events.size(); ++i)
        out += QJsonDocument(events[i].toJson()).toJson(QJsonDocument::Compact) + '\n';
    if (auto r = writePrivateFile(m_path, out); !r)
        return r;
    m_lines = int(events.size() - from);
    return {};
}

} // namespace sotto
