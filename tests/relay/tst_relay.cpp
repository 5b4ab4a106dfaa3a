// The UDP relay with raw sockets: binding, forwarding to the other bound members only, and
// garbage, unbound, spoofed and over-rate packets dropped and counted while the call goes on.
#include "audio/rtp.h"
#include "core/relayauth.h"
#include "core/relaywire.h"
#include "support/fixtures.h"

#include <QDeadlineTimer>
#include <QNetworkDatagram>
#include <QStandardPaths>
#include <QDateTime>
#include <QTest>
#include <QUdpSocket>
#include <QtEndian>

using namespace sotto;
using namespace sotto::test;

namespace {

struct RawMember
{
    QUdpSocket socket;
    QByteArray sid;
    quint32 ssrc = 0;
    QByteArray token;
    quint16 relayPort = 0;

    RawMember() { socket.bind(QHostAddress::LocalHost, 0); }
    void send(const QByteArray &d) { socket.writeDatagram(d, QHostAddress::LocalHost, relayPort); }
    SecretBytes key; // the grant's key, proven in every bind
    quint64 stamp = 0;
    QByteArray bindPacket(const QByteArray &withToken)
    {
        stamp = std::max<quint64>(stamp + 1, quint64(QDateTime::currentMSecsSinceEpoch()));
        return relayauth::provenBind(sid, ssrc, withToken, key, stamp);
    }
    QByteArray rtp(quint16 seq, quint32 asSsrc = 0) const
    {
        audio::RtpPacket p;
        p.seq = seq;
        p.ssrc = asSsrc ? asSsrc : ssrc;
        p.payload = QByteArray(40, char(seq));
        return audio::encodeRtp(p);
    }
    // Waits until `count` datagrams are here (or 3 s), then a little longer for any extra.
    std::vector<QByteArray> receive(int count)
    {
        std::vector<QByteArray> got;
        QDeadlineTimer deadline(3000);
        while (int(got.size()) < count && !deadline.hasExpired()) {
            if (!socket.hasPendingDatagrams())
                QTest::qWait(5);
            while (socket.hasPendingDatagrams())
                got.push_back(socket.receiveDatagram().data());
        }
        for (const QByteArray &extra : drain(50))
            got.push_back(extra);
        return got;
    }
    // What arrives within waitMs: for checking that nothing (more) does.
    std::vector<QByteArray> drain(int waitMs = 200)
    {
        std::vector<QByteArray> got;
        QTest::qWait(waitMs);
        while (socket.hasPendingDatagrams())
            got.push_back(socket.receiveDatagram().data());
        return got;
    }
};

} // namespace

class TestRelay : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void initTestCase() { QStandardPaths::setTestModeEnabled(true); }
    void bindForwardAndDrop();
    void endpointsGoWithTheirSessions();
};

void TestRelay::bindForwardAndDrop()
{
    TestBroker broker;
    TestPhone alice(QStringLiteral("alice")), bob(QStringLiteral("bob"));
    QVERIFY(enrolAndLogin(broker, alice));
    QVERIFY(enrolAndLogin(broker, bob));
    const QByteArray sid = establishCall(alice, bob);
    QVERIFY(!sid.isEmpty());
    RawMember a, b, stranger;
    for (auto [raw, phone] : {std::pair{&a, &alice}, std::pair{&b, &bob}}) {
        const auto info = *phone->engine().session(sid);
        raw->sid = sid;
        raw->ssrc = info.ownSsrc;
        raw->token = info.relayToken;
        raw->key = phone->engine().relayGrantKey(sid);
        raw->relayPort = info.relayPort;
    }
    stranger.relayPort = a.relayPort;
    stranger.sid = sid;
    stranger.ssrc = a.ssrc;
    stranger.key = SecretBytes::copyOf(QByteArray(32, 'x')); // not the grant's

    // Before binding nothing is forwarded.
    a.send(a.rtp(1));
    QVERIFY(b.drain().empty());
    QTRY_VERIFY(broker.broker().relayCounters().droppedUnbound >= 1);

    // A wrong token does not bind (and is not acknowledged).
    stranger.send(stranger.bindPacket(QByteArray(16, 'x')));
    QVERIFY(stranger.drain().empty());
    QTRY_VERIFY(broker.broker().relayCounters().droppedBadToken >= 1);

    // Bind both; each gets a bind-ack with its sid and SSRC.
    a.send(a.bindPacket(a.token));
    b.send(b.bindPacket(b.token));
    const auto ackA = a.receive(1);
    QCOMPARE(int(ackA.size()), 1);
    const auto ack = relaywire::decodeBindAck(ackA.front());
    QVERIFY(ack);
    QCOMPARE(ack->sid, sid);
    QCOMPARE(ack->ssrc, a.ssrc);
    QCOMPARE(int(b.receive(1).size()), 1);

    // Forwarded as is (the relay never decrypts or changes a byte), to the others only.
    const QByteArray p = a.rtp(2);
    a.send(p);
    const auto atB = b.receive(1);
    QCOMPARE(int(atB.size()), 1);
    QCOMPARE(atB.front(), p);
    QVERIFY(a.drain(50).empty());

    // Garbage, short RTP, and a bound address sending someone else's SSRC: dropped, counted.
    const auto before = broker.broker().relayCounters();
    a.send(QByteArray("\x17garbage", 8));
    a.send(QByteArray("\x80\x6f", 2));
    a.send(a.bindPacket(a.token).left(20));
    a.send(a.rtp(3, b.ssrc));
    stranger.send(a.rtp(4)); // right SSRC, wrong address: unbound
    QTRY_COMPARE(broker.broker().relayCounters().droppedMalformed - before.droppedMalformed, 3u);
    QTRY_COMPARE(broker.broker().relayCounters().droppedUnbound - before.droppedUnbound, 2u);
    QVERIFY(b.drain().empty());
    const auto after = broker.broker().relayCounters();
    QCOMPARE(after.droppedMalformed - before.droppedMalformed, 3u);
    QCOMPARE(after.droppedUnbound - before.droppedUnbound, 2u);

    // A flood is cut to the rate limit; the call itself carries on. Sent in bursts the socket
    // buffers can hold, so that what is dropped is dropped by the relay, not by the kernel.
    for (int i = 0; i < 2000; ++i) {
        a.send(a.rtp(quint16(100 + i)));
        if (i % 100 == 99)
            QTest::qWait(2);
    }
    const auto flooded = b.drain(500);
    QVERIFY2(flooded.size() < 600, qPrintable(QString::number(flooded.size())));
    QTRY_VERIFY(broker.broker().relayCounters().droppedRate > 500);
    QTest::qWait(1100); // the bucket refills
    a.send(a.rtp(5000));
    QCOMPARE(int(b.receive(1).size()), 1);

    // When the call ends the session is gone from the relay.
    alice.engine().leave(sid);
    QTest::qWait(200);
    b.send(b.rtp(7));
    QVERIFY(a.drain().empty());
}

