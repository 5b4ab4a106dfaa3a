#include "headlessphone.h"

#include "exitcodes.h"

#include "audio/portaudiodevices.h"
#include "audio/wav.h"

#include <QDir>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>

#include <cstdio>

namespace sotto::app {

HeadlessPhone::HeadlessPhone(HeadlessOptions options, QObject *parent)
    : QObject(parent), m_options(std::move(options))
{
    m_hangupTimer.setSingleShot(true);
    connect(&m_hangupTimer, &QTimer::timeout, this, [this] {
        if (!m_sid.isEmpty())
            m_phone->engine().leave(m_sid);
    });
    // A callee lingers briefly after its call for the post-call rotation of its key.
    m_graceTimer.setSingleShot(true);
    connect(&m_graceTimer, &QTimer::timeout, this, [this] { finish(m_exitAfterCall); });
}

// What the scripted phone hears and says: --play (a WAV, once) or the device or silence; --record
// or the device or nowhere.
phone::PhoneAudio HeadlessPhone::audioFromOptions() const
{
    phone::PhoneAudio a;
    a.callDevices = [o = m_options]() -> Result<phone::CallMedia::Devices> {
        phone::CallMedia::Devices d;
        if (o.playFile.isEmpty() && !o.audioDevice.isNull()) {
            auto in = audio::openPortAudioInput(o.audioDevice);
            if (!in)
                return in.error();
            d.input = std::move(*in);
            d.processing = audio::VoiceProcessor::Settings{}; // a real microphone: AEC, NS, AGC
        } else if (o.playFile.isEmpty()) {
            d.input = audio::makeSilentInput();
        } else {
            auto in = audio::FileAudioInput::open(o.playFile, false);
            if (!in)
                return in.error();
            d.input = std::move(*in);
        }
        if (o.recordFile.isEmpty() && !o.audioDevice.isNull()) {
            auto out = audio::openPortAudioOutput(o.audioDevice);
            if (!out)
                return out.error();
            d.output = std::move(*out);
        } else if (o.recordFile.isEmpty()) {
            d.output = std::make_unique<audio::NullAudioOutput>();
        } else {
            d.output = std::make_unique<audio::FileAudioOutput>(o.recordFile);
        }
        return d;
    };
    return a; // no ring tone: a scripted phone answers or does not
}

// What the options name is there and usable, said now rather than when the call comes.
std::optional<int> HeadlessPhone::checkOptions()
{
    if (!m_options.timelineFile.isEmpty()) {
        m_timeline.setFileName(m_options.timelineFile);
        if (!m_timeline.open(QIODevice::WriteOnly | QIODevice::Append | QIODevice::Text)) {
            printError(QStringLiteral("cannot write the timeline to %1").arg(m_options.timelineFile));
            return ExitUsage;
        }
    }
    if (!m_options.playFile.isEmpty()) {
        auto probe = audio::readWav(m_options.playFile);
        if (!probe) {
            printError(probe.error().message);
            return ExitUsage;
        }
    }
    if (!m_options.audioDevice.isNull()) {
        auto in = audio::openPortAudioInput(m_options.audioDevice);
        auto out = in ? audio::openPortAudioOutput(m_options.audioDevice) : Result<std::unique_ptr<audio::IAudioOutput>>(in.error());
        if (!in || !out) {
            printError(QStringLiteral("audio device: %1").arg(in ? out.error().message : in.error().message));
            return ExitFailed;
        }
    }
    return std::nullopt;
}

std::optional<int> HeadlessPhone::start()
{
    // The window's phone (profile lock, engine, call media, kept history and timeline), with the
    // options' audio: headless calls are kept in the profile as the window's are.
    auto opened = phone::Phone::open(m_options.profileDir, audioFromOptions());
    if (!opened) {
        printError(opened.error().message);
        // A second phone on a profile, a damaged or unreadable one: exit 1 (CLI.md).
        return opened.error().code == ErrorCode::Usage ? ExitUsage : ExitFailed;
    }
    m_phone = std::move(*opened);
    if (m_phone->needsEnrolment() && !m_options.join) {
        printError(QStringLiteral("profile %1 is not enrolled: give --join LINK").arg(m_options.profileDir));
        return ExitUsage;
    }
    if (auto code = checkOptions())
        return code;
    ClientEngine &e = m_phone->engine();
    connectProgress();
    connectCalls();
    if (m_phone->needsEnrolment()) {
        connect(&e, &ClientEngine::enrolled, this, &HeadlessPhone::goOnline);
        connect(&e, &ClientEngine::enrolFailed, this, [this](const Error &err) {
            finish(ExitFailed, QStringLiteral("enrolment failed: %1").arg(err.message));
        });
        // Say whom we are about to trust, as a person would check it against the broker's console.
        std::printf("joining broker %s:%u as %s · broker key fingerprint %s\n",
                    qUtf8Printable(m_options.join->host), unsigned(m_options.join->port), qUtf8Printable(m_options.join->account),
                    qUtf8Printable(skbp::fingerprint(m_options.join->brokerPublicKey)));
        std::fflush(stdout);
        e.enrol(*m_options.join);
    } else {
        goOnline();
    }
    return std::nullopt;
}

// The scripted behaviour: the media's options, answering (one call at a time), inviting, hanging
// up after, and finishing when the call is over (a callee after its key's rotation).
void HeadlessPhone::connectCalls()
{
    ClientEngine &e = m_phone->engine();
    m_phone->media().setLossPercent(m_options.lossPercent);
    connect(&m_phone->media(), &phone::CallMedia::failed, this, [](const QByteArray &, const QString &why) {
        printError(QStringLiteral("media: %1").arg(why));
    });
    if (!m_phone->media().keyLogError().isEmpty())
        printError(m_phone->media().keyLogError());
    if (m_phone->media().keyLogActive())
        printError(QStringLiteral("warning: SOTTO_KEYLOGFILE is set; SRTP keys are written to %1")
                       .arg(qEnvironmentVariable("SOTTO_KEYLOGFILE")));
    connect(&e.timeline(), &Timeline::appended, this, &HeadlessPhone::writeTimeline);
    connect(&e, &ClientEngine::stateChanged, this, [this](ClientEngine::State s) {
        if (s == ClientEngine::State::Online)
            onOnline();
    });
    connect(&e, &ClientEngine::loginFailed, this, [this](const Error &err) {
        finish(ExitFailed, QStringLiteral("login failed: %1 · %2").arg(err.message, m_phone->engine().offlineReason()));
    });
    connect(&e, &ClientEngine::callStarted, this, [this](const QByteArray &sid, const QString &) {
        m_sid = sid;
    });
    connect(&e, &ClientEngine::callFailed, this, [this](quint32, const QString &to, const Error &err) {
        finish(ExitFailed, QStringLiteral("call to %1 failed: %2").arg(to, err.message));
    });
    connect(&e, &ClientEngine::incomingCall, this, [this](const QByteArray &sid, const QString &, bool) {
        if (!m_options.answer && !m_options.answerAll)
            return;
        if (!m_sid.isEmpty() && m_sid != sid) {
            m_phone->engine().decline(sid); // one call at a time for a scripted phone
            return;
        }
        m_sid = sid;
        m_wasCallee = m_phone->engine().session(sid) && m_phone->engine().session(sid)->role == SessionInfo::Role::Callee;
        m_phone->engine().answer(sid);
    });
    connect(&e, &ClientEngine::callAnswered, this, [this](const QByteArray &sid) {
        if (sid != m_sid)
            return;
        if (!m_options.invite.isEmpty())
            m_phone->engine().invite(sid, m_options.invite);
        if (m_options.hangupAfterSecs)
            m_hangupTimer.start(int(*m_options.hangupAfterSecs * 1000));
    });
    connect(&e, &ClientEngine::callEnded, this, &HeadlessPhone::onCallEnded);
    connect(&e, &ClientEngine::rotated, this, [this] {
        if (m_graceTimer.isActive()) {
            m_graceTimer.stop();
            QTimer::singleShot(100, this, [this] { finish(m_exitAfterCall); }); // let the ack go out
        }
    });
    connect(&e, &ClientEngine::requestFailed, this, [](const QString &what, const Error &err) {
        printError(QStringLiteral("%1: %2").arg(what, err.message));
    });
}

void HeadlessPhone::goOnline()
{
    m_phone->engine().start();
}

void HeadlessPhone::onOnline()
{
    if (!m_options.call.isEmpty() && !m_callPlaced) {
        m_callPlaced = true;
        progress(QStringLiteral("calling %1").arg(m_options.call));
        m_phone->engine().call(m_options.call);
    }
}

namespace {
// The call did not happen as asked (CLI.md: exit 1): the other side said no, never answered, or
// went away. Ending it on purpose (either side), or by the operator, is not the phone's failure.
bool callFailed(EndReason reason)
{
    switch (reason) {
    case EndReason::Declined:
    case EndReason::NoAnswer:
    case EndReason::Disconnected:
        return true;
    case EndReason::Hangup:
    case EndReason::Cancelled:
    case EndReason::Revoked:
    case EndReason::Failed:
        return false;
    }
    return false;
}
} // namespace

void HeadlessPhone::onCallEnded(const QByteArray &sid, EndReason reason)
{
    if (sid != m_sid)
        return;
    m_sid.clear();
    m_hangupTimer.stop();
    const bool failed = callFailed(reason);
    m_exitAfterCall = failed ? ExitFailed : ExitOk;
    if (m_options.answerAll && m_options.call.isEmpty()) {
        m_wasCallee = false; // stay for the next call (CLI.md: --answer-all)
        return;
    }
    if (failed)
        printError(QStringLiteral("the call ended: %1").arg(endReasonName(reason)));
    if (m_wasCallee) {
        m_graceTimer.start(3000);
        return;
    }
    finish(m_exitAfterCall);
}

void HeadlessPhone::progress(const QString &line) const
{
    if (m_options.quiet)
        return;
    const QString who = m_phone && !m_phone->profile().account().isEmpty() ? m_phone->profile().account() : QStringLiteral("phone");
    std::fprintf(stderr, "%s: %s\n", qUtf8Printable(who), qUtf8Printable(line));
    std::fflush(stderr);
}

void HeadlessPhone::connectProgress()
{
    ClientEngine &e = m_phone->engine();
    connect(&e, &ClientEngine::stateChanged, this, [this](ClientEngine::State s) {
        if (s == ClientEngine::State::Connecting && !m_phone->engine().nextRetry().isValid())
            progress(QStringLiteral("connecting to %1:%2").arg(m_phone->profile().brokerHost()).arg(m_phone->profile().brokerPort()));
        else if (s == ClientEngine::State::Online)
            progress(QStringLiteral("online · epoch %1 · key %2").arg(m_phone->profile().epoch()).arg(skbp::fingerprint(m_phone->profile().key())));
    });
    connect(&e, &ClientEngine::retryScheduled, this, [this](int ms, const QString &reason) {
        progress(QStringLiteral("%1 · retrying in %2 s").arg(reason).arg((ms + 999) / 1000));
    });
    connect(&e, &ClientEngine::enrolled, this, [this](quint32 epoch) {
        progress(QStringLiteral("enrolled · epoch %1 · key %2").arg(epoch).arg(skbp::fingerprint(m_phone->profile().key())));
    });
    connect(&e, &ClientEngine::refreshed, this, [this](quint32 epoch) {
        progress(QStringLiteral("key refreshed (Diffie-Hellman) · epoch %1 · key %2").arg(epoch).arg(skbp::fingerprint(m_phone->profile().key())));
    });
    connect(&e, &ClientEngine::rotated, this, [this](quint32 epoch) {
        progress(QStringLiteral("key rotated · epoch %1 · key %2").arg(epoch).arg(skbp::fingerprint(m_phone->profile().key())));
    });
    connect(&e, &ClientEngine::callStarted, this, [this](const QByteArray &, const QString &callee) {
        progress(QStringLiteral("ringing %1").arg(callee));
    });
    connect(&e, &ClientEngine::incomingCall, this, [this](const QByteArray &, const QString &from, bool conference) {
        progress(conference ? QStringLiteral("%1 invites us into a call").arg(from) : QStringLiteral("%1 is calling").arg(from));
    });
    connect(&e, &ClientEngine::callAnswered, this, [this](const QByteArray &sid) {
        const auto s = m_phone->engine().session(sid);
        progress(QStringLiteral("answered · generation %1 · session key %2").arg(s ? s->gen : 0).arg(s ? s->keyFingerprint : QString()));
    });
    connect(&e, &ClientEngine::memberJoined, this, [this](const QByteArray &sid, const QString &who) {
        const auto s = m_phone->engine().session(sid);
        progress(QStringLiteral("%1 joined · generation %2").arg(who).arg(s ? s->gen : 0));
    });
    connect(&e, &ClientEngine::memberLeft, this, [this](const QByteArray &, const QString &who) {
        progress(QStringLiteral("%1 left").arg(who));
        m_rekeyExpected = true;
    });
    connect(&e, &ClientEngine::sessionKeyChanged, this, [this](const QByteArray &, quint32 gen) {
        if (std::exchange(m_rekeyExpected, false))
            progress(QStringLiteral("re-keyed · generation %1").arg(gen));
    });
    connect(&e, &ClientEngine::callEnded, this, [this](const QByteArray &, EndReason reason) {
        m_rekeyExpected = false;
        progress(QStringLiteral("ended (%1)").arg(endReasonName(reason)));
    });
}

void HeadlessPhone::writeTimeline(const TimelineEvent &e)
{
    if (!m_timeline.isOpen())
        return;
    m_timeline.write(QJsonDocument(e.toJson()).toJson(QJsonDocument::Compact) + '\n');
    m_timeline.flush();
}

void HeadlessPhone::writeStats()
{
    if (m_options.statsFile.isEmpty() || !m_phone)
        return;
    QJsonArray calls;
    for (const auto &[sid, st] : m_phone->media().history()) {
        QJsonArray members;
        for (const audio::MemberStats &m : st.members) {
            members.append(QJsonObject{{QStringLiteral("ssrc"), qint64(m.ssrc)},
                                       {QStringLiteral("packets"), qint64(m.packets)},
                                       {QStringLiteral("bytes"), qint64(m.bytes)},
                                       {QStringLiteral("lost"), qint64(m.lost)},
                                       {QStringLiteral("recovered_fec"), qint64(m.recovered)},
                                       {QStringLiteral("concealed"), qint64(m.concealed)},
                                       {QStringLiteral("late"), qint64(m.late)},
                                       {QStringLiteral("duplicates"), qint64(m.duplicates)},
                                       {QStringLiteral("auth_failures"), qint64(m.authFailures)},
                                       {QStringLiteral("replays"), qint64(m.replays)},
                                       {QStringLiteral("unknown_generation"), qint64(m.unknownGeneration)},
                                       {QStringLiteral("dropped_for_test"), qint64(m.droppedForTest)},
                                       {QStringLiteral("jitter_ms"), m.jitterMs},
                                       {QStringLiteral("buffer_ms"), m.bufferMs},
                                       {QStringLiteral("target_ms"), m.targetMs}});
        }
        calls.append(QJsonObject{{QStringLiteral("sid"), QString::fromLatin1(sid.toHex())},
                                 {QStringLiteral("frames_sent"), qint64(st.framesSent)},
                                 {QStringLiteral("bytes_sent"), qint64(st.bytesSent)},
                                 {QStringLiteral("relay_bound"), st.bound},
                                 {QStringLiteral("relay_rtt_ms"), st.relayRttMs},
                                 {QStringLiteral("members"), members}});
    }
    QFile f(m_options.statsFile);
    if (f.open(QIODevice::WriteOnly))
        f.write(QJsonDocument(QJsonObject{{QStringLiteral("calls"), calls}}).toJson());
    else
        printError(QStringLiteral("cannot write %1").arg(m_options.statsFile));
}

void HeadlessPhone::terminate()
{
    finish(ExitOk);
}

void HeadlessPhone::finish(int code, const QString &why)
{
    if (m_finished)
        return;
    m_finished = true;
    if (!why.isEmpty())
        printError(why);
    if (m_phone)
        m_phone->engine().stop(); // leaves any call; the media stops and the recording is closed
    writeStats();
    if (m_timeline.isOpen())
        m_timeline.close();
    // Give the socket a moment to flush the leave before the process goes.
    QTimer::singleShot(50, this, [this, code] { Q_EMIT finished(code); });
}

} // namespace sotto::app
