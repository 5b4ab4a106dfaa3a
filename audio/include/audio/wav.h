#pragma once

// WAV files, PCM 16-bit only. Reading converts to 48 kHz mono (speexdsp's resampler for other
// rates, channel average for stereo); anything else is refused with a clear error. Writing
// streams samples and keeps the header valid after every write, so a crash leaves a playable
// file.

#include "core/result.h"

#include <QFile>
#include <QString>

#include <vector>

namespace sotto::audio {

// The whole file as 48 kHz mono samples.
Result<std::vector<qint16>> readWav(const QString &path);

class WavWriter
{
public:
    WavWriter() = default;
    ~WavWriter();
    WavWriter(const WavWriter &) = delete;
    WavWriter &operator=(const WavWriter &) = delete;

    Result<void> open(const QString &path);
    Result<void> write(const qint16 *samples, qsizetype count);
    void close();
    bool isOpen() const { return m_file.isOpen(); }
    qint64 samplesWritten() const { return m_samples; }

private:
    void patchHeader();
    QFile m_file;
    qint64 m_samples = 0;
};

} // namespace sotto::audio
