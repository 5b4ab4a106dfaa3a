#include "audio/portaudiodevices.h"

#include "audio/format.h"
#include "audio/log.h"

#include <portaudio.h>

#ifdef Q_OS_UNIX
#include <fcntl.h>
#include <unistd.h>
#endif

#include <QElapsedTimer>
#include <QThread>

#include <cstdio>
#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

namespace sotto::audio {

namespace {

// ALSA and JACK print dozens of lines while PortAudio probes them (~65 at each start, hundreds
// in a test run): "ALSA lib pcm.c:… Unknown PCM cards.pcm.rear", "Cannot connect to server
// socket…". They say nothing to a person about their call. Standard error is pointed at
// /dev/null for the length of each PortAudio call that probes or opens a device, unless
// SOTTO_AUDIO_DEBUG is set. (Process-wide; the calls are short and on the caller's thread.)
class QuietStderr
{
public:
    QuietStderr()
    {
#ifdef Q_OS_UNIX
        static const bool debug = qEnvironmentVariableIsSet("SOTTO_AUDIO_DEBUG");
        if (debug)
            return;
        std::fflush(stderr);
        const int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (null < 0)
            return;
        m_saved = ::fcntl(2, F_DUPFD_CLOEXEC, 3);
        if (m_saved >= 0)
            ::dup2(null, 2);
        ::close(null);
#endif
    }
    ~QuietStderr()
    {
#ifdef Q_OS_UNIX
        if (m_saved < 0)
            return;
        std::fflush(stderr);
        ::dup2(m_saved, 2);
        ::close(m_saved);
#endif
    }
    QuietStderr(const QuietStderr &) = delete;
    QuietStderr &operator=(const QuietStderr &) = delete;

private:
    int m_saved = -1;
};

// PortAudio is a process-wide library with Pa_Initialize/Pa_Terminate pairs; this is the one
// place that counts them.
class PaLibrary
{
public:
    static PaLibrary &instance()
    {
        static PaLibrary lib;
        return lib;
    }
    PaError acquire()
    {
        std::lock_guard lock(m_mutex);
        if (m_users == 0) {
            const QuietStderr quiet;
            const PaError e = Pa_Initialize();
            if (e != paNoError)
                return e;
        }
        ++m_users;
        return paNoError;
    }
    void release()
    {
        std::lock_guard lock(m_mutex);
        if (m_users > 0 && --m_users == 0) {
            const QuietStderr quiet;
            Pa_Terminate();
        }
    }
    // Restart to see devices plugged in since; only with no user but the caller's scan.
    void rescan()
    {
        std::lock_guard lock(m_mutex);
        if (m_users == 0) {
            const QuietStderr quiet;
            Pa_Initialize();
            Pa_Terminate();
        }
    }

private:
    std::mutex m_mutex;
    int m_users = 0;
};

struct PaUser
{
    PaError error;
    PaUser() : error(PaLibrary::instance().acquire()) {}
    ~PaUser()
    {
        if (error == paNoError)
            PaLibrary::instance().release();
    }
};

Error paError(const QString &what, PaError e)
{
    return makeError(ErrorCode::Io, QStringLiteral("%1: %2").arg(what, QString::fromLocal8Bit(Pa_GetErrorText(e))));
}

// Single producer, single consumer; the audio callback never locks.
class Ring
{
public:
    explicit Ring(std::size_t capacity) : m_buf(capacity) {}
    std::size_t push(const qint16 *src, std::size_t n)
    {
        const std::size_t w = m_write.load(std::memory_order_relaxed);
        const std::size_t r = m_read.load(std::memory_order_acquire);
        const std::size_t room = m_buf.size() - (w - r);
        n = std::min(n, room);
        for (std::size_t i = 0; i < n; ++i)
            m_buf[(w + i) % m_buf.size()] = src[i];
        m_write.store(w + n, std::memory_order_release);
        return n;
    }
    std::size_t pop(qint16 *dst, std::size_t n)
    {
        const std::size_t r = m_read.load(std::memory_order_relaxed);
        const std::size_t w = m_write.load(std::memory_order_acquire);
        n = std::min(n, w - r);
        for (std::size_t i = 0; i < n; ++i)
            dst[i] = m_buf[(r + i) % m_buf.size()];
        m_read.store(r + n, std::memory_order_release);
        return n;
    }
    std::size_t size() const { return m_write.load() - m_read.load(); }

private:
    std::vector<qint16> m_buf;
    std::atomic<std::size_t> m_write{0};
    std::atomic<std::size_t> m_read{0};
};

Result<PaDeviceIndex> findDevice(const QString &name, bool input)
{
    const PaDeviceIndex count = Pa_GetDeviceCount();
    if (count <= 0)
        return makeError(ErrorCode::Io, QStringLiteral("no audio devices found"));
    if (name.isEmpty() || name == QLatin1StringView("default")) {
        const PaDeviceIndex d = input ? Pa_GetDefaultInputDevice() : Pa_GetDefaultOutputDevice();
        if (d == paNoDevice)
            return makeError(ErrorCode::Io, input ? QStringLiteral("no default microphone") : QStringLiteral("no default loudspeaker"));
        return d;
    }
    for (PaDeviceIndex i = 0; i < count; ++i) {
        const PaDeviceInfo *info = Pa_GetDeviceInfo(i);
        if (!info || QString::fromUtf8(info->name) != name)
            continue;
        if ((input ? info->maxInputChannels : info->maxOutputChannels) < 1)
            continue;
        return i;
    }
    return makeError(ErrorCode::Io, QStringLiteral("no %1 device named \"%2\"").arg(input ? QStringLiteral("input") : QStringLiteral("output"), name));
}

class PaStreamBase
{
public:
    Ring m_ring{std::size_t(kSampleRate)}; // one second; the callback's side of the device

protected:
    PaUser m_pa;
    PaStream *m_stream = nullptr;
    QString m_name;
    std::atomic<bool> m_failed{false};
    std::atomic<bool> m_stopping{false};
    std::atomic<bool> m_running{false};
    std::atomic<qint64> m_lastCallbackMs{0};
    QElapsedTimer m_clock; // started once, read from both threads (monotonic, lock-free)

public:
    void beat() { m_lastCallbackMs.store(m_clock.elapsed(), std::memory_order_relaxed); }

protected:
    // A device that has stopped calling back is as gone as one whose stream finished: some host
    // APIs (JACK when its server dies) never finish the stream.
    QString failure() const
    {
        if (m_failed)
            return QStringLiteral("%1 stopped working").arg(m_name);
        if (m_running && m_clock.elapsed() - m_lastCallbackMs.load() > 1000)
            return QStringLiteral("%1 has not delivered audio for a second (unplugged?)").arg(m_name);
        return {};
    }

