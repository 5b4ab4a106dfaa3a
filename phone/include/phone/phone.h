#pragma once

// One phone behind a window: its profile, protocol engine, call media, call history and ring
// tone, and where its audio comes from. The widgets only read and drive this; nothing here
// knows a widget.

#include "phone/callmedia.h"
#include "client/callhistory.h"
#include "client/client.h"
#include "client/profile.h"
#include "client/timelinejournal.h"

#include <QObject>
#include <QTimer>

#include <functional>
#include <memory>

class QLockFile;

namespace sotto::phone {

// Where a phone's sound comes from and goes to.
struct PhoneAudio
{
    CallMedia::DeviceFactory callDevices;
    // The ring tone's loudspeaker (null: ring silently, the window still says so).
    std::function<std::unique_ptr<audio::IAudioOutput>()> ringOutput;
    // Shown in the window when it is not a real microphone and loudspeaker ("No audio device…").
    QString notice;

    // Sound cards as chosen in the settings. Without a microphone the phone sends silence, and
    // the notice says so (generated speech is for the demo only).
    static PhoneAudio fromDevices(const QString &input, const QString &output, bool echoCancellation,
                                  bool noiseSuppression);
    // A generated voice for `who` (espeak-ng when installed, otherwise a tone of their own): the demo's.
    static std::vector<qint16> generatedVoice(const QString &who, const QString &sentence, const QString &scratchDir);
};

class Ringer : public QObject
{
    Q_OBJECT
public:
    explicit Ringer(QObject *parent = nullptr);
    ~Ringer() override;
    void start(std::unique_ptr<audio::IAudioOutput> output);
    void stop();
    bool isRinging() const { return m_timer.isActive(); }

private:
    void tick();
    QTimer m_timer;
    std::unique_ptr<audio::IAudioOutput> m_output;
    qint64 m_sample = 0;
};

class Phone : public QObject
{
    Q_OBJECT
public:
    static Result<std::unique_ptr<Phone>> open(const QString &dir, PhoneAudio audio, ClientOptions options = {});
    ~Phone() override;

    Profile &profile() { return *m_profile; }
    ClientEngine &engine() { return *m_engine; }
    CallMedia &media() { return *m_media; }
    CallHistory &history() { return *m_history; }
    const PhoneAudio &audio() const { return m_audio; }
    void setAudio(PhoneAudio audio);
    Ringer &ringer() { return m_ringer; }

    // No identity yet: the window asks for an invite first.
    bool needsEnrolment() const;
    // Enrols with the invite, then goes online. Result: engine().enrolled()/enrolFailed().
    void join(const InviteLink &link);
    void start();

    // The call the window shows: one ringing for us, else the one we are in.
    QByteArray currentCall() const;
    bool isMuted() const { return m_muted; }
    void setMuted(bool muted);

Q_SIGNALS:
    void currentCallChanged(const QByteArray &sid);
    void mutedChanged(bool muted);

private:
    std::unique_ptr<QLockFile> m_lock; // one process per profile (profilelock.h)
    Phone(Profile profile, PhoneAudio audio, ClientOptions options);
    void updateCurrent();

    std::unique_ptr<Profile> m_profile;
    std::unique_ptr<ClientEngine> m_engine;
    std::unique_ptr<CallMedia> m_media;
    std::unique_ptr<CallHistory> m_history;
    std::unique_ptr<TimelineJournal> m_journal;
    PhoneAudio m_audio;
    Ringer m_ringer;
    QByteArray m_current;
    bool m_muted = false;
};

} // namespace sotto::phone
