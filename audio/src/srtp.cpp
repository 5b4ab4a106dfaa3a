#include "audio/srtp.h"

#include <QtEndian>

#include <openssl/crypto.h>
#include <srtp2/srtp.h>

#include <cstring>
#include <mutex>

namespace sotto::audio {

namespace {

bool ensureInit()
{
    static const bool ok = srtp_init() == srtp_err_status_ok;
    return ok;
}

// Builds a one-key policy and creates a session; wipes the key copy it made.
srtp_err_status_t createSession(srtp_t *session, quint32 ssrc, quint32 gen, const skbp::SrtpMaterial &m)
{
    unsigned char key[44];
    std::memcpy(key, m.masterKey.data(), 32);
    std::memcpy(key + 32, m.masterSalt.data(), 12);
    unsigned char mki[kMkiSize];
    qToBigEndian(gen, mki);
    srtp_master_key_t master{key, mki, kMkiSize};
    srtp_master_key_t *keys[1] = {&master};
    srtp_policy_t policy;
    std::memset(&policy, 0, sizeof policy);
    srtp_crypto_policy_set_aes_gcm_256_16_auth(&policy.rtp);
    srtp_crypto_policy_set_aes_gcm_256_16_auth(&policy.rtcp);
    policy.ssrc.type = ssrc_specific;
    policy.ssrc.value = ssrc;
    policy.keys = keys;
    policy.num_master_keys = 1;
    policy.window_size = 1024;
    policy.allow_repeat_tx = 0;
    policy.next = nullptr;
    const srtp_err_status_t st = srtp_create(session, &policy);
    OPENSSL_cleanse(key, sizeof key);
    return st;
}

} // namespace

qint64 srtpPacketGeneration(QByteArrayView packet)
{
    if (packet.size() < 12 + 16 + kMkiSize)
        return -1;
    return qFromBigEndian<quint32>(packet.data() + packet.size() - kMkiSize);
}

struct SrtpSender::Session
{
    srtp_t ctx = nullptr;
    ~Session()
    {
        if (ctx)
            srtp_dealloc(ctx);
    }
};

Result<std::unique_ptr<SrtpSender>> SrtpSender::create(quint32 ssrc, quint32 gen, const skbp::SrtpMaterial &key)
{
    if (!ensureInit())
        return makeError(ErrorCode::Internal, QStringLiteral("libsrtp failed to initialise"));
    if (key.masterKey.size() != 32 || key.masterSalt.size() != 12)
        return makeError(ErrorCode::Crypto, QStringLiteral("bad SRTP key material"));
    std::unique_ptr<SrtpSender> s(new SrtpSender);
    s->m_session = std::make_unique<Session>();
    s->m_gen = gen;
    if (createSession(&s->m_session->ctx, ssrc, gen, key) != srtp_err_status_ok)
        return makeError(ErrorCode::Crypto, QStringLiteral("cannot create the SRTP sender"));
    return s;
}

SrtpSender::~SrtpSender() = default;

Result<QByteArray> SrtpSender::protect(QByteArrayView rtp)
{
    QByteArray buf(rtp.size() + SRTP_MAX_TRAILER_LEN, Qt::Uninitialized);
    std::memcpy(buf.data(), rtp.data(), std::size_t(rtp.size()));
    int len = int(rtp.size());
    const srtp_err_status_t st = srtp_protect_mki(m_session->ctx, buf.data(), &len, 1, 0);
    if (st != srtp_err_status_ok)
        return makeError(ErrorCode::Crypto, QStringLiteral("SRTP protect failed (%1)").arg(int(st)));
    buf.resize(len);
    return buf;
}

struct SrtpReceiver::Session
{
    srtp_t ctx = nullptr;
    ~Session()
    {
        if (ctx)
            srtp_dealloc(ctx);
    }
};

SrtpReceiver::SrtpReceiver(quint32 ssrc) : m_ssrc(ssrc) {}
SrtpReceiver::~SrtpReceiver() = default;

Result<void> SrtpReceiver::addGeneration(quint32 gen, const skbp::SrtpMaterial &key)
{
    if (!ensureInit())
        return makeError(ErrorCode::Internal, QStringLiteral("libsrtp failed to initialise"));
    if (m_sessions.contains(gen))
        return {};
    auto s = std::make_unique<Session>();
    if (createSession(&s->ctx, m_ssrc, gen, key) != srtp_err_status_ok)
        return makeError(ErrorCode::Crypto, QStringLiteral("cannot create the SRTP receiver"));
    m_sessions.emplace(gen, std::move(s));
    return {};
}

void SrtpReceiver::dropGeneration(quint32 gen)
{
    m_sessions.erase(gen);
}

std::variant<SrtpReceiver::Unprotected, SrtpError> SrtpReceiver::unprotect(QByteArrayView srtp)
{
    const qint64 gen = srtpPacketGeneration(srtp);
    if (gen < 0)
        return SrtpError{SrtpFailure::Malformed, QStringLiteral("SRTP packet too short")};
    auto it = m_sessions.find(quint32(gen));
    if (it == m_sessions.end())
        return SrtpError{SrtpFailure::UnknownGeneration, QStringLiteral("no key for generation %1").arg(gen)};
    QByteArray buf = srtp.toByteArray();
    int len = int(buf.size());
    const srtp_err_status_t st = srtp_unprotect_mki(it->second->ctx, buf.data(), &len, 1);
    switch (st) {
    case srtp_err_status_ok:
        buf.resize(len);
        return Unprotected{buf, quint32(gen)};
    case srtp_err_status_replay_fail:
    case srtp_err_status_replay_old:
        return SrtpError{SrtpFailure::Replay, QStringLiteral("replayed packet")};
    case srtp_err_status_auth_fail:
    case srtp_err_status_cipher_fail:
        return SrtpError{SrtpFailure::Authentication, QStringLiteral("packet failed authentication")};
    case srtp_err_status_bad_mki:
        return SrtpError{SrtpFailure::UnknownGeneration, QStringLiteral("unknown MKI")};
    case srtp_err_status_bad_param:
    case srtp_err_status_parse_err:
        return SrtpError{SrtpFailure::Malformed, QStringLiteral("malformed SRTP packet")};
    default:
        return SrtpError{SrtpFailure::Other, QStringLiteral("SRTP error %1").arg(int(st))};
    }
}

} // namespace sotto::audio
