#pragma once

// libopus at Sotto's settings: OPUS_APPLICATION_VOIP, 48 kHz mono, 20 ms frames, 32 kbit/s by
// default, in-band FEC on (the expected loss is fed back from receive statistics), DTX optional,
// complexity 5.

#include "core/result.h"

#include <QByteArray>

#include <memory>

struct OpusEncoder;
struct OpusDecoder;

namespace sotto::audio {

class OpusEncoderWrapper
{
public:
    struct Settings
    {
        int bitrate = 32000;
        bool fec = true;
        bool dtx = false;
        int expectedLossPercent = 0;
        // 0–10. 5 costs about half of 10 for speech at 32 kbit/s with little audible loss
        // (the usual choice of VoIP stacks on laptops and phones).
        int complexity = 5;
    };
    static Result<std::unique_ptr<OpusEncoderWrapper>> create(Settings settings);
    ~OpusEncoderWrapper();

    // One 20 ms frame (960 samples) → one Opus packet (1–2 bytes while DTX is silent).
    Result<QByteArray> encode(const qint16 *frame);
    void setExpectedLoss(int percent);

private:
    OpusEncoderWrapper() = default;
    OpusEncoder *m_enc = nullptr;
};

class OpusDecoderWrapper
{
public:
    static Result<std::unique_ptr<OpusDecoderWrapper>> create();
    ~OpusDecoderWrapper();

    // Decodes one packet into 960 samples.
    Result<void> decode(QByteArrayView packet, qint16 *out);
    // The frame before `next`, recovered from next's in-band FEC.
    Result<void> decodeFec(QByteArrayView next, qint16 *out);
    // Packet loss concealment for one missing frame.
    Result<void> conceal(qint16 *out);

private:
    OpusDecoderWrapper() = default;
    OpusDecoder *m_dec = nullptr;
};

} // namespace sotto::audio
