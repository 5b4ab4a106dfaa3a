#pragma once

// Settings: the broker this phone belongs to (read only), audio devices with a test tone, echo
// cancellation and noise suppression, our own refresh interval, and the key-log warning.
// Devices are listed on a worker thread (a PortAudio rescan can take a while); until the list
// is in, and when a chosen device is not plugged in, the choice is kept as it was.

#include "audio/portaudiodevices.h"
#include "phonesettings.h"

#include <QDialog>
#include <QPointer>
#include <QThread>
#include <QTimer>

#include <memory>

class QCheckBox;
class QComboBox;
class QLabel;
class QPushButton;
class QSpinBox;

namespace sotto {
class Profile;
}
namespace sotto::audio {
class IAudioOutput;
}

namespace sotto::app {

class SettingsDialog : public QDialog
{
    Q_OBJECT
public:
    SettingsDialog(const PhoneSettings &settings, const Profile &profile, QWidget *parent = nullptr);
    ~SettingsDialog() override;

    PhoneSettings settings() const;
    // True while the device list is being read.
    bool isListingDevices() const { return m_listing != 0; }

Q_SIGNALS:
    void devicesListed();

private:
    void listDevices(bool rescan);
    void showDevices(const Result<std::vector<audio::AudioDeviceInfo>> &devices);
    void setDeviceControlsEnabled(bool enabled);
    void playTestTone();
    void toneTick();

    PhoneSettings m_settings;
    QComboBox *m_input;
    QComboBox *m_output;
    QLabel *m_deviceStatus;
    QPushButton *m_test;
    QPushButton *m_rescan;
    quint64 m_listing = 0;    // the listing in flight (0: none)
    QPointer<QThread> m_worker; // the newest listing thread, waited for on close
    quint64 m_lastListing = 0;
    QCheckBox *m_echo;
    QCheckBox *m_noise;
    QSpinBox *m_refresh;
    QCheckBox *m_keyLogWarning;
    std::unique_ptr<audio::IAudioOutput> m_tone;
    QTimer m_toneTimer;
    int m_toneFrames = 0;
};

} // namespace sotto::app
