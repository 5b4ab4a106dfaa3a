// Every value in ../shared/vectors/skbp-v1.json, each a named row.
#include "core/channel.h"
#include "core/crypto.h"
#include "core/noise.h"
#include "core/skbp.h"
#include "core/wire.h"
#include "support/vectors.h"

#include <QCborMap>
#include <QJsonArray>
#include <QTest>

using namespace sotto;
using namespace sotto::test;

namespace {
QJsonObject vec(const char *name)
{
    static const QJsonObject all =
        loadVectors(QStringLiteral("skbp-v1.json")).value(QLatin1StringView("vectors")).toObject();
    return all.value(QLatin1StringView(name)).toObject();
}
QJsonValue f(const QJsonObject &o, const char *k)
{
    return o.value(QLatin1StringView(k));
}
QByteArray bytes(const Result<SecretBytes> &r)
{
    return r.ok() ? r->view().toByteArray() : QByteArray("<error>");
}
} // namespace

class TestSkbp : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void enroll_data();
    void enroll();
    void fingerprint();
    void login();
    void call();
    void federatedCall();
    void conference();
    void srtp_data();
    void srtp();
    void rotate();
    void cbor();
    void unwrapRefusesWrongContext();
    void addresses();
};

void TestSkbp::enroll_data()
{
    QTest::addColumn<QJsonObject>("v");
    QTest::newRow("enroll_first") << vec("enroll_first");
    QTest::newRow("enroll_refresh") << vec("enroll_refresh");
}

void TestSkbp::enroll()
{
    QFETCH(QJsonObject, v);
    QVERIFY(!v.isEmpty());
    const QString account = f(v, "account").toString();
    const quint32 epoch = quint32(f(v, "epoch").toInt());
    QCOMPARE(skbp::enrollPrologue(account, epoch).toHex(), hex(f(v, "prologue")).toHex());

    QCborMap device;
    device.insert(QLatin1StringView("device"), QStringLiteral("sotto/0.1 test"));
    QCOMPARE(wire::encodeMessage(device).toHex(), hex(f(v, "msg1_payload")).toHex());
    QCborMap epochMap;
    epochMap.insert(QLatin1StringView("epoch"), epoch + 1);
    QCOMPARE(wire::encodeMessage(epochMap).toHex(), hex(f(v, "msg2_payload")).toHex());

    noise::HandshakeConfig ic;
    ic.pattern = noise::Pattern::NKpsk0;
    ic.prologue = skbp::enrollPrologue(account, epoch);
    ic.remoteStatic = hex(f(v, "broker_static_public"));
    ic.psk = secretHex(f(v, "psk"));
    ic.fixedEphemeral = secretHex(f(v, "client_ephemeral_private"));
    noise::HandshakeConfig rc;
    rc.pattern = noise::Pattern::NKpsk0;
    rc.initiator = false;
    rc.prologue = ic.prologue;
    rc.localStatic = secretHex(f(v, "broker_static_private"));
    rc.psk = secretHex(f(v, "psk"));
    rc.fixedEphemeral = secretHex(f(v, "broker_ephemeral_private"));
    auto client = noise::HandshakeState::create(std::move(ic));
    auto broker = noise::HandshakeState::create(std::move(rc));
    QVERIFY(client.ok() && broker.ok());

    auto m1 = client->writeMessage(hex(f(v, "msg1_payload")));
    QVERIFY(m1.ok());
    const QByteArray frame1 = wire::encodeEnroll1({account, epoch, *m1});
    QCOMPARE(frame1.toHex(), hex(f(v, "frame1")).toHex());
    auto d1 = wire::decodeEnroll1(frame1);
    QVERIFY(d1.ok());
    QCOMPARE(d1->account, account);
    QCOMPARE(d1->epoch, epoch);
    auto p1 = broker->readMessage(d1->noiseMessage);
    QVERIFY(p1.ok());
    QCOMPARE(p1->toHex(), hex(f(v, "msg1_payload")).toHex());

    auto m2 = broker->writeMessage(hex(f(v, "msg2_payload")));
    QVERIFY(m2.ok());
    const QByteArray frame2 = wire::encodeEnroll2(*m2);
    QCOMPARE(frame2.toHex(), hex(f(v, "frame2")).toHex());
    auto d2 = wire::decodeEnroll2(frame2);
    QVERIFY(d2.ok());
    QVERIFY(client->readMessage(*d2).ok());

    QCOMPARE(client->handshakeHash().toHex(), hex(f(v, "handshake_hash")).toHex());
    auto [ci2r, cr2i] = client->split();
    auto [bi2r, br2i] = broker->split();
    QCOMPARE(ci2r.key().view().toByteArray().toHex(), hex(f(v, "k_i2r")).toHex());
    QCOMPARE(cr2i.key().view().toByteArray().toHex(), hex(f(v, "k_r2i")).toHex());
    QCOMPARE(bytes(skbp::brokerKey(client->handshakeHash(), ci2r.key(), cr2i.key())).toHex(),
             hex(f(v, "broker_key")).toHex());

    SecureChannel clientChannel(ci2r, cr2i);
    SecureChannel brokerChannel(br2i, bi2r);
    auto frame3 = clientChannel.seal(wire::message(wire::MessageType::Confirm));
    QVERIFY(frame3.ok());
    QCOMPARE(frame3->toHex(), hex(f(v, "frame3")).toHex());
    auto confirm = brokerChannel.open(*frame3);
    QVERIFY(confirm.ok());
    QCOMPARE(confirm->typeName(), QStringLiteral("confirm"));
    QCborMap enrolled = wire::message(wire::MessageType::Enrolled);
    enrolled.insert(QLatin1StringView("epoch"), epoch + 1);
    QCOMPARE(wire::encodeMessage(enrolled).toHex(), hex(f(v, "msg4_payload")).toHex());
    auto frame4 = brokerChannel.seal(enrolled);
    QVERIFY(frame4.ok());
    QCOMPARE(frame4->toHex(), hex(f(v, "frame4")).toHex());
    auto got = clientChannel.open(*frame4);
    QVERIFY(got.ok());
    QCOMPARE(got->u32(QLatin1StringView("epoch")), epoch + 1);
}