    Result<void> open(const QString &device, bool input, PaStreamCallback *cb)
    {
        if (m_pa.error != paNoError)
            return paError(QStringLiteral("PortAudio"), m_pa.error);
        auto dev = findDevice(device, input);
        if (!dev)
            return dev.error();
        const PaDeviceInfo *info = Pa_GetDeviceInfo(*dev);
        m_name = QString::fromUtf8(info->name);
        PaStreamParameters p{};
        p.device = *dev;
        p.channelCount = 1;
        p.sampleFormat = paInt16;
        p.suggestedLatency = input ? info->defaultLowInputLatency : info->defaultLowOutputLatency;
        const QuietStderr quiet;
        const PaError e = Pa_OpenStream(&m_stream, input ? &p : nullptr, input ? nullptr : &p, kSampleRate,
                                        kSampleRate / 100, paNoFlag, cb, this);
        if (e != paNoError) {
            m_stream = nullptr;
            return paError(QStringLiteral("cannot open %1 at 48 kHz mono").arg(m_name), e);
        }
        // A stream that finishes without our asking means the device went away.
        Pa_SetStreamFinishedCallback(m_stream, [](void *user) {
            auto *self = static_cast<PaStreamBase *>(user);
            if (!self->m_stopping)
                self->m_failed = true;
        });
        return {};
    }
    Result<void> startStream()
    {
        if (!m_stream)
            return makeError(ErrorCode::Io, QStringLiteral("audio device not open"));
        m_failed = false;
        if (!m_clock.isValid())
            m_clock.start();
        beat();
        const QuietStderr quiet;
        const PaError e = Pa_StartStream(m_stream);
        if (e != paNoError)
            return paError(QStringLiteral("cannot start %1").arg(m_name), e);
        m_running = true;
        return {};
    }
    void stopStream()
    {
        m_running = false;
        if (m_stream && Pa_IsStreamActive(m_stream) == 1) {
            m_stopping = true;
            Pa_AbortStream(m_stream); // never blocks waiting for a device that has gone
            m_stopping = false;
        }
    }
    void closeStream()
    {
        if (!m_stream)
            return;
        Pa_SetStreamFinishedCallback(m_stream, nullptr);
        const bool dead = m_failed || (m_clock.isValid() && m_clock.elapsed() - m_lastCallbackMs.load() > 1000);
        if (dead) {
            // Closing a stream whose device died can block forever inside PortAudio (JACK host
            // API): close it on a thread of its own, which also carries our library reference,
            // so that nobody here waits on it.
            PaStream *stream = m_stream;
            m_stream = nullptr;
            m_pa.error = paNotInitialized; // the thread releases the library instead of us
            std::thread([stream] {
                Pa_CloseStream(stream);
                PaLibrary::instance().release();
            }).detach();
            return;
        }
        Pa_CloseStream(m_stream);
        m_stream = nullptr;
    }
};

class PortAudioInput : public IAudioInput, PaStreamBase
{
public:
    Result<void> openDevice(const QString &device) { return open(device, true, &PortAudioInput::callback); }
    ~PortAudioInput() override
    {
        stopStream();
        closeStream();
    }
    Result<void> start() override { return startStream(); }
    void stop() override { stopStream(); }
    qsizetype read(qint16 *dst, qsizetype maxSamples) override { return qsizetype(m_ring.pop(dst, std::size_t(maxSamples))); }
    QString name() const override { return m_name; }
    QString error() const override { return failure(); }

private:
    static int callback(const void *in, void *, unsigned long frames, const PaStreamCallbackTimeInfo *,
                        PaStreamCallbackFlags, void *user)
    {
        auto *self = static_cast<PaStreamBase *>(user); // what open() registered
        self->beat();
        if (in)
            self->m_ring.push(static_cast<const qint16 *>(in), frames);
        return paContinue;
    }
};

class PortAudioOutput : public IAudioOutput, PaStreamBase
{
public:
    Result<void> openDevice(const QString &device) { return open(device, false, &PortAudioOutput::callback); }
    ~PortAudioOutput() override
    {
        stopStream();
        closeStream();
    }
    Result<void> start() override { return startStream(); }
    void stop() override { stopStream(); }
    qsizetype write(const qint16 *src, qsizetype count) override
    {
        if (m_failed)
            return 0;
        return qsizetype(m_ring.push(src, std::size_t(count)));
    }
    QString name() const override { return m_name; }
    QString error() const override { return failure(); }

private:
    static int callback(const void *, void *out, unsigned long frames, const PaStreamCallbackTimeInfo *,
                        PaStreamCallbackFlags, void *user)
    {
        auto *self = static_cast<PaStreamBase *>(user); // what open() registered
        self->beat();
        auto *o = static_cast<qint16 *>(out);
        const std::size_t got = self->m_ring.pop(o, frames);
        std::fill(o + got, o + frames, qint16(0)); // underrun: silence
        return paContinue;
    }
};

} // namespace

Result<std::vector<AudioDeviceInfo>> listAudioDevices(bool rescan)
{
    if (rescan)
        PaLibrary::instance().rescan();
    PaUser pa;
    if (pa.error != paNoError)
        return paError(QStringLiteral("PortAudio"), pa.error);
    std::vector<AudioDeviceInfo> out;
    const PaDeviceIndex count = Pa_GetDeviceCount();
    for (PaDeviceIndex i = 0; i < count; ++i) {
        const PaDeviceInfo *info = Pa_GetDeviceInfo(i);
        if (!info)
            continue;
        const PaHostApiInfo *api = Pa_GetHostApiInfo(info->hostApi);
        out.push_back({QString::fromUtf8(info->name), api ? QString::fromUtf8(api->name) : QString(),
                       info->maxInputChannels, info->maxOutputChannels, i == Pa_GetDefaultInputDevice(),
                       i == Pa_GetDefaultOutputDevice()});
    }
    return out;
}

Result<std::unique_ptr<IAudioInput>> openPortAudioInput(const QString &device)
{
    auto in = std::make_unique<PortAudioInput>();
    if (auto r = in->openDevice(device); !r)
        return r.error();
    return std::unique_ptr<IAudioInput>(std::move(in));
}

Result<std::unique_ptr<IAudioOutput>> openPortAudioOutput(const QString &device)
{
    auto out = std::make_unique<PortAudioOutput>();
    if (auto r = out->openDevice(device); !r)
        return r.error();
    return std::unique_ptr<IAudioOutput>(std::move(out));
}

} // namespace sotto::audio
