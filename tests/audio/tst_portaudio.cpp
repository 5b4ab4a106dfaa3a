// The PortAudio path for real, on JACK's dummy backend (HEADLESS_AUDIO.md): capture and playback
// through the project's PortAudio classes, known audio in, read back; no device, an unknown
// device and a device that vanishes mid-stream give clear errors, never a crash or a hang.
// Skipped (exit 77) where there is no jackd.
#include "audio/format.h"
#include "audio/portaudiodevices.h"
#include "support/audiotools.h"

#include <QCoreApplication>
#include <QDeadlineTimer>
#include <QProcess>
#include <QTemporaryFile>

#include <cstdio>
#include <unistd.h>
#include <QStandardPaths>
#include <QTest>

#include <cstdio>

using namespace sotto;
using namespace sotto::audio;
using namespace sotto::test;

namespace {
QString jackTool(const char *name)
{
    return QStandardPaths::findExecutable(QString::fromLatin1(name));
}
QStringList run(const QString &tool, const QStringList &args)
{
    QProcess p;
    p.start(jackTool(tool.toLatin1().constData()), args);
    p.waitForFinished(5000);
    return QString::fromLocal8Bit(p.readAllStandardOutput()).split(u'\n', Qt::SkipEmptyParts);
}
} // namespace

class TestPortAudio : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void noDeviceWithoutJack();
    void probingIsQuiet();
    void startJack();
    void listsJackDevice();
    void unknownDeviceIsAClearError();
    void loopbackThroughJack();
    void vanishedDevice();
    void cleanupTestCase();

private:
    bool waitForJack();
    QProcess m_jack;
};

void TestPortAudio::noDeviceWithoutJack()
{
    // This machine has no sound card: with no JACK server either there is nothing to open.
    auto in = openPortAudioInput(QString());
    if (in.ok())
        QSKIP("this machine has a sound card; the no-device case cannot be shown here");
    QVERIFY(!in.error().message.isEmpty());
    auto out = openPortAudioOutput(QStringLiteral("nothing"));
    QVERIFY(!out.ok());
}

bool TestPortAudio::waitForJack()
{
    QProcess w;
    w.start(jackTool("jack_wait"), {QStringLiteral("-w"), QStringLiteral("-t"), QStringLiteral("10")});
    return w.waitForFinished(15000) && w.exitCode() == 0;
}

void TestPortAudio::probingIsQuiet()
{
    // ALSA and JACK say dozens of lines while PortAudio probes them; none reach the terminal.
    QTemporaryFile captured;
    QVERIFY(captured.open());
    std::fflush(stderr);
    const int saved = ::dup(2);
    QVERIFY(saved >= 0);
    ::dup2(captured.handle(), 2);
    auto devices = listAudioDevices();
    auto in = openPortAudioInput(QString());
    auto out = openPortAudioOutput(QStringLiteral("nothing"));
    std::fflush(stderr);
    ::dup2(saved, 2);
    ::close(saved);
    QVERIFY(!out.ok());
    captured.seek(0);
    const QByteArray said = captured.readAll();
    QVERIFY2(!said.contains("ALSA lib") && !said.contains("jack"), said.left(400).constData());
}

void TestPortAudio::startJack()
{
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("JACK_NO_AUDIO_RESERVATION"), QStringLiteral("1"));
    m_jack.setProcessEnvironment(env);
    m_jack.setProcessChannelMode(QProcess::MergedChannels);
    m_jack.start(jackTool("jackd"), {QStringLiteral("--no-realtime"), QStringLiteral("-d"), QStringLiteral("dummy"),
                                     QStringLiteral("-r"), QStringLiteral("48000"), QStringLiteral("-p"), QStringLiteral("480"),
                                     QStringLiteral("-C"), QStringLiteral("2"), QStringLiteral("-P"), QStringLiteral("2")});
    QVERIFY(m_jack.waitForStarted(5000));
    QVERIFY2(waitForJack(), m_jack.readAll().constData());
}

void TestPortAudio::listsJackDevice()
{
    auto devices = listAudioDevices(/*rescan*/ true); // PortAudio sees JACK only if it runs at init
    QVERIFY2(devices.ok(), devices.ok() ? "" : qPrintable(devices.error().message));
    auto it = std::find_if(devices->begin(), devices->end(), [](const AudioDeviceInfo &d) {
        return d.name == QLatin1StringView("system") && d.hostApi.contains(QLatin1StringView("JACK"));
    });
    QVERIFY2(it != devices->end(), "JACK's \"system\" device is not listed");
    QVERIFY(it->maxInputChannels >= 1 && it->maxOutputChannels >= 1);
}

void TestPortAudio::unknownDeviceIsAClearError()
{
    auto in = openPortAudioInput(QStringLiteral("no such microphone"));
    QVERIFY(!in.ok());
    QVERIFY(in.error().message.contains(QLatin1StringView("no such microphone")));
}

