#pragma once

// Microphone processing with speexdsp, each part switchable: acoustic echo cancellation (with
// what was just played as the reference), noise suppression, automatic gain control, and voice
// activity (for a "talking" indicator). 20 ms frames at 48 kHz mono.

#include <memory>

struct SpeexEchoState_;
struct SpeexPreprocessState_;

namespace sotto::audio {

class VoiceProcessor
{
public:
    struct Settings
    {
        bool echoCancellation = true;
        bool noiseSuppression = true;
        bool automaticGain = true;
        int echoTailMs = 100; // a laptop or headset; the filter cost grows with the tail
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
    SpeexEchoState_ *m_echo = nullptr;
    SpeexPreprocessState_ *m_pre = nullptr;
    std::unique_ptr<short[]> m_scratch;
};

} // namespace sotto::audio