// The relay's memory follows the live sessions: the address a member bound from is forgotten
// with the member or its session (before: an entry per source address:port, never freed), and a
// member holds one address at a time however often it binds from new ports.
void TestRelay::endpointsGoWithTheirSessions()
{
    relay::RelayTable table;
    relay::Relay relay(table);
    const quint16 port = freePort();
    QVERIFY(relay.start(QHostAddress::LocalHost, port));
    auto session = [](int i) { return QByteArray(15, char(i / 250)) + char(i % 250); };
    std::vector<std::unique_ptr<RawMember>> members;
    for (int i = 0; i < 100; ++i) { // 100 sessions of two
        for (quint32 ssrc : {1u, 2u}) {
            auto m = std::make_unique<RawMember>();
            m->sid = session(i);
            m->ssrc = ssrc;
            m->token = QByteArray(16, char('a' + ssrc));
            m->relayPort = port;
            m->key = SecretBytes::copyOf(QByteArray(32, char('k' + ssrc)));
            table.addMember(m->sid, m->ssrc, m->token, m->key);
            m->send(m->bindPacket(m->token));
            members.push_back(std::move(m));
        }
    }
    QTRY_COMPARE(table.endpointCount(), std::size_t(200));
    for (int i = 0; i < 50; ++i)
        table.endSession(session(i));
    QCOMPARE(table.endpointCount(), std::size_t(100));
    for (int i = 50; i < 100; ++i)
        table.removeMember(session(i), 1);
    QCOMPARE(table.endpointCount(), std::size_t(50));
    // One member binding again and again from new ports keeps one endpoint.
    const QByteArray sid = session(99);
    // One member: its stamps grow across its new ports (and past its first bind above).
    quint64 stamp = quint64(QDateTime::currentMSecsSinceEpoch()) + 1000;
    for (int i = 0; i < 30; ++i) {
        RawMember roaming;
        roaming.stamp = stamp;
        roaming.sid = sid;
        roaming.ssrc = 2;
        roaming.token = QByteArray(16, char('a' + 2));
        roaming.key = SecretBytes::copyOf(QByteArray(32, char('k' + 2)));
        roaming.relayPort = port;
        roaming.send(roaming.bindPacket(roaming.token));
        stamp = roaming.stamp;
        QVERIFY(!roaming.receive(1).empty()); // acknowledged
    }
    QCOMPARE(table.endpointCount(), std::size_t(50));
    for (int i = 50; i < 100; ++i)
        table.endSession(session(i));
    QCOMPARE(table.endpointCount(), std::size_t(0));
    // Packets from the forgotten addresses are unbound now.
    const auto before = relay.counters().droppedUnbound;
    members.front()->send(members.front()->rtp(1));
    QTRY_VERIFY(relay.counters().droppedUnbound > before);
    relay.stop();
}

QTEST_GUILESS_MAIN(TestRelay)
#include "tst_relay.moc"
