// The dialling broker's attempts (PROTOCOL.md §8) as objects: against a real responder broker on
// loopback, a handshake commits K_AB and a login under it opens the session channel; against
// nothing, silence, garbage or a wrong key each fails. Whatever happens, `finished` comes exactly
// once, and never after abort(); a failure commits nothing.

#include "federation/peerattempts.h"
#include "federation/peerresponders.h"

#include "broker/datadir.h"
#include "broker/store.h"
#include "core/wire.h"
#include "core/skbp.h"
#include "core/noise.h"
#include "support/fixtures.h"
#include "support/pgserver.h"
#include "support/peeredbrokers.h"

#include <QSignalSpy>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTemporaryDir>
#include <QTest>

using namespace sotto;
using namespace sotto::broker;
using namespace sotto::test;

class TestPeerAttempts : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void init();
    void cleanup();
    void handshakeThenLogin();
    void failuresFinishOnce_data();
    void failuresFinishOnce();
    void abortSaysNothing();
    void respondersFinishOnce_data();
    void respondersFinishOnce();

private:
    AttemptContext context();
    std::unique_ptr<PeeredBrokers> m_brokers;
    std::unique_ptr<QTemporaryDir> m_dir; // a fresh store for every row
    std::unique_ptr<Store> m_store; // "a"'s side, the dialler's
    BrokerConfig m_config;
    SecretBytes m_static;
    QStringList m_log;
};

void TestPeerAttempts::init()
{
    m_brokers = std::make_unique<PeeredBrokers>();
    QVERIFY(m_brokers->b->start().ok()); // only the responder runs; the attempts are a's
    m_dir = std::make_unique<QTemporaryDir>();
    m_store = std::make_unique<Store>();
    auto location = StoreLocation::parse(test::testStoreAt(m_dir->filePath(QStringLiteral("a.db"))));
    QVERIFY(location.ok());
    QVERIFY(m_store->open(*location).ok());
    auto key = datadir::loadOrCreateStaticKey(m_brokers->dirA.path());
    QVERIFY(key.ok());
    m_static = key->privateKey;
    m_config = PeeredBrokers::config(QStringLiteral("a"), m_brokers->dirA.path(), m_brokers->portA, 24 * 3600,
                                     m_brokers->a->config().peers.front());
    m_config.handshakeTimeoutMs = 300;
    m_log.clear();
}

void TestPeerAttempts::cleanup()
{
    m_store.reset();
    m_brokers.reset();
}

AttemptContext TestPeerAttempts::context()
{
    return {*m_store, QStringLiteral("a"), m_static, m_config, [this](const QString &line) { m_log << line; }};
}

void TestPeerAttempts::handshakeThenLogin()
{
    const PeerConfig b = m_config.peers.front();
    PeerHandshake handshake(context(), b);
    QSignalSpy done(&handshake, &PeerHandshake::finished);
    handshake.start();
    QCOMPARE(handshake.step(), PeerHandshake::Step::Connecting);
    QTRY_COMPARE_WITH_TIMEOUT(done.size(), 1, 5000);
    QVERIFY2(done.at(0).at(0).toBool(), qPrintable(done.at(0).at(2).toString()));
    QCOMPARE(done.at(0).at(1).toUInt(), 1u);
    QCOMPARE(handshake.step(), PeerHandshake::Step::Done);
    const AccountRecord *p = m_store->peer(QStringLiteral("b"));
    QVERIFY(p && p->epoch == 1 && p->pendingEpoch == 0);
    // The responder committed the same key.
    QTRY_VERIFY(m_brokers->b->store().peer(QStringLiteral("a")) && m_brokers->b->store().peer(QStringLiteral("a"))->epoch == 1);
    QVERIFY(m_brokers->b->store().peer(QStringLiteral("a"))->key.equals(p->key));

    PeerLogin login(context(), b, 1, false);
    QSignalSpy loggedIn(&login, &PeerLogin::finished);
    login.start();
    QTRY_COMPARE_WITH_TIMEOUT(loggedIn.size(), 1, 5000);
    QVERIFY2(loggedIn.at(0).at(0).toBool(), qPrintable(loggedIn.at(0).at(1).toString()));
    std::unique_ptr<FramedSocket> socket(login.takeSocket());
    QVERIFY(socket);
    QVERIFY(!login.takeSocket()); // handed over once
    QVERIFY(login.takeChannel().isOpen());
    QTest::qWait(2 * m_config.handshakeTimeoutMs + 100); // no deadline fires after the end
    QCOMPARE(done.size(), 1);
    QCOMPARE(loggedIn.size(), 1);
}

