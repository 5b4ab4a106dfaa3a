#pragma once

// Sound cards through PortAudio: 48 kHz mono 16-bit, 10 ms buffers. The device callback and the
// media thread meet in a lock-free single-producer/single-consumer ring. No device, a device that
// cannot do 48 kHz mono, or a device that vanishes mid-call: a clear error (from start(), or
// from error() once the stream has stopped) — never a crash or a hang.

#include "audio/devices.h"

#include <QString>
#include <QStringList>

#include <memory>

namespace sotto::audio {

struct AudioDeviceInfo
{
    QString name;
    QString hostApi;
    int maxInputChannels = 0;
    int maxOutputChannels = 0;
    bool isDefaultInput = false;
    bool isDefaultOutput = false;
};

// Lists devices. With `rescan`, PortAudio is restarted first (its way of noticing hot-plug);
// only do that when no stream is open.
Result<std::vector<AudioDeviceInfo>> listAudioDevices(bool rescan = false);

// Opens a device by name ("" or "default": the system default). Errors name what is missing.
Result<std::unique_ptr<IAudioInput>> openPortAudioInput(const QString &device);
Result<std::unique_ptr<IAudioOutput>> openPortAudioOutput(const QString &device);

} // namespace sotto::audio
