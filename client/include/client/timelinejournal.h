#pragma once

// The key timeline kept in the profile (DIR/timeline.jsonl, mode 0600), so that a window opened
// later — or after headless use — shows what happened before. One JSON line per step, exactly
// what the Timeline holds: times, sessions, generations, epochs, fingerprints and notation; never
// a key. Bounded: past 2 × kMaxEvents lines the file is rewritten (atomically) with the newest
// kMaxEvents. A line that cannot be read is skipped (a crash can cut the last one short); a file
// that cannot be opened is reported and then neither read nor written.
//
// Threads: the Timeline's (the engine's) thread.

#include "core/result.h"
#include "client/timeline.h"

#include <QFile>
#include <QObject>

namespace sotto {

class TimelineJournal : public QObject
{
    Q_OBJECT
public:
    static constexpr int kMaxEvents = 2000;

    TimelineJournal(Timeline &timeline, QString path, QObject *parent = nullptr);

    // Puts the newest kMaxEvents earlier steps into the timeline (before anything this run
    // appends), then writes every step appended from now on.
    Result<void> load();
    QString path() const { return m_path; }

Q_SIGNALS:
    void writeFailed(const sotto::Error &error);

private:
    void onAppended(const TimelineEvent &e);
    Result<void> compact();

    Timeline &m_timeline;
    QString m_path;
    QFile m_file;
    bool m_loading = false;
    bool m_failed = false;
    int m_lines = 0;
};

} // namespace sotto
