#include "core/crypto.h"

#include <QTest>

using namespace sotto;

class TestCrypto : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void hkdf_data();
    void hkdf();
    void hmac();
    void gcm_data();
    void gcm();
    void gcmRejectsTampering();
    void x25519();
    void randomIsRandom();
    void secretBytesWipesAndCompares();
};

static QByteArray h(const char *s)
{
    return QByteArray::fromHex(s);
}

void TestCrypto::hkdf_data()
{
    QTest::addColumn<QByteArray>("ikm");
    QTest::addColumn<QByteArray>("salt");
    QTest::addColumn<QByteArray>("info");
    QTest::addColumn<QByteArray>("okm");
    // RFC 5869 appendix A.1 and A.3.
    QTest::newRow("rfc5869-1") << QByteArray(22, 0x0b) << h("000102030405060708090a0b0c")
                               << h("f0f1f2f3f4f5f6f7f8f9")
                               << h("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
                                    "34007208d5b887185865");
    QTest::newRow("rfc5869-3") << QByteArray(22, 0x0b) << QByteArray() << QByteArray()
                               << h("8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
                                    "9d201395faa4b61a96c8");
}

void TestCrypto::hkdf()
{
    QFETCH(QByteArray, ikm);
    QFETCH(QByteArray, salt);
    QFETCH(QByteArray, info);
    QFETCH(QByteArray, okm);
    auto out = crypto::hkdf(salt, ikm, info, int(okm.size()));
    QVERIFY(out.ok());
    QCOMPARE(out->view().toByteArray().toHex(), okm.toHex());
    QVERIFY(!crypto::hkdf(salt, ikm, info, 0).ok());
    // Derivations share a per-thread context: nothing (info above all) may carry over.
    (void)crypto::hkdf("other salt", "other ikm", "some other info", 17);
    auto again = crypto::hkdf(salt, ikm, info, int(okm.size()));
    QVERIFY(again.ok());
    QCOMPARE(again->view().toByteArray().toHex(), okm.toHex());
    QVERIFY(!crypto::hkdf(salt, ikm, info, 255 * 32 + 1).ok());
}

void TestCrypto::hmac()
{
    // RFC 4231 test case 2.
    auto mac = crypto::hmacSha256("Jefe", "what do ya want for nothing?");
    QVERIFY(mac.ok());
    QCOMPARE(mac->view().toByteArray().toHex(),
             QByteArray("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"));
}

void TestCrypto::gcm_data()
{
    QTest::addColumn<QByteArray>("key");
    QTest::addColumn<QByteArray>("iv");
    QTest::addColumn<QByteArray>("aad");
    QTest::addColumn<QByteArray>("pt");
    QTest::addColumn<QByteArray>("ct");
    QTest::addColumn<QByteArray>("tag");
    // McGrew & Viega, "The Galois/Counter Mode of Operation" (NIST GCM submission), test cases 13-16.
    const QByteArray k0(32, 0);
    const QByteArray kf = h("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308");
    const QByteArray p = h("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
                           "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255");
    const QByteArray c = h("522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
                           "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad");
    QTest::newRow("gcm-13") << k0 << QByteArray(12, 0) << QByteArray() << QByteArray() << QByteArray()
                            << h("530f8afbc74536b9a963b4f1c4cb738b");
    QTest::newRow("gcm-14") << k0 << QByteArray(12, 0) << QByteArray() << QByteArray(16, 0)
                            << h("cea7403d4d606b6e074ec5d3baf39d18") << h("d0d1c8a799996bf0265b98b5d48ab919");
    QTest::newRow("gcm-15") << kf << h("cafebabefacedbaddecaf888") << QByteArray() << p << c
                            << h("b094dac5d93471bdec1a502270e3cc6c");
    QTest::newRow("gcm-16") << kf << h("cafebabefacedbaddecaf888")
                            << h("feedfacedeadbeeffeedfacedeadbeefabaddad2") << p.left(60) << c.left(60)
                            << h("76fc6ece0f4e1768cddf8853bb2d551b");
}