void TestSkbp::fingerprint()
{
    const QJsonObject v = vec("fingerprint");
    QCOMPARE(skbp::fingerprint(hex(f(v, "input"))), f(v, "fp").toString());
}

void TestSkbp::login()
{
    const QJsonObject v = vec("login");
    const QString account = f(v, "account").toString();
    const quint32 epoch = quint32(f(v, "epoch").toInt());
    const QByteArray hello = wire::encodeHello({account, epoch, hex(f(v, "n_c"))});
    QCOMPARE(hello.toHex(), hex(f(v, "frame_hello")).toHex());
    auto dh = wire::decodeHello(hello);
    QVERIFY(dh.ok());
    QCOMPARE(dh->nonce, hex(f(v, "n_c")));
    const QByteArray challenge = wire::encodeChallenge(hex(f(v, "n_b")));
    QCOMPARE(challenge.toHex(), hex(f(v, "frame_challenge")).toHex());
    QCOMPARE(*wire::decodeChallenge(challenge), hex(f(v, "n_b")));

    auto keys = skbp::channelKeys(secretHex(f(v, "broker_key")), account, epoch, hex(f(v, "n_c")),
                                  hex(f(v, "n_b")));
    QVERIFY(keys.ok());
    QCOMPARE(keys->clientToBroker.view().toByteArray().toHex(), hex(f(v, "k_c2b")).toHex());
    QCOMPARE(keys->brokerToClient.view().toByteArray().toHex(), hex(f(v, "k_b2c")).toHex());

    SecureChannel client{noise::CipherState(keys->clientToBroker), noise::CipherState(keys->brokerToClient)};
    SecureChannel broker{noise::CipherState(keys->brokerToClient), noise::CipherState(keys->clientToBroker)};
    for (const QJsonValue &fr : f(v, "client_frames").toArray()) {
        const QByteArray pt = hex(fr.toObject().value(QLatin1StringView("plaintext")));
        auto decoded = wire::decodeMessage(pt);
        QVERIFY(decoded.ok());
        QCOMPARE(wire::encodeMessage(decoded->map()).toHex(), pt.toHex());
        auto sealed = client.seal(decoded->map());
        QVERIFY(sealed.ok());
        QCOMPARE(sealed->toHex(), hex(fr.toObject().value(QLatin1StringView("frame"))).toHex());
        auto opened = broker.open(*sealed);
        QVERIFY(opened.ok());
        QCOMPARE(opened->type(), decoded->type());
    }
    for (const QJsonValue &fr : f(v, "broker_frames").toArray()) {
        const QByteArray pt = hex(fr.toObject().value(QLatin1StringView("plaintext")));
        QCborMap welcome = wire::message(wire::MessageType::Welcome);
        welcome.insert(QLatin1StringView("epoch"), epoch);
        welcome.insert(QLatin1StringView("broker"), QStringLiteral("home"));
        welcome.insert(QLatin1StringView("fp"), skbp::fingerprint(hex(f(vec("fingerprint"), "input"))));
        QCOMPARE(wire::encodeMessage(welcome).toHex(), pt.toHex());
        auto sealed = broker.seal(welcome);
        QVERIFY(sealed.ok());
        QCOMPARE(sealed->toHex(), hex(fr.toObject().value(QLatin1StringView("frame"))).toHex());
        auto opened = client.open(*sealed);
        QVERIFY(opened.ok());
        QCOMPARE(opened->text(QLatin1StringView("broker")), QStringLiteral("home"));
    }
}

