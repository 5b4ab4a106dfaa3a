#include "audio/voiceprocessor.h"

#include "audio/format.h"

#include <speex/speex_echo.h>
#include <speex/speex_preprocess.h>
#include <speex/speex_resampler.h>

#include <algorithm>
#include <cmath>
#include <cstring>

namespace sotto::audio {

bool EnergyVad::update(const short *frame, int samples)
{
    double sum = 0;
    for (int i = 0; i < samples; ++i)
        sum += double(frame[i]) * double(frame[i]);
    const double db = 10 * std::log10(sum / std::max(1, samples) / (32768.0 * 32768.0) + 1e-12);
    constexpr double kRisePerFrame = 3.0 * kFrameMs / 1000; // 3 dB/s
    m_floorDb = db < m_floorDb ? db : m_floorDb + kRisePerFrame;
    const bool loud = db > m_floorDb + 12 && db > -55;
    if (loud)
        m_hold = 300 / kFrameMs;
    else if (m_hold > 0)
        --m_hold;
    return loud || m_hold > 0;
}

namespace {
// speexdsp's quality 1 (16 taps): its pass band reaches 0.85 of 8 kHz, which holds wideband
// voice, at 12 µs less per frame than its "VoIP" quality 3 for the three resamplers.
constexpr int kResamplerQuality = 1;
} // namespace

VoiceProcessor::VoiceProcessor(Settings settings) : m_settings(settings)
{
    if (!settings.echoCancellation && !settings.noiseSuppression && !settings.automaticGain)
        return; // voice activity only: EnergyVad
    const int rate = settings.processingRate == 24000 || settings.processingRate == 48000 ? settings.processingRate : 16000;
    m_settings.processingRate = rate;
    m_frame = rate * kFrameMs / 1000;
    m_mic.reset(new short[std::size_t(m_frame)]);
    m_ref.reset(new short[std::size_t(m_frame)]);
    m_out.reset(new short[std::size_t(m_frame)]);
    if (rate != kSampleRate) {
        int err = 0;
        m_down = speex_resampler_init(1, kSampleRate, spx_uint32_t(rate), kResamplerQuality, &err);
        m_refDown = speex_resampler_init(1, kSampleRate, spx_uint32_t(rate), kResamplerQuality, &err);
        m_up = speex_resampler_init(1, spx_uint32_t(rate), kSampleRate, kResamplerQuality, &err);
        // No leading zeros: the first frame comes out whole (the filter's delay stays).
        speex_resampler_skip_zeros(m_down);
        speex_resampler_skip_zeros(m_refDown);
        speex_resampler_skip_zeros(m_up);
    }
    m_pre = speex_preprocess_state_init(m_frame, rate);
    int on = 1, off = 0;
    speex_preprocess_ctl(m_pre, SPEEX_PREPROCESS_SET_DENOISE, settings.noiseSuppression ? &on : &off);
    speex_preprocess_ctl(m_pre, SPEEX_PREPROCESS_SET_AGC, settings.automaticGain ? &on : &off);
    // Voice activity from the preprocessor's speech probability (its own VAD switch only prints
    // a warning that it is "a hack" and does the same).
    if (settings.automaticGain) {
        float level = 12000;
        speex_preprocess_ctl(m_pre, SPEEX_PREPROCESS_SET_AGC_LEVEL, &level);
    }
    if (settings.echoCancellation) {
        m_echo = speex_echo_state_init(m_frame, std::max(m_frame, settings.echoTailMs * rate / 1000));
        int sampleRate = rate;
        speex_echo_ctl(m_echo, SPEEX_ECHO_SET_SAMPLING_RATE, &sampleRate);
        speex_preprocess_ctl(m_pre, SPEEX_PREPROCESS_SET_ECHO_STATE, m_echo); // residual echo suppression
    }
}

VoiceProcessor::~VoiceProcessor()
{
    if (m_echo)
        speex_echo_state_destroy(m_echo);
    if (m_pre)
        speex_preprocess_state_destroy(m_pre);
    for (SpeexResamplerState_ *r : {m_down, m_refDown, m_up}) {
        if (r)
            speex_resampler_destroy(r);
    }
}

bool VoiceProcessor::process(short *frame, const short *played)
{
    if (!m_pre)
        return m_vad.update(frame, kFrameSamples);
    static const short silence[kFrameSamples] = {};
    const short *reference = played ? played : silence;
    short *mic = frame;
    if (m_down) {
        spx_uint32_t in = kFrameSamples, out = spx_uint32_t(m_frame);
        speex_resampler_process_int(m_down, 0, frame, &in, m_mic.get(), &out);
        std::fill(m_mic.get() + out, m_mic.get() + m_frame, short(0));
        mic = m_mic.get();
        if (m_echo) {
            in = kFrameSamples;
            out = spx_uint32_t(m_frame);
            speex_resampler_process_int(m_refDown, 0, reference, &in, m_ref.get(), &out);
            std::fill(m_ref.get() + out, m_ref.get() + m_frame, short(0));
            reference = m_ref.get();
        }
    }
    if (m_echo) {
        speex_echo_cancellation(m_echo, mic, reference, m_out.get());
        std::memcpy(mic, m_out.get(), sizeof(short) * std::size_t(m_frame));
    }
    speex_preprocess_run(m_pre, mic);
    if (m_up) {
        spx_uint32_t in = spx_uint32_t(m_frame), out = kFrameSamples;
        speex_resampler_process_int(m_up, 0, mic, &in, frame, &out);
        std::fill(frame + out, frame + kFrameSamples, short(0));
    }
    int probability = 0;
    speex_preprocess_ctl(m_pre, SPEEX_PREPROCESS_GET_PROB, &probability);
    return probability >= 50;
}

} // namespace sotto::audio
