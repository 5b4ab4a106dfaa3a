#pragma once

// Microphone processing, each part switchable: acoustic echo cancellation (with what was just
// played as the reference), noise suppression, automatic gain control (speexdsp), and voice
// activity (for a "talking" indicator). 20 ms frames at 48 kHz mono in and out.
//
// With any processing on, it runs at processingRate (16 kHz by default: the wideband voice
// band, a third of the samples and a smaller echo filter than at 48 kHz), resampled down and
// back up with speexdsp's resampler; what comes out is band-limited to processingRate / 2.
// With all of it off, the frame is left as it is and voice activity comes from a cheap energy
// detector (EnergyVad) instead of the preprocessor.
// Not thread-safe: one capture thread.

#include <memory>

struct SpeexEchoState_;
struct SpeexPreprocessState_;
struct SpeexResamplerState_;

namespace sotto::audio {

// Voice activity from frame energy against a tracked noise floor: talking while a frame is
// 12 dB over the floor (and over -55 dBFS), held for 300 ms after, so that the pauses inside
// speech do not flicker. The floor follows quieter frames at once and louder ones at 3 dB/s,
// so steady noise stops counting as speech within seconds.
class EnergyVad
{
public:
    bool update(const short *frame, int samples);

private:
    double m_floorDb = -60;
    int m_hold = 0;
};

class VoiceProcessor
{
public:
    struct Settings
    {
        bool echoCancellation = true;
        bool noiseSuppression = true;
        bool automaticGain = true;
        int echoTailMs = 100; // a laptop or headset; the filter cost grows with the tail
        int processingRate = 16000; // 16000, 24000 or 48000
    };
    explicit VoiceProcessor(Settings settings);
    ~VoiceProcessor();
    VoiceProcessor(const VoiceProcessor &) = delete;
    VoiceProcessor &operator=(const VoiceProcessor &) = delete;

    // Processes one captured frame in place. `played` is the frame that went to the loudspeaker
    // at the same time (null when nothing was played). Returns true while someone is talking.
    bool process(short *frame, const short *played);
    const Settings &settings() const { return m_settings; }

private:
    Settings m_settings;
    int m_frame = 0; // samples per 20 ms at the processing rate
    SpeexEchoState_ *m_echo = nullptr;
    SpeexPreprocessState_ *m_pre = nullptr;
    SpeexResamplerState_ *m_down = nullptr;    // microphone, 48 kHz → processing rate
    SpeexResamplerState_ *m_refDown = nullptr; // loudspeaker reference, the same
    SpeexResamplerState_ *m_up = nullptr;      // back to 48 kHz
    std::unique_ptr<short[]> m_mic, m_ref, m_out;
    EnergyVad m_vad;
};

} // namespace sotto::audio