// Extension: a federated call's SK_0 is bound to its home broker (docs/PROTOCOL.md), so no sid a
// peer picks gives it a local call's key, and two homes get two keys.
void TestSkbp::federatedCall()
{
    const QJsonObject v = loadOwnVectors(QStringLiteral("sotto-ext.json"))
                              .value(QLatin1StringView("vectors")).toObject()
                              .value(QLatin1StringView("federated_session")).toObject();
    QVERIFY(!v.isEmpty());
    const QByteArray sid = hex(f(v, "sid"));
    const SecretBytes calleeKey = secretHex(f(v, "callee_key"));
    const quint32 epoch = quint32(f(v, "callee_epoch").toInt());
    const QString callee = f(v, "callee").toString();
    auto local = skbp::sessionKey(skbp::KeyMode::Derived, calleeKey, sid, callee, epoch);
    QCOMPARE(bytes(local).toHex(), hex(f(v, "session_key_local")).toHex());
    QCOMPARE(bytes(local).toHex(), hex(f(vec("call"), "session_key_derived")).toHex()); // the contract's
    const QJsonArray rows = f(v, "rows").toArray();
    QCOMPARE(rows.size(), 2);
    for (const QJsonValue &r : rows) {
        const QString home = r.toObject().value(QLatin1StringView("home")).toString();
        auto fed = skbp::sessionKey(skbp::KeyMode::Derived, calleeKey, sid, callee, epoch, home);
        QCOMPARE(bytes(fed).toHex(), hex(r.toObject().value(QLatin1StringView("session_key"))).toHex());
        QVERIFY(bytes(fed) != bytes(local));
    }
}

void TestSkbp::call()
{
    const QJsonObject v = vec("call");
    const QByteArray sid = hex(f(v, "sid"));
    const SecretBytes calleeKey = secretHex(f(v, "callee_key"));
    const quint32 calleeEpoch = quint32(f(v, "callee_epoch").toInt());
    const QString callee = f(v, "callee").toString();
    auto derived = skbp::sessionKey(skbp::KeyMode::Derived, calleeKey, sid, callee, calleeEpoch);
    QCOMPARE(bytes(derived).toHex(), hex(f(v, "session_key_derived")).toHex());
    auto patent = skbp::sessionKey(skbp::KeyMode::Patent, calleeKey, sid, callee, calleeEpoch);
    QCOMPARE(bytes(patent).toHex(), hex(f(v, "session_key_patent")).toHex());

    const SecretBytes callerKey = secretHex(f(v, "caller_key"));
    const quint32 callerEpoch = quint32(f(v, "caller_epoch").toInt());
    const QString caller = f(v, "caller").toString();
    QCOMPARE(bytes(skbp::wrapKey(callerKey)).toHex(), hex(f(v, "wrap_key")).toHex());
    QCOMPARE(skbp::wrapAad(skbp::WrapPurpose::Call, sid, 0, caller, callerEpoch).toHex(),
             hex(f(v, "wrap_aad")).toHex());
    const skbp::WrapContext ctx{skbp::WrapPurpose::Call, sid, 0, caller};
    auto wrapped = skbp::wrap(callerKey, callerEpoch, *derived, ctx, hex(f(v, "wrap_nonce")));
    QVERIFY(wrapped.ok());
    QCOMPARE(wrapped->toHex(), hex(f(v, "wrapped")).toHex());
    QCOMPARE(wrapped->size(), skbp::kWrappedSize);
    auto unwrapped = skbp::unwrap(callerKey, callerEpoch, *wrapped, ctx);
    QVERIFY(unwrapped.ok());
    QVERIFY(unwrapped->equals(*derived));
}

