#include "core/wire.h"

#include <QCborArray>
#include <QCborMap>
#include <QTest>

using namespace sotto;

class TestWire : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void frameRoundTrip();
    void frameReaderSplitsAndJoins();
    void frameReaderRejectsZeroLength();
    void openingFramesRejectBadInput_data();
    void openingFramesRejectBadInput();
    void messageRoundTripBothDirections();
    void messageRejects_data();
    void messageRejects();
    void cleartextError();
};

void TestWire::frameRoundTrip()
{
    QCOMPARE(wire::frame("abc").toHex(), QByteArray("0003616263"));
    QVERIFY(wire::frame("").isEmpty());
    QVERIFY(wire::frame(QByteArray(65536, 'x')).isEmpty());
    QCOMPARE(wire::frame(QByteArray(65535, 'x')).size(), 65537);
}

void TestWire::frameReaderSplitsAndJoins()
{
    wire::FrameReader r;
    const QByteArray stream = wire::frame("one") + wire::frame("two") + wire::frame(QByteArray(300, 'z'));
    // Byte by byte: frames come out whole, never early.
    QList<QByteArray> got;
    for (char c : stream) {
        r.append(QByteArrayView(&c, 1));
        while (auto n = r.next()) {
            QVERIFY(n->ok());
            got.append(n->value());
        }
    }
    QCOMPARE(got.size(), 3);
    QCOMPARE(got[0], QByteArray("one"));
    QCOMPARE(got[2], QByteArray(300, 'z'));
    QVERIFY(!r.hasPartialFrame());
    r.append(QByteArray::fromHex("0005aa"));
    QVERIFY(!r.next());
    QVERIFY(r.hasPartialFrame());
}

void TestWire::frameReaderRejectsZeroLength()
{
    wire::FrameReader r;
    r.append(QByteArray::fromHex("0000"));
    auto n = r.next();
    QVERIFY(n.has_value());
    QVERIFY(!n->ok());
    QCOMPARE(n->error().code, ErrorCode::BadRequest);
}

void TestWire::openingFramesRejectBadInput_data()
{
    QTest::addColumn<QByteArray>("body");
    QTest::newRow("empty") << QByteArray();
    QTest::newRow("tag only") << QByteArray("\x02", 1);
    QTest::newRow("wrong tag") << QByteArray::fromHex("0305616c69636500000001a0a1a2a3a4a5a6a7a8a9aaabacadaeaf");
    QTest::newRow("account too long for frame") << QByteArray::fromHex("0240616c696365");
    QTest::newRow("short nonce") << QByteArray::fromHex("0205616c69636500000001a0a1a2");
    QTest::newRow("long nonce") << QByteArray::fromHex("0205616c69636500000001a0a1a2a3a4a5a6a7a8a9aaabacadaeafff");
    QTest::newRow("uppercase account") << QByteArray::fromHex("0205416c69636500000001a0a1a2a3a4a5a6a7a8a9aaabacadaeaf");
    QTest::newRow("empty account") << QByteArray::fromHex("020000000001a0a1a2a3a4a5a6a7a8a9aaabacadaeaf");
}

void TestWire::openingFramesRejectBadInput()
{
    QFETCH(QByteArray, body);
    QVERIFY(!wire::decodeHello(body).ok());
    QVERIFY(!wire::decodeEnroll1(body).ok());
    QVERIFY(!wire::decodeChallenge(body).ok());
}

