#pragma once

#include <QMainWindow>

class QPlainTextEdit;

namespace sotto::broker {
class Broker;
}

namespace sotto::app {

// A first broker window: the event log, titled "Sotto broker — NAME". (The full console with
// accounts, sessions and invites is its own issue.)
class BrokerWindow : public QMainWindow
{
    Q_OBJECT
public:
    explicit BrokerWindow(broker::Broker &broker, QWidget *parent = nullptr);

private:
    QPlainTextEdit *m_log;
};

} // namespace sotto::app
