#pragma once

#include <QMainWindow>

class QCloseEvent;
class QTabWidget;

namespace sotto::broker {
class Broker;
}

namespace sotto::app {

class AccountsPanel;
class InvitePanel;
class LogPanel;
class SessionsPanel;

// The broker console, titled "Sotto broker — NAME" (CLI.md relies on the title): who the broker
// is, its accounts, live sessions, invites, event log and relay counters. It only displays the
// broker's state, apart from creating invites. GUI thread only; `broker` must outlive it.
class BrokerWindow : public QMainWindow
{
    Q_OBJECT
public:
    explicit BrokerWindow(broker::Broker &broker, QWidget *parent = nullptr);
    // Closing the window stops the broker (`sotto broker` with a window): with live sessions it
    // asks first. Off (the demo), closing only hides the console; the phones' menu reopens it.
    void setClosingStopsBroker(bool stops) { m_closingStops = stops; }

protected:
    void closeEvent(QCloseEvent *event) override;

private:
    QWidget *makeSummary(broker::Broker &broker);

    QTabWidget *m_tabs;
    AccountsPanel *m_accounts;
    SessionsPanel *m_sessions;
    InvitePanel *m_invite;
    LogPanel *m_log;
    broker::Broker &m_broker;
    bool m_closingStops = true;
};

} // namespace sotto::app
