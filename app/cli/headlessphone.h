#pragma once

// `sotto phone --headless`: the phone engine driven by command-line options, for scripts,
// tests, demos and benchmarks (CLI.md).

#include "phone/phone.h"
#include "phone/callmedia.h"
#include "client/callhistory.h"
#include "client/client.h"
#include "core/invite.h"
#include "client/profile.h"
#include "client/timelinejournal.h"

#include <QFile>
#include <QObject>
#include <QLockFile>
#include <QTimer>

#include <memory>
#include <optional>

namespace sotto::app {

struct HeadlessOptions
{
    QString profileDir;
    std::optional<InviteLink> join;
    QString call;
    bool answer = false;    // answer calls; exit once the first call we took part in has ended
    bool answerAll = false; // answer every call, one at a time, and stay
    bool quiet = false;     // no progress lines on stderr
    QString invite;
    std::optional<double> hangupAfterSecs;
    QString timelineFile;
    QString playFile;   // microphone: this WAV, once
    QString recordFile; // what this phone hears, mixed
    double lossPercent = 0;
    QString statsFile;
    QString audioDevice; // PortAudio device for what --play/--record do not cover
};

class HeadlessPhone : public QObject
{
    Q_OBJECT
public:
    explicit HeadlessPhone(HeadlessOptions options, QObject *parent = nullptr);

    // Starts the run; returns an exit code at once only when it cannot start.
    std::optional<int> start();
    void terminate();

Q_SIGNALS:
    void finished(int exitCode);

private:
    void goOnline();
    void onOnline();
    void onCallEnded(const QByteArray &sid, EndReason reason);
    void writeTimeline(const TimelineEvent &e);
    void writeStats();
    void finish(int code, const QString &why = {});
    // One progress line on stderr, "ACCOUNT: what happens" (CLI.md), unless --quiet.
    void progress(const QString &line) const;
    void connectProgress();
    void connectCalls();
    phone::PhoneAudio audioFromOptions() const;
    std::optional<int> checkOptions();

    HeadlessOptions m_options;
    std::unique_ptr<phone::Phone> m_phone; // the window's phone, file-backed audio (after start())
    QFile m_timeline;
    QByteArray m_sid;
    bool m_callPlaced = false;
    bool m_wasCallee = false;
    bool m_finished = false;
    bool m_rekeyExpected = false;
    int m_exitAfterCall = 0;
    QTimer m_hangupTimer;
    QTimer m_graceTimer;
};

} // namespace sotto::app
