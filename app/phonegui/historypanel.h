#pragma once

// Calls made and taken, newest first, from the profile's call history. Enter or a double click
// calls the person again.

#include <QWidget>

class QTreeWidget;

namespace sotto {
class CallHistory;
}

namespace sotto::app {

class HistoryPanel : public QWidget
{
    Q_OBJECT
public:
    explicit HistoryPanel(CallHistory &history, QWidget *parent = nullptr);

Q_SIGNALS:
    void callRequested(const QString &account);

private:
    void reload();

    CallHistory &m_history;
    QTreeWidget *m_rows;
};

} // namespace sotto::app
