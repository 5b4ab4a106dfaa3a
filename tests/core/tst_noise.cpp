#include "core/crypto.h"
#include "core/noise.h"
#include "support/vectors.h"

#include <QJsonArray>
#include <QTest>

using namespace sotto;
using namespace sotto::test;

class TestNoise : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void cacophony_data();
    void cacophony();
    void wrongPskFails();
    void tamperedMessageFails();
};

void TestNoise::cacophony_data()
{
    QTest::addColumn<QJsonObject>("v");
    const QJsonObject doc = loadVectors(QStringLiteral("noise-cacophony-subset.json"));
    QVERIFY2(!doc.isEmpty(), "vectors not found");
    for (const QJsonValue &v : doc.value(QLatin1StringView("vectors")).toArray()) {
        const QJsonObject o = v.toObject();
        QTest::newRow(qPrintable(o.value(QLatin1StringView("protocol_name")).toString())) << o;
    }
}

static noise::Pattern patternOf(const QString &name)
{
    if (name.contains(QLatin1StringView("_KKpsk0_")))
        return noise::Pattern::KKpsk0;
    if (name.contains(QLatin1StringView("_NKpsk0_")))
        return noise::Pattern::NKpsk0;
    if (name.contains(QLatin1StringView("_KK_")))
        return noise::Pattern::KK;
    return noise::Pattern::NK;
}

void TestNoise::cacophony()
{
    QFETCH(QJsonObject, v);
    auto s = [&](const char *k) { return v.value(QLatin1StringView(k)); };
    const noise::Pattern pattern = patternOf(s("protocol_name").toString());

    noise::HandshakeConfig ic;
    ic.pattern = pattern;
    ic.initiator = true;
    ic.prologue = hex(s("init_prologue"));
    ic.localStatic = secretHex(s("init_static"));
    ic.remoteStatic = hex(s("init_remote_static"));
    ic.fixedEphemeral = secretHex(s("init_ephemeral"));
    if (s("init_psks").isArray())
        ic.psk = secretHex(s("init_psks").toArray().at(0));

    noise::HandshakeConfig rc;
    rc.pattern = pattern;
    rc.initiator = false;
    rc.prologue = hex(s("resp_prologue"));
    rc.localStatic = secretHex(s("resp_static"));
    rc.remoteStatic = hex(s("resp_remote_static"));
    rc.fixedEphemeral = secretHex(s("resp_ephemeral"));
    if (s("resp_psks").isArray())
        rc.psk = secretHex(s("resp_psks").toArray().at(0));

    auto init = noise::HandshakeState::create(std::move(ic));
    auto resp = noise::HandshakeState::create(std::move(rc));
    QVERIFY2(init.ok(), init.ok() ? "" : qPrintable(init.error().message));
    QVERIFY2(resp.ok(), resp.ok() ? "" : qPrintable(resp.error().message));

    const QJsonArray messages = s("messages").toArray();
    noise::CipherState i2rSend, r2iSend, i2rRecv, r2iRecv;
    for (int n = 0; n < messages.size(); ++n) {
        const QByteArray payload = hex(messages[n].toObject().value(QLatin1StringView("payload")));
        const QByteArray expected = hex(messages[n].toObject().value(QLatin1StringView("ciphertext")));
        const bool fromInitiator = n % 2 == 0;
        QByteArray ct;
        if (!init->isComplete()) {
            auto &writer = fromInitiator ? *init : *resp;
            auto &reader = fromInitiator ? *resp : *init;
            auto w = writer.writeMessage(payload);
            QVERIFY(w.ok());
            ct = *w;
            auto r = reader.readMessage(ct);
            QVERIFY(r.ok());
            QCOMPARE(r->toHex(), payload.toHex());
            if (init->isComplete()) {
                QVERIFY(resp->isComplete());
                QCOMPARE(init->handshakeHash().toHex(), hex(s("handshake_hash")).toHex());
                QCOMPARE(resp->handshakeHash(), init->handshakeHash());
                std::tie(i2rSend, r2iRecv) = init->split();
                std::tie(i2rRecv, r2iSend) = resp->split();
            }
        } else {
            auto &sender = fromInitiator ? i2rSend : r2iSend;
            auto &receiver = fromInitiator ? i2rRecv : r2iRecv;
            auto w = sender.encryptWithAd({}, payload);
            QVERIFY(w.ok());
            ct = *w;
            auto r = receiver.decryptWithAd({}, ct);
            QVERIFY(r.ok());
            QCOMPARE(r->toHex(), payload.toHex());
        }
        QCOMPARE(ct.toHex(), expected.toHex());
    }
}

static std::pair<Result<noise::HandshakeState>, Result<noise::HandshakeState>> nkpsk0(QByteArray pskI,
                                                                                      QByteArray pskR)
{
    auto server = crypto::x25519Generate();
    noise::HandshakeConfig ic{noise::Pattern::NKpsk0, true, "p", {}, server->publicKey,
                              SecretBytes::copyOf(pskI), std::nullopt};
    noise::HandshakeConfig rc{noise::Pattern::NKpsk0, false, "p", server->privateKey, {},
                              SecretBytes::copyOf(pskR), std::nullopt};
    return {noise::HandshakeState::create(std::move(ic)), noise::HandshakeState::create(std::move(rc))};
}

void TestNoise::wrongPskFails()
{
    auto [init, resp] = nkpsk0(QByteArray(32, 1), QByteArray(32, 2));
    QVERIFY(init.ok() && resp.ok());
    auto m1 = init->writeMessage("hi");
    QVERIFY(m1.ok());
    auto r = resp->readMessage(*m1);
    QVERIFY(!r.ok());
    QCOMPARE(r.error().code, ErrorCode::Crypto);
}

void TestNoise::tamperedMessageFails()
{
    auto [init, resp] = nkpsk0(QByteArray(32, 1), QByteArray(32, 1));
    auto m1 = init->writeMessage("hi");
    QVERIFY(m1.ok());
    QByteArray bad = *m1;
    bad[40] = char(bad[40] ^ 0x80);
    QVERIFY(!resp->readMessage(bad).ok());
    QVERIFY(!resp->readMessage(m1->left(20)).ok());
}

QTEST_GUILESS_MAIN(TestNoise)
#include "tst_noise.moc"
