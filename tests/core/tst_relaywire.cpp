// The relay's datagrams (PROTOCOL.md §7, §8 trunks): round trips both ways, the kind of every
// datagram, and every wrong size of every kind refused.
#include "core/relaywire.h"
#include "core/relayauth.h"

#include <QTest>

using namespace sotto;
using relaywire::Kind;

Q_DECLARE_METATYPE(relaywire::Kind)

namespace {

QByteArray sid()
{
    return QByteArray::fromHex("00112233445566778899aabbccddeeff");
}

QByteArray token()
{
    return QByteArray::fromHex("f0e1d2c3b4a5968778695a4b3c2d1e0f");
}

// A 12-byte RTP header (V=2, PT 111, seq 0x1234, ts 0x01020304, ssrc 0xcafebabe) and a payload.
QByteArray rtp(QByteArrayView payload = "opus")
{
    return QByteArray::fromHex("80ef123401020304cafebabe") + payload.toByteArray();
}

QByteArray bindBytes()
{
    return QByteArray(1, char(relaywire::kBindTag)) + sid() + QByteArray::fromHex("deadbeef") +
           token();
}

QByteArray bindAckBytes()
{
    return QByteArray(1, char(relaywire::kBindAckTag)) + sid() + QByteArray::fromHex("deadbeef");
}

QByteArray trunkBindBytes()
{
    return QByteArray(1, char(relaywire::kTrunkBindTag)) + sid() + token();
}

QByteArray trunkMediaBytes()
{
    return QByteArray(1, char(relaywire::kTrunkMediaTag)) + sid() + rtp();
}

// Which decoders accept a datagram, as a kind (Malformed when none does).
Kind decodedAs(QByteArrayView d)
{
    const int accepted =
        int(relaywire::decodeBind(d).has_value()) + int(relaywire::decodeBindAck(d).has_value()) +
        int(relaywire::decodeTrunkBind(d).has_value()) +
        int(relaywire::decodeTrunkMedia(d).has_value()) + int(relaywire::rtpSsrc(d).has_value());
    if (accepted != 1)
        return accepted == 0 ? Kind::Malformed : Kind(-1);
    if (relaywire::decodeBind(d))
        return Kind::Bind;
    if (relaywire::decodeBindAck(d))
        return Kind::BindAck;
    if (relaywire::decodeTrunkBind(d))
        return Kind::TrunkBind;
    if (relaywire::decodeTrunkMedia(d))
        return Kind::TrunkMedia;
    return Kind::Rtp;
}

} // namespace

class TestRelayWire : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void sizes();
    void bindRoundTrip();
    void bindAckRoundTrip();
    void trunkBindRoundTrip();
    void trunkMediaRoundTrip();
    void rtpSsrc();
    void classify_data();
    void classify();
    void everyWrongSizeRefused_data();
    void everyWrongSizeRefused();
    void encodersRefuseWrongFields();
    void controlKeysDifferByDirection();
    void provenBindsRoundTrip();
};

void TestRelayWire::sizes()
{
    QCOMPARE(relaywire::kBindSize, 37);
    QCOMPARE(relaywire::kBindAckSize, 21);
    QCOMPARE(relaywire::kTrunkBindSize, 33);
    QCOMPARE(relaywire::kMinTrunkMediaSize, 29);
}

void TestRelayWire::bindRoundTrip()
{
    const QByteArray wire = relaywire::encodeBind({sid(), 0xdeadbeef, token()});
    QCOMPARE(wire.toHex(), bindBytes().toHex());
    const auto b = relaywire::decodeBind(wire);
    QVERIFY(b);
    QCOMPARE(b->sid, sid());
    QCOMPARE(b->ssrc, 0xdeadbeefu);
    QCOMPARE(b->token, token());
    QCOMPARE(relaywire::encodeBind(*b), wire);
}

void TestRelayWire::bindAckRoundTrip()
{
    const QByteArray wire = relaywire::encodeBindAck({sid(), 0xdeadbeef});
    QCOMPARE(wire.toHex(), bindAckBytes().toHex());
    const auto a = relaywire::decodeBindAck(wire);
    QVERIFY(a);
    QCOMPARE(a->sid, sid());
    QCOMPARE(a->ssrc, 0xdeadbeefu);
    QCOMPARE(relaywire::encodeBindAck(*a), wire);
    // The ack repeats the bind's sid and ssrc.
    const auto b = relaywire::decodeBind(bindBytes());
    QCOMPARE(relaywire::encodeBindAck({b->sid, b->ssrc}), wire);
}

void TestRelayWire::trunkBindRoundTrip()
{
    const QByteArray wire = relaywire::encodeTrunkBind({sid(), token()});
    QCOMPARE(wire.toHex(), trunkBindBytes().toHex());
    const auto t = relaywire::decodeTrunkBind(wire);
    QVERIFY(t);
    QCOMPARE(t->sid, sid());
    QCOMPARE(t->token, token());
    QCOMPARE(relaywire::encodeTrunkBind(*t), wire);
}