void TestPortAudio::loopbackThroughJack()
{
    auto out = openPortAudioOutput(QStringLiteral("system"));
    auto in = openPortAudioInput(QStringLiteral("system"));
    QVERIFY2(out.ok(), out.ok() ? "" : qPrintable(out.error().message));
    QVERIFY2(in.ok(), in.ok() ? "" : qPrintable(in.error().message));
    QVERIFY((*out)->start().ok());
    QVERIFY((*in)->start().ok());
    // Wire our playback straight into our capture, and nothing else into either.
    QTest::qWait(200);
    const QStringList ports = run(QStringLiteral("jack_lsp"), {});
    QString outPort, inPort;
    for (const QString &p : ports) {
        if (p.startsWith(QLatin1StringView("PortAudio")) && p.contains(QLatin1StringView("out")))
            outPort = p;
        if (p.startsWith(QLatin1StringView("PortAudio")) && p.contains(QLatin1StringView("in")))
            inPort = p;
    }
    QVERIFY2(!outPort.isEmpty() && !inPort.isEmpty(), qPrintable(ports.join(u' ')));
    for (const QString &p : ports) {
        if (p.startsWith(QLatin1StringView("system:"))) {
            run(QStringLiteral("jack_disconnect"), {p, inPort});
            run(QStringLiteral("jack_disconnect"), {outPort, p});
        }
    }
    run(QStringLiteral("jack_connect"), {outPort, inPort});

    // Play a tone in 20 ms steps, as the media clock does, and capture at the same time. What
    // was captured while the ports were being wired is silence: drop it first.
    const auto t = tone(700, 1.5);
    std::vector<qint16> captured;
    qint16 buf[kFrameSamples * 4];
    while ((*in)->read(buf, qsizetype(std::size(buf))) > 0) {
    }
    QElapsedTimer clock;
    clock.start();
    std::size_t played = 0;
    while (clock.elapsed() < 2000) {
        const std::size_t due = std::min(t.size(), std::size_t(clock.elapsed() + 250) * kSampleRate / 1000); // keep well ahead
        if (due > played)
            played += std::size_t((*out)->write(t.data() + played, qsizetype(due - played)));
        const qsizetype n = (*in)->read(buf, qsizetype(std::size(buf)));
        captured.insert(captured.end(), buf, buf + n);
        QTest::qWait(10);
    }
    QVERIFY((*in)->error().isEmpty());
    QVERIFY2(captured.size() > std::size_t(kSampleRate), qPrintable(QString::number(captured.size())));
    // What went out came back: from where the tone arrives, one second of capture is the tone
    // (more than half of its power, the criterion of the call tests; we stay 250 ms ahead of the
    // device so the ring never runs dry, and a clean loop gives about 0 dB).
    const auto onset = std::find_if(captured.begin(), captured.end(), [](qint16 v) { return std::abs(int(v)) > 1000; });
    QVERIFY2(onset != captured.end(), "the tone never came back");
    const std::size_t from = std::size_t(onset - captured.begin());
    QVERIFY(captured.size() >= from + kSampleRate);
    const double db = toneToTotalDb(captured, 700, from, from + kSampleRate);
    qInfo("loopback: %.2f dB of the captured power at the tone", db);
    QVERIFY2(db > -3, qPrintable(QString::number(db)));
    (*in)->stop();
    (*out)->stop();
}

void TestPortAudio::vanishedDevice()
{
    auto in = openPortAudioInput(QStringLiteral("system"));
    QVERIFY(in.ok());
    QVERIFY((*in)->start().ok());
    QTest::qWait(200);
    // The server goes away under the open stream.
    m_jack.kill();
    m_jack.waitForFinished(5000);
    QDeadlineTimer deadline(5000);
    qint16 buf[kFrameSamples];
    while ((*in)->error().isEmpty() && !deadline.hasExpired()) {
        (*in)->read(buf, kFrameSamples);
        QTest::qWait(20);
    }
    QVERIFY2(!(*in)->error().isEmpty(), "a vanished device was not reported");
    QElapsedTimer t;
    t.start();
    (*in)->stop();
    in->reset(); // closing must not hang either
    QVERIFY(t.elapsed() < 3000);
}

void TestPortAudio::cleanupTestCase()
{
    if (m_jack.state() != QProcess::NotRunning) {
        m_jack.kill();
        m_jack.waitForFinished(5000);
    }
}

int main(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    if (jackTool("jackd").isEmpty() || jackTool("jack_wait").isEmpty()) {
        std::fprintf(stderr, "SKIP: no jackd here (install jackd2 to run the PortAudio tests)\n");
        return 77;
    }
    TestPortAudio t;
    return QTest::qExec(&t, argc, argv);
}

#include "tst_portaudio.moc"
