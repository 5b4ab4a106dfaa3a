// speexdsp processing on synthetic signals: echo cancelled, noise suppressed, quiet speech
// raised, voice activity told from silence.
#include "audio/format.h"
#include "audio/voiceprocessor.h"
#include "support/audiotools.h"

#include <QTest>

#include <cmath>
#include <random>

using namespace sotto;
using namespace sotto::audio;
using namespace sotto::test;

namespace {
std::vector<qint16> voiceLike(double seconds, double amplitude)
{
    std::vector<qint16> s(std::size_t(seconds * kSampleRate));
    double phase = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
        const double t = double(i) / kSampleRate;
        phase += 2 * M_PI * (130 + 30 * std::sin(2 * M_PI * 0.9 * t)) / kSampleRate;
        const double env = 0.55 + 0.45 * std::sin(2 * M_PI * 3.5 * t);
        double v = 0;
        for (int h = 1; h <= 10; ++h)
            v += std::sin(h * phase) / h;
        s[i] = qint16(amplitude * 32767 * env * v / 2);
    }
    return s;
}
std::vector<qint16> noise(double seconds, double amplitude, unsigned seed)
{
    std::mt19937 rng(seed);
    std::normal_distribution<double> n(0, amplitude * 32767);
    std::vector<qint16> s(std::size_t(seconds * kSampleRate));
    for (auto &x : s)
        x = qint16(std::clamp(n(rng), -32767.0, 32767.0));
    return s;
}
// Runs frames through a processor; returns what comes out.
std::vector<qint16> run(VoiceProcessor &p, std::vector<qint16> mic, const std::vector<qint16> *played, int *talkingFrames = nullptr)
{
    for (std::size_t f = 0; f + kFrameSamples <= mic.size(); f += kFrameSamples) {
        const bool talking = p.process(mic.data() + f, played ? played->data() + f : nullptr);
        if (talkingFrames && talking)
            ++*talkingFrames;
    }
    return mic;
}
} // namespace

class TestVoiceProcessor : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void echoIsCancelled();
    void noiseIsSuppressed();
    void quietSpeechIsRaised();
    void voiceActivity();
};

void TestVoiceProcessor::echoIsCancelled()
{
    // The loudspeaker plays far-end speech; the microphone hears it back 8 ms later at half level.
    const auto far = voiceLike(6, 0.5);
    std::vector<qint16> mic(far.size(), 0);
    const std::size_t delay = 8 * kSampleRate / 1000;
    for (std::size_t i = delay; i < mic.size(); ++i)
        mic[i] = qint16(far[i - delay] / 2);
    VoiceProcessor on({true, false, false});
    VoiceProcessor off({false, false, false});
    const auto cancelled = run(on, mic, &far);
    const auto raw = run(off, mic, &far);
    // After the filter has converged (last two seconds): at least 15 dB less echo.
    const std::size_t from = 4 * kSampleRate;
    const double before = levelDb(raw, from, raw.size());
    const double after = levelDb(cancelled, from, cancelled.size());
    QVERIFY2(before - after > 15, qPrintable(QStringLiteral("%1 dB → %2 dB").arg(before).arg(after)));
}

void TestVoiceProcessor::noiseIsSuppressed()
{
    VoiceProcessor ns({false, true, false});
    const auto in = noise(3, 0.05, 1);
    const auto out = run(ns, in, nullptr);
    const std::size_t from = kSampleRate; // after its noise estimate settles
    QVERIFY2(levelDb(in, from, in.size()) - levelDb(out, from, out.size()) > 6, "steady noise was not reduced");
}

void TestVoiceProcessor::quietSpeechIsRaised()
{
    VoiceProcessor agc({false, false, true});
    const auto in = voiceLike(5, 0.02);
    const auto out = run(agc, in, nullptr);
    const std::size_t from = 3 * kSampleRate;
    QVERIFY2(levelDb(out, from, out.size()) - levelDb(in, from, in.size()) > 6, "quiet speech was not raised");
}

void TestVoiceProcessor::voiceActivity()
{
    int speechFrames = 0, silentFrames = 0;
    VoiceProcessor a({false, true, false}), b({false, true, false});
    (void)run(a, voiceLike(3, 0.3), nullptr, &speechFrames);
    (void)run(b, std::vector<qint16>(3 * kSampleRate, 0), nullptr, &silentFrames);
    QVERIFY2(speechFrames > 100, qPrintable(QString::number(speechFrames))); // of 150
    QVERIFY2(silentFrames < 10, qPrintable(QString::number(silentFrames)));
}

QTEST_GUILESS_MAIN(TestVoiceProcessor)
#include "tst_voiceprocessor.moc"