void TestRelayWire::trunkMediaRoundTrip()
{
    for (const QByteArray &packet : {rtp(""), rtp(), rtp(QByteArray(1200, 'x'))}) {
        const QByteArray wire = relaywire::encodeTrunkMedia(sid(), packet);
        QCOMPARE(wire.size(), 1 + 16 + packet.size());
        const auto m = relaywire::decodeTrunkMedia(wire);
        QVERIFY(m);
        QCOMPARE(m->sid, sid());
        QCOMPARE(m->rtp.toByteArray(), packet);
        QCOMPARE(relaywire::rtpSsrc(m->rtp), std::optional<quint32>(0xcafebabe));
        QCOMPARE(relaywire::encodeTrunkMedia(m->sid, m->rtp), wire);
    }
    QCOMPARE(relaywire::encodeTrunkMedia(sid(), rtp()).toHex(), trunkMediaBytes().toHex());
}

void TestRelayWire::rtpSsrc()
{
    QCOMPARE(relaywire::rtpSsrc(rtp()), std::optional<quint32>(0xcafebabe));
    QCOMPARE(relaywire::rtpSsrc(rtp("")), std::optional<quint32>(0xcafebabe));
    QVERIFY(!relaywire::rtpSsrc(rtp("").chopped(1)));
    for (int first : {0x80, 0x9f, 0xa0, 0xbf}) {
        QByteArray p = rtp();
        p[0] = char(first);
        QVERIFY2(relaywire::isRtp(p), QByteArray::number(first, 16).constData());
    }
    for (int first : {0x00, 0x01, 0x04, 0x40, 0x7f, 0xc0, 0xff}) {
        QByteArray p = rtp();
        p[0] = char(first);
        QVERIFY2(!relaywire::rtpSsrc(p), QByteArray::number(first, 16).constData());
    }
}

void TestRelayWire::classify_data()
{
    QTest::addColumn<QByteArray>("datagram");
    QTest::addColumn<Kind>("kind");
    QTest::newRow("empty") << QByteArray() << Kind::Malformed;
    QTest::newRow("bind") << bindBytes() << Kind::Bind;
    QTest::newRow("bind-ack") << bindAckBytes() << Kind::BindAck;
    QTest::newRow("trunk-bind") << trunkBindBytes() << Kind::TrunkBind;
    QTest::newRow("trunk-media") << trunkMediaBytes() << Kind::TrunkMedia;
    QTest::newRow("trunk-media header only") << trunkMediaBytes().first(29) << Kind::TrunkMedia;
    QTest::newRow("rtp") << rtp() << Kind::Rtp;
    QTest::newRow("rtp header only") << rtp("") << Kind::Rtp;
    QByteArray notRtp = trunkMediaBytes();
    notRtp[17] = char(0x40);
    QTest::newRow("trunk-media carrying no rtp") << notRtp << Kind::Malformed;
    QTest::newRow("unknown tag 0x05") << QByteArray(40, char(0x05)) << Kind::Malformed;
    QTest::newRow("rtp version 3") << QByteArray(40, char(0xc0)) << Kind::Malformed;
    QTest::newRow("rtp version 1") << QByteArray(40, char(0x40)) << Kind::Malformed;
}

void TestRelayWire::classify()
{
    QFETCH(QByteArray, datagram);
    QFETCH(Kind, kind);
    QCOMPARE(relaywire::classify(datagram), kind);
    // Exactly the decoder of its kind accepts it.
    QCOMPARE(decodedAs(datagram), kind);
}

void TestRelayWire::everyWrongSizeRefused_data()
{
    QTest::addColumn<QByteArray>("valid");
    QTest::addColumn<bool>("longerIsValid");
    QTest::newRow("bind") << bindBytes() << false;
    QTest::newRow("bind-ack") << bindAckBytes() << false;
    QTest::newRow("trunk-bind") << trunkBindBytes() << false;
    QTest::newRow("trunk-media") << trunkMediaBytes().first(relaywire::kMinTrunkMediaSize) << true;
    QTest::newRow("rtp") << rtp("") << true;
}

void TestRelayWire::everyWrongSizeRefused()
{
    QFETCH(QByteArray, valid);
    QFETCH(bool, longerIsValid);
    const Kind kind = relaywire::classify(valid);
    QVERIFY(kind != Kind::Malformed);
    // Every truncation, down to the first byte alone.
    for (qsizetype n = 1; n < valid.size(); ++n) {
        const QByteArray cut = valid.first(n);
        QCOMPARE(relaywire::classify(cut), Kind::Malformed);
        QCOMPARE(decodedAs(cut), Kind::Malformed);
    }
    // Every extension by up to a few bytes more than the largest fixed size.
    for (int extra = 1; extra <= 48; ++extra) {
        const QByteArray longer = valid + QByteArray(extra, char(0xaa));
        const Kind expected = longerIsValid ? kind : Kind::Malformed;
        QCOMPARE(relaywire::classify(longer), expected);
        QCOMPARE(decodedAs(longer), expected);
    }
}

