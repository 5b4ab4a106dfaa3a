#include "demo.h"

namespace sotto::app {

broker::BrokerConfig demoBrokerConfig(const QString &dataDir, const QString &name)
{
    broker::BrokerConfig cfg;
    cfg.address = QHostAddress::LocalHost;
    cfg.port = 0;
    cfg.dataDir = dataDir;
    cfg.name = name;
    return cfg;
}

QString demoSentence(const QString &who)
{
    if (who == QLatin1StringView("bob"))
        return QStringLiteral("Bob here. I derived the very same key from my own.");
    if (who == QLatin1StringView("carol"))
        return QStringLiteral("Carol speaking. I joined, and the key moved on one step.");
    return QStringLiteral("Hello, this is Alice. The broker gave me your session key.");
}

} // namespace sotto::app
