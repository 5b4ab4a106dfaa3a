#include "demo.h"

#include "broker/datadir.h"
#include "core/crypto.h"

#include <QDir>
#include <QTcpServer>

namespace sotto::app {

namespace {

broker::BrokerConfig config(const QString &dataDir, const QString &name, quint16 port)
{
    broker::BrokerConfig cfg;
    cfg.address = QHostAddress::LocalHost;
    cfg.port = port;
    cfg.dataDir = dataDir;
    cfg.name = name;
    cfg.peerMinBackoffMs = 100;
    cfg.peerMaxBackoffMs = 2000;
    return cfg;
}

// A loopback port that was free a moment ago (a peer has to know it before the broker starts).
quint16 freeLoopbackPort()
{
    QTcpServer probe;
    return probe.listen(QHostAddress::LocalHost, 0) ? probe.serverPort() : 0;
}

} // namespace

Result<void> DemoBrokers::start(const QString &dir, bool federated)
{
    if (!federated) {
        brokers.push_back(std::make_unique<broker::Broker>(config(QDir(dir).filePath(QStringLiteral("broker")), QStringLiteral("demo"), 0)));
        return brokers.front()->start();
    }
    const QString dirA = QDir(dir).filePath(QStringLiteral("broker-a"));
    const QString dirB = QDir(dir).filePath(QStringLiteral("broker-b"));
    QDir().mkpath(dirA);
    QDir().mkpath(dirB);
    auto keyA = broker::datadir::loadOrCreateStaticKey(dirA);
    auto keyB = broker::datadir::loadOrCreateStaticKey(dirB);
    auto secret = crypto::randomSecret(32);
    if (!keyA || !keyB || !secret)
        return makeError(ErrorCode::Internal, QStringLiteral("cannot make the demo brokers' keys"));
    const quint16 portA = freeLoopbackPort(), portB = freeLoopbackPort();
    broker::BrokerConfig a = config(dirA, QStringLiteral("a"), portA);
    a.peers.push_back({QStringLiteral("b"), QStringLiteral("127.0.0.1"), portB, keyB->publicKey, *secret, {}});
    broker::BrokerConfig b = config(dirB, QStringLiteral("b"), portB);
    b.peers.push_back({QStringLiteral("a"), QStringLiteral("127.0.0.1"), portA, keyA->publicKey, *secret, {}});
    brokers.push_back(std::make_unique<broker::Broker>(a));
    brokers.push_back(std::make_unique<broker::Broker>(b));
    for (auto &x : brokers) {
        if (auto r = x->start(); !r)
            return r;
    }
    return {};
}

void DemoBrokers::stop()
{
    for (auto &b : brokers)
        b->stop();
}

broker::Broker &DemoBrokers::homeOf(const QString &who)
{
    return federated() && who != QLatin1StringView("alice") ? *brokers[1] : *brokers[0];
}

QString DemoBrokers::addressOf(const QString &who) const
{
    return federated() && who != QLatin1StringView("alice") ? who + QStringLiteral("@b") : who;
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