void TestSkbp::conference()
{
    const QJsonObject v = vec("conference");
    const QByteArray sid = hex(f(v, "sid"));
    const SecretBytes gen0 = secretHex(f(v, "gen0"));
    auto gen1 = skbp::ratchet(gen0, sid, 1);
    QCOMPARE(bytes(gen1).toHex(), hex(f(v, "gen1_ratchet")).toHex());

    const skbp::WrapContext join{skbp::WrapPurpose::Join, sid, 1, QStringLiteral("carol")};
    auto joinWrapped = skbp::wrap(secretHex(f(v, "carol_key")), quint32(f(v, "carol_epoch").toInt()),
                                  *gen1, join, hex(f(v, "join_nonce")));
    QVERIFY(joinWrapped.ok());
    QCOMPARE(joinWrapped->toHex(), hex(f(v, "join_wrapped")).toHex());

    // The re-key is wrapped for alice under her key and epoch of the call vector.
    const QJsonObject c = vec("call");
    const skbp::WrapContext rekey{skbp::WrapPurpose::Rekey, sid, 2, f(v, "rekey_for").toString()};
    auto rekeyWrapped = skbp::wrap(secretHex(f(c, "caller_key")), quint32(f(c, "caller_epoch").toInt()),
                                   secretHex(f(v, "gen2_rekey_secret")), rekey, hex(f(v, "rekey_nonce")));
    QVERIFY(rekeyWrapped.ok());
    QCOMPARE(rekeyWrapped->toHex(), hex(f(v, "rekey_wrapped")).toHex());
}

void TestSkbp::srtp_data()
{
    QTest::addColumn<QJsonObject>("v");
    const QJsonArray rows = loadVectors(QStringLiteral("skbp-v1.json"))
                                .value(QLatin1StringView("vectors")).toObject()
                                .value(QLatin1StringView("srtp")).toArray();
    QVERIFY(!rows.isEmpty());
    for (const QJsonValue &r : rows) {
        const QJsonObject o = r.toObject();
        QTest::addRow("gen%d-ssrc%lld", o.value(QLatin1StringView("gen")).toInt(),
                      qint64(o.value(QLatin1StringView("ssrc")).toDouble()))
            << o;
    }
}

void TestSkbp::srtp()
{
    QFETCH(QJsonObject, v);
    auto m = skbp::srtpMaterial(secretHex(f(v, "session_key")), hex(f(v, "sid")),
                                quint32(f(v, "gen").toInt()), quint32(f(v, "ssrc").toDouble()));
    QVERIFY(m.ok());
    QCOMPARE(m->masterKey.view().toByteArray().toHex(), hex(f(v, "master_key")).toHex());
    QCOMPARE(m->masterSalt.view().toByteArray().toHex(), hex(f(v, "master_salt")).toHex());
    // One extract per generation serves every sender: a SrtpKeys used first for another SSRC,
    // then for this one, gives the vector too.
    const skbp::SrtpKeys keys(secretHex(f(v, "session_key")), hex(f(v, "sid")), quint32(f(v, "gen").toInt()));
    const skbp::SrtpMaterial other = keys.material(quint32(f(v, "ssrc").toDouble()) ^ 1u);
    QVERIFY(!other.masterKey.equals(m->masterKey));
    const skbp::SrtpMaterial same = keys.material(quint32(f(v, "ssrc").toDouble()));
    QVERIFY(same.masterKey.equals(m->masterKey));
    QVERIFY(same.masterSalt.equals(m->masterSalt));
}

void TestSkbp::rotate()
{
    const QJsonObject v = vec("rotate");
    const QString account = f(v, "account").toString();
    const quint32 epoch = quint32(f(v, "epoch").toInt());
    const SecretBytes key = secretHex(f(v, "key"));
    const SecretBytes next = secretHex(f(v, "next_key"));
    const skbp::WrapContext ctx{skbp::WrapPurpose::Rotate, QByteArray(16, '\0'), 0, account};
    auto wrapped = skbp::wrap(key, epoch, next, ctx, hex(f(v, "nonce")));
    QVERIFY(wrapped.ok());
    QCOMPARE(wrapped->toHex(), hex(f(v, "wrapped")).toHex());
    auto back = skbp::unwrap(key, epoch, *wrapped, ctx);
    QVERIFY(back.ok() && back->equals(next));
    auto proof = skbp::rotateProof(next, account, epoch + 1);
    QVERIFY(proof.ok());
    QCOMPARE(proof->toHex(), hex(f(v, "ack_proof")).toHex());
}

