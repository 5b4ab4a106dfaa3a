#include "audio/opuscodec.h"

#include "audio/format.h"

#include <opus/opus.h>

namespace sotto::audio {

namespace {
Error opusError(const char *what, int code)
{
    return makeError(ErrorCode::Internal, QStringLiteral("opus %1: %2").arg(QLatin1StringView(what),
                                                                            QLatin1StringView(opus_strerror(code))));
}
constexpr int kMaxPacket = 1500;
} // namespace

Result<std::unique_ptr<OpusEncoderWrapper>> OpusEncoderWrapper::create(Settings settings)
{
    int err = 0;
    std::unique_ptr<OpusEncoderWrapper> w(new OpusEncoderWrapper);
    w->m_enc = opus_encoder_create(kSampleRate, 1, OPUS_APPLICATION_VOIP, &err);
    if (err != OPUS_OK || !w->m_enc)
        return opusError("encoder", err);
    opus_encoder_ctl(w->m_enc, OPUS_SET_BITRATE(settings.bitrate));
    opus_encoder_ctl(w->m_enc, OPUS_SET_INBAND_FEC(settings.fec ? 1 : 0));
    opus_encoder_ctl(w->m_enc, OPUS_SET_DTX(settings.dtx ? 1 : 0));
    opus_encoder_ctl(w->m_enc, OPUS_SET_PACKET_LOSS_PERC(settings.expectedLossPercent));
    opus_encoder_ctl(w->m_enc, OPUS_SET_SIGNAL(OPUS_SIGNAL_VOICE));
    opus_encoder_ctl(w->m_enc, OPUS_SET_COMPLEXITY(std::clamp(settings.complexity, 0, 10)));
    return w;
}

OpusEncoderWrapper::~OpusEncoderWrapper()
{
    if (m_enc)
        opus_encoder_destroy(m_enc);
}

Result<QByteArray> OpusEncoderWrapper::encode(const qint16 *frame)
{
    QByteArray out(kMaxPacket, Qt::Uninitialized);
    const int n = opus_encode(m_enc, frame, kFrameSamples, reinterpret_cast<unsigned char *>(out.data()), kMaxPacket);
    if (n < 0)
        return opusError("encode", n);
    out.resize(n);
    return out;
}

void OpusEncoderWrapper::setExpectedLoss(int percent)
{
    opus_encoder_ctl(m_enc, OPUS_SET_PACKET_LOSS_PERC(std::clamp(percent, 0, 100)));
}

Result<std::unique_ptr<OpusDecoderWrapper>> OpusDecoderWrapper::create()
{
    int err = 0;
    std::unique_ptr<OpusDecoderWrapper> w(new OpusDecoderWrapper);
    w->m_dec = opus_decoder_create(kSampleRate, 1, &err);
    if (err != OPUS_OK || !w->m_dec)
        return opusError("decoder", err);
    return w;
}

OpusDecoderWrapper::~OpusDecoderWrapper()
{
    if (m_dec)
        opus_decoder_destroy(m_dec);
}

Result<void> OpusDecoderWrapper::decode(QByteArrayView packet, qint16 *out)
{
    const int n = opus_decode(m_dec, reinterpret_cast<const unsigned char *>(packet.data()), opus_int32(packet.size()),
                              out, kFrameSamples, 0);
    if (n < 0)
        return opusError("decode", n);
    return {};
}

Result<void> OpusDecoderWrapper::decodeFec(QByteArrayView next, qint16 *out)
{
    const int n = opus_decode(m_dec, reinterpret_cast<const unsigned char *>(next.data()), opus_int32(next.size()),
                              out, kFrameSamples, 1);
    if (n < 0)
        return opusError("fec", n);
    return {};
}

Result<void> OpusDecoderWrapper::conceal(qint16 *out)
{
    const int n = opus_decode(m_dec, nullptr, 0, out, kFrameSamples, 0);
    if (n < 0)
        return opusError("plc", n);
    return {};
}

} // namespace sotto::audio
