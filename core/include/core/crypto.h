#pragma once

// Thin wrappers over OpenSSL 3. Nothing here implements a primitive; every function either
// returns its result or a Result error (OpenSSL failure, bad key length, failed authentication).
// All functions are reentrant and may be called from any thread.

#include "core/result.h"
#include "core/secretbytes.h"

#include <QByteArray>
#include <QByteArrayView>

namespace sotto::crypto {

constexpr int kKeySize = 32;
constexpr int kNonceSize = 12;
constexpr int kTagSize = 16;

// OpenSSL's CSPRNG (RAND_bytes). Fails only if the RNG cannot be seeded.
Result<QByteArray> randomBytes(int size);
Result<SecretBytes> randomSecret(int size);

QByteArray sha256(QByteArrayView data);
Result<SecretBytes> hmacSha256(QByteArrayView key, QByteArrayView data);

// RFC 5869 HKDF with SHA-256. An empty salt is HashLen zero bytes (the RFC's rule).
Result<SecretBytes> hkdf(QByteArrayView salt, QByteArrayView ikm, QByteArrayView info,
                         int length);

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