void TestRelayWire::encodersRefuseWrongFields()
{
    const QByteArray shortSid = sid().chopped(1);
    const QByteArray longToken = token() + "x";
    QVERIFY(relaywire::encodeBind({shortSid, 1, token()}).isEmpty());
    QVERIFY(relaywire::encodeBind({sid(), 1, longToken}).isEmpty());
    QVERIFY(relaywire::encodeBindAck({shortSid, 1}).isEmpty());
    QVERIFY(relaywire::encodeTrunkBind({sid() + "x", token()}).isEmpty());
    QVERIFY(relaywire::encodeTrunkBind({sid(), QByteArray()}).isEmpty());
    QVERIFY(relaywire::encodeTrunkMedia(shortSid, rtp()).isEmpty());
    QVERIFY(relaywire::encodeTrunkMedia(sid(), rtp("").chopped(1)).isEmpty());
    QVERIFY(relaywire::encodeTrunkMedia(sid(), bindBytes()).isEmpty());
}

// Issue 22 §8: with one MAC key for both directions, a frame the broker sent at seq n, reflected
// back to it, passed for the relay's frame n (and the pool dropped the link and its calls). One
// key per direction: a reflected frame fails its MAC; each side still reads the other's.
void TestRelayWire::controlKeysDifferByDirection()
{
    const QByteArray secret(32, 's'), nr(relayauth::kNonceSize, 'r'), nb(relayauth::kNonceSize, 'b');
    const relayauth::ControlKeys keys = relayauth::controlKeys(secret, nr, nb);
    QVERIFY(!keys.isEmpty());
    QVERIFY(!keys.brokerToRelay.equals(keys.relayToBroker));
    // Both ends derive the same pair; another nonce gives another pair.
    QVERIFY(relayauth::controlKeys(secret, nr, nb).brokerToRelay.equals(keys.brokerToRelay));
    QVERIFY(!relayauth::controlKeys(secret, nr, QByteArray(relayauth::kNonceSize, 'c')).relayToBroker.equals(keys.relayToBroker));
    QCborMap order;
    order.insert(QStringLiteral("t"), QStringLiteral("ping"));
    const QByteArray fromBroker = relayauth::sealFrame(keys.brokerToRelay, 0, order);
    QVERIFY(relayauth::openFrame(keys.brokerToRelay, 0, fromBroker)); // the relay reads it
    QVERIFY(!relayauth::openFrame(keys.relayToBroker, 0, fromBroker)); // reflected to the broker: refused
    const QByteArray fromRelay = relayauth::sealFrame(keys.relayToBroker, 0, order);
    QVERIFY(!relayauth::openFrame(keys.brokerToRelay, 0, fromRelay));
}

void TestRelayWire::provenBindsRoundTrip()
{
    const SecretBytes key = relayauth::grantKey(QByteArray(32, 's'), sid(), 7, token());
    QCOMPARE(key.size(), std::size_t(32));
    QVERIFY(!key.equals(relayauth::grantKey(QByteArray(32, 's'), sid(), 8, token()))); // per SSRC
    const QByteArray wire = relayauth::provenBind(sid(), 7, token(), key, 0x0102030405060708ULL);
    QCOMPARE(wire.size(), relaywire::kProvenBindSize);
    QCOMPARE(relaywire::classify(wire), relaywire::Kind::ProvenBind);
    auto b = relaywire::decodeProvenBind(wire);
    QVERIFY(b);
    QCOMPARE(b->bind.sid, sid());
    QCOMPARE(b->bind.ssrc, 7u);
    QCOMPARE(b->bind.token, token());
    QCOMPARE(b->stamp, 0x0102030405060708ULL);
    QCOMPARE(b->proof, relayauth::bindProof(key, sid(), 7, token(), b->stamp));
    QVERIFY(b->proof != relayauth::bindProof(key, sid(), 7, token(), b->stamp + 1)); // the stamp counts
    QCOMPARE(relaywire::encodeProvenBind(*b), wire);
    QVERIFY(!relaywire::decodeBind(wire));
    QCOMPARE(relaywire::classify(wire.chopped(1)), relaywire::Kind::Malformed);
    const QByteArray trunk = relaywire::encodeProvenTrunkBind({sid(), 9, relayauth::trunkProof(token(), sid(), 9, true)});
    QCOMPARE(relaywire::classify(trunk), relaywire::Kind::ProvenTrunkBind);
    auto t = relaywire::decodeProvenTrunkBind(trunk);
    QVERIFY(t && t->sid == sid() && t->stamp == 9);
    QCOMPARE(relaywire::encodeProvenTrunkBind(*t), trunk);
    QVERIFY(relayauth::freshStamp(1000000, 1000000 + relayauth::kBindWindowMs));
    QVERIFY(!relayauth::freshStamp(1000000, 1000001 + relayauth::kBindWindowMs));
    QVERIFY(!relayauth::freshStamp(~0ULL, 1000000));
}

QTEST_GUILESS_MAIN(TestRelayWire)
#include "tst_relaywire.moc"