void TestWire::messageRoundTripBothDirections()
{
    // Client → broker and broker → client messages survive encode → decode unchanged.
    QCborMap call = wire::message(QLatin1StringView("call"));
    call.insert(QLatin1StringView("id"), 3);
    call.insert(QLatin1StringView("to"), QStringLiteral("bob"));
    QCborMap relay;
    relay.insert(QLatin1StringView("port"), 7420);
    relay.insert(QLatin1StringView("token"), QByteArray(16, 't'));
    QCborMap peer;
    peer.insert(QLatin1StringView("account"), QStringLiteral("alice"));
    peer.insert(QLatin1StringView("ssrc"), qint64(0xfffffffe));
    QCborMap incoming = wire::message(QLatin1StringView("incoming"));
    incoming.insert(QLatin1StringView("sid"), QByteArray(16, 's'));
    incoming.insert(QLatin1StringView("from"), QStringLiteral("alice"));
    incoming.insert(QLatin1StringView("epoch"), 5);
    incoming.insert(QLatin1StringView("gen"), 0);
    incoming.insert(QLatin1StringView("ssrc"), 42);
    incoming.insert(QLatin1StringView("peers"), QCborArray{peer});
    incoming.insert(QLatin1StringView("relay"), relay);
    for (const QCborMap &m : {call, incoming}) {
        const QByteArray enc = wire::encodeMessage(m);
        auto d = wire::decodeMessage(enc);
        QVERIFY2(d.ok(), d.ok() ? "" : qPrintable(d.error().message));
        QCOMPARE(d->map(), m);
        QCOMPARE(wire::encodeMessage(d->map()), enc);
    }
    auto d = wire::decodeMessage(wire::encodeMessage(incoming));
    QCOMPARE(d->u32(QLatin1StringView("epoch")), 5u);
    QCOMPARE(d->text(QLatin1StringView("from")), QStringLiteral("alice"));
    // Unknown keys are ignored.
    call.insert(QLatin1StringView("future"), QStringLiteral("x"));
    QVERIFY(wire::decodeMessage(wire::encodeMessage(call)).ok());
}

void TestWire::messageRejects_data()
{
    QTest::addColumn<QByteArray>("body");
    auto enc = [](std::initializer_list<std::pair<const char *, QCborValue>> kv) {
        QCborMap m;
        for (const auto &[k, v] : kv)
            m.insert(QLatin1StringView(k), v);
        return wire::encodeMessage(m);
    };
    QTest::newRow("garbage") << QByteArray("\xff\xfe\x00garbage", 10);
    QTest::newRow("truncated map") << enc({{"t", QStringLiteral("call")}, {"to", QStringLiteral("bob")}}).chopped(2);
    QTest::newRow("trailing bytes") << enc({{"t", QStringLiteral("directory")}}) + QByteArray("\x01", 1);
    QTest::newRow("array, not map") << QCborValue(QCborArray{1, 2}).toCbor();
    QTest::newRow("no t") << enc({{"to", QStringLiteral("bob")}});
    QTest::newRow("t not text") << enc({{"t", 5}});
    QTest::newRow("unknown t") << enc({{"t", QStringLiteral("launch")}});
    QTest::newRow("to is int") << enc({{"t", QStringLiteral("call")}, {"to", 5}});
    QTest::newRow("to missing") << enc({{"t", QStringLiteral("call")}});
    QTest::newRow("bad account") << enc({{"t", QStringLiteral("call")}, {"to", QStringLiteral("Bob!")}});
    QTest::newRow("negative id") << enc({{"t", QStringLiteral("call")}, {"id", -1}, {"to", QStringLiteral("bob")}});
    QTest::newRow("huge id") << enc({{"t", QStringLiteral("call")}, {"id", qint64(1) << 33}, {"to", QStringLiteral("bob")}});
    QTest::newRow("short sid") << enc({{"t", QStringLiteral("leave")}, {"sid", QByteArray(15, 's')}});
    QTest::newRow("sid as text") << enc({{"t", QStringLiteral("leave")}, {"sid", QStringLiteral("0123456789abcdef")}});
    QTest::newRow("short proof") << enc({{"t", QStringLiteral("rotate_ack")}, {"epoch", 3}, {"proof", QByteArray(31, 'p')}});
    QTest::newRow("empty") << QByteArray();
}

void TestWire::messageRejects()
{
    QFETCH(QByteArray, body);
    auto d = wire::decodeMessage(body);
    QVERIFY(!d.ok());
    QCOMPARE(d.error().code, ErrorCode::BadRequest);
}

void TestWire::cleartextError()
{
    const QByteArray body = wire::encodeCleartextError(ErrorCode::Auth, QStringLiteral("nope"));
    QCOMPARE(quint8(body[0]), quint8(0xEE));
    auto e = wire::decodeCleartextError(body);
    QVERIFY(e.has_value());
    QCOMPARE(e->code, ErrorCode::Auth);
    QVERIFY(!wire::decodeCleartextError(body.sliced(1)).has_value());
}

QTEST_GUILESS_MAIN(TestWire)
#include "tst_wire.moc"