void TestCrypto::gcm()
{
    QFETCH(QByteArray, key);
    QFETCH(QByteArray, iv);
    QFETCH(QByteArray, aad);
    QFETCH(QByteArray, pt);
    QFETCH(QByteArray, ct);
    QFETCH(QByteArray, tag);
    auto sealed = crypto::aesGcmSeal(key, iv, aad, pt);
    QVERIFY(sealed.ok());
    QCOMPARE(sealed->toHex(), (ct + tag).toHex());
    auto opened = crypto::aesGcmOpen(key, iv, aad, *sealed);
    QVERIFY(opened.ok());
    QCOMPARE(opened->view().toByteArray(), pt);
}

void TestCrypto::gcmRejectsTampering()
{
    const QByteArray key(32, 7), iv(12, 1);
    auto sealed = crypto::aesGcmSeal(key, iv, "aad", "hello");
    QVERIFY(sealed.ok());
    for (int i = 0; i < sealed->size(); ++i) {
        QByteArray bad = *sealed;
        bad[i] = char(bad[i] ^ 0x01);
        auto r = crypto::aesGcmOpen(key, iv, "aad", bad);
        QVERIFY2(!r.ok(), qPrintable(QString::number(i)));
        QCOMPARE(r.error().code, ErrorCode::Crypto);
    }
    QVERIFY(!crypto::aesGcmOpen(key, iv, "other", *sealed).ok());
    QVERIFY(!crypto::aesGcmOpen(QByteArray(32, 8), iv, "aad", *sealed).ok());
    QVERIFY(!crypto::aesGcmOpen(key, iv, "aad", sealed->left(15)).ok());
    QVERIFY(!crypto::aesGcmOpen(QByteArray(31, 7), iv, "aad", *sealed).ok());
    QVERIFY(!crypto::aesGcmSeal(key, QByteArray(11, 1), {}, "x").ok());
}

void TestCrypto::x25519()
{
    // RFC 7748 §6.1.
    const QByteArray alicePriv = h("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
    const QByteArray bobPriv = h("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
    auto alice = crypto::x25519FromPrivate(alicePriv);
    auto bob = crypto::x25519FromPrivate(bobPriv);
    QVERIFY(alice.ok() && bob.ok());
    QCOMPARE(alice->publicKey.toHex(),
             QByteArray("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"));
    QCOMPARE(bob->publicKey.toHex(),
             QByteArray("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"));
    auto k1 = crypto::x25519(alicePriv, bob->publicKey);
    auto k2 = crypto::x25519(bobPriv, alice->publicKey);
    QVERIFY(k1.ok() && k2.ok());
    QCOMPARE(k1->view().toByteArray().toHex(), k2->view().toByteArray().toHex());
    QCOMPARE(k1->view().toByteArray().toHex(),
             QByteArray("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"));
    // A low-order point gives an all-zero secret: refused.
    QVERIFY(!crypto::x25519(alicePriv, QByteArray(32, 0)).ok());
    QVERIFY(!crypto::x25519(alicePriv, QByteArray(31, 1)).ok());
}

void TestCrypto::randomIsRandom()
{
    auto a = crypto::randomSecret(32);
    auto b = crypto::randomSecret(32);
    QVERIFY(a.ok() && b.ok());
    QCOMPARE(a->size(), std::size_t(32));
    QVERIFY(!a->equals(*b));
}

void TestCrypto::secretBytesWipesAndCompares()
{
    SecretBytes s = SecretBytes::copyOf("abcdef");
    SecretBytes t = s;
    QVERIFY(s.equals(t));
    SecretBytes moved = std::move(t);
    QVERIFY(t.isEmpty());
    QVERIFY(moved.equals(s));
    s.clear();
    QVERIFY(s.isEmpty());
    QVERIFY(!s.equals(moved));
    QCOMPARE((moved + moved).view().toByteArray(), QByteArray("abcdefabcdef"));
}

QTEST_GUILESS_MAIN(TestCrypto)
#include "tst_crypto.moc"
