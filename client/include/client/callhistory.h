#pragma once

// The phone's call history, kept in the profile (DIR/history.json, mode 0600: who called whom is
// private, though it holds no key). Built from the engine's signals; every finished call is
// written at once, atomically. A file that cannot be read is reported and left alone — the
// history then starts empty in memory and is not saved over it.

#include "core/result.h"

#include <QDateTime>
#include <QObject>
#include <QStringList>

#include <map>
#include <vector>

namespace sotto {

class ClientEngine;

struct CallRecord
{
    enum class Direction { Outgoing, Incoming };
    Direction direction = Direction::Outgoing;
    QString peer;        // whom we called, or who rang us
    QStringList members; // everyone else who was in the call at some point
    QDateTime start;     // when it rang (UTC)
    qint64 durationSecs = 0; // from the answer to the end; 0 when never answered
    bool answered = false;
    QString reason; // how it ended ("hangup", "declined", ...)
};

class CallHistory : public QObject
{
    Q_OBJECT
public:
    static constexpr int kMaxRecords = 500;

    CallHistory(ClientEngine &engine, QString path, QObject *parent = nullptr);

    // Reads the file (absent: empty). An unreadable file is an error and is never overwritten.
    Result<void> load();
    // Newest last.
    const std::vector<CallRecord> &records() const { return m_records; }

Q_SIGNALS:
    void changed();
    void saveFailed(const sotto::Error &error);

private:
    struct Open
    {
        CallRecord record;
        QDateTime answeredAt;
    };
    void begin(const QByteArray &sid, CallRecord::Direction direction, const QString &peer);
    void finish(const QByteArray &sid, EndReason reason);
    Result<void> save() const;

    ClientEngine &m_engine;
    QString m_path;
    bool m_writable = true;
    std::vector<CallRecord> m_records;
    std::map<QByteArray, Open> m_open;
};

} // namespace sotto
