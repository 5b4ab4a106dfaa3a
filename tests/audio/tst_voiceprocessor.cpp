// speexdsp processing on synthetic signals: echo cancelled, noise suppressed, quiet speech
// raised, voice activity told from silence.
#include "audio/format.h"
#include "audio/voiceprocessor.h"
#include "support/audiotools.h"

#include <QTest>

#include <algorithm>
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
    void echoIsCancelled_data();
    void echoIsCancelled();
    void noiseIsSuppressed();
    void quietSpeechIsRaised();
    void voiceActivity();
    void withoutProcessingTheFrameIsUntouched();
    void energyVoiceActivity();
    void processingAt16kHzKeepsTheVoiceBand();
};

void TestVoiceProcessor::echoIsCancelled_data()
{
    QTest::addColumn<int>("rate");
    QTest::newRow("16 kHz (the phone's)") << 16000;
    QTest::newRow("48 kHz") << 48000;
}

void TestVoiceProcessor::echoIsCancelled()
{
    QFETCH(int, rate);
    // The loudspeaker plays far-end speech; the microphone hears it back 8 ms later at half level.
    const auto far = voiceLike(6, 0.5);
    std::vector<qint16> mic(far.size(), 0);
    const std::size_t delay = 8 * kSampleRate / 1000;
    for (std::size_t i = delay; i < mic.size(); ++i)
        mic[i] = qint16(far[i - delay] / 2);
    VoiceProcessor::Settings settings{true, false, false};
    settings.processingRate = rate;
    VoiceProcessor on(settings);
    VoiceProcessor off({false, false, false});
    QCOMPARE(on.settings().processingRate, rate);
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

void TestVoiceProcessor::withoutProcessingTheFrameIsUntouched()
{
    VoiceProcessor off({false, false, false});
    const auto in = voiceLike(1, 0.3);
    QCOMPARE(run(off, in, &in), in);
}

void TestVoiceProcessor::energyVoiceActivity()
{
    // Processing off: the energy detector, not the preprocessor, tells speech.
    auto talking = [](const std::vector<qint16> &signal) {
        VoiceProcessor p({false, false, false});
        std::vector<bool> out;
        std::vector<qint16> copy = signal;
        for (std::size_t f = 0; f + kFrameSamples <= copy.size(); f += kFrameSamples)
            out.push_back(p.process(copy.data() + f, nullptr));
        return out;
    };
    auto count = [](const std::vector<bool> &v, std::size_t from, std::size_t to) {
        return int(std::count(v.begin() + qsizetype(from), v.begin() + qsizetype(std::min(to, v.size())), true));
    };
    // Silence, then speech over faint noise, then the noise alone.
    std::vector<qint16> signal = noise(2, 0.001, 2);
    const auto speech = voiceLike(2, 0.3);
    const auto faint = noise(2, 0.001, 3);
    for (std::size_t i = 0; i < speech.size(); ++i)
        signal.push_back(qint16(speech[i] + faint[i]));
    const auto after = noise(3, 0.001, 4);
    signal.insert(signal.end(), after.begin(), after.end());
    const auto v = talking(signal);
    QVERIFY2(count(v, 0, 100) < 5, qPrintable(QString::number(count(v, 0, 100))));      // quiet
    QVERIFY2(count(v, 100, 200) > 90, qPrintable(QString::number(count(v, 100, 200)))); // talking
    QVERIFY2(count(v, 220, 350) == 0, qPrintable(QString::number(count(v, 220, 350)))); // stopped within 400 ms
    // Steady loud noise (a fan) stops counting as speech once the floor has risen to it.
    const auto fan = talking(noise(10, 0.05, 5));
    QVERIFY2(count(fan, 400, 500) == 0, qPrintable(QString::number(count(fan, 400, 500))));
}

void TestVoiceProcessor::processingAt16kHzKeepsTheVoiceBand()
{
    // A 1 kHz tone comes through; a 12 kHz one (above 16 kHz's band) does not.
    auto tone = [](double hz) {
        std::vector<qint16> s(2 * kSampleRate);
        for (std::size_t i = 0; i < s.size(); ++i)
            s[i] = qint16(8000 * std::sin(2 * M_PI * hz * double(i) / kSampleRate));
        return s;
    };
    VoiceProcessor a({true, false, false}), b({true, false, false});
    const auto low = tone(1000), high = tone(12000);
    const auto lowOut = run(a, low, nullptr), highOut = run(b, high, nullptr);
    const std::size_t from = kSampleRate;
    QVERIFY2(levelDb(low, from, low.size()) - levelDb(lowOut, from, lowOut.size()) < 3, "the voice band was cut");
    QVERIFY2(levelDb(high, from, high.size()) - levelDb(highOut, from, highOut.size()) > 30, "content above 8 kHz came through");
}

QTEST_GUILESS_MAIN(TestVoiceProcessor)
#include "tst_voiceprocessor.moc"
