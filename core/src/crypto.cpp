#include "core/crypto.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <memory>

namespace sotto::crypto {

namespace {

Error opensslError(const char *what)
{
    const unsigned long code = ERR_get_error();
    char buf[256] = {};
    if (code)
        ERR_error_string_n(code, buf, sizeof buf);
    ERR_clear_error();
    return makeError(ErrorCode::Crypto, QStringLiteral("%1 failed%2%3")
                                            .arg(QLatin1StringView(what),
                                                 code ? QStringLiteral(": ") : QString(),
                                                 QString::fromLatin1(buf)));
}

const unsigned char *bytes(QByteArrayView v)
{
    return reinterpret_cast<const unsigned char *>(v.data());
}

struct CipherCtxFree
{
    void operator()(EVP_CIPHER_CTX *c) const { EVP_CIPHER_CTX_free(c); }
};
struct KdfCtxFree
{
    void operator()(EVP_KDF_CTX *c) const { EVP_KDF_CTX_free(c); }
};
struct MacCtxFree
{
    void operator()(EVP_MAC_CTX *c) const { EVP_MAC_CTX_free(c); }
};
struct PkeyFree
{
    void operator()(EVP_PKEY *k) const { EVP_PKEY_free(k); }
};
struct PkeyCtxFree
{
    void operator()(EVP_PKEY_CTX *c) const { EVP_PKEY_CTX_free(c); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

// Algorithm fetches are expensive; fetch once per process (thread-safe statics, never freed,
// like OpenSSL's own default providers).
const EVP_CIPHER *aes256gcm()
{
    static EVP_CIPHER *cipher = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
    return cipher;
}
EVP_KDF *hkdfAlgorithm()
{
    static EVP_KDF *kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
    return kdf;
}
EVP_MAC *hmacAlgorithm()
{
    static EVP_MAC *mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    return mac;
}

} // namespace

Result<QByteArray> randomBytes(int size)
{
    QByteArray out(size, Qt::Uninitialized);
    if (size > 0 && RAND_bytes(reinterpret_cast<unsigned char *>(out.data()), size) != 1)
        return opensslError("RAND_bytes");
    return out;
}

Result<SecretBytes> randomSecret(int size)
{
    SecretBytes out(std::size_t(size > 0 ? size : 0));
    if (size > 0 && RAND_bytes(out.data(), size) != 1)
        return opensslError("RAND_bytes");
    return out;
}

QByteArray sha256(QByteArrayView data)
{
    QByteArray out(32, Qt::Uninitialized);
    unsigned int len = 0;
    EVP_Digest(data.data(), std::size_t(data.size()), reinterpret_cast<unsigned char *>(out.data()),
               &len, EVP_sha256(), nullptr);
    return out;
}

Result<SecretBytes> hmacSha256(QByteArrayView key, QByteArrayView data)
{
    std::unique_ptr<EVP_MAC_CTX, MacCtxFree> ctx(EVP_MAC_CTX_new(hmacAlgorithm()));
    if (!ctx)
        return opensslError("EVP_MAC_CTX_new");
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };
    // HMAC accepts an empty key; OpenSSL wants a non-null pointer for it.
    static const unsigned char empty = 0;
    if (EVP_MAC_init(ctx.get(), key.isEmpty() ? &empty : bytes(key), std::size_t(key.size()),
                     params) != 1
        || EVP_MAC_update(ctx.get(), bytes(data), std::size_t(data.size())) != 1)
        return opensslError("HMAC");
    SecretBytes out(32);
    std::size_t len = 0;
    if (EVP_MAC_final(ctx.get(), out.data(), &len, out.size()) != 1 || len != 32)
        return opensslError("HMAC final");
    return out;
}

Result<SecretBytes> hkdf(QByteArrayView salt, QByteArrayView ikm, QByteArrayView info, int length)
{
    if (length <= 0 || length > 255 * 32)
        return makeError(ErrorCode::Crypto, QStringLiteral("HKDF length out of range"));
    std::unique_ptr<EVP_KDF_CTX, KdfCtxFree> ctx(EVP_KDF_CTX_new(hkdfAlgorithm()));
    if (!ctx)
        return opensslError("EVP_KDF_CTX_new");
    static const unsigned char zeros[32] = {};
    char digest[] = "SHA256";
    OSSL_PARAM params[5];
    int n = 0;
    params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0);
    params[n++] = OSSL_PARAM_construct_octet_string(
        OSSL_KDF_PARAM_KEY, const_cast<unsigned char *>(ikm.isEmpty() ? zeros : bytes(ikm)),
        std::size_t(ikm.size()));
    params[n++] = OSSL_PARAM_construct_octet_string(
        OSSL_KDF_PARAM_SALT, const_cast<unsigned char *>(salt.isEmpty() ? zeros : bytes(salt)),
        salt.isEmpty() ? sizeof zeros : std::size_t(salt.size()));
    if (!info.isEmpty())
        params[n++] = OSSL_PARAM_construct_octet_string(
            OSSL_KDF_PARAM_INFO, const_cast<unsigned char *>(bytes(info)), std::size_t(info.size()));
    params[n++] = OSSL_PARAM_construct_end();
    SecretBytes out{std::size_t(length)};
    if (EVP_KDF_derive(ctx.get(), out.data(), out.size(), params) != 1)
        return opensslError("HKDF");
    return out;
}

Result<QByteArray> aesGcmSeal(QByteArrayView key, QByteArrayView nonce, QByteArrayView aad,
                              QByteArrayView plaintext)
{
    if (key.size() != kKeySize || nonce.size() != kNonceSize)
        return makeError(ErrorCode::Crypto, QStringLiteral("AES-GCM: bad key or nonce length"));
    std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree> ctx(EVP_CIPHER_CTX_new());
    if (!ctx || EVP_EncryptInit_ex2(ctx.get(), aes256gcm(), bytes(key), bytes(nonce), nullptr) != 1)
        return opensslError("AES-GCM init");
    int len = 0;
    if (!aad.isEmpty()
        && EVP_EncryptUpdate(ctx.get(), nullptr, &len, bytes(aad), int(aad.size())) != 1)
        return opensslError("AES-GCM aad");
    QByteArray out(plaintext.size() + kTagSize, Qt::Uninitialized);
    auto *o = reinterpret_cast<unsigned char *>(out.data());
    int total = 0;
    if (!plaintext.isEmpty()) {
        if (EVP_EncryptUpdate(ctx.get(), o, &len, bytes(plaintext), int(plaintext.size())) != 1)
            return opensslError("AES-GCM encrypt");
        total = len;
    }
    if (EVP_EncryptFinal_ex(ctx.get(), o + total, &len) != 1)
        return opensslError("AES-GCM final");
    total += len;
    if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagSize, o + total) != 1)
        return opensslError("AES-GCM tag");
    return out;
}

