#include "settingsdialog.h"

#include "audio/format.h"
#include "audio/portaudiodevices.h"
#include "client/profile.h"
#include "resources/icons.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDialogButtonBox>
#include <QFormLayout>
#include <QGroupBox>
#include <QLabel>
#include <QPushButton>
#include <QSpinBox>
#include <QThread>
#include <QVBoxLayout>

#include <cmath>
#include <memory>
#include <numbers>
#include <optional>

namespace sotto::app {

SettingsDialog::SettingsDialog(const PhoneSettings &settings, const Profile &profile, QWidget *parent)
    : QDialog(parent), m_settings(settings), m_input(new QComboBox(this)), m_output(new QComboBox(this)),
      m_deviceStatus(new QLabel(this)),
      m_test(new QPushButton(icon(u"speaker"), tr("&Test tone"), this)),
      m_rescan(new QPushButton(tr("&Rescan"), this)), m_echo(new QCheckBox(tr("&Echo cancellation"), this)),
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
    m_test->setObjectName(QStringLiteral("testTone"));
    m_test->setToolTip(tr("Play one second of a 440 Hz tone on the chosen output"));
    m_rescan->setObjectName(QStringLiteral("rescanDevices"));
    m_rescan->setToolTip(tr("Look again for devices plugged in since"));
    auto *outRow = new QHBoxLayout;
    outRow->addWidget(m_output, 1);
    outRow->addWidget(m_test);
    af->addRow(tr("&Microphone:"), m_input);
    // A row that is a layout gets no buddy from addRow(): its mnemonic would show as "&".
    auto *outLabel = new QLabel(tr("&Loudspeaker:"), audioBox);
    outLabel->setBuddy(m_output);
    af->addRow(outLabel, outRow);
    af->addRow(QString(), m_deviceStatus);
    af->addRow(QString(), m_rescan);
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
    connect(m_test, &QPushButton::clicked, this, &SettingsDialog::playTestTone);
    connect(m_rescan, &QPushButton::clicked, this, [this] { listDevices(true); });
    listDevices(false);
}

SettingsDialog::~SettingsDialog()
{
    // PortAudio must not be inside a scan when the program goes on to exit.
    if (m_worker)
        m_worker->wait();
    if (m_tone)
        m_tone->stop();
}

namespace {

// A combo box's choices: "System default", then `devices`; the current choice stays selected,
// and a chosen device that is not among them stays too, marked, so that OK does not drop it.
void fillChoices(QComboBox *combo, const std::vector<std::pair<QString, QString>> &devices, const QString &current,
                 const QString &absentNote)
{
    combo->clear();
    combo->addItem(SettingsDialog::tr("System default"), QString());
    for (const auto &[label, name] : devices)
        combo->addItem(label, name);
    if (!current.isEmpty() && combo->findData(current) < 0)
        combo->addItem(QStringLiteral("%1 (%2)").arg(current, absentNote), current);
    combo->setCurrentIndex(std::max(0, combo->findData(current)));
}

} // namespace

void SettingsDialog::listDevices(bool rescan)
{
    if (m_tone) { // PortAudio cannot rescan under an open stream
        m_tone->stop();
        m_tone.reset();
        m_toneTimer.stop();
    }
    const QString input = m_input->count() ? m_input->currentData().toString() : m_settings.inputDevice;
    const QString output = m_output->count() ? m_output->currentData().toString() : m_settings.outputDevice;
    fillChoices(m_input, {}, input, tr("looking…"));
    fillChoices(m_output, {}, output, tr("looking…"));
    setDeviceControlsEnabled(false);
    m_deviceStatus->setText(tr("Looking for audio devices…"));

    const quint64 id = ++m_lastListing;
    m_listing = id;
    using Listing = Result<std::vector<audio::AudioDeviceInfo>>;
    auto result = std::make_shared<std::optional<Listing>>();
    QThread *worker = QThread::create([result, rescan] { result->emplace(audio::listAudioDevices(rescan)); });
    connect(worker, &QThread::finished, worker, &QObject::deleteLater);
    if (m_worker) // a rescan while listing: the older thread finishes on its own
        m_worker->wait();
    m_worker = worker;
    connect(worker, &QThread::finished, this, [this, result, id] {
        if (id != m_listing || !result->has_value())
            return;
        m_listing = 0;
        showDevices(**result);
        Q_EMIT devicesListed();
    });
    worker->start();
}

void SettingsDialog::setDeviceControlsEnabled(bool enabled)
{
    for (QWidget *w : std::initializer_list<QWidget *>{m_input, m_output, m_test, m_rescan})
        w->setEnabled(enabled);
}

void SettingsDialog::showDevices(const Result<std::vector<audio::AudioDeviceInfo>> &devices)
{
    std::vector<std::pair<QString, QString>> inputs, outputs;
    if (devices) {
        for (const auto &d : *devices) {
            const QString label = QStringLiteral("%1 (%2)").arg(d.name, d.hostApi);
            if (d.maxInputChannels > 0)
                inputs.emplace_back(label, d.name);
            if (d.maxOutputChannels > 0)
                outputs.emplace_back(label, d.name);
        }
    }
    fillChoices(m_input, inputs, m_input->currentData().toString(), tr("not connected"));
    fillChoices(m_output, outputs, m_output->currentData().toString(), tr("not connected"));
    setDeviceControlsEnabled(true);
    if (!devices)
        m_deviceStatus->setText(tr("Audio devices cannot be listed: %1").arg(devices.error().message));
    else if (inputs.empty() || outputs.empty())
        m_deviceStatus->setText(tr("No %1 found: calls use a generated tone instead.")
                                    .arg(inputs.empty() && outputs.empty() ? tr("audio device")
                                         : inputs.empty()                  ? tr("microphone")
                                                                           : tr("loudspeaker")));
    else
        m_deviceStatus->setText(tr("%n microphone(s)", nullptr, int(inputs.size())) + QStringLiteral(", ") +
                                tr("%n loudspeaker(s)", nullptr, int(outputs.size())));
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
