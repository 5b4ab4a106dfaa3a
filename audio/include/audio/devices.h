#pragma once

// Audio devices behind two small interfaces, so that the media pipeline runs the same against a
// sound card (PortAudio) and against files (tests, demos, headless runs). Both are pull/push
// buffers in 48 kHz mono 16-bit; the media clock calls read()/write() every 20 ms from the
// thread that created the device.

#include "core/result.h"

#include <QElapsedTimer>
#include <QString>

#include <functional>
#include <memory>
#include <vector>

namespace sotto::audio {

class IAudioInput
{
public:
    virtual ~IAudioInput() = default;
    virtual Result<void> start() = 0;
    virtual void stop() = 0;
    // Up to maxSamples captured samples that are ready now; never blocks.
    virtual qsizetype read(qint16 *dst, qsizetype maxSamples) = 0;
    virtual QString name() const = 0;
    // Non-empty once the device has failed (unplugged, stopped by the system).
    virtual QString error() const { return {}; }
};

class IAudioOutput
{
public:
    virtual ~IAudioOutput() = default;
    virtual Result<void> start() = 0;
    virtual void stop() = 0;
    // Queues samples for playback; returns how many were taken.
    virtual qsizetype write(const qint16 *src, qsizetype count) = 0;
    virtual QString name() const = 0;
    virtual QString error() const { return {}; }
};

// WAV in, paced by a clock so it behaves like a sound card: read() hands out only as many
// samples as real time has produced since start(). After the end: silence, or the file again
// when looped.
class FileAudioInput : public IAudioInput
{
public:
    static Result<std::unique_ptr<FileAudioInput>> open(const QString &path, bool loop);
    // Samples given directly (generated tones, tests).
    explicit FileAudioInput(std::vector<qint16> samples, bool loop = false, QString name = QStringLiteral("generated"));

    Result<void> start() override;
    void stop() override;
    qsizetype read(qint16 *dst, qsizetype maxSamples) override;
    QString name() const override { return m_name; }
    bool finished() const { return !m_loop && m_pos >= qsizetype(m_samples.size()); }

private:
    std::vector<qint16> m_samples;
    bool m_loop;
    QString m_name;
    QElapsedTimer m_clock;
    qint64 m_delivered = 0;
    qsizetype m_pos = 0;
};

// WAV out: what would have been played, written as it comes.
class FileAudioOutput : public IAudioOutput
{
public:
    explicit FileAudioOutput(QString path);
    ~FileAudioOutput() override;
    Result<void> start() override;
    void stop() override;
    qsizetype write(const qint16 *src, qsizetype count) override;
    QString name() const override { return m_path; }

private:
    QString m_path;
    struct Writer;
    std::unique_ptr<Writer> m_writer;
};

// Discards what it is given (a phone that records nothing).
class NullAudioOutput : public IAudioOutput
{
public:
    Result<void> start() override { return {}; }
    void stop() override {}
    qsizetype write(const qint16 *, qsizetype count) override { return count; }
    QString name() const override { return QStringLiteral("none"); }
};

// Silence at the pace of a sound card (a phone with no microphone file).
std::unique_ptr<IAudioInput> makeSilentInput();

} // namespace sotto::audio