void TestSkbp::cbor()
{
    const QJsonObject v = vec("cbor");
    QCborMap m = wire::message(wire::MessageType::Call);
    m.insert(QLatin1StringView("id"), 7);
    m.insert(QLatin1StringView("to"), QStringLiteral("bob"));
    QCOMPARE(wire::encodeMessage(m).toHex(), hex(f(v, "bytes")).toHex());
    auto d = wire::decodeMessage(hex(f(v, "bytes")));
    QVERIFY(d.ok());
    QCOMPARE(d->typeName(), f(f(v, "example").toObject(), "t").toString());
    QCOMPARE(d->u32(QLatin1StringView("id")), 7u);
    QCOMPARE(d->text(QLatin1StringView("to")), QStringLiteral("bob"));
}

void TestSkbp::unwrapRefusesWrongContext()
{
    const QJsonObject v = vec("call");
    const QByteArray wrapped = hex(f(v, "wrapped"));
    const SecretBytes key = secretHex(f(v, "caller_key"));
    const QByteArray sid = hex(f(v, "sid"));
    const skbp::WrapContext good{skbp::WrapPurpose::Call, sid, 0, QStringLiteral("alice")};
    QVERIFY(skbp::unwrap(key, 1, wrapped, good).ok());
    QVERIFY(!skbp::unwrap(key, 2, wrapped, good).ok());                                   // epoch
    QVERIFY(!skbp::unwrap(secretHex(f(v, "callee_key")), 1, wrapped, good).ok());         // key
    QVERIFY(!skbp::unwrap(key, 1, wrapped, {skbp::WrapPurpose::Join, sid, 0, QStringLiteral("alice")}).ok());
    QVERIFY(!skbp::unwrap(key, 1, wrapped, {skbp::WrapPurpose::Call, sid, 1, QStringLiteral("alice")}).ok());
    QVERIFY(!skbp::unwrap(key, 1, wrapped, {skbp::WrapPurpose::Call, sid, 0, QStringLiteral("carol")}).ok());
    QVERIFY(!skbp::unwrap(key, 1, wrapped, {skbp::WrapPurpose::Call, QByteArray(16, 1), 0, QStringLiteral("alice")}).ok());
    QVERIFY(!skbp::unwrap(key, 1, wrapped.left(40), good).ok());
    QByteArray flipped = wrapped;
    flipped[30] = char(flipped[30] ^ 1);
    QVERIFY(!skbp::unwrap(key, 1, flipped, good).ok());
}

void TestSkbp::addresses()
{
    // "dave" is this broker's, "dave@b" broker b's (§8); a broker reads a peer's names relative
    // to that peer and writes its own without "@self".
    using skbp::Address;
    QCOMPARE(Address::parse(QStringLiteral("dave")), (Address{QStringLiteral("dave"), {}}));
    QCOMPARE(Address::parse(QStringLiteral("dave@b")), (Address{QStringLiteral("dave"), QStringLiteral("b")}));
    QVERIFY(!Address::parse(QStringLiteral("dave")).isRemote());
    QVERIFY(Address::parse(QStringLiteral("dave@b")).isRemote());
    for (const char *text : {"dave", "dave@b", "a.b-c@x_y"})
        QCOMPARE(Address::parse(QString::fromLatin1(text)).toString(), QString::fromLatin1(text));
    const QString a = QStringLiteral("a"), b = QStringLiteral("b");
    QCOMPARE(Address::parse(QStringLiteral("alice@a")).relativeTo(a).toString(), QStringLiteral("alice"));
    QCOMPARE(Address::parse(QStringLiteral("dave@b")).relativeTo(a).toString(), QStringLiteral("dave@b"));
    // Broker b writes "dave" (its own) and "alice@a" (ours); a reads "dave@b" and "alice".
    QCOMPARE(Address::parse(QStringLiteral("dave")).fromPeer(b, a).toString(), QStringLiteral("dave@b"));
    QCOMPARE(Address::parse(QStringLiteral("alice@a")).fromPeer(b, a).toString(), QStringLiteral("alice"));
    QCOMPARE(Address::parse(QStringLiteral("erin@c")).fromPeer(b, a).toString(), QStringLiteral("erin@c"));
}

QTEST_GUILESS_MAIN(TestSkbp)
#include "tst_skbp.moc"
