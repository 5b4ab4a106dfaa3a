#include "phonebench.h"

#include "mediabench.h"

#include "audio/format.h"
#include "audio/wav.h"
#include "broker/broker.h"

#include <QCoreApplication>
#include <QDeadlineTimer>
#include <QElapsedTimer>
#include <QEventLoop>
#include <QFile>
#include <QProcess>
#include <QTemporaryDir>
#include <QTimer>

#include <functional>
#include <memory>

#include <unistd.h>

namespace sotto::bench {

namespace {

struct Phone
{
    std::unique_ptr<QProcess> process = std::make_unique<QProcess>();
    QByteArray err;
    double cpuAtAnswer = -1, cpuAtEnd = -1;
    qint64 wallAtAnswer = -1, wallAtEnd = -1;
};

// Serves the event loop (the broker here answers the phones) until done() or ms pass, blocking
// between checks: a spinning loop would take a core from the phones it measures.
void waitUntil(const std::function<bool()> &done, int ms)
{
    QEventLoop loop;
    QTimer check;
    QObject::connect(&check, &QTimer::timeout, &loop, [&] {
        if (done())
            loop.quit();
    });
    QTimer::singleShot(ms, &loop, &QEventLoop::quit);
    check.start(20);
    if (!done())
        loop.exec();
}

void writeSpeech(const QString &path, int seconds)
{
    audio::WavWriter w;
    if (!w.open(path))
        qFatal("phone bench: cannot write %s", qPrintable(path));
    const std::vector<qint16> s = speechLike(seconds);
    (void)w.write(s.data(), qsizetype(s.size()));
    w.close();
}

} // namespace

// Fields 14 and 15 of /proc/PID/stat, in clock ticks.
double processCpuSeconds(qint64 pid)
{
    QFile f(QStringLiteral("/proc/%1/stat").arg(pid));
    if (!f.open(QIODevice::ReadOnly))
        return -1;
    const QByteArray stat = f.readAll();
    const QList<QByteArray> fields = stat.mid(stat.lastIndexOf(')') + 2).split(' ');
    if (fields.size() < 13)
        return -1;
    return double(fields[11].toLongLong() + fields[12].toLongLong()) / double(::sysconf(_SC_CLK_TCK));
}

PhoneCallCpu benchPhoneCallCpu(int seconds)
{
    QTemporaryDir dir;
    broker::BrokerConfig cfg;
    cfg.address = QHostAddress::LocalHost;
    cfg.port = 0;
    cfg.dataDir = dir.filePath(QStringLiteral("broker"));
    cfg.name = QStringLiteral("bench");
    broker::Broker b(cfg);
    if (auto r = b.start(); !r)
        qFatal("phone bench: broker: %s", qPrintable(r.error().message));
    const QString speech = dir.filePath(QStringLiteral("speech.wav"));
    writeSpeech(speech, 10);

    QElapsedTimer wall;
    wall.start();
    Phone phones[2];
    const QString names[2] = {QStringLiteral("alice"), QStringLiteral("bob")};
    for (int i : {1, 0}) { // the callee first
        auto link = b.createInvite(names[i], 3600);
        if (!link)
            qFatal("phone bench: invite: %s", qPrintable(link.error().message));
        QStringList args{QStringLiteral("phone"), QStringLiteral("--headless"), QStringLiteral("--profile"), dir.filePath(names[i]),
                         QStringLiteral("--join"), *link, QStringLiteral("--play"), speech};
        if (i == 0)
            args << QStringLiteral("--call") << names[1] << QStringLiteral("--hangup-after") << QString::number(seconds);
        else
            args << QStringLiteral("--answer");
        Phone &p = phones[i];
        QObject::connect(p.process.get(), &QProcess::readyReadStandardError, p.process.get(), [&p, &wall] {
            p.err += p.process->readAllStandardError();
            if (p.cpuAtAnswer < 0 && p.err.contains(": answered")) {
                p.cpuAtAnswer = processCpuSeconds(p.process->processId());
                p.wallAtAnswer = wall.elapsed();
            }
            if (p.cpuAtEnd < 0 && p.err.contains(": ended (")) {
                p.cpuAtEnd = processCpuSeconds(p.process->processId());
                p.wallAtEnd = wall.elapsed();
            }
        });
        p.process->start(QStringLiteral(SOTTO_BINARY), args);
        // The callee is online before the caller calls.
        if (i == 1)
            waitUntil([&p] { return p.err.contains(": online"); }, 20000);
    }
    waitUntil([&phones] { return phones[0].process->state() == QProcess::NotRunning && phones[1].process->state() == QProcess::NotRunning; },
              (seconds + 30) * 1000);
    PhoneCallCpu out;
    double *percent[2] = {&out.callerPercent, &out.calleePercent};
    for (int i = 0; i < 2; ++i) {
        Phone &p = phones[i];
        if (p.process->state() != QProcess::NotRunning) {
            p.process->kill();
            p.process->waitForFinished(5000);
        }
        if (p.cpuAtAnswer < 0 || p.cpuAtEnd < 0 || p.wallAtEnd <= p.wallAtAnswer)
            qFatal("phone bench: the call did not happen:\n%s", p.err.constData());
        *percent[i] = 100.0 * (p.cpuAtEnd - p.cpuAtAnswer) * 1000.0 / double(p.wallAtEnd - p.wallAtAnswer);
        if (i == 0)
            out.seconds = double(p.wallAtEnd - p.wallAtAnswer) / 1000.0;
    }
    b.stop();
    return out;
}

} // namespace sotto::bench
