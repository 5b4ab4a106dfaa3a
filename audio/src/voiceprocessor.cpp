#include "audio/voiceprocessor.h"

#include "audio/format.h"

#include <speex/speex_echo.h>
#include <speex/speex_preprocess.h>

#include <algorithm>
#include <cstring>

namespace sotto::audio {

VoiceProcessor::VoiceProcessor(Settings settings)
    : m_settings(settings), m_scratch(new short[kFrameSamples])
{
    m_pre = speex_preprocess_state_init(kFrameSamples, kSampleRate);
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
        m_echo = speex_echo_state_init(kFrameSamples, std::max(kFrameSamples, settings.echoTailMs * kSampleRate / 1000));
        int rate = kSampleRate;
        speex_echo_ctl(m_echo, SPEEX_ECHO_SET_SAMPLING_RATE, &rate);
        speex_preprocess_ctl(m_pre, SPEEX_PREPROCESS_SET_ECHO_STATE, m_echo); // residual echo suppression
    }
}

VoiceProcessor::~VoiceProcessor()
{
    if (m_echo)
        speex_echo_state_destroy(m_echo);
    if (m_pre)
        speex_preprocess_state_destroy(m_pre);
}

bool VoiceProcessor::process(short *frame, const short *played)
{
    if (m_echo) {
        static const short silence[kFrameSamples] = {};
        speex_echo_cancellation(m_echo, frame, played ? played : silence, m_scratch.get());
        std::memcpy(frame, m_scratch.get(), sizeof(short) * kFrameSamples);
    }
    speex_preprocess_run(m_pre, frame);
    int probability = 0;
    speex_preprocess_ctl(m_pre, SPEEX_PREPROCESS_GET_PROB, &probability);
    return probability >= 50;
}

} // namespace sotto::audio
