#include "settingsdialog.h"

#include "audio/format.h"
#include "audio/portaudiodevices.h"
#include "core/profile.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDialogButtonBox>
#include <QFormLayout>
#include <QGroupBox>
#include <QLabel>
#include <QPushButton>
#include <QSpinBox>
#include <QVBoxLayout>

#include <cmath>
#include <numbers>

namespace sotto::app {

SettingsDialog::SettingsDialog(const PhoneSettings &settings, const Profile &profile, QWidget *parent)
    : QDialog(parent), m_settings(settings), m_input(new QComboBox(this)), m_output(new QComboBox(this)),
      m_deviceStatus(new QLabel(this)), m_echo(new QCheckBox(tr("&Echo cancellation"), this)),
      m_noise(new QCheckBox(tr("&Noise suppression"), this)), m_refresh(new QSpinBox(this)),
      m_keyLogWarning(new QCheckBox(tr("&Warn at start when SOTTO_KEYLOGFILE is set"), this))
{
    setWindowTitle(tr("Sotto settings"));

    auto *broker = new QGroupBox(tr("Broker"), this);
    auto *bf = new QFormLayout(broker);
    auto selectable = [this](const QString &text) {
        auto *l = new QLabel(text, this);
        l->setTextInteractionFlags(Qt::TextSelectableByMouse);
        return l;
    };
    bf->addRow(tr("Account:"), selectable(profile.account()));
    bf->addRow(tr("Broker:"), selectable(QStringLiteral("%1 (%2:%3)")
                                             .arg(profile.brokerName().isEmpty() ? tr("unnamed") : profile.brokerName(),
                                                  profile.brokerHost())
                                             .arg(profile.brokerPort())));
    bf->addRow(tr("Broker key fingerprint:"), selectable(profile.brokerFingerprint()));
    bf->addRow(tr("Profile:"), selectable(profile.dir()));

    auto *audioBox = new QGroupBox(tr("Audio"), this);
    auto *af = new QFormLayout(audioBox);
    m_input->setObjectName(QStringLiteral("inputDevice"));
    m_output->setObjectName(QStringLiteral("outputDevice"));
    auto *test = new QPushButton(QIcon(QStringLiteral(":/sotto/icons/speaker.svg")), tr("&Test tone"), this);
    test->setObjectName(QStringLiteral("testTone"));
    test->setToolTip(tr("Play one second of a 440 Hz tone on the chosen output"));
    auto *rescan = new QPushButton(tr("&Rescan"), this);
    rescan->setToolTip(tr("Look again for devices plugged in since"));
    auto *outRow = new QHBoxLayout;
    outRow->addWidget(m_output, 1);
    outRow->addWidget(test);
    af->addRow(tr("&Microphone:"), m_input);
    af->addRow(tr("&Loudspeaker:"), outRow);
    af->addRow(QString(), m_deviceStatus);
    af->addRow(QString(), rescan);
    m_echo->setObjectName(QStringLiteral("echoCancellation"));
    m_noise->setObjectName(QStringLiteral("noiseSuppression"));
    m_keyLogWarning->setObjectName(QStringLiteral("keyLogWarning"));
    m_echo->setChecked(settings.echoCancellation);
    m_noise->setChecked(settings.noiseSuppression);
    af->addRow(QString(), m_echo);
    af->addRow(QString(), m_noise);
    m_deviceStatus->setWordWrap(true);

    auto *keys = new QGroupBox(tr("Keys"), this);
    auto *kf = new QFormLayout(keys);
    m_refresh->setObjectName(QStringLiteral("refreshHours"));
    m_refresh->setRange(0, 24 * 30);
    m_refresh->setSuffix(tr(" h"));
    m_refresh->setSpecialValueText(tr("as the broker says"));
    m_refresh->setValue(settings.refreshHours);
    m_refresh->setToolTip(tr("Run the Diffie-Hellman refresh at least this often (it breaks the key chain)"));
    kf->addRow(tr("Re&fresh at least every:"), m_refresh);
    m_keyLogWarning->setChecked(!settings.keyLogWarningSeen);
    kf->addRow(QString(), m_keyLogWarning);

    auto *buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
    connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    auto *layout = new QVBoxLayout(this);
    layout->addWidget(broker);
    layout->addWidget(audioBox);
    layout->addWidget(keys);
    layout->addWidget(buttons);

    m_toneTimer.setInterval(20);
    connect(&m_toneTimer, &QTimer::timeout, this, &SettingsDialog::toneTick);
    connect(test, &QPushButton::clicked, this, &SettingsDialog::playTestTone);
    connect(rescan, &QPushButton::clicked, this, [this] { fillDevices(true); });
    fillDevices(false);
}

SettingsDialog::~SettingsDialog()
{
    if (m_tone)
        m_tone->stop();
}

void SettingsDialog::fillDevices(bool rescan)
{
    if (m_tone) { // PortAudio cannot rescan under an open stream
        m_tone->stop();
        m_tone.reset();
        m_toneTimer.stop();
    }
    m_input->clear();
    m_output->clear();
    m_input->addItem(tr("System default"), QString());
    m_output->addItem(tr("System default"), QString());
    auto devices = audio::listAudioDevices(rescan);
    int inputs = 0, outputs = 0;
    if (devices) {
        for (const auto &d : *devices) {
            const QString label = QStringLiteral("%1 (%2)").arg(d.name, d.hostApi);
            if (d.maxInputChannels > 0) {
                m_input->addItem(label, d.name);
                ++inputs;
            }
            if (d.maxOutputChannels > 0) {
                m_output->addItem(label, d.name);
                ++outputs;
            }
        }
    }
    m_input->setCurrentIndex(std::max(0, m_input->findData(m_settings.inputDevice)));
    m_output->setCurrentIndex(std::max(0, m_output->findData(m_settings.outputDevice)));
    if (!devices)
        m_deviceStatus->setText(tr("Audio devices cannot be listed: %1").arg(devices.error().message));
    else if (inputs == 0 || outputs == 0)
        m_deviceStatus->setText(tr("No %1 found: calls use a generated tone instead.")
                                    .arg(inputs == 0 && outputs == 0 ? tr("audio device")
                                         : inputs == 0               ? tr("microphone")
                                                                     : tr("loudspeaker")));
    else
        m_deviceStatus->setText(tr("%n microphone(s)", nullptr, inputs) + QStringLiteral(", ") +
                                tr("%n loudspeaker(s)", nullptr, outputs));
}

void SettingsDialog::playTestTone()
{
    if (m_tone)
        m_tone->stop();
    auto out = audio::openPortAudioOutput(m_output->currentData().toString());
    Result<void> started = out ? (*out)->start() : Result<void>(out.error());
    if (!started) {
        m_deviceStatus->setText(tr("Test tone: %1").arg(started.error().message));
        m_tone.reset();
        return;
    }
    m_tone = std::move(*out);
    m_toneFrames = 0;
    m_deviceStatus->setText(tr("Playing a 440 Hz tone on %1…").arg(m_output->currentText()));
    m_toneTimer.start();
}

void SettingsDialog::toneTick()
{
    constexpr int kFrame = audio::kSampleRate / 50;
    if (!m_tone || m_toneFrames >= 50) {
        m_toneTimer.stop();
        if (m_tone) {
            m_tone->stop();
            m_tone.reset();
        }
        return;
    }
    qint16 frame[kFrame];
    for (int i = 0; i < kFrame; ++i) {
        const double t = double(m_toneFrames * kFrame + i) / audio::kSampleRate;
        frame[i] = qint16(8000 * std::sin(2 * std::numbers::pi * 440 * t));
    }
    m_tone->write(frame, kFrame);
    ++m_toneFrames;
}

PhoneSettings SettingsDialog::settings() const
{
    PhoneSettings s = m_settings;
    s.inputDevice = m_input->currentData().toString();
    s.outputDevice = m_output->currentData().toString();
    s.echoCancellation = m_echo->isChecked();
    s.noiseSuppression = m_noise->isChecked();
    s.refreshHours = m_refresh->value();
    s.keyLogWarningSeen = !m_keyLogWarning->isChecked();
    return s;
}

} // namespace sotto::app
