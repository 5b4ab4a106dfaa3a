#pragma once

// The Noise Protocol Framework (revision 34), only what SKBP/1 needs:
// Noise_{NK,KK,NKpsk0,KKpsk0}_25519_AESGCM_SHA256. The primitives come from core/crypto.
// Not thread-safe; one object per handshake.

#include "core/result.h"
#include "core/secretbytes.h"

#include <QByteArray>

#include <optional>
#include <utility>

namespace sotto::noise {

constexpr int kMaxMessage = 65535;
constexpr int kTagSize = 16; // AES-GCM

// Noise CipherState for AESGCM: nonce = 4 zero bytes || big-endian u64 counter.
class CipherState
{
public:
    CipherState() = default;
    explicit CipherState(SecretBytes key) : m_key(std::move(key)) {}

    bool hasKey() const { return !m_key.isEmpty(); }
    quint64 nonce() const { return m_nonce; }
    const SecretBytes &key() const { return m_key; }

    // Without a key these pass the plaintext through (the Noise rule). A failed decryption leaves
    // the nonce where it was, so a forged frame cannot desynchronise the channel; a plaintext
    // whose ciphertext would exceed kMaxMessage is refused (ErrorCode::TooLarge) before the
    // nonce moves, so a message too big to send cannot desynchronise it either.
    Result<QByteArray> encryptWithAd(QByteArrayView ad, QByteArrayView plaintext);
    Result<QByteArray> decryptWithAd(QByteArrayView ad, QByteArrayView ciphertext);

private:
    SecretBytes m_key;
    quint64 m_nonce = 0;
};

enum class Pattern { NK, KK, NKpsk0, KKpsk0 };

struct HandshakeConfig
{
    Pattern pattern = Pattern::NK;
    bool initiator = true;
    QByteArray prologue;
    SecretBytes localStatic;        // private key; required where the pattern has "s" for us
    QByteArray remoteStatic;        // public key known beforehand (NK: the responder's)
    SecretBytes psk;                // 32 bytes, psk patterns only
    // Fixed ephemeral private key, for known-answer tests only; normally drawn from the CSPRNG.
    std::optional<SecretBytes> fixedEphemeral;
};

class HandshakeState
{
public:
    static Result<HandshakeState> create(HandshakeConfig config);

    Result<QByteArray> writeMessage(QByteArrayView payload);
    Result<QByteArray> readMessage(QByteArrayView message); // returns the payload

    bool isComplete() const;
    QByteArray handshakeHash() const { return m_h; }
    QByteArray remoteStatic() const { return m_rs; }
    // After completion: (initiator→responder, responder→initiator).
    std::pair<CipherState, CipherState> split() const;

private:
    HandshakeState() = default;
    void mixHash(QByteArrayView data);
    Result<void> mixKey(QByteArrayView ikm);
    Result<void> mixKeyAndHash(QByteArrayView ikm);
    Result<QByteArray> encryptAndHash(QByteArrayView plaintext);
    Result<QByteArray> decryptAndHash(QByteArrayView ciphertext);
    Result<void> dh(const SecretBytes &priv, QByteArrayView pub);

    HandshakeConfig m_cfg;
    QByteArray m_h;
    SecretBytes m_ck;
    CipherState m_cipher;
    SecretBytes m_e; // own ephemeral private
    QByteArray m_ePub;
    QByteArray m_sPub;
    QByteArray m_re;
    QByteArray m_rs;
    int m_messageIndex = 0;
};

} // namespace sotto::noise
