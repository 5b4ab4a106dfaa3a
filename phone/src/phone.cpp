#include "phone/phone.h"
#include "phone/profilelock.h"

#include "audio/format.h"
#include "audio/portaudiodevices.h"
#include "audio/wav.h"

#include <QDir>
#include <QProcess>

#include <cmath>
#include <numbers>

namespace sotto::phone {

// ---- audio ----------------------------------------------------------------------------------

std::vector<qint16> PhoneAudio::generatedVoice(const QString &who, const QString &sentence, const QString &scratchDir)
{
    if (!sentence.isEmpty() && !scratchDir.isEmpty()) {
        const QString wav = QDir(scratchDir).filePath(who + QStringLiteral("-voice.wav"));
        QProcess espeak;
        espeak.start(QStringLiteral("espeak-ng"), {QStringLiteral("-w"), wav, sentence});
        if (espeak.waitForFinished(10000) && espeak.exitStatus() == QProcess::NormalExit && espeak.exitCode() == 0) {
            if (auto samples = audio::readWav(wav); samples && !samples->empty()) {
                samples->resize(samples->size() + audio::kSampleRate / 2, 0); // a breath between repeats
                return std::move(*samples);
            }
        }
    }
    // A tone of one's own, one second on and half a second off, so that each voice can be told.
    const double hz = 300.0 + double(qHash(who) % 8) * 60.0;
    std::vector<qint16> out(audio::kSampleRate * 3 / 2, 0);
    for (std::size_t i = 0; i < std::size_t(audio::kSampleRate); ++i)
        out[i] = qint16(6000 * std::sin(2 * std::numbers::pi * hz * double(i) / audio::kSampleRate));
    return out;
}

PhoneAudio PhoneAudio::fromDevices(const QString &input, const QString &output, bool echoCancellation,
                                   bool noiseSuppression)
{
    PhoneAudio a;
    auto devices = audio::listAudioDevices();
    bool haveIn = false, haveOut = false;
    if (devices) {
        for (const auto &d : *devices) {
            haveIn = haveIn || (d.maxInputChannels > 0 && (input.isEmpty() || d.name == input));
            haveOut = haveOut || (d.maxOutputChannels > 0 && (output.isEmpty() || d.name == output));
        }
    }
    const audio::VoiceProcessor::Settings processing{echoCancellation, noiseSuppression, true};
    if (haveIn && haveOut) {
        a.callDevices = [input, output, processing]() -> Result<CallMedia::Devices> {
            auto in = audio::openPortAudioInput(input);
            if (!in)
                return in.error();
            auto out = audio::openPortAudioOutput(output);
            if (!out)
                return out.error();
            return CallMedia::Devices{std::move(*in), std::move(*out), processing};
        };
        a.ringOutput = [output]() -> std::unique_ptr<audio::IAudioOutput> {
            auto out = audio::openPortAudioOutput(output);
            return out ? std::move(*out) : nullptr;
        };
        return a;
    }
    // No microphone: a real phone sends silence and says so — generated speech is the demo's
    // (guidemo.cpp), never a stand-in for the person. Without a loudspeaker what we hear is
    // discarded; the call, its keys and its meters all still work.
    a.notice = haveOut ? QStringLiteral("No microphone found: the others hear silence from you.")
                       : QStringLiteral("No audio device found: the others hear silence from you, and what you would "
                                        "hear is not played. Calls and keys work as usual.");
    a.callDevices = [output, haveOut]() -> Result<CallMedia::Devices> {
        CallMedia::Devices d;
        d.input = audio::makeSilentInput();
        if (haveOut) {
            auto out = audio::openPortAudioOutput(output);
            if (!out)
                return out.error();
            d.output = std::move(*out);
        } else {
            d.output = std::make_unique<audio::NullAudioOutput>();
        }
        return d;
    };
    if (haveOut) {
        a.ringOutput = [output]() -> std::unique_ptr<audio::IAudioOutput> {
            auto out = audio::openPortAudioOutput(output);
            return out ? std::move(*out) : nullptr;
        };
    }
    return a;
}

// ---- ring tone --------------------------------------------------------------------------------

Ringer::Ringer(QObject *parent) : QObject(parent)
{
    m_timer.setInterval(20);
    m_timer.setTimerType(Qt::PreciseTimer);
    connect(&m_timer, &QTimer::timeout, this, &Ringer::tick);
}

Ringer::~Ringer()
{
    stop();
}

void Ringer::start(std::unique_ptr<audio::IAudioOutput> output)
{
    stop();
    m_sample = 0;
    if (output && output->start())
        m_output = std::move(output);
    m_timer.start(); // runs without a loudspeaker too, so that isRinging() tells the truth
}

void Ringer::stop()
{
    m_timer.stop();
    if (m_output) {
        m_output->stop();
        m_output.reset();
    }
}

void Ringer::tick()
{
    if (!m_output)
        return;
    // 400 + 450 Hz, rung twice (0.4 s on, 0.2 s off) every three seconds.
    constexpr int kFrame = audio::kSampleRate / 50;
    qint16 frame[kFrame];
    for (int i = 0; i < kFrame; ++i, ++m_sample) {
        const double t = double(m_sample) / audio::kSampleRate;
        const double inCycle = std::fmod(t, 3.0);
        const bool on = inCycle < 0.4 || (inCycle >= 0.6 && inCycle < 1.0);
        frame[i] = on ? qint16(3000 * (std::sin(2 * std::numbers::pi * 400 * t) + std::sin(2 * std::numbers::pi * 450 * t)))
                      : 0;
    }
    m_output->write(frame, kFrame);
}

// ---- phone --------------------------------------------------------------------------------------

Result<std::unique_ptr<Phone>> Phone::open(const QString &dir, PhoneAudio audio, ClientOptions options)
{
    auto lock = lockProfile(dir); // before anything reads or writes the profile
    if (!lock)
        return lock.error();
    auto profile = Profile::open(dir);
    if (!profile)
        return profile.error();
    std::unique_ptr<Phone> phone(new Phone(std::move(*profile), std::move(audio), std::move(options)));
    phone->m_lock = std::move(*lock);
    if (auto r = phone->m_history->load(); !r)
        qWarning("%s", qPrintable(r.error().message));
    if (auto r = phone->m_journal->load(); !r)
        qWarning("%s", qPrintable(r.error().message));
    return phone;
}

Phone::Phone(Profile profile, PhoneAudio audio, ClientOptions options)
    : m_profile(std::make_unique<Profile>(std::move(profile))), m_audio(std::move(audio))
{
    m_engine = std::make_unique<ClientEngine>(*m_profile, std::move(options));
    // Connected before the media, so that the ring tone has let go of the loudspeaker when
    // the call's media opens it.
    ClientEngine &e = *m_engine;
    connect(&e, &ClientEngine::incomingCall, this, [this](const QByteArray &, const QString &, bool) {
        if (!m_ringer.isRinging())
            m_ringer.start(m_audio.ringOutput ? m_audio.ringOutput() : nullptr);
        updateCurrent();
    });
    connect(&e, &ClientEngine::callStarted, this, &Phone::updateCurrent);
    connect(&e, &ClientEngine::callAnswered, this, &Phone::updateCurrent);
    connect(&e, &ClientEngine::callEnded, this, &Phone::updateCurrent);
    connect(&e, &ClientEngine::stateChanged, this, &Phone::updateCurrent);
    m_media = std::make_unique<CallMedia>(*m_engine, [this]() -> Result<CallMedia::Devices> {
        if (!m_audio.callDevices)
            return CallMedia::Devices{audio::makeSilentInput(), std::make_unique<audio::NullAudioOutput>()};
        return m_audio.callDevices();
    });
    m_history = std::make_unique<CallHistory>(*m_engine, QDir(m_profile->dir()).filePath(QStringLiteral("history.json")));
    m_journal = std::make_unique<TimelineJournal>(m_engine->timeline(),
                                                  QDir(m_profile->dir()).filePath(QStringLiteral("timeline.jsonl")));

}

Phone::~Phone()
{
    m_ringer.stop();
    m_engine->stop();
}

void Phone::setAudio(PhoneAudio audio)
{
    m_audio = std::move(audio); // the next call opens its devices from here
}

bool Phone::needsEnrolment() const
{
    return !m_profile->isEnrolled() && m_profile->pendingEpoch() == 0;
}

void Phone::join(const InviteLink &link)
{
    connect(m_engine.get(), &ClientEngine::enrolled, this, &Phone::start, Qt::SingleShotConnection);
    m_engine->enrol(link);
}

void Phone::start()
{
    m_engine->start();
}

QByteArray Phone::currentCall() const
{
    QByteArray ringing, active;
    for (const SessionInfo &s : m_engine->sessions()) {
        const bool ringsForUs = s.role != SessionInfo::Role::Caller && !s.answered;
        if (ringsForUs && ringing.isEmpty())
            ringing = s.sid;
        else if (!ringsForUs && active.isEmpty())
            active = s.sid;
    }
    // A call we are in stays in view; a second one ringing shows as a notification on top.
    return active.isEmpty() ? ringing : active;
}

void Phone::setMuted(bool muted)
{
    if (m_muted == muted)
        return;
    m_muted = muted;
    m_media->setMuted(muted);
    if (!m_current.isEmpty())
        m_engine->setMuted(m_current, muted); // the others see a mute badge
    Q_EMIT mutedChanged(muted);
}

void Phone::updateCurrent()
{
    bool ringing = false;
    for (const SessionInfo &s : m_engine->sessions())
        ringing = ringing || (s.role != SessionInfo::Role::Caller && !s.answered);
    if (!ringing)
        m_ringer.stop();
    const QByteArray now = currentCall();
    if (now != m_current) {
        m_current = now;
        if (now.isEmpty())
            setMuted(false); // each call starts unmuted
        Q_EMIT currentCallChanged(now);
    }
}

} // namespace sotto::phone
