#pragma once

// Two brokers on loopback that peer (§8): "a" and "b", each with its own data directory, static
// key and port, and one peering secret. "a" sorts first, so it dials; `viaPort` puts a proxy on
// that path. Neither is started.

#include "broker/broker.h"
#include "broker/datadir.h"
#include "core/crypto.h"
#include "support/fixtures.h"
#include "support/pgserver.h"

#include <QDir>
#include <QTemporaryDir>

#include <functional>
#include <memory>

namespace sotto::test {

inline QByteArray publicKeyOf(const QString &dataDir)
{
    QDir().mkpath(dataDir);
    auto key = broker::datadir::loadOrCreateStaticKey(dataDir);
    if (!key)
        qFatal("static key: %s", qPrintable(key.error().message));
    return key->publicKey;
}

struct PeeredBrokers
{
    // `adjust` changes either broker's config before it is made (e.g. relays of their own).
    using Adjust = std::function<void(broker::BrokerConfig &)>;
    explicit PeeredBrokers(qint64 refreshSecs = 24 * 3600, quint16 viaPort = 0, const Adjust &adjustA = {},
                           const Adjust &adjustB = {})
    {
        auto shared = crypto::randomSecret(32);
        secret = std::move(*shared);
        portA = freePort();
        portB = freePort();
        pubA = publicKeyOf(dirA.path());
        pubB = publicKeyOf(dirB.path());
        broker::BrokerConfig ca = config(QStringLiteral("a"), dirA.path(), portA, refreshSecs,
                                         {QStringLiteral("b"), QStringLiteral("127.0.0.1"), viaPort ? viaPort : portB, pubB, secret, {}});
        broker::BrokerConfig cb = config(QStringLiteral("b"), dirB.path(), portB, refreshSecs,
                                         {QStringLiteral("a"), QStringLiteral("127.0.0.1"), portA, pubA, secret, {}});
        if (adjustA)
            adjustA(ca);
        if (adjustB)
            adjustB(cb);
        a = std::make_unique<broker::Broker>(std::move(ca));
        b = std::make_unique<broker::Broker>(std::move(cb));
    }
    static broker::BrokerConfig config(const QString &name, const QString &dir, quint16 port, qint64 refreshSecs,
                                       broker::PeerConfig peer)
    {
        broker::BrokerConfig c;
        c.address = QHostAddress::LocalHost;
        c.port = port;
        c.dataDir = dir;
        c.store = testStoreLocation(dir);
        c.name = name;
        c.refreshIntervalSecs = refreshSecs;
        c.peerMinBackoffMs = 50;
        c.peerMaxBackoffMs = 500;
        // The links flap faster than presence would be coalesced; the tests watch every change.
        c.presenceIntervalMs = 0;
        c.rotationMinIntervalMs = 0;
        c.peers.push_back(std::move(peer));
        return c;
    }
    bool start() { return b->start().ok() && a->start().ok(); }
    static bool up(broker::Broker &x)
    {
        const auto peers = x.peers();
        return peers.size() == 1 && peers.front().state == broker::PeerView::State::Up;
    }
    bool linked() { return up(*a) && up(*b); }
    static bool enrol(broker::Broker &broker, TestPhone &phone)
    {
        auto link = broker.createInvite(phone.account(), 3600);
        auto parsed = link ? InviteLink::parse(*link) : Result<InviteLink>(link.error());
        return parsed && phone.enrol(*parsed) && phone.goOnline();
    }

    QTemporaryDir dirA, dirB;
    SecretBytes secret;
    quint16 portA = 0, portB = 0;
    QByteArray pubA, pubB;
    std::unique_ptr<broker::Broker> a, b;
};

} // namespace sotto::test
