#include "guidemo.h"

#include "brokerwindow.h"
#include "demo.h"
#include "phone/phone.h"
#include "phonewindow.h"

#include "audio/portaudiodevices.h"
#include "core/invite.h"

#include <QGuiApplication>
#include <QScreen>

namespace sotto::app {

GuiDemo::GuiDemo(bool federated, QObject *parent) : QObject(parent), m_federated(federated) {}

GuiDemo::~GuiDemo()
{
    for (Member &m : m_members) {
        m.window.reset();
        m.phone.reset();
    }
    m_consoles.clear();
    m_brokers.stop();
}

GuiDemo::Member &GuiDemo::member(const QString &name)
{
    for (Member &m : m_members) {
        if (m.name == name)
            return m;
    }
    Q_UNREACHABLE();
}

PhoneWindow &GuiDemo::window(const QString &name)
{
    return *member(name).window;
}

phone::Phone &GuiDemo::phone(const QString &name)
{
    return *member(name).phone;
}

Result<void> GuiDemo::start(bool useSoundCard)
{
    if (!m_dir.isValid())
        return makeError(ErrorCode::Io, QStringLiteral("cannot create a temporary directory"));
    if (auto r = m_brokers.start(m_dir.path(), m_federated); !r)
        return r.error();
    for (auto &b : m_brokers.brokers) {
        m_consoles.push_back(std::make_unique<BrokerWindow>(*b));
        m_consoles.back()->setClosingStopsBroker(false); // it hides; a phone's menu brings it back
    }

    // One loudspeaker for the three of them, when there is one; the microphones are generated.
    bool haveOutput = false;
    if (useSoundCard) {
        if (auto devices = audio::listAudioDevices()) {
            for (const auto &d : *devices)
                haveOutput = haveOutput || d.maxOutputChannels > 0;
        }
    }
    m_notice = haveOutput
        ? tr("Demo: this phone speaks with generated speech; what it hears plays on the default loudspeaker.")
        : tr("No audio device: this phone speaks with generated speech and what it hears is not played. "
             "Calls, keys and level meters work as usual.");

    for (const char *name : {"alice", "bob", "carol"}) {
        Member m;
        m.name = QString::fromLatin1(name);
        auto voice = std::make_shared<std::vector<qint16>>(
            phone::PhoneAudio::generatedVoice(m.name, demoSentence(m.name), m_dir.path()));
        phone::PhoneAudio audio;
        audio.notice = m_notice;
        const QString who = m.name;
        audio.callDevices = [voice, haveOutput, who]() -> Result<phone::CallMedia::Devices> {
            phone::CallMedia::Devices d;
            d.input = std::make_unique<audio::FileAudioInput>(*voice, true, who);
            if (haveOutput) {
                if (auto out = audio::openPortAudioOutput(QString()))
                    d.output = std::move(*out);
            }
            if (!d.output)
                d.output = std::make_unique<audio::NullAudioOutput>();
            return d;
        };
        if (haveOutput) {
            audio.ringOutput = []() -> std::unique_ptr<audio::IAudioOutput> {
                auto out = audio::openPortAudioOutput(QString());
                return out ? std::move(*out) : nullptr;
            };
        }
        auto phone = phone::Phone::open(m_dir.filePath(m.name), std::move(audio));
        if (!phone)
            return phone.error();
        m.phone = std::move(*phone);
        m.window = std::make_unique<PhoneWindow>(*m.phone, PhoneSettings{});
        connect(&m.phone->engine(), &ClientEngine::stateChanged, this, [this](ClientEngine::State s) {
            if (s == ClientEngine::State::Online && ++m_online == 3)
                Q_EMIT ready();
        });
        m_members.push_back(std::move(m));
    }
    for (Member &m : m_members) {
        auto link = m_brokers.homeOf(m.name).createInvite(m.name, 3600);
        auto parsed = link ? InviteLink::parse(*link) : Result<InviteLink>(link.error());
        if (!parsed)
            return parsed.error();
        m.phone->join(*parsed);
    }
    for (Member &m : m_members) { // a console closed by mistake comes back from any phone's menu
        m.window->setConsoleOpener([this] {
            for (auto &c : m_consoles) {
                c->showNormal();
                c->raise();
                c->activateWindow();
            }
        });
    }
    arrange();
    for (auto &c : m_consoles)
        c->show();
    for (Member &m : m_members)
        m.window->show();
    return {};
}

void GuiDemo::arrange()
{
    // Three phones side by side across the top, the broker's console below them.
    const QScreen *screen = QGuiApplication::primaryScreen();
    if (!screen)
        return;
    const QRect area = screen->availableGeometry();
    const int w = area.width() / 3;
    const int h = area.height() * 3 / 5;
    for (int i = 0; i < int(m_members.size()); ++i) {
        PhoneWindow &win = *m_members[std::size_t(i)].window;
        win.resize(w - 8, h - 40);
        win.move(area.left() + i * w, area.top());
    }
    const int cw = area.width() / int(m_consoles.size());
    for (int i = 0; i < int(m_consoles.size()); ++i) {
        m_consoles[std::size_t(i)]->resize(cw - 8, area.height() - h - 40);
        m_consoles[std::size_t(i)]->move(area.left() + i * cw, area.top() + h);
    }
}

} // namespace sotto::app
