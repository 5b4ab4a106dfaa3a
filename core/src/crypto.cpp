#include "core/crypto.h"

// SHA256_Init/Update/Final are deprecated in OpenSSL 3.0 (still built, still the same code the
// default provider runs); see the HMAC section below for why they are used.
#define OPENSSL_SUPPRESS_DEPRECATED

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cstring>
#include <utility>

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

// ---- HMAC and HKDF on OpenSSL's SHA-256 with cached pad states ----------------------------
//
// EVP_MAC and EVP_KDF cost 2–6 µs of provider dispatch, parameter parsing and context
// allocation per call, many times the four or five SHA-256 compressions (SHA-NI: ~0.1 µs each)
// they wrap. The set-up of a call is a handful of these, so here HMAC is RFC 2104 written over
// OpenSSL's SHA-256 (SHA256_Init/Update/Final, deprecated in 3.0 but kept, and the same
// assembly the provider runs), with the pad states kept per key. tst_crypto checks it against
// RFC 4231 and, on random inputs, against OpenSSL's own HMAC and HKDF.

namespace {
static_assert(sizeof(SHA256_CTX) <= HmacSha256Key::kStateSize, "HmacSha256Key's state storage");
constexpr int kBlock = 64;

void padState(const unsigned char *key, int keyLen, unsigned char pad, unsigned char *state)
{
    unsigned char block[kBlock];
    std::memset(block, pad, sizeof block);
    for (int i = 0; i < keyLen; ++i)
        block[i] ^= key[i];
    SHA256_CTX c;
    SHA256_Init(&c);
    SHA256_Update(&c, block, sizeof block);
    std::memcpy(state, &c, sizeof c);
    OPENSSL_cleanse(block, sizeof block);
    OPENSSL_cleanse(&c, sizeof c);
}
} // namespace

HmacSha256Key::HmacSha256Key(QByteArrayView key)
{
    unsigned char hashed[32];
    const unsigned char *k = bytes(key);
    int len = int(key.size());
    if (len > kBlock) { // RFC 2104: a key longer than a block is hashed first
        SHA256(k, std::size_t(len), hashed);
        k = hashed;
        len = 32;
    }
    padState(k, len, 0x36, m_inner);
    padState(k, len, 0x5c, m_outer);
    OPENSSL_cleanse(hashed, sizeof hashed);
    m_keyed = true;
}

HmacSha256Key::~HmacSha256Key()
{
    OPENSSL_cleanse(m_inner, sizeof m_inner);
    OPENSSL_cleanse(m_outer, sizeof m_outer);
}

void HmacSha256Key::mac(const QByteArrayView *parts, std::size_t count, unsigned char *out) const
{
    if (!m_keyed) { // a default-constructed key is the empty key
        HmacSha256Key empty{QByteArrayView()};
        empty.mac(parts, count, out);
        return;
    }
    SHA256_CTX c;
    std::memcpy(&c, m_inner, sizeof c);
    for (std::size_t i = 0; i < count; ++i) {
        if (!parts[i].isEmpty())
            SHA256_Update(&c, parts[i].data(), std::size_t(parts[i].size()));
    }
    unsigned char inner[32];
    SHA256_Final(inner, &c);
    std::memcpy(&c, m_outer, sizeof c);
    SHA256_Update(&c, inner, sizeof inner);
    SHA256_Final(out, &c);
    OPENSSL_cleanse(inner, sizeof inner);
    OPENSSL_cleanse(&c, sizeof c);
}

SecretBytes HmacSha256Key::mac(QByteArrayView data) const
{
    SecretBytes out(kMacSize);
    mac({data}, out.data());
    return out;
}

HkdfPrk HkdfPrk::extract(QByteArrayView salt, QByteArrayView ikm)
{
    static const char zeros[32] = {};
    const HmacSha256Key saltKey(salt.isEmpty() ? QByteArrayView(zeros, sizeof zeros) : salt);
    unsigned char prk[32];
    saltKey.mac({ikm}, prk);
    HkdfPrk out;
    out.m_prk = HmacSha256Key(QByteArrayView(reinterpret_cast<const char *>(prk), sizeof prk));
    OPENSSL_cleanse(prk, sizeof prk);
    return out;
}