void TestPeerAttempts::failuresFinishOnce_data()
{
    QTest::addColumn<QString>("peer");
    QTest::newRow("nothing listening") << QStringLiteral("closed");
    QTest::newRow("silence") << QStringLiteral("silent");
    QTest::newRow("garbage") << QStringLiteral("garbage");
    QTest::newRow("another static key") << QStringLiteral("wrong key");
}

void TestPeerAttempts::failuresFinishOnce()
{
    QFETCH(QString, peer);
    PeerConfig b = m_config.peers.front();
    QTcpServer server;
    QVERIFY(server.listen(QHostAddress::LocalHost, 0));
    std::vector<std::unique_ptr<QTcpSocket>> accepted;
    connect(&server, &QTcpServer::newConnection, this, [&] {
        while (QTcpSocket *s = server.nextPendingConnection()) {
            if (peer == QLatin1StringView("garbage"))
                s->write(QByteArray("\x00\x05hello", 7));
            accepted.emplace_back(s);
        }
    });
    if (peer == QLatin1StringView("closed")) {
        b.port = freePort();
    } else if (peer == QLatin1StringView("wrong key")) {
        b.publicKey = QByteArray(32, 'k');
    } else {
        b.port = server.serverPort();
    }
    for (int kind = 0; kind < 2; ++kind) {
        std::unique_ptr<QObject> attempt;
        QSignalSpy *spy = nullptr;
        if (kind == 0) {
            auto *h = new PeerHandshake(context(), b);
            attempt.reset(h);
            spy = new QSignalSpy(h, &PeerHandshake::finished);
            h->start();
        } else {
            // A login needs a key to log in under: the secret stands in (the peer holds none).
            (void)m_store->setPeerPending(b.name, 1, b.secret);
            (void)m_store->commitPeerPending(b.name);
            auto *l = new PeerLogin(context(), b, 1, false);
            attempt.reset(l);
            spy = new QSignalSpy(l, &PeerLogin::finished);
            l->start();
        }
        std::unique_ptr<QSignalSpy> owned(spy);
        QTRY_COMPARE_WITH_TIMEOUT(spy->size(), 1, 5000);
        QTest::qWait(2 * m_config.handshakeTimeoutMs + 200); // and nothing more, deadline included
        QCOMPARE(spy->size(), 1);
        QVERIFY(!spy->at(0).at(0).toBool());
        QVERIFY(!spy->at(0).at(kind == 0 ? 2 : 1).toString().isEmpty());
        if (kind == 0) // a failed handshake left no K_AB, not even a pending one
            QVERIFY(!m_store->peer(b.name));
    }
}

void TestPeerAttempts::abortSaysNothing()
{
    PeerHandshake handshake(context(), m_config.peers.front());
    QSignalSpy done(&handshake, &PeerHandshake::finished);
    handshake.start();
    handshake.abort();
    QTest::qWait(2 * m_config.handshakeTimeoutMs + 200);
    QCOMPARE(done.size(), 0);
    QCOMPARE(handshake.step(), PeerHandshake::Step::Done);
}

