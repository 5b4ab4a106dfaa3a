#pragma once

// SKBP/1 derivations and key wrapping (PROTOCOL.md §2, §4, §5, §6.1). Pure functions over
// core/crypto; every one has a known-answer row in tests/core/tst_skbp.cpp.

#include "core/crypto.h"
#include "core/result.h"
#include "core/secretbytes.h"

#include <QByteArray>
#include <QString>

namespace sotto::skbp {

constexpr int kKeySize = 32;
constexpr int kSidSize = 16;
constexpr int kNonceSize = 16;     // login nonces n_c, n_b
constexpr int kWrappedSize = 65;   // wrap() of a 32-byte secret
constexpr int kSrtpMaterialSize = 44;
constexpr int kTokenSize = 16;     // a relay token (call_key, incoming) or a trunk token (fcall)
constexpr int kProofSize = 32;     // rotateProof()
constexpr quint16 kDefaultPort = 7420;

enum class KeyMode { Derived, Patent };

enum class WrapPurpose : quint8 { Call = 1, Join = 2, Rekey = 3, Rotate = 4, Federation = 5 };

// Accounts are 1–64 bytes of [a-z0-9._-].
bool isValidAccount(QStringView account);
// An account of this broker ("dave") or of a peered one ("dave@b"; broker names follow the
// same rule as accounts).
bool isValidAddress(QStringView address);

// An address as a value: an account of this broker ({"dave", ""}, written "dave") or of a peered
// one ({"dave", "b"}, written "dave@b"). parse() splits at the '@' and checks nothing: validate
// text with isValidAddress() first (the wire schema does).
struct Address
{
    QString account;
    QString broker; // empty: this broker's own

