#pragma once

// The key timeline: for the session chosen (or for the whole account), each step that made,
// delivered, ratcheted or rotated a key — its time, a readable line, the patent's notation, the
// generation and epoch, and the fingerprint. It shows the core's Timeline model and computes
// nothing about keys itself.

#include <QWidget>

class QComboBox;
class QLabel;
class QTreeWidget;

namespace sotto {
class Timeline;
struct TimelineEvent;
} // namespace sotto

namespace sotto::app {

class TimelinePanel : public QWidget
{
    Q_OBJECT
public:
    enum Column { TimeColumn, StepColumn, NotationColumn, GenColumn, EpochColumn, TextColumn };

    explicit TimelinePanel(Timeline &timeline, QWidget *parent = nullptr);

    // Shows one session's steps (empty: every step of the account).
    void showSession(const QByteArray &sid);
    QByteArray shownSession() const;

private:
    void onAppended(const TimelineEvent &e);
    void addSessionChoice(const TimelineEvent &e);
    void rebuild();
    bool matches(const TimelineEvent &e) const;
    void addRow(const TimelineEvent &e);
    void showDetail();

    Timeline &m_timeline;
    QComboBox *m_sessions;
    QTreeWidget *m_rows;
    QLabel *m_detail; // the chosen (else the newest) step in full, wrapped: no column is too narrow for it
};

} // namespace sotto::app