void TestPeerAttempts::respondersFinishOnce_data()
{
    // The answering side (peerresponders.h), driven by the dialler's own attempts: each responder
    // says `finished` exactly once, commits only what its exchange made, and a failure commits
    // nothing.
    QTest::addColumn<QString>("how");
    QTest::newRow("handshake, then login under the new key") << QStringLiteral("ok");
    QTest::newRow("another peering secret") << QStringLiteral("wrong secret");
    QTest::newRow("the dialler goes quiet after msg1") << QStringLiteral("quiet");
    QTest::newRow("a login under a key never made") << QStringLiteral("unknown epoch");
}

void TestPeerAttempts::respondersFinishOnce()
{
    QFETCH(QString, how);
    // "b"'s side: its own store, identity and config (whose peer "a" is the dialler here).
    Store store;
    auto location = StoreLocation::parse(test::testStoreAt(m_dir->filePath(QStringLiteral("b.db"))));
    QVERIFY(location.ok());
    QVERIFY(store.open(*location).ok());
    auto identity = datadir::loadOrCreateStaticKey(m_brokers->dirB.path());
    QVERIFY(identity.ok());
    BrokerConfig config = m_brokers->b->config();
    config.handshakeTimeoutMs = 300;
    if (how == u"wrong secret")
        config.peers.front().secret = SecretBytes::copyOf(QByteArray(32, 'x'));
    QStringList log;
    const ResponderContext ctx{store, config, *identity, [&](const QString &line) { log << line; }};

    QTcpServer server;
    QVERIFY(server.listen(QHostAddress::LocalHost, 0));
    int handshakes = 0, logins = 0;
    QList<bool> handshakeOk, loginOk;
    std::vector<QPointer<PeerLoginResponder>> loginResponders;
    connect(&server, &QTcpServer::newConnection, this, [&] {
        while (QTcpSocket *tcp = server.nextPendingConnection()) {
            auto *socket = new FramedSocket(tcp, &server);
            auto first = std::make_shared<QMetaObject::Connection>();
            *first = connect(socket, &FramedSocket::frameReceived, this, [&, socket, first](const QByteArray &frame) {
                disconnect(*first); // the responder takes the frames that follow
                if (quint8(frame[0]) == wire::kFederateTag) {
                    ++handshakes;
                    auto *r = new PeerHandshakeResponder(ctx, socket);
                    connect(r, &PeerHandshakeResponder::finished, this, [&](bool ok) { handshakeOk << ok; });
                    r->start(frame);
                } else {
                    ++logins;
                    auto *r = new PeerLoginResponder(ctx, socket);
                    loginResponders.emplace_back(r);
                    connect(r, &PeerLoginResponder::finished, this, [&](bool ok) { loginOk << ok; });
                    r->start(frame);
                }
            });
        }
    });
    PeerConfig b = m_config.peers.front();
    b.port = server.serverPort();

    if (how == u"unknown epoch") {
        (void)m_store->setPeerPending(b.name, 5, b.secret); // a key "b" never made
        (void)m_store->commitPeerPending(b.name);
        PeerLogin login(context(), b, 5, false);
        QSignalSpy dialler(&login, &PeerLogin::finished);
        login.start();
        QTRY_COMPARE_WITH_TIMEOUT(dialler.size(), 1, 5000);
        QVERIFY(!dialler.at(0).at(0).toBool());
        QTRY_COMPARE(loginOk.size(), 1);
        QTest::qWait(2 * config.handshakeTimeoutMs);
        QCOMPARE(loginOk, QList<bool>{false});
        QVERIFY(!store.peer(QStringLiteral("a")));
        return;
    }

    if (how == u"quiet") {
        // A true msg1 of "a", and then nothing: no confirm ever comes.
        noise::HandshakeConfig hc;
        hc.pattern = noise::Pattern::KKpsk0;
        hc.initiator = true;
        hc.prologue = skbp::federatePrologue(QStringLiteral("a"), QStringLiteral("b"), 0);
        hc.localStatic = m_static;
        hc.remoteStatic = b.publicKey;
        hc.psk = b.secret;
        auto hs = noise::HandshakeState::create(std::move(hc));
        QVERIFY(hs.ok());
        QCborMap payload;
        payload.insert(wire::key::broker, QStringLiteral("a"));
        auto msg1 = hs->writeMessage(wire::encodeMessage(payload));
        QVERIFY(msg1.ok());
        auto *tcp = new QTcpSocket;
        FramedSocket quiet(tcp, nullptr);
        QByteArray answer;
        connect(&quiet, &FramedSocket::frameReceived, this, [&](const QByteArray &f) { answer = f; });
        tcp->connectToHost(QHostAddress::LocalHost, b.port);
        QVERIFY(tcp->waitForConnected(5000));
        quiet.send(wire::encodeEnroll1({QStringLiteral("a"), 0, *msg1}, wire::kFederateTag));
        QTRY_VERIFY_WITH_TIMEOUT(!answer.isEmpty(), 5000); // msg2: K_AB' pending at "b"
        QTRY_COMPARE_WITH_TIMEOUT(handshakeOk.size(), 1, 5000); // the responder's deadline
        QTest::qWait(2 * config.handshakeTimeoutMs);
        QCOMPARE(handshakeOk, QList<bool>{false});
        const AccountRecord *a = store.peer(QStringLiteral("a"));
        QVERIFY(a && !a->isEnrolled() && a->pendingEpoch == 1); // pending only: nobody committed it
        return;
    }
    PeerHandshake handshake(context(), b);
    QSignalSpy dialler(&handshake, &PeerHandshake::finished);
    handshake.start();
    QTRY_COMPARE_WITH_TIMEOUT(dialler.size(), 1, 5000);
    QTRY_COMPARE(handshakeOk.size(), 1);
    QTest::qWait(2 * config.handshakeTimeoutMs);
    QCOMPARE(handshakes, 1);
    QCOMPARE(handshakeOk.size(), 1);
    if (how == u"wrong secret") {
        QCOMPARE(handshakeOk.front(), false);
        QVERIFY(!dialler.at(0).at(0).toBool());
        QVERIFY(!store.peer(QStringLiteral("a"))); // nothing, not even pending
        QVERIFY(!log.filter(QStringLiteral("refused")).isEmpty());
        return;
    }
    QCOMPARE(handshakeOk.front(), true);
    QVERIFY2(dialler.at(0).at(0).toBool(), qPrintable(dialler.at(0).at(2).toString()));
    const AccountRecord *a = store.peer(QStringLiteral("a"));
    QVERIFY(a && a->epoch == 1 && a->pendingEpoch == 0);
    QVERIFY(a->key.equals(m_store->peer(b.name)->key)); // the same K_AB on both sides

    PeerLogin login(context(), b, 1, false);
    QSignalSpy loggedIn(&login, &PeerLogin::finished);
    login.start();
    QTRY_COMPARE_WITH_TIMEOUT(loggedIn.size(), 1, 5000);
    QVERIFY2(loggedIn.at(0).at(0).toBool(), qPrintable(loggedIn.at(0).at(1).toString()));
    QTRY_COMPARE(loginOk.size(), 1);
    QCOMPARE(loginOk.front(), true);
    QCOMPARE(logins, 1);
    QVERIFY(loginResponders.front());
    QCOMPARE(loginResponders.front()->step(), PeerLoginResponder::Step::Done);
    QVERIFY(loginResponders.front()->takeChannel().isOpen());
    std::unique_ptr<FramedSocket> diallerSocket(login.takeSocket());
    QTest::qWait(2 * config.handshakeTimeoutMs); // no deadline fires after the end
    QCOMPARE(loginOk.size(), 1);
    QVERIFY(loginResponders.front()->socket()->socket()->state() == QAbstractSocket::ConnectedState);
}

QTEST_GUILESS_MAIN(TestPeerAttempts)
#include "tst_peerattempts.moc"
