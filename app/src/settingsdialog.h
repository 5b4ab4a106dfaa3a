#pragma once

// Settings: the broker this phone belongs to (read only), audio devices with a test tone, echo
// cancellation and noise suppression, our own refresh interval, and the key-log warning.

#include "phonesettings.h"

#include <QDialog>
#include <QTimer>

#include <memory>

class QCheckBox;
class QComboBox;
class QLabel;
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

private:
    void fillDevices(bool rescan);
    void playTestTone();
    void toneTick();

    PhoneSettings m_settings;
    QComboBox *m_input;
    QComboBox *m_output;
    QLabel *m_deviceStatus;
    QCheckBox *m_echo;
    QCheckBox *m_noise;
    QSpinBox *m_refresh;
    QCheckBox *m_keyLogWarning;
    std::unique_ptr<audio::IAudioOutput> m_tone;
    QTimer m_toneTimer;
    int m_toneFrames = 0;
};

} // namespace sotto::app
