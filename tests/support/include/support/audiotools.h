#pragma once

// Test doubles and measurements for audio: an output that keeps what it is given, tone
// generation, and the Goertzel power of one frequency (how we tell who is heard).

#include "audio/devices.h"

#include <vector>

namespace sotto::test {

class MemoryAudioOutput : public audio::IAudioOutput
{
public:
    Result<void> start() override { return {}; }
    void stop() override {}
    qsizetype write(const qint16 *src, qsizetype count) override
    {
        samples.insert(samples.end(), src, src + count);
        return count;
    }
    QString name() const override { return QStringLiteral("memory"); }
    std::vector<qint16> samples;
};

std::vector<qint16> tone(double hz, double seconds, double amplitude = 0.3);

// Power of `hz` relative to the total power of samples[from, to), in dB (Goertzel), summed over
// blocks of `block` samples (100 ms unless asked; a trailing part block is left out). Blocks,
// not one window: a phase break — one concealed frame, a jitter-buffer re-timing — costs only its
// block, where one window over it all loses the tone's coherence from there on and reads a loud,
// clean tone as -10 dB. Every tone the tests use has a whole number of cycles in 100 ms.
inline constexpr std::size_t kToneBlock = 4800;
double toneToTotalDb(const std::vector<qint16> &samples, double hz, std::size_t from, std::size_t to,
                     std::size_t block = kToneBlock);
// Mean square of samples[from, to) relative to full scale, in dBFS.
double levelDb(const std::vector<qint16> &samples, std::size_t from, std::size_t to);

} // namespace sotto::test
