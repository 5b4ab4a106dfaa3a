#pragma once

// The one audio format inside Sotto (PROTOCOL.md §7): 48 kHz, mono, 16-bit, 20 ms frames.

#include <QtGlobal>

namespace sotto::audio {

constexpr int kSampleRate = 48000;
constexpr int kFrameMs = 20;
constexpr int kFrameSamples = kSampleRate * kFrameMs / 1000; // 960

} // namespace sotto::audio
