#pragma once

// SRTP for one sender (PROTOCOL.md §7): libsrtp2, AEAD_AES_256_GCM, key and salt from
// srtp(g, ssrc), and a 4-byte MKI holding u32(g) so that a receiver picks the generation from
// the packet instead of trying keys. Not thread-safe; one object per direction and sender.

#include "core/result.h"
#include "core/skbp.h"

#include <QByteArray>

#include <map>
#include <variant>
#include <memory>

namespace sotto::audio {

constexpr int kMkiSize = 4;

enum class SrtpFailure { Malformed, UnknownGeneration, Authentication, Replay, Other };

struct SrtpError
{
    SrtpFailure kind;
    QString message;
};

// The generation named by an SRTP packet's MKI (its last four bytes), or -1 if too short.
qint64 srtpPacketGeneration(QByteArrayView packet);

class SrtpSender
{
public:
    static Result<std::unique_ptr<SrtpSender>> create(quint32 ssrc, quint32 gen, const skbp::SrtpMaterial &key);
    ~SrtpSender();
    quint32 generation() const { return m_gen; }
    // RTP in, SRTP out (the GCM tag and the MKI appended).
    Result<QByteArray> protect(QByteArrayView rtp);

private:
    SrtpSender() = default;
    struct Session;
    std::unique_ptr<Session> m_session;
    quint32 m_gen = 0;
};

// Receives one remote sender; holds a context per generation (at most a few; the caller drops
// the previous one within 2 s of a switch).
class SrtpReceiver
{
public:
    explicit SrtpReceiver(quint32 ssrc);
    ~SrtpReceiver();
    Result<void> addGeneration(quint32 gen, const skbp::SrtpMaterial &key);
    void dropGeneration(quint32 gen);
    bool hasGeneration(quint32 gen) const { return m_sessions.contains(gen); }

    struct Unprotected
    {
        QByteArray rtp;
        quint32 gen = 0;
    };
    // Never decrypts by trial: the MKI picks the context, which authenticates and checks replay.
    std::variant<Unprotected, SrtpError> unprotect(QByteArrayView srtp);

private:
    struct Session;
    quint32 m_ssrc;
    std::map<quint32, std::unique_ptr<Session>> m_sessions;
};

} // namespace sotto::audio