Result<SecretBytes> aesGcmOpen(QByteArrayView key, QByteArrayView nonce, QByteArrayView aad,
                               QByteArrayView ciphertextAndTag)
{
    if (key.size() != kKeySize || nonce.size() != kNonceSize)
        return makeError(ErrorCode::Crypto, QStringLiteral("AES-GCM: bad key or nonce length"));
    if (ciphertextAndTag.size() < kTagSize)
        return makeError(ErrorCode::Crypto, QStringLiteral("AES-GCM: ciphertext too short"));
    std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree> ctx(EVP_CIPHER_CTX_new());
    if (!ctx || EVP_DecryptInit_ex2(ctx.get(), aes256gcm(), bytes(key), bytes(nonce), nullptr) != 1)
        return opensslError("AES-GCM init");
    int len = 0;
    if (!aad.isEmpty()
        && EVP_DecryptUpdate(ctx.get(), nullptr, &len, bytes(aad), int(aad.size())) != 1)
        return opensslError("AES-GCM aad");
    const qsizetype ctLen = ciphertextAndTag.size() - kTagSize;
    SecretBytes out{std::size_t(ctLen)};
    int total = 0;
    if (ctLen > 0) {
        if (EVP_DecryptUpdate(ctx.get(), out.data(), &len, bytes(ciphertextAndTag), int(ctLen))
            != 1)
            return opensslError("AES-GCM decrypt");
        total = len;
    }
    if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagSize,
                            const_cast<unsigned char *>(bytes(ciphertextAndTag) + ctLen))
            != 1
        || EVP_DecryptFinal_ex(ctx.get(), out.data() + total, &len) != 1) {
        ERR_clear_error();
        return makeError(ErrorCode::Crypto, QStringLiteral("authentication failed"));
    }
    return out;
}

bool constantTimeEquals(QByteArrayView a, QByteArrayView b)
{
    return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), std::size_t(a.size())) == 0;
}

namespace {
Result<QByteArray> publicOf(EVP_PKEY *key)
{
    QByteArray pub(32, Qt::Uninitialized);
    std::size_t len = 32;
    if (EVP_PKEY_get_raw_public_key(key, reinterpret_cast<unsigned char *>(pub.data()), &len) != 1
        || len != 32)
        return opensslError("X25519 public key");
    return pub;
}
} // namespace

Result<X25519KeyPair> x25519Generate()
{
    auto priv = randomSecret(32);
    if (!priv)
        return priv.error();
    return x25519FromPrivate(priv->view());
}

Result<X25519KeyPair> x25519FromPrivate(QByteArrayView privateKey)
{
    if (privateKey.size() != 32)
        return makeError(ErrorCode::Crypto, QStringLiteral("X25519: private key must be 32 bytes"));
    PkeyPtr key(EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, bytes(privateKey), 32));
    if (!key)
        return opensslError("X25519 private key");
    auto pub = publicOf(key.get());
    if (!pub)
        return pub.error();
    return X25519KeyPair{SecretBytes::copyOf(privateKey), *pub};
}

Result<SecretBytes> x25519(QByteArrayView privateKey, QByteArrayView peerPublic)
{
    if (privateKey.size() != 32 || peerPublic.size() != 32)
        return makeError(ErrorCode::Crypto, QStringLiteral("X25519: keys must be 32 bytes"));
    PkeyPtr priv(EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, bytes(privateKey), 32));
    PkeyPtr peer(EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, bytes(peerPublic), 32));
    if (!priv || !peer)
        return opensslError("X25519 key");
    std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(EVP_PKEY_CTX_new(priv.get(), nullptr));
    std::size_t len = 32;
    SecretBytes out(32);
    if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1
        || EVP_PKEY_derive_set_peer(ctx.get(), peer.get()) != 1
        || EVP_PKEY_derive(ctx.get(), out.data(), &len) != 1 || len != 32)
        return opensslError("X25519");
    return out;
}

} // namespace sotto::crypto