bool HkdfPrk::expand(std::initializer_list<QByteArrayView> infoParts, unsigned char *out,
                     int length) const
{
    if (length <= 0 || length > kMaxLength)
        return false;
    // T(i) = HMAC(PRK, T(i-1) || info || i): the info parts sit between the previous block
    // and the counter, so they are passed through as views, never joined.
    QByteArrayView parts[8];
    const std::size_t n = infoParts.size();
    if (n > std::size(parts) - 2)
        return false;
    unsigned char t[32];
    int done = 0;
    for (unsigned char counter = 1; done < length; ++counter) {
        std::size_t k = 0;
        if (done > 0)
            parts[k++] = QByteArrayView(reinterpret_cast<const char *>(t), sizeof t);
        for (QByteArrayView p : infoParts)
            parts[k++] = p;
        parts[k++] = QByteArrayView(reinterpret_cast<const char *>(&counter), 1);
        m_prk.mac(parts, k, t);
        const int take = std::min(32, length - done);
        std::memcpy(out + done, t, std::size_t(take));
        done += take;
    }
    OPENSSL_cleanse(t, sizeof t);
    return true;
}

Result<SecretBytes> HkdfPrk::expand(QByteArrayView info, int length) const
{
    if (length <= 0 || length > kMaxLength)
        return makeError(ErrorCode::Crypto, QStringLiteral("HKDF length out of range"));
    SecretBytes out{std::size_t(length)};
    expand({info}, out.data(), length);
    return out;
}

Result<SecretBytes> hmacSha256(QByteArrayView key, QByteArrayView data)
{
    return HmacSha256Key(key).mac(data);
}

Result<SecretBytes> hkdf(QByteArrayView salt, QByteArrayView ikm, QByteArrayView info, int length)
{
    if (length <= 0 || length > HkdfPrk::kMaxLength)
        return makeError(ErrorCode::Crypto, QStringLiteral("HKDF length out of range"));
    return HkdfPrk::extract(salt, ikm).expand(info, length);
}

// ---- AES-256-GCM -------------------------------------------------------------------------

AesGcmKey::AesGcmKey() = default;

AesGcmKey::~AesGcmKey()
{
    EVP_CIPHER_CTX_free(m_encrypt); // frees and cleanses the key schedule
    EVP_CIPHER_CTX_free(m_decrypt);
}

AesGcmKey::AesGcmKey(AesGcmKey &&other) noexcept
    : m_encrypt(std::exchange(other.m_encrypt, nullptr)),
      m_decrypt(std::exchange(other.m_decrypt, nullptr))
{
}

AesGcmKey &AesGcmKey::operator=(AesGcmKey &&other) noexcept
{
    if (this != &other) {
        EVP_CIPHER_CTX_free(m_encrypt);
        EVP_CIPHER_CTX_free(m_decrypt);
        m_encrypt = std::exchange(other.m_encrypt, nullptr);
        m_decrypt = std::exchange(other.m_decrypt, nullptr);
    }
    return *this;
}

Result<AesGcmKey> AesGcmKey::create(QByteArrayView key)
{
    if (key.size() != kKeySize)
        return makeError(ErrorCode::Crypto, QStringLiteral("AES-GCM: bad key length"));
    AesGcmKey out;
    out.m_encrypt = EVP_CIPHER_CTX_new();
    out.m_decrypt = EVP_CIPHER_CTX_new();
    if (!out.m_encrypt || !out.m_decrypt
        || EVP_EncryptInit_ex2(out.m_encrypt, aes256gcm(), bytes(key), nullptr, nullptr) != 1
        || EVP_DecryptInit_ex2(out.m_decrypt, aes256gcm(), bytes(key), nullptr, nullptr) != 1)
        return opensslError("AES-GCM init");
    return out;
}

