#pragma once

// Glue between the phone engine (keys, members) and the media of its calls: starts a
// MediaSession when a call is answered and keyed, installs SRTP keys for every generation
// (own sending key, one receiving key per member), keeps the previous generation for 2 s after a
// switch, and stops the media when the call ends. Also writes SOTTO_KEYLOGFILE (PROTOCOL §7).

#include "audio/mediasession.h"
#include "client/client.h"

#include <QFile>
#include <QObject>

#include <functional>
#include <map>
#include <memory>
#include <set>

namespace sotto::phone {

class CallMedia : public QObject
{
    Q_OBJECT
public:
    struct Devices
    {
        std::unique_ptr<audio::IAudioInput> input;
        std::unique_ptr<audio::IAudioOutput> output;
        // For a live microphone; a WAV file or generated audio is already clean, and noise
        // suppression would eat a steady test tone.
        audio::VoiceProcessor::Settings processing{false, false, false};
    };
    // Makes the devices for a new call (a file, a sound card, silence...).
    using DeviceFactory = std::function<Result<Devices>()>;

    CallMedia(ClientEngine &engine, DeviceFactory devices, QObject *parent = nullptr);
    ~CallMedia() override;

    void setLossPercent(double percent) { m_loss = percent; }
    void setMuted(bool muted);
    audio::MediaSession *media(const QByteArray &sid);
    // Statistics of every call seen so far (the last figures of ended calls included).
    const std::map<QByteArray, audio::MediaStats> &history() const { return m_history; }
    bool keyLogActive() const { return m_keyLog.isOpen(); }
    // Why SOTTO_KEYLOGFILE was refused (not the user's own file, open to others…); empty when
    // it is unset or in use.
    QString keyLogError() const { return m_keyLogError; }

Q_SIGNALS:
    void mediaStarted(const QByteArray &sid);
    void mediaStopped(const QByteArray &sid, const sotto::audio::MediaStats &finalStats);
    void failed(const QByteArray &sid, const QString &why);

private:
    struct Call
    {
        Devices devices;
        std::unique_ptr<audio::MediaSession> session;
        quint32 gen = 0;
        std::map<QString, quint32> members; // account → ssrc
        std::set<std::pair<quint32, quint32>> logged; // (gen, ssrc) already in the key log
    };
    void ensureStarted(const QByteArray &sid);
    void installKeys(const QByteArray &sid);
    void stop(const QByteArray &sid);
    void logKey(Call &call, const QByteArray &sid, quint32 gen, quint32 ssrc, const skbp::SrtpMaterial &m);

    ClientEngine &m_engine;
    DeviceFactory m_devices;
    std::map<QByteArray, Call> m_calls;
    std::map<QByteArray, audio::MediaStats> m_history;
    double m_loss = 0;
    bool m_muted = false;
    QFile m_keyLog;
    QString m_keyLogError;
};

} // namespace sotto::phone
