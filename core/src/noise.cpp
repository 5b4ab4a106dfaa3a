#include "core/noise.h"

#include "core/crypto.h"

#include <QtEndian>

#include <array>
#include <vector>

namespace sotto::noise {

namespace {

QByteArray nonceBytes(quint64 n)
{
    QByteArray nonce(12, '\0');
    qToBigEndian(n, nonce.data() + 4);
    return nonce;
}

enum class Token { E, S, EE, ES, SE, SS, Psk };

const std::vector<std::vector<Token>> &messagePatterns(Pattern p)
{
    using enum Token;
    static const std::vector<std::vector<Token>> nk{{E, ES}, {E, EE}};
    static const std::vector<std::vector<Token>> kk{{E, ES, SS}, {E, EE, SE}};
    static const std::vector<std::vector<Token>> nkpsk0{{Psk, E, ES}, {E, EE}};
    static const std::vector<std::vector<Token>> kkpsk0{{Psk, E, ES, SS}, {E, EE, SE}};
    switch (p) {
    case Pattern::NK:
        return nk;
    case Pattern::KK:
        return kk;
    case Pattern::NKpsk0:
        return nkpsk0;
    case Pattern::KKpsk0:
        return kkpsk0;
    }
    return nk;
}

const char *patternName(Pattern p)
{
    switch (p) {
    case Pattern::NK:
        return "NK";
    case Pattern::KK:
        return "KK";
    case Pattern::NKpsk0:
        return "NKpsk0";
    case Pattern::KKpsk0:
        return "KKpsk0";
    }
    return "";
}

bool hasPsk(Pattern p)
{
    return p == Pattern::NKpsk0 || p == Pattern::KKpsk0;
}
bool initiatorHasStatic(Pattern p)
{
    return p == Pattern::KK || p == Pattern::KKpsk0;
}

Error handshakeError(QString msg)
{
    return makeError(ErrorCode::Crypto, std::move(msg));
}

} // namespace

Result<QByteArray> CipherState::encryptWithAd(QByteArrayView ad, QByteArrayView plaintext)
{
    if (!hasKey())
        return plaintext.toByteArray();
    if (m_nonce == ~quint64(0))
        return handshakeError(QStringLiteral("nonce exhausted"));
    // Refused before the nonce moves: a message that cannot be sent must not desync the
    // counters of the two ends (Noise §3: a transport message is at most 65535 bytes).
    if (plaintext.size() + kTagSize > kMaxMessage)
        return makeError(ErrorCode::TooLarge, QStringLiteral("%1 bytes do not fit a Noise message").arg(plaintext.size()));
    auto ct = crypto::aesGcmSeal(m_key.view(), nonceBytes(m_nonce), ad, plaintext);
    if (ct)
        ++m_nonce;
    return ct;
}

Result<QByteArray> CipherState::decryptWithAd(QByteArrayView ad, QByteArrayView ciphertext)
{
    if (!hasKey())
        return ciphertext.toByteArray();
    if (m_nonce == ~quint64(0))
        return handshakeError(QStringLiteral("nonce exhausted"));
    auto pt = crypto::aesGcmOpen(m_key.view(), nonceBytes(m_nonce), ad, ciphertext);
    if (!pt)
        return pt.error();
    ++m_nonce;
    return pt->view().toByteArray();
}

Result<HandshakeState> HandshakeState::create(HandshakeConfig config)
{
    const Pattern p = config.pattern;
    if (hasPsk(p) && config.psk.size() != 32)
        return handshakeError(QStringLiteral("psk must be 32 bytes"));
    const bool needRemoteStatic = config.initiator || initiatorHasStatic(p);
    if (needRemoteStatic && config.remoteStatic.size() != 32)
        return handshakeError(QStringLiteral("remote static key must be 32 bytes"));
    const bool needLocalStatic = !config.initiator || initiatorHasStatic(p);
    if (needLocalStatic && config.localStatic.size() != 32)
        return handshakeError(QStringLiteral("local static key must be 32 bytes"));

    HandshakeState hs;
    hs.m_cfg = std::move(config);
    if (needLocalStatic) {
        auto kp = crypto::x25519FromPrivate(hs.m_cfg.localStatic.view());
        if (!kp)
            return kp.error();
        hs.m_sPub = kp->publicKey;
    }
    if (needRemoteStatic)
        hs.m_rs = hs.m_cfg.remoteStatic;

    const QByteArray name = QByteArrayLiteral("Noise_") + patternName(p)
        + QByteArrayLiteral("_25519_AESGCM_SHA256");
    hs.m_h = name.size() <= 32 ? name + QByteArray(32 - name.size(), '\0') : crypto::sha256(name);
    hs.m_ck = SecretBytes::copyOf(hs.m_h);
    hs.mixHash(hs.m_cfg.prologue);
    // Pre-messages: KK has "-> s" then "<- s"; NK only "<- s".
    const bool i = hs.m_cfg.initiator;
    if (initiatorHasStatic(p))
        hs.mixHash(i ? hs.m_sPub : hs.m_rs);
    hs.mixHash(i ? hs.m_rs : hs.m_sPub);
    return hs;
}

bool HandshakeState::isComplete() const
{
    return m_messageIndex >= int(messagePatterns(m_cfg.pattern).size());
}

void HandshakeState::mixHash(QByteArrayView data)
{
    m_h = crypto::sha256(m_h + data.toByteArray());
}

Result<void> HandshakeState::mixKey(QByteArrayView ikm)
{
    auto out = crypto::hkdf(m_ck.view(), ikm, {}, 64);
    if (!out)
        return out.error();
    m_ck = SecretBytes::copyOf(out->view().first(32));
    m_cipher = CipherState(SecretBytes::copyOf(out->view().sliced(32, 32)));
    return {};
}

Result<void> HandshakeState::mixKeyAndHash(QByteArrayView ikm)
{
    auto out = crypto::hkdf(m_ck.view(), ikm, {}, 96);
    if (!out)
        return out.error();
    m_ck = SecretBytes::copyOf(out->view().first(32));
    mixHash(out->view().sliced(32, 32));
    m_cipher = CipherState(SecretBytes::copyOf(out->view().sliced(64, 32)));
    return {};
}

Result<QByteArray> HandshakeState::encryptAndHash(QByteArrayView plaintext)
{
    auto ct = m_cipher.encryptWithAd(m_h, plaintext);
    if (ct)
        mixHash(*ct);
    return ct;
}

Result<QByteArray> HandshakeState::decryptAndHash(QByteArrayView ciphertext)
{
    auto pt = m_cipher.decryptWithAd(m_h, ciphertext);
    if (pt)
        mixHash(ciphertext);
    return pt;
}

Result<void> HandshakeState::dh(const SecretBytes &priv, QByteArrayView pub)
{
    auto shared = crypto::x25519(priv.view(), pub);
    if (!shared)
        return shared.error();
    return mixKey(shared->view());
}

Result<QByteArray> HandshakeState::writeMessage(QByteArrayView payload)
{
    const auto &patterns = messagePatterns(m_cfg.pattern);
    if (isComplete())
        return handshakeError(QStringLiteral("handshake already complete"));
    const bool myTurn = (m_messageIndex % 2 == 0) == m_cfg.initiator;
    if (!myTurn)
        return handshakeError(QStringLiteral("not our turn to write"));
    const bool i = m_cfg.initiator;
    QByteArray out;
    for (Token t : patterns[std::size_t(m_messageIndex)]) {
        Result<void> r;
        switch (t) {
        case Token::E: {
            auto kp = m_cfg.fixedEphemeral ? crypto::x25519FromPrivate(m_cfg.fixedEphemeral->view())
                                           : crypto::x25519Generate();
            if (!kp)
                return kp.error();
            m_e = std::move(kp->privateKey);
            m_ePub = kp->publicKey;
            out += m_ePub;
            mixHash(m_ePub);
            if (hasPsk(m_cfg.pattern))
                r = mixKey(m_ePub);
            break;
        }
        case Token::S: {
            auto ct = encryptAndHash(m_sPub);
            if (!ct)
                return ct.error();
            out += *ct;
            break;
        }
        case Token::EE:
            r = dh(m_e, m_re);
            break;
        case Token::ES:
            r = i ? dh(m_e, m_rs) : dh(m_cfg.localStatic, m_re);
            break;
        case Token::SE:
            r = i ? dh(m_cfg.localStatic, m_re) : dh(m_e, m_rs);
            break;
        case Token::SS:
            r = dh(m_cfg.localStatic, m_rs);
            break;
        case Token::Psk:
            r = mixKeyAndHash(m_cfg.psk.view());
            break;
        }
        if (!r)
            return r.error();
    }
    auto ct = encryptAndHash(payload);
    if (!ct)
        return ct.error();
    out += *ct;
    if (out.size() > kMaxMessage)
        return handshakeError(QStringLiteral("handshake message too long"));
    ++m_messageIndex;
    return out;
}

Result<QByteArray> HandshakeState::readMessage(QByteArrayView message)
{
    const auto &patterns = messagePatterns(m_cfg.pattern);
    if (isComplete())
        return handshakeError(QStringLiteral("handshake already complete"));
    const bool theirTurn = (m_messageIndex % 2 == 0) != m_cfg.initiator;
    if (!theirTurn)
        return handshakeError(QStringLiteral("not our turn to read"));
    const bool i = m_cfg.initiator;
    QByteArrayView rest = message;
    for (Token t : patterns[std::size_t(m_messageIndex)]) {
        Result<void> r;
        switch (t) {
        case Token::E:
            if (rest.size() < 32)
                return handshakeError(QStringLiteral("handshake message truncated"));
            m_re = rest.first(32).toByteArray();
            rest = rest.sliced(32);
            mixHash(m_re);
            if (hasPsk(m_cfg.pattern))
                r = mixKey(m_re);
            break;
        case Token::S: {
            const int len = m_cipher.hasKey() ? 48 : 32;
            if (rest.size() < len)
                return handshakeError(QStringLiteral("handshake message truncated"));
            auto pt = decryptAndHash(rest.first(len));
            if (!pt)
                return pt.error();
            m_rs = *pt;
            rest = rest.sliced(len);
            break;
        }
        case Token::EE:
            r = dh(m_e, m_re);
            break;
        case Token::ES:
            r = i ? dh(m_e, m_rs) : dh(m_cfg.localStatic, m_re);
            break;
        case Token::SE:
            r = i ? dh(m_cfg.localStatic, m_re) : dh(m_e, m_rs);
            break;
        case Token::SS:
            r = dh(m_cfg.localStatic, m_rs);
            break;
        case Token::Psk:
            r = mixKeyAndHash(m_cfg.psk.view());
            break;
        }
        if (!r)
            return r.error();
    }
    auto pt = decryptAndHash(rest);
    if (!pt)
        return pt.error();
    ++m_messageIndex;
    return pt;
}

std::pair<CipherState, CipherState> HandshakeState::split() const
{
    auto out = crypto::hkdf(m_ck.view(), {}, {}, 64);
    if (!out)
        return {};
    return {CipherState(SecretBytes::copyOf(out->view().first(32))),
            CipherState(SecretBytes::copyOf(out->view().sliced(32, 32)))};
}

} // namespace sotto::noise