    static Address parse(const QString &text);
    bool isRemote() const { return !broker.isEmpty(); }
    QString toString() const;
    // As broker `self` writes it: its own accounts lose "@self".
    Address relativeTo(const QString &self) const;
    // As written by the broker `from` and read here: its bare accounts are "@from", ours ("@self")
    // are bare, a third broker's stay as they are.
    Address fromPeer(const QString &from, const QString &self) const;
    bool operator==(const Address &) const = default;
};

QByteArray u32(quint32 n);
QByteArray lp(QStringView text); // one length byte, then UTF-8

// fp(x) = first 8 bytes of SHA-256("SKBP/1 fingerprint" || x), "3f2a-91c0-7d4e-b815".
QString fingerprint(QByteArrayView x);
inline QString fingerprint(const SecretBytes &x) { return fingerprint(x.view()); }

QByteArray enrollPrologue(QStringView account, quint32 epoch);
// K_new = HKDF(salt = h, ikm = k_i2r || k_r2i, info = "SKBP/1 broker-key", 32)
Result<SecretBytes> brokerKey(QByteArrayView handshakeHash, const SecretBytes &kI2r,
                              const SecretBytes &kR2i);

// Federation (§8): prologue of the inter-broker handshake (Noise KKpsk0) and the inter-broker key
// K_AB = HKDF(salt = h, ikm = k_i2r || k_r2i, info = "SKBP/1 inter-broker-key", 32).
QByteArray federatePrologue(QStringView initiator, QStringView responder, quint32 epoch);
Result<SecretBytes> interBrokerKey(QByteArrayView handshakeHash, const SecretBytes &kI2r, const SecretBytes &kR2i);

struct ChannelKeys
{
    SecretBytes clientToBroker;
    SecretBytes brokerToClient;
};
Result<ChannelKeys> channelKeys(const SecretBytes &brokerKey, QStringView account, quint32 epoch,
                                QByteArrayView nonceClient, QByteArrayView nonceBroker);

Result<SecretBytes> wrapKey(const SecretBytes &key);
QByteArray wrapAad(WrapPurpose purpose, QByteArrayView sid, quint32 gen, QStringView owner,
                   quint32 epoch);

struct WrapContext
{
    WrapPurpose purpose = WrapPurpose::Call;
    QByteArray sid = QByteArray(kSidSize, '\0'); // 16 zero bytes for rotate
    quint32 gen = 0;
    QString owner;
};

// wrap(K@epoch, secret) = 0x01 || u32(epoch) || nonce12 || AEAD(wrap_key(K), nonce12, secret, aad)
// nonce: 12 bytes, or empty for a fresh random one.
Result<QByteArray> wrap(const SecretBytes &key, quint32 epoch, const SecretBytes &secret,
                        const WrapContext &ctx, QByteArrayView nonce = {});
// The same under wrap_key(K) already keyed into an AES-GCM context: callers that wrap or
// unwrap often keep it beside K (it changes only when K does) and save an HKDF and a key
// schedule per call. Not thread-safe (the cipher's contexts are reused).
Result<QByteArray> wrapWith(crypto::AesGcmKey &wrapCipher, quint32 epoch, const SecretBytes &secret,
                            const WrapContext &ctx, QByteArrayView nonce = {});
Result<SecretBytes> unwrapWith(crypto::AesGcmKey &wrapCipher, quint32 epoch, QByteArrayView wrapped,
                               const WrapContext &ctx);

// wrap_key(K), keyed into AES-GCM, for the last two keys asked for (an account's current and
// pending key), recomputed only when a new K comes. Fails only as AesGcmKey::create does. The
// pointer stays valid until the next get(). Not thread-safe.
class WrapKeyCache
{
public:
    Result<crypto::AesGcmKey *> get(const SecretBytes &key);

private:
    struct Slot
    {
        SecretBytes key;
        crypto::AesGcmKey cipher;
    };
    Slot m_slots[2];
    int m_next = 0;
};

// The epoch named inside a wrapped blob (or an error when it is not a wrapped blob).
Result<quint32> wrappedEpoch(QByteArrayView wrapped);
// Fails (ErrorCode::Crypto) on any tampering, wrong key, wrong context or wrong epoch.
Result<SecretBytes> unwrap(const SecretBytes &key, quint32 epoch, QByteArrayView wrapped,
                           const WrapContext &ctx);

// SK_0 of a call keyed from the callee's key. `home` is empty for a call homed at the callee's
// own broker; for a call from a peered broker it names that broker (the session's home), and
// the derivation is separated from every local one (PROTOCOL.md §8): a peer that
// picks the sid of a local call still gets another key.
//   local:     HKDF(sid, K_callee@e, "SKBP/1 session" ‖ lp(callee) ‖ u32(e), 32)
//   federated: HKDF(sid, K_callee@e, "SKBP/1 federated-session" ‖ lp(callee) ‖ u32(e) ‖ lp(home), 32)
Result<SecretBytes> sessionKey(KeyMode mode, const SecretBytes &calleeKey, QByteArrayView sid,
                               QStringView callee, quint32 epoch, QStringView home = {});
Result<SecretBytes> ratchet(const SecretBytes &sessionKey, QByteArrayView sid, quint32 nextGen);

struct SrtpMaterial
{
    SecretBytes masterKey;  // 32
    SecretBytes masterSalt; // 12
};
// HKDF(salt = sid, IKM = SK_g, "SKBP/1 srtp" || u32(gen) || u32(ssrc), 44) → key 32 || salt 12.
Result<SrtpMaterial> srtpMaterial(const SecretBytes &sessionKey, QByteArrayView sid, quint32 gen,
                                  quint32 ssrc);

// The SRTP keys of one generation of a session. Every sender's material shares the HKDF
// extract (same salt and IKM) and differs only in the expand's info, so the extract is done
// once here and each material() is one expand (two pre-keyed HMACs). Holds PRK, not SK_g;
// wiped on destruction. Reentrant.
class SrtpKeys
{
public:
    SrtpKeys(const SecretBytes &sessionKey, QByteArrayView sid, quint32 gen);
    quint32 gen() const { return m_gen; }
    SrtpMaterial material(quint32 ssrc) const;

private:
    crypto::HkdfPrk m_prk;
    quint32 m_gen;
};

Result<QByteArray> rotateProof(const SecretBytes &nextKey, QStringView account, quint32 nextEpoch);

} // namespace sotto::skbp
