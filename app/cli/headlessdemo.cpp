#include "headlessdemo.h"

#include "core/invite.h"
#include "demo.h"
#include "exitcodes.h"
#include "phone/phone.h"

#include "audio/format.h"
#include "audio/wav.h"

#include <QCoreApplication>
#include <QDir>

#include <algorithm>

namespace sotto::app {

HeadlessDemo::HeadlessDemo(QTextStream &out, bool federated, QObject *parent)
    : QObject(parent), m_out(out), m_federated(federated)
{
    m_watchdog.setSingleShot(true);
    connect(&m_watchdog, &QTimer::timeout, this, [this] { finish(ExitFailed, QStringLiteral("the demo stalled")); });
}

HeadlessDemo::~HeadlessDemo() = default;

HeadlessDemo::DemoPhone &HeadlessDemo::phone(const QString &name)
{
    for (auto &p : m_phones) {
        if (p->name == name)
            return *p;
    }
    Q_UNREACHABLE();
}

std::optional<int> HeadlessDemo::start()
{
    if (!m_dir.isValid()) {
        printError(QStringLiteral("cannot create a temporary directory"));
        return ExitFailed;
    }
    m_t0 = QDateTime::currentDateTimeUtc();
    // What each one heard stays after the demo, to listen to.
    m_recordings = QDir(QDir::tempPath()).filePath(QStringLiteral("sotto-demo-%1").arg(QCoreApplication::applicationPid()));
    QDir().mkpath(m_recordings);
    if (auto r = m_brokers.start(m_dir.path(), m_federated); !r) {
        printError(r.error().message);
        return ExitFailed;
    }
    for (const auto &b : m_brokers.brokers)
        m_out << "broker \"" << b->name() << "\" on 127.0.0.1:" << b->port() << ", key fingerprint " << b->fingerprint()
              << Qt::endl;
    if (m_federated)
        m_out << "alice is on broker a; bob and carol are on broker b. The brokers peer (Noise KKpsk0)." << Qt::endl;
    for (const char *name : {"alice", "bob", "carol"}) {
        auto p = std::make_unique<DemoPhone>();
        p->name = QString::fromLatin1(name);
        auto profile = Profile::open(m_dir.filePath(p->name));
        if (!profile) {
            printError(profile.error().message);
            return ExitFailed;
        }
        p->profile.emplace(std::move(*profile));
        p->engine = std::make_unique<ClientEngine>(*p->profile);
        p->voice = voiceFor(p->name);
        DemoPhone *raw = p.get();
        p->media = std::make_unique<phone::CallMedia>(*p->engine, [this, raw]() -> Result<phone::CallMedia::Devices> {
            return phone::CallMedia::Devices{std::make_unique<audio::FileAudioInput>(raw->voice, true, raw->name),
                                             std::make_unique<audio::FileAudioOutput>(
                                                 QDir(m_recordings).filePath(raw->name + QStringLiteral("-heard.wav")))};
        });
        m_phones.push_back(std::move(p));
    }
    wire();
    for (auto &p : m_phones) {
        auto link = m_brokers.homeOf(p->name).createInvite(p->name, 3600);
        auto parsed = link ? InviteLink::parse(*link) : Result<InviteLink>(link.error());
        if (!parsed) {
            printError(parsed.error().message);
            return ExitFailed;
        }
        p->engine->enrol(*parsed);
    }
    m_watchdog.start(60000);
    return std::nullopt;
}

std::vector<qint16> HeadlessDemo::voiceFor(const QString &name)
{
    return phone::PhoneAudio::generatedVoice(name, demoSentence(name), m_dir.path());
}

void HeadlessDemo::step(const QString &what)
{
    m_out << QStringLiteral("%1  %2").arg(double(m_t0.msecsTo(QDateTime::currentDateTimeUtc())) / 1000.0, 7, 'f', 3).arg(what)
          << Qt::endl;
}

void HeadlessDemo::wire()
{
    ClientEngine &alice = *phone(QStringLiteral("alice")).engine;
    ClientEngine &bob = *phone(QStringLiteral("bob")).engine;
    ClientEngine &carol = *phone(QStringLiteral("carol")).engine;
    for (auto &p : m_phones) {
        ClientEngine *e = p->engine.get();
        const QString name = p->name;
        connect(e, &ClientEngine::enrolled, this, [this, e, name](quint32 epoch) {
            step(QStringLiteral("%1 enrolled (epoch %2)").arg(name).arg(epoch));
            if (++m_enrolled == 3) {
                for (auto &q : m_phones)
                    q->engine->start();
            }
            Q_UNUSED(e);
        });
        connect(e, &ClientEngine::enrolFailed, this, [this, name](const Error &err) {
            finish(ExitFailed, QStringLiteral("%1 could not enrol: %2").arg(name, err.message));
        });
        connect(e, &ClientEngine::stateChanged, this, [this, name](ClientEngine::State s) {
            if (s != ClientEngine::State::Online)
                return;
            step(QStringLiteral("%1 online").arg(name));
            ++m_online;
            maybeStartCall();
        });
        connect(e, &ClientEngine::requestFailed, this, [this, name](const QString &what, const Error &err) {
            finish(ExitFailed, QStringLiteral("%1: %2: %3").arg(name, what, err.message));
        });
    }
    // Across brokers, bob@b shows up in alice's directory once the brokers' link is up.
    connect(&alice, &ClientEngine::directoryChanged, this, &HeadlessDemo::maybeStartCall);
    connect(&alice, &ClientEngine::presenceChanged, this, &HeadlessDemo::maybeStartCall);
    connect(&alice, &ClientEngine::callFailed, this, [this](quint32, const QString &, const Error &err) {
        finish(ExitFailed, QStringLiteral("alice's call failed: %1").arg(err.message));
    });
    connect(&alice, &ClientEngine::callStarted, this, [this](const QByteArray &sid, const QString &) { m_sid = sid; });
    connect(&bob, &ClientEngine::incomingCall, this, [this, &bob](const QByteArray &sid, const QString &from, bool) {
        step(QStringLiteral("bob's phone rings (%1); bob answers").arg(from));
        bob.answer(sid);
    });
    connect(&alice, &ClientEngine::callAnswered, this, [this, &alice](const QByteArray &sid) {
        step(QStringLiteral("alice and bob talk"));
        QTimer::singleShot(2500, &alice, [this, &alice, sid] {
            step(QStringLiteral("alice invites %1").arg(m_brokers.addressOf(QStringLiteral("carol"))));
            alice.invite(sid, m_brokers.addressOf(QStringLiteral("carol")));
        });
    });
    connect(&carol, &ClientEngine::incomingCall, this, [this, &carol](const QByteArray &sid, const QString &, bool) {
        step(QStringLiteral("carol's phone rings; carol answers"));
        carol.answer(sid);
    });
    connect(&carol, &ClientEngine::sessionKeyChanged, this, [this, &carol](const QByteArray &sid, quint32 gen) {
        step(QStringLiteral("carol holds generation %1; the three talk").arg(gen));
        QTimer::singleShot(3000, &carol, [this, &carol, sid] {
            step(QStringLiteral("carol leaves"));
            m_carolLeft = true;
            carol.leave(sid);
        });
    });
    connect(&alice, &ClientEngine::sessionKeyChanged, this, [this, &alice](const QByteArray &sid, quint32 gen) {
        if (!m_carolLeft || m_hungUp || gen < 2)
            return;
        m_hungUp = true;
        step(QStringLiteral("alice and bob re-keyed to generation %1 and talk on").arg(gen));
        QTimer::singleShot(2000, &alice, [this, &alice, sid] {
            step(QStringLiteral("alice hangs up"));
            alice.leave(sid);
        });
    });
    connect(&bob, &ClientEngine::rotated, this, [this](quint32 epoch) {
        step(QStringLiteral("bob's key rotated to epoch %1").arg(epoch));
        QTimer::singleShot(200, this, [this] {
            printTimeline();
            m_out << Qt::endl << "What each one heard:" << Qt::endl;
            for (auto &p : m_phones) {
                for (const auto &[sid, st] : p->media->history()) {
                    quint64 packets = 0, lost = 0;
                    for (const auto &m : st.members) {
                        packets += m.packets;
                        lost += m.lost;
                    }
                    m_out << QStringLiteral("  %1  %2  (%3 packets received, %4 lost)")
                                 .arg(p->name, -6)
                                 .arg(QDir(m_recordings).filePath(p->name + QStringLiteral("-heard.wav")))
                                 .arg(packets)
                                 .arg(lost)
                          << Qt::endl;
                }
            }
            finish(ExitOk);
        });
    });
}

void HeadlessDemo::maybeStartCall()
{
    if (m_callPlaced || m_online < 3)
        return;
    const QString bob = m_brokers.addressOf(QStringLiteral("bob"));
    const auto contacts = phone(QStringLiteral("alice")).engine->contacts();
    if (std::none_of(contacts.begin(), contacts.end(), [&](const ContactInfo &c) { return c.account == bob && c.online; }))
        return;
    m_callPlaced = true;
    step(QStringLiteral("alice calls %1").arg(bob));
    phone(QStringLiteral("alice")).engine->call(bob);
}

void HeadlessDemo::printTimeline()
{
    struct Row
    {
        QString who;
        TimelineEvent e;
    };
    std::vector<Row> rows;
    for (auto &p : m_phones) {
        for (const TimelineEvent &e : p->engine->timeline().events())
            rows.push_back({p->name, e});
    }
    std::stable_sort(rows.begin(), rows.end(), [](const Row &a, const Row &b) { return a.e.ts < b.e.ts; });
    m_out << Qt::endl << "Key timeline (fingerprints only; never a key):" << Qt::endl;
    for (const Row &r : rows) {
        const QString gen = r.e.gen ? QStringLiteral("g%1").arg(*r.e.gen) : QString();
        const QString epoch = r.e.epoch ? QStringLiteral("e%1").arg(*r.e.epoch) : QString();
        m_out << QStringLiteral("%1  %2 %3 %4 %5 %6  %7")
                     .arg(double(m_t0.msecsTo(r.e.ts)) / 1000.0, 7, 'f', 3)
                     .arg(r.who, -6)
                     .arg(TimelineEvent::kindName(r.e.kind), -12)
                     .arg(r.e.notation, -27)
                     .arg(gen, -3)
                     .arg(epoch, -3)
                     .arg(r.e.text)
              << Qt::endl;
    }
}

void HeadlessDemo::finish(int code, const QString &why)
{
    if (m_done)
        return;
    m_done = true;
    m_watchdog.stop();
    if (!why.isEmpty())
        printError(why);
    for (auto &p : m_phones)
        p->engine->stop();
    QTimer::singleShot(50, this, [this, code] {
        m_brokers.stop();
        Q_EMIT finished(code);
    });
}

} // namespace sotto::app