namespace {

Result<QByteArray> gcmSeal(EVP_CIPHER_CTX *ctx, QByteArrayView aad, QByteArrayView plaintext)
{
    int len = 0;
    if (!aad.isEmpty()
        && EVP_EncryptUpdate(ctx, nullptr, &len, bytes(aad), int(aad.size())) != 1)
        return opensslError("AES-GCM aad");
    QByteArray out(plaintext.size() + kTagSize, Qt::Uninitialized);
    auto *o = reinterpret_cast<unsigned char *>(out.data());
    int total = 0;
    if (!plaintext.isEmpty()) {
        if (EVP_EncryptUpdate(ctx, o, &len, bytes(plaintext), int(plaintext.size())) != 1)
            return opensslError("AES-GCM encrypt");
        total = len;
    }
    if (EVP_EncryptFinal_ex(ctx, o + total, &len) != 1)
        return opensslError("AES-GCM final");
    total += len;
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, kTagSize, o + total) != 1)
        return opensslError("AES-GCM tag");
    return out;
}

Result<SecretBytes> gcmOpen(EVP_CIPHER_CTX *ctx, QByteArrayView aad,
                            QByteArrayView ciphertextAndTag)
{
    int len = 0;
    if (!aad.isEmpty()
        && EVP_DecryptUpdate(ctx, nullptr, &len, bytes(aad), int(aad.size())) != 1)
        return opensslError("AES-GCM aad");
    const qsizetype ctLen = ciphertextAndTag.size() - kTagSize;
    SecretBytes out{std::size_t(ctLen)};
    int total = 0;
    if (ctLen > 0) {
        if (EVP_DecryptUpdate(ctx, out.data(), &len, bytes(ciphertextAndTag), int(ctLen)) != 1)
            return opensslError("AES-GCM decrypt");
        total = len;
    }
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, kTagSize,
                            const_cast<unsigned char *>(bytes(ciphertextAndTag) + ctLen))
            != 1
        || EVP_DecryptFinal_ex(ctx, out.data() + total, &len) != 1) {
        ERR_clear_error();
        return makeError(ErrorCode::Crypto, QStringLiteral("authentication failed"));
    }
    return out;
}

} // namespace

Result<QByteArray> AesGcmKey::seal(QByteArrayView nonce, QByteArrayView aad,
                                   QByteArrayView plaintext)
{
    if (!m_encrypt || nonce.size() != kNonceSize)
        return makeError(ErrorCode::Crypto, QStringLiteral("AES-GCM: no key or bad nonce length"));
    // Only the nonce is set: the key schedule from create() stays.
    if (EVP_EncryptInit_ex2(m_encrypt, nullptr, nullptr, bytes(nonce), nullptr) != 1)
        return opensslError("AES-GCM nonce");
    return gcmSeal(m_encrypt, aad, plaintext);
}

Result<SecretBytes> AesGcmKey::open(QByteArrayView nonce, QByteArrayView aad,
                                    QByteArrayView ciphertextAndTag)
{
    if (!m_decrypt || nonce.size() != kNonceSize)
        return makeError(ErrorCode::Crypto, QStringLiteral("AES-GCM: no key or bad nonce length"));
    if (ciphertextAndTag.size() < kTagSize)
        return makeError(ErrorCode::Crypto, QStringLiteral("AES-GCM: ciphertext too short"));
    if (EVP_DecryptInit_ex2(m_decrypt, nullptr, nullptr, bytes(nonce), nullptr) != 1)
        return opensslError("AES-GCM nonce");
    return gcmOpen(m_decrypt, aad, ciphertextAndTag);
}

Result<QByteArray> aesGcmSeal(QByteArrayView key, QByteArrayView nonce, QByteArrayView aad,
                              QByteArrayView plaintext)
{
    if (key.size() != kKeySize || nonce.size() != kNonceSize)
        return makeError(ErrorCode::Crypto, QStringLiteral("AES-GCM: bad key or nonce length"));
    std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree> ctx(EVP_CIPHER_CTX_new());
    if (!ctx || EVP_EncryptInit_ex2(ctx.get(), aes256gcm(), bytes(key), bytes(nonce), nullptr) != 1)
        return opensslError("AES-GCM init");
    return gcmSeal(ctx.get(), aad, plaintext);
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
    return gcmOpen(ctx.get(), aad, ciphertextAndTag);
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
