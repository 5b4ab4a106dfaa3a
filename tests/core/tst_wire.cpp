#include "core/wire.h"

#include <QCborArray>
#include <QCborMap>
#include <QSet>
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
    void everyTypeIsNamedOnce();
    void buildersWriteTheirGrammar_data();
    void buildersWriteTheirGrammar();
    void validateMessageIsDecodeWithoutTheBytes();
    void endReasonsKeepTheirWireNames();
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
    QCborMap call = wire::message(wire::MessageType::Call);
    call.insert(QLatin1StringView("id"), 3);
    call.insert(QLatin1StringView("to"), QStringLiteral("bob"));
    QCborMap relay;
    relay.insert(QLatin1StringView("port"), 7420);
    relay.insert(QLatin1StringView("token"), QByteArray(16, 't'));
    QCborMap peer;
    peer.insert(QLatin1StringView("account"), QStringLiteral("alice"));
    peer.insert(QLatin1StringView("ssrc"), qint64(0xfffffffe));
    QCborMap incoming = wire::message(wire::MessageType::Incoming);
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

void TestWire::everyTypeIsNamedOnce()
{
    // The X-macro gives each type one wire name, and the name gives the type back; a message of
    // every type with none of its fields fails on a field of its own schema, never as unknown.
    QSet<QString> names;
    for (int i = 0; i < wire::kMessageTypeCount; ++i) {
        const auto type = wire::MessageType(i);
        const QString name = wire::messageTypeName(type);
        QVERIFY2(!name.isEmpty() && !names.contains(name), qPrintable(name));
        names.insert(name);
        QCOMPARE(wire::messageTypeFromName(name), std::optional(type));
        QVERIFY(!wire::isUnknownType(wire::encodeMessage(wire::message(type))));
        auto bare = wire::decodeMessage(wire::encodeMessage(wire::message(type)));
        if (!bare)
            QVERIFY2(!bare.error().message.contains(QLatin1StringView("unknown")), qPrintable(bare.error().message));
        else
            QCOMPARE(bare->type(), type);
    }
    QCOMPARE(int(names.size()), 34); // PROTOCOL.md §6, §8 and our extensions: ringing, mute, muted, resume
    QCOMPARE(wire::messageTypeFromName(u"launch"), std::nullopt);
    QCOMPARE(wire::messageTypeFromName(u"Call"), std::nullopt); // names are exact
    QVERIFY(wire::isUnknownType(wire::encodeMessage(QCborMap{{QStringLiteral("t"), QStringLiteral("launch")}})));
}

void TestWire::buildersWriteTheirGrammar_data()
{
    QTest::addColumn<QCborMap>("built");
    QTest::addColumn<QCborMap>("expected"); // written out by hand, as PROTOCOL.md §6.2 shows it
    const QByteArray sid(16, 's');
    const QByteArray wrapped(65, 'w');
    auto map = [](std::initializer_list<std::pair<const char *, QCborValue>> kv) {
        QCborMap m;
        for (const auto &[k, v] : kv)
            m.insert(QLatin1StringView(k), v);
        return m;
    };
    const QCborMap relay = map({{"port", 7420}, {"token", QByteArray(16, 't')}});
    const QCborArray peers{map({{"account", QStringLiteral("alice")}, {"ssrc", 7}})};
    QCOMPARE(wire::relayGrant(7420, QByteArray(16, 't')), relay);
    QCOMPARE(wire::peerEntry(QStringLiteral("alice"), 7), peers.at(0).toMap());

    QTest::newRow("call_key") << wire::callKey({.id = 9, .sid = sid, .callee = QStringLiteral("bob"), .epoch = 3, .gen = 0,
                                                .wrapped = wrapped, .ssrc = 7, .relay = relay, .via = {}})
                              << map({{"t", QStringLiteral("call_key")}, {"id", 9}, {"sid", sid}, {"callee", QStringLiteral("bob")},
                                      {"epoch", 3}, {"gen", 0}, {"wrapped", wrapped}, {"ssrc", 7}, {"relay", relay}});
    QTest::newRow("call_key via") << wire::callKey({.id = std::nullopt, .sid = sid, .callee = QStringLiteral("dave@b"), .epoch = 1,
                                                    .gen = 0, .wrapped = wrapped, .ssrc = 7, .relay = relay, .via = QStringLiteral("b")})
                                  << map({{"t", QStringLiteral("call_key")}, {"sid", sid}, {"callee", QStringLiteral("dave@b")},
                                          {"epoch", 1}, {"gen", 0}, {"wrapped", wrapped}, {"ssrc", 7}, {"relay", relay},
                                          {"via", QStringLiteral("b")}});
    QTest::newRow("incoming") << wire::incoming({.sid = sid, .from = QStringLiteral("alice"), .epoch = 3, .gen = 0, .ssrc = 8,
                                                 .peers = peers, .relay = relay})
                              << map({{"t", QStringLiteral("incoming")}, {"sid", sid}, {"from", QStringLiteral("alice")}, {"epoch", 3},
                                      {"gen", 0}, {"ssrc", 8}, {"peers", peers}, {"relay", relay}});
    QTest::newRow("incoming, invited") << wire::incoming({.sid = sid, .from = QStringLiteral("alice"), .epoch = std::nullopt, .gen = 2,
                                                          .ssrc = 8, .peers = peers, .relay = relay})
                                       << map({{"t", QStringLiteral("incoming")}, {"sid", sid}, {"from", QStringLiteral("alice")},
                                               {"gen", 2}, {"ssrc", 8}, {"peers", peers}, {"relay", relay}});
    QTest::newRow("session_key") << wire::sessionKey(sid, 4, wrapped, peers)
                                 << map({{"t", QStringLiteral("session_key")}, {"sid", sid}, {"gen", 4}, {"wrapped", wrapped}, {"peers", peers}});
    QTest::newRow("rekey") << wire::rekey(sid, 5, wrapped)
                           << map({{"t", QStringLiteral("rekey")}, {"sid", sid}, {"gen", 5}, {"wrapped", wrapped}});
    QTest::newRow("left") << wire::left(sid, QStringLiteral("carol"))
                          << map({{"t", QStringLiteral("left")}, {"sid", sid}, {"who", QStringLiteral("carol")}});
    QTest::newRow("left, re-keyed") << wire::left(sid, QStringLiteral("carol"), 5)
                                    << map({{"t", QStringLiteral("left")}, {"sid", sid}, {"who", QStringLiteral("carol")}, {"gen", 5}});
    QTest::newRow("ended") << wire::ended(sid, EndReason::NoAnswer)
                           << map({{"t", QStringLiteral("ended")}, {"sid", sid}, {"reason", QStringLiteral("no answer")}});
    QTest::newRow("rotate") << wire::rotate(8, wrapped) << map({{"t", QStringLiteral("rotate")}, {"epoch", 8}, {"wrapped", wrapped}});
    QTest::newRow("ringing") << wire::ringing(sid, QStringLiteral("carol"))
                             << map({{"t", QStringLiteral("ringing")}, {"sid", sid}, {"who", QStringLiteral("carol")}});
    QTest::newRow("muted") << wire::muted(sid, QStringLiteral("carol"), true)
                           << map({{"t", QStringLiteral("muted")}, {"sid", sid}, {"who", QStringLiteral("carol")}, {"muted", true}});
    QTest::newRow("leave") << wire::aboutSession(wire::MessageType::Leave, sid) << map({{"t", QStringLiteral("leave")}, {"sid", sid}});
}

