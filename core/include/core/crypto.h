#pragma once

// Thin wrappers over OpenSSL 3. Nothing here implements a primitive; every function either
// returns its result or a Result error (OpenSSL failure, bad key length, failed authentication).
// All functions are reentrant and may be called from any thread.

#include "core/result.h"
#include "core/secretbytes.h"

#include <QByteArray>
#include <QByteArrayView>

#include <initializer_list>

struct evp_cipher_ctx_st; // OpenSSL's EVP_CIPHER_CTX

namespace sotto::crypto {

constexpr int kKeySize = 32;
constexpr int kNonceSize = 12;
constexpr int kTagSize = 16;

// OpenSSL's CSPRNG (RAND_bytes). Fails only if the RNG cannot be seeded.
Result<QByteArray> randomBytes(int size);
Result<SecretBytes> randomSecret(int size);

QByteArray sha256(QByteArrayView data);
Result<SecretBytes> hmacSha256(QByteArrayView key, QByteArrayView data);

// HMAC-SHA256 (RFC 2104) keyed once. The key's inner and outer pad states (SHA-256 over
// key^ipad and key^opad) are computed at construction, so each MAC costs two SHA-256
// finalisations of its own data on OpenSSL's SHA-256 and nothing else: no allocation, no
// provider dispatch. The states are wiped on destruction. A MAC never fails.
// Reentrant: mac() is const and may run on several threads at once.
class HmacSha256Key
{
public:
    static constexpr int kMacSize = 32;
    static constexpr int kStateSize = 112; // sizeof(SHA256_CTX), checked where it is used

    HmacSha256Key() = default; // the key "" until assigned
    explicit HmacSha256Key(QByteArrayView key);
    ~HmacSha256Key();
    HmacSha256Key(const HmacSha256Key &other) = default;
    HmacSha256Key &operator=(const HmacSha256Key &other) = default;

    // HMAC(key, parts[0] || parts[1] || ...) into out (32 bytes).
    void mac(std::initializer_list<QByteArrayView> parts, unsigned char *out) const
    {
        mac(parts.begin(), parts.size(), out);
    }
    void mac(const QByteArrayView *parts, std::size_t count, unsigned char *out) const;
    SecretBytes mac(QByteArrayView data) const;

private:
    alignas(8) unsigned char m_inner[kStateSize] = {};
    alignas(8) unsigned char m_outer[kStateSize] = {};
    bool m_keyed = false;
};

// RFC 5869 HKDF-SHA256 as its two steps, so that one extract serves several expands (the
// SRTP keys of every sender in one generation share salt and IKM, and differ only in info).
// Holds the PRK as a pre-keyed HMAC; wiped on destruction. Reentrant like HmacSha256Key.
class HkdfPrk
{
public:
    static constexpr int kMaxLength = 255 * 32;

    HkdfPrk() = default;
    // PRK = HMAC(salt, ikm); an empty salt is 32 zero bytes.
    static HkdfPrk extract(QByteArrayView salt, QByteArrayView ikm);
    // OKM = T(1) || T(2) || ... truncated to length, T(i) = HMAC(PRK, T(i-1) || info || i), info
    // the concatenation of infoParts. Returns false (writing nothing) unless 0 < length <= kMaxLength.
    bool expand(std::initializer_list<QByteArrayView> infoParts, unsigned char *out, int length) const;
    Result<SecretBytes> expand(QByteArrayView info, int length) const;

private:
    HmacSha256Key m_prk;
};

// RFC 5869 HKDF with SHA-256. An empty salt is HashLen zero bytes (the RFC's rule).
Result<SecretBytes> hkdf(QByteArrayView salt, QByteArrayView ikm, QByteArrayView info,
                         int length);

// AES-256-GCM keyed once: the key schedule and GHASH tables are built at create(), and each
// seal/open only sets its nonce. For a key used many times (a wrap key for an epoch). Not
// thread-safe: one user at a time (the contexts are reused). Failures as below.
class AesGcmKey
{
public:
    AesGcmKey();
    ~AesGcmKey();
    AesGcmKey(AesGcmKey &&other) noexcept;
    AesGcmKey &operator=(AesGcmKey &&other) noexcept;
    AesGcmKey(const AesGcmKey &) = delete;
    AesGcmKey &operator=(const AesGcmKey &) = delete;

    static Result<AesGcmKey> create(QByteArrayView key);
    bool isValid() const { return m_encrypt != nullptr; }

    Result<QByteArray> seal(QByteArrayView nonce, QByteArrayView aad, QByteArrayView plaintext);
    Result<SecretBytes> open(QByteArrayView nonce, QByteArrayView aad,
                             QByteArrayView ciphertextAndTag);

private:
    ::evp_cipher_ctx_st *m_encrypt = nullptr;
    ::evp_cipher_ctx_st *m_decrypt = nullptr;
};

// AES-256-GCM. seal returns ciphertext || 16-byte tag; open verifies the tag and fails with
// ErrorCode::Crypto on any mismatch (wrong key, nonce, aad, or tampered bytes).
Result<QByteArray> aesGcmSeal(QByteArrayView key, QByteArrayView nonce, QByteArrayView aad,
                              QByteArrayView plaintext);
Result<SecretBytes> aesGcmOpen(QByteArrayView key, QByteArrayView nonce, QByteArrayView aad,
                               QByteArrayView ciphertextAndTag);

// Constant-time equality for MACs and the like.
bool constantTimeEquals(QByteArrayView a, QByteArrayView b);

struct X25519KeyPair
{
    SecretBytes privateKey; // 32 bytes
    QByteArray publicKey;   // 32 bytes
};

Result<X25519KeyPair> x25519Generate();
Result<X25519KeyPair> x25519FromPrivate(QByteArrayView privateKey);
// Fails for a low-order peer key (all-zero shared secret) as RFC 7748 §6.1 allows.
Result<SecretBytes> x25519(QByteArrayView privateKey, QByteArrayView peerPublic);

} // namespace sotto::crypto
