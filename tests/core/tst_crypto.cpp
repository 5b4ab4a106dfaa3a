#include "core/crypto.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>

#include <QRandomGenerator>
#include <QTest>
#include <QVariant>

using namespace sotto;

class TestCrypto : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void hkdf_data();
    void hkdf();
    void hmac_data();
    void hmac();
    void hmacAndHkdfAgreeWithOpenSsl();
    void oneExtractServesEveryExpand();
    void keyedGcmResetsOnlyTheNonce();
    void gcm_data();
    void gcm();
    void gcmRejectsTampering();
    void x25519();
    void randomIsRandom();
    void secretBytesWipesAndCompares();
    void wipeReachesEveryHolderOfTheBuffer();
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

void TestCrypto::hmac_data()
{
    QTest::addColumn<QByteArray>("key");
    QTest::addColumn<QByteArray>("data");
    QTest::addColumn<QByteArray>("mac");
    // RFC 4231 §4.2–4.8, HMAC-SHA-256 (case 5's truncated output is left out). Cases 6 and 7
    // have a 131-byte key: longer than a block, so it is hashed first.
    QTest::newRow("rfc4231-1") << QByteArray(20, 0x0b) << QByteArray("Hi There")
                               << h("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    QTest::newRow("rfc4231-2") << QByteArray("Jefe") << QByteArray("what do ya want for nothing?")
                               << h("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    QTest::newRow("rfc4231-3") << QByteArray(20, char(0xaa)) << QByteArray(50, char(0xdd))
                               << h("773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
    QTest::newRow("rfc4231-4") << h("0102030405060708090a0b0c0d0e0f10111213141516171819") << QByteArray(50, char(0xcd))
                               << h("82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
    QTest::newRow("rfc4231-6") << QByteArray(131, char(0xaa))
                               << QByteArray("Test Using Larger Than Block-Size Key - Hash Key First")
                               << h("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    QTest::newRow("rfc4231-7") << QByteArray(131, char(0xaa))
                               << QByteArray("This is a test using a larger than block-size key and a larger than "
                                             "block-size data. The key needs to be hashed before being used by the "
                                             "HMAC algorithm.")
                               << h("9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

void TestCrypto::hmac()
{
    QFETCH(QByteArray, key);
    QFETCH(QByteArray, data);
    QFETCH(QByteArray, mac);
    auto one = crypto::hmacSha256(key, data);
    QVERIFY(one.ok());
    QCOMPARE(one->view().toByteArray().toHex(), mac.toHex());
    // Keyed once, used many times, with the data in pieces: the pad states are not consumed.
    const crypto::HmacSha256Key keyed(key);
    for (int i = 0; i < 3; ++i) {
        unsigned char out[32];
        keyed.mac({data.first(data.size() / 3), data.sliced(data.size() / 3)}, out);
        QCOMPARE(QByteArray(reinterpret_cast<const char *>(out), 32).toHex(), mac.toHex());
    }
}

// Our HMAC and HKDF are RFC 2104/5869 over OpenSSL's SHA-256; OpenSSL's own HMAC and HKDF
// (EVP_KDF) are the reference, on random lengths either side of the block size and of the
// 32-byte output (keys 0–200 bytes, salts 0–100, info 0–300, outputs 1–300).
void TestCrypto::hmacAndHkdfAgreeWithOpenSsl()
{
    QRandomGenerator rng(20261202);
    auto randomBytes = [&](int max) {
        QByteArray b(int(rng.bounded(max + 1)), Qt::Uninitialized);
        for (char &c : b)
            c = char(rng.bounded(256));
        return b;
    };
    EVP_KDF *kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
    QVERIFY(kdf);
    for (int i = 0; i < 500; ++i) {
        const QByteArray key = randomBytes(200), data = randomBytes(300);
        unsigned char ref[32];
        unsigned int refLen = 0;
        static const unsigned char none = 0;
        HMAC(EVP_sha256(), key.isEmpty() ? &none : reinterpret_cast<const unsigned char *>(key.constData()), int(key.size()),
             reinterpret_cast<const unsigned char *>(data.constData()), std::size_t(data.size()), ref, &refLen);
        QCOMPARE(crypto::hmacSha256(key, data)->view().toByteArray().toHex(),
                 QByteArray(reinterpret_cast<const char *>(ref), 32).toHex());

        const QByteArray salt = randomBytes(100), ikm = randomBytes(100), info = randomBytes(300);
        const int length = 1 + int(rng.bounded(300));
        EVP_KDF_CTX *ctx = EVP_KDF_CTX_new(kdf);
        char digest[] = "SHA256";
        static const unsigned char zeros[32] = {};
        OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
            OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, ikm.isEmpty() ? const_cast<unsigned char *>(zeros) : reinterpret_cast<unsigned char *>(const_cast<char *>(ikm.constData())), std::size_t(ikm.size())),
            OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, salt.isEmpty() ? const_cast<unsigned char *>(zeros) : reinterpret_cast<unsigned char *>(const_cast<char *>(salt.constData())), salt.isEmpty() ? 32 : std::size_t(salt.size())),
            info.isEmpty() ? OSSL_PARAM_construct_end()
                           : OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, reinterpret_cast<unsigned char *>(const_cast<char *>(info.constData())), std::size_t(info.size())),
            OSSL_PARAM_construct_end(),
        };
        QByteArray expected(length, Qt::Uninitialized);
        QCOMPARE(EVP_KDF_derive(ctx, reinterpret_cast<unsigned char *>(expected.data()), std::size_t(length), params), 1);
        EVP_KDF_CTX_free(ctx);
        auto ours = crypto::hkdf(salt, ikm, info, length);
        QVERIFY(ours.ok());
        QVERIFY2(ours->view().toByteArray() == expected, qPrintable(QStringLiteral("case %1").arg(i)));
    }
    EVP_KDF_free(kdf);
}

void TestCrypto::oneExtractServesEveryExpand()
{
    const QByteArray salt("a session id"), ikm(32, 0x42);
    const auto prk = crypto::HkdfPrk::extract(salt, ikm);
    for (const QByteArray &info : {QByteArray("first"), QByteArray("second"), QByteArray(), QByteArray("first")}) {
        auto whole = crypto::hkdf(salt, ikm, info, 44);
        auto split = prk.expand(info, 44);
        QVERIFY(whole.ok() && split.ok());
        QCOMPARE(split->view().toByteArray().toHex(), whole->view().toByteArray().toHex());
        // The info in parts is the info joined.
        unsigned char parts[44];
        QVERIFY(prk.expand({info.first(info.size() / 2), info.sliced(info.size() / 2)}, parts, 44));
        QCOMPARE(QByteArray(reinterpret_cast<const char *>(parts), 44).toHex(), whole->view().toByteArray().toHex());
    }
    unsigned char out[1];
    QVERIFY(!prk.expand({QByteArrayView("x")}, out, 0));
    QVERIFY(!prk.expand("x", crypto::HkdfPrk::kMaxLength + 1).ok());
    QVERIFY(prk.expand("x", crypto::HkdfPrk::kMaxLength).ok());
}

void TestCrypto::keyedGcmResetsOnlyTheNonce()
{
    const QByteArray key = h("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308");
    auto gcm = crypto::AesGcmKey::create(key);
    QVERIFY(gcm.ok());
    QVERIFY(!crypto::AesGcmKey::create(key.left(31)).ok());
    // Many messages under one keyed context give what one-shot calls give, message by
    // message: nothing but the key carries over between them.
    for (int i = 0; i < 20; ++i) {
        const QByteArray nonce = QByteArray(11, char(i)) + char(i * 7);
        const QByteArray aad = QByteArray(i, 'a');
        const QByteArray pt = QByteArray(i * 5, char('A' + i));
        auto sealed = gcm->seal(nonce, aad, pt);
        QVERIFY(sealed.ok());
        QCOMPARE(sealed->toHex(), crypto::aesGcmSeal(key, nonce, aad, pt)->toHex());
        auto opened = gcm->open(nonce, aad, *sealed);
        QVERIFY(opened.ok());
        QCOMPARE(opened->view().toByteArray(), pt);
        // A failed open leaves the context fit for the next message.
        QByteArray bad = *sealed;
        bad[bad.size() - 1] = char(bad[bad.size() - 1] ^ 1);
        QCOMPARE(gcm->open(nonce, aad, bad).error().code, ErrorCode::Crypto);
        QVERIFY(!gcm->open(nonce, aad + 'x', *sealed).ok());
    }
    QVERIFY(!gcm->open(QByteArray(11, 0), {}, QByteArray(16, 0)).ok());
    QVERIFY(!gcm->open(QByteArray(12, 0), {}, QByteArray(15, 0)).ok());
    crypto::AesGcmKey moved = std::move(*gcm);
    QVERIFY(moved.isValid());
    QVERIFY(!gcm->isValid());
    QVERIFY(!gcm->seal(QByteArray(12, 0), {}, "x").ok());
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

// QByteArray::fill() detaches: it wiped a fresh private copy and left the key in every other
// holder of the buffer (the QVariant bound to a query, the QByteArray it was copied from).
// wipeInPlace() wipes the one shared buffer, so the key is gone from each object that held it.
void TestCrypto::wipeReachesEveryHolderOfTheBuffer()
{
    const QByteArray key(32, 'k');
    {
        QByteArray held(key.constData(), key.size());
        QByteArray copy = held;
        copy.fill('\0');
        QCOMPARE(held, key); // what the old code did: the key stayed
    }
    QByteArray held(key.constData(), key.size());
    QByteArray copy = held;
    const QVariant bound(held);
    const char *buffer = held.constData();
    wipeInPlace(copy);
    QVERIFY(copy.isEmpty());
    QCOMPARE(held, QByteArray(32, '\0'));
    QCOMPARE(bound.toByteArray(), QByteArray(32, '\0'));
    QCOMPARE(held.constData(), buffer); // the same buffer, wiped where it is

    QByteArray arrived(key.constData(), key.size());
    const QByteArray alias = arrived;
    SecretBytes taken = SecretBytes::takeFrom(arrived);
    QCOMPARE(taken.view().toByteArray(), key);
    QVERIFY(arrived.isEmpty());
    QCOMPARE(alias, QByteArray(32, '\0'));

    QByteArray raw = QByteArray::fromRawData(key.constData(), key.size()); // not ours: only emptied
    wipeInPlace(raw);
    QVERIFY(raw.isEmpty());
    QCOMPARE(key, QByteArray(32, 'k'));
}

QTEST_GUILESS_MAIN(TestCrypto)
#include "tst_crypto.moc"
