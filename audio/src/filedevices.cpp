#include "audio/devices.h"

#include "audio/format.h"
#include "audio/wav.h"

#include <algorithm>

namespace sotto::audio {

Result<std::unique_ptr<FileAudioInput>> FileAudioInput::open(const QString &path, bool loop)
{
    auto samples = readWav(path);
    if (!samples)
        return samples.error();
    return std::make_unique<FileAudioInput>(std::move(*samples), loop, path);
}

FileAudioInput::FileAudioInput(std::vector<qint16> samples, bool loop, QString name)
    : m_samples(std::move(samples)), m_loop(loop && !m_samples.empty()), m_name(std::move(name))
{
}

Result<void> FileAudioInput::start()
{
    m_clock.start();
    m_delivered = 0;
    return {};
}

void FileAudioInput::stop()
{
    m_clock.invalidate();
}

qsizetype FileAudioInput::read(qint16 *dst, qsizetype maxSamples)
{
    if (!m_clock.isValid())
        return 0;
    const qint64 due = m_clock.elapsed() * kSampleRate / 1000 - m_delivered;
    const qsizetype n = qsizetype(std::clamp<qint64>(due, 0, maxSamples));
    for (qsizetype i = 0; i < n; ++i) {
        if (m_pos >= qsizetype(m_samples.size())) {
            if (m_loop)
                m_pos = 0;
        }
        dst[i] = m_pos < qsizetype(m_samples.size()) ? m_samples[std::size_t(m_pos++)] : qint16(0);
    }
    m_delivered += n;
    return n;
}

struct FileAudioOutput::Writer
{
    WavWriter wav;
};

FileAudioOutput::FileAudioOutput(QString path) : m_path(std::move(path)) {}

FileAudioOutput::~FileAudioOutput()
{
    stop();
}

Result<void> FileAudioOutput::start()
{
    m_writer = std::make_unique<Writer>();
    return m_writer->wav.open(m_path);
}

void FileAudioOutput::stop()
{
    if (m_writer)
        m_writer->wav.close();
    m_writer.reset();
}

qsizetype FileAudioOutput::write(const qint16 *src, qsizetype count)
{
    if (!m_writer || !m_writer->wav.write(src, count))
        return 0;
    return count;
}

std::unique_ptr<IAudioInput> makeSilentInput()
{
    return std::make_unique<FileAudioInput>(std::vector<qint16>{}, false, QStringLiteral("silence"));
}

} // namespace sotto::audio