void TestWire::buildersWriteTheirGrammar()
{
    QFETCH(QCborMap, built);
    QFETCH(QCborMap, expected);
    QCOMPARE(built, expected);
    QCOMPARE(wire::encodeMessage(built), wire::encodeMessage(expected)); // the same bytes, in the same order
    auto d = wire::decodeMessage(wire::encodeMessage(built));
    QVERIFY2(d.ok(), d.ok() ? "" : qPrintable(d.error().message));
    QCOMPARE(d->typeName(), expected.value(QLatin1StringView("t")).toString());
}

void TestWire::validateMessageIsDecodeWithoutTheBytes()
{
    // A message inside another (deliver, request) is checked as a map: the same verdicts as
    // decodeMessage on its bytes.
    const QByteArray sid(16, 's');
    const QCborMap good = wire::aboutSession(wire::MessageType::Answer, sid);
    QCborMap shortSid = good;
    shortSid.insert(QLatin1StringView("sid"), QByteArray(15, 's'));
    QCborMap noType = good;
    noType.remove(QLatin1StringView("t"));
    QCborMap unknown = good;
    unknown.insert(QLatin1StringView("t"), QStringLiteral("launch"));
    for (const QCborMap &m : {good, shortSid, noType, unknown}) {
        auto viaBytes = wire::decodeMessage(wire::encodeMessage(m));
        auto direct = wire::validateMessage(m);
        QCOMPARE(direct.ok(), viaBytes.ok());
        if (!direct)
            QCOMPARE(direct.error().message, viaBytes.error().message);
        else
            QCOMPARE(direct->map(), viaBytes->map());
    }
    QCOMPARE(wire::validateMessage(good)->type(), wire::MessageType::Answer);
}

void TestWire::endReasonsKeepTheirWireNames()
{
    const std::pair<EndReason, const char *> rows[] = {
        {EndReason::Declined, "declined"}, {EndReason::NoAnswer, "no answer"}, {EndReason::Hangup, "hangup"},
        {EndReason::Cancelled, "cancelled"}, {EndReason::Disconnected, "disconnected"}, {EndReason::Revoked, "revoked"},
        {EndReason::Failed, "failed"},
    };
    for (const auto &[reason, name] : rows) {
        QCOMPARE(endReasonName(reason), QLatin1StringView(name));
        QCOMPARE(endReasonFromName(QString::fromLatin1(name)), std::optional(reason));
    }
    QCOMPARE(endReasonFromName(u"exploded"), std::nullopt); // a newer broker's: the phone shows Failed
}

QTEST_GUILESS_MAIN(TestWire)
#include "tst_wire.moc"
