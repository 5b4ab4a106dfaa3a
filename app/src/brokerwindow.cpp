#include "brokerwindow.h"

#include "broker/broker.h"

#include <QDateTime>
#include <QPlainTextEdit>

namespace sotto::app {

BrokerWindow::BrokerWindow(broker::Broker &broker, QWidget *parent)
    : QMainWindow(parent), m_log(new QPlainTextEdit(this))
{
    setWindowTitle(QStringLiteral("Sotto broker — %1").arg(broker.name()));
    m_log->setReadOnly(true);
    m_log->setMaximumBlockCount(5000);
    setCentralWidget(m_log);
    resize(720, 420);
    m_log->appendPlainText(QStringLiteral("listening on port %1 · broker key %2").arg(broker.port()).arg(broker.fingerprint()));
    connect(&broker, &broker::Broker::logEvent, this, [this](const QString &line) {
        m_log->appendPlainText(QStringLiteral("%1  %2").arg(QTime::currentTime().toString(QStringLiteral("HH:mm:ss.zzz")), line));
    });
}

} // namespace sotto::app
