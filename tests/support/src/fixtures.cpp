#include "support/fixtures.h"

#include "support/pgserver.h"

#include "core/crypto.h"
#include "core/privatefile.h"

#include <QCoreApplication>
#include <QDeadlineTimer>
#include <QFile>
#include <QRandomGenerator>
#include <QRegularExpression>
#include <QUdpSocket>
#include <QJsonDocument>
#include <QSignalSpy>
#include <QTcpSocket>
#include <QTest>
#include <QtEndian>

#include <algorithm>

namespace sotto::test {

ClientOptions fastClientOptions()
{
    ClientOptions o;
    o.minBackoffMs = 50;
    o.maxBackoffMs = 400;
    // Generous: a loaded CI machine may take a while over the fsyncs of an enrolment.
    o.loginTimeoutMs = 5000;
    o.enrolTimeoutMs = 5000;
    return o;
}

quint16 freePort()
{
    // Below the kernel's ephemeral range: a port the kernel hands to sockets bound to port 0 (a
    // client's, or a test's UDP socket) could be taken while a broker or relay that owns it is
    // down for a restart (kill -9, then start on the same port), and the restart would fail.
    int ephemeralLow = 32768;
    QFile range(QStringLiteral("/proc/sys/net/ipv4/ip_local_port_range"));
    if (range.open(QIODevice::ReadOnly)) {
        const int low = QString::fromLatin1(range.readAll()).split(QRegularExpression(QStringLiteral("\\s+")), Qt::SkipEmptyParts).value(0).toInt();
        if (low > 2048)
            ephemeralLow = low;
    }
    const int from = std::max(1025, ephemeralLow - 12000);
    for (int attempt = 0; attempt < 1000; ++attempt) {
        const auto port = quint16(QRandomGenerator::global()->bounded(from, ephemeralLow));
        QTcpServer tcp;
        QUdpSocket udp; // brokers and relays take the UDP port of the same number
        if (tcp.listen(QHostAddress::LocalHost, port) && udp.bind(QHostAddress::LocalHost, port))
            return port;
    }
    QTcpServer s;
    s.listen(QHostAddress::LocalHost, 0);
    return s.serverPort();
}

// ---- TestBroker --------------------------------------------------------------------------

TestBroker::TestBroker(skbp::KeyMode mode, qint64 refreshSecs, int handshakeTimeoutMs)
    : TestBroker([&](broker::BrokerConfig &c) {
          c.keyMode = mode;
          c.refreshIntervalSecs = refreshSecs;
          c.handshakeTimeoutMs = handshakeTimeoutMs;
      })
{
}

TestBroker::TestBroker(const std::function<void(broker::BrokerConfig &)> &adjust)
{
    m_config.address = QHostAddress::LocalHost;
    m_config.port = 0;
    m_config.dataDir = m_dir.filePath(QStringLiteral("broker"));
    m_config.name = QStringLiteral("test");
    m_config.handshakeTimeoutMs = 5000;
    // Tests make calls back to back and wait for each rotation; the coalescing of rotations
    // (default: one per 2 s) has tests of its own.
    m_config.rotationMinIntervalMs = 0;
    adjust(m_config);
    if (m_config.store.isEmpty())
        m_config.store = testStoreLocation(m_config.dataDir); // SOTTO_TEST_STORE=postgresql: a fresh database
    start();
}

TestBroker::~TestBroker() = default;

void TestBroker::start()
{
    m_broker = std::make_unique<broker::Broker>(m_config);
    auto r = m_broker->start();
    if (!r)
        qFatal("test broker failed to start: %s", qPrintable(r.error().message));
    m_port = m_broker->port();
    m_config.port = m_port; // a restart comes back on the same port
}

void TestBroker::restart()
{
    m_broker.reset();
    start();
}

InviteLink TestBroker::invite(const QString &account, quint16 viaPort)
{
    auto link = m_broker->createInvite(account, 3600);
    if (!link)
        qFatal("invite failed: %s", qPrintable(link.error().message));
    auto parsed = InviteLink::parse(*link);
    if (!parsed)
        qFatal("invite link does not parse: %s", qPrintable(parsed.error().message));
    if (viaPort)
        parsed->port = viaPort;
    return std::move(*parsed);
}

// ---- TestPhone ---------------------------------------------------------------------------

TestPhone::TestPhone(const QString &account, ClientOptions options)
    : m_account(account), m_options(std::move(options))
{
    open();
}

TestPhone::~TestPhone()
{
    m_engine.reset();
}

void TestPhone::open()
{
    auto p = Profile::open(m_dir.filePath(m_account));
    if (!p)
        qFatal("profile: %s", qPrintable(p.error().message));
    m_profile.emplace(std::move(*p));
    m_engine = std::make_unique<ClientEngine>(*m_profile, m_options);
}

void TestPhone::crashAndReopen()
{
    m_engine.reset(); // its destructor writes nothing
    m_profile.reset();
    open();
}

bool TestPhone::enrol(const InviteLink &link, int timeoutMs)
{
    QSignalSpy ok(m_engine.get(), &ClientEngine::enrolled);
    QSignalSpy failed(m_engine.get(), &ClientEngine::enrolFailed);
    m_engine->enrol(link);
    QDeadlineTimer deadline(timeoutMs);
    while (ok.isEmpty() && failed.isEmpty() && !deadline.hasExpired())
        QTest::qWait(10);
    return !ok.isEmpty();
}

bool TestPhone::goOnline(int timeoutMs)
{
    if (m_engine->state() == ClientEngine::State::Online)
        return true;
    m_engine->start();
    QDeadlineTimer deadline(timeoutMs);
    while (m_engine->state() != ClientEngine::State::Online && !deadline.hasExpired())
        QTest::qWait(10);
    return m_engine->state() == ClientEngine::State::Online;
}

bool enrolAndLogin(TestBroker &broker, TestPhone &phone, quint16 viaPort)
{
    return phone.enrol(broker.invite(phone.account(), viaPort)) && phone.goOnline();
}

QByteArray establishCall(TestPhone &caller, TestPhone &callee, int timeoutMs)
{
    QSignalSpy started(&caller.engine(), &ClientEngine::callStarted);
    QSignalSpy failed(&caller.engine(), &ClientEngine::callFailed);
    QSignalSpy incoming(&callee.engine(), &ClientEngine::incomingCall);
    QSignalSpy answered(&caller.engine(), &ClientEngine::callAnswered);
    caller.engine().call(callee.account());
    QDeadlineTimer deadline(timeoutMs);
    while ((started.isEmpty() || incoming.isEmpty()) && failed.isEmpty() && !deadline.hasExpired())
        QTest::qWait(5);
    if (started.isEmpty() || incoming.isEmpty())
        return {};
    const QByteArray sid = started.first().at(0).toByteArray();
    callee.engine().answer(sid);
    while (answered.isEmpty() && !deadline.hasExpired())
        QTest::qWait(5);
    return answered.isEmpty() ? QByteArray() : sid;
}

bool callWorks(TestPhone &caller, TestPhone &callee)
{
    const QByteArray sid = establishCall(caller, callee);
    if (sid.isEmpty())
        return false;
    auto a = caller.engine().sessionKey(sid, 0);
    auto b = callee.engine().sessionKey(sid, 0);
    if (!a || !b || !a->equals(*b))
        return false;
    // The callee's key must move past the epoch that keyed the call: a rotation, or a refresh
    // that was under way (it replaces the key as well, and the broker does not rotate twice).
    const quint32 keyed = callee.profile().epoch();
    QSignalSpy ended(&callee.engine(), &ClientEngine::callEnded);
    caller.engine().leave(sid);
    QDeadlineTimer deadline(5000);
    while ((ended.isEmpty() || callee.profile().epoch() <= keyed) && !deadline.hasExpired())
        QTest::qWait(5);
    return !ended.isEmpty() && callee.profile().epoch() > keyed;
}

// ---- FrameProxy --------------------------------------------------------------------------

struct FrameProxy::Link
{
    int id = 0;
    QTcpSocket *client = nullptr;
    QTcpSocket *broker = nullptr;
    QByteArray buffer[2];
    int count[2] = {0, 0};
    bool dead = false;
    QByteArray heldFrame;
};

FrameProxy::FrameProxy(quint16 targetPort, QObject *parent) : QObject(parent), m_target(targetPort)
{
    m_server.listen(QHostAddress::LocalHost, 0);
    connect(&m_server, &QTcpServer::newConnection, this, &FrameProxy::onNewConnection);
}

FrameProxy::~FrameProxy()
{
    cutAll();
}

quint16 FrameProxy::port() const
{
    return m_server.serverPort();
}

void FrameProxy::dropNext(Match match)
{
    m_drop = std::move(match);
}

void FrameProxy::holdNext(Match match)
{
    m_held = false;
    m_hold = std::move(match);
}

void FrameProxy::cutAll()
{
    for (auto &l : m_links)
        cut(l.get());
}

void FrameProxy::cut(Link *link)
{
    if (link->dead)
        return;
    link->dead = true;
    link->client->abort();
    link->broker->abort();
}

void FrameProxy::onNewConnection()
{
    while (QTcpSocket *c = m_server.nextPendingConnection()) {
        auto link = std::make_unique<Link>();
        Link *l = link.get();
        l->id = m_nextId++;
        l->client = c;
        c->setParent(this);
        l->broker = new QTcpSocket(this);
        connect(c, &QTcpSocket::readyRead, this, [this, l] { pump(l, Direction::ToBroker); });
        connect(l->broker, &QTcpSocket::readyRead, this, [this, l] { pump(l, Direction::ToClient); });
        connect(c, &QTcpSocket::disconnected, this, [l] {
            l->dead = true;
            l->broker->disconnectFromHost();
        });
        connect(l->broker, &QTcpSocket::disconnected, this, [l] {
            l->dead = true;
            l->client->disconnectFromHost();
        });
        l->broker->connectToHost(QHostAddress::LocalHost, m_target);
        m_links.push_back(std::move(link));
    }
}

void FrameProxy::pump(Link *l, Direction d)
{
    const int di = d == Direction::ToBroker ? 0 : 1;
    QTcpSocket *from = d == Direction::ToBroker ? l->client : l->broker;
    QTcpSocket *to = d == Direction::ToBroker ? l->broker : l->client;
    l->buffer[di].append(from->readAll());
    if (d == Direction::ToBroker && l->broker->state() != QAbstractSocket::ConnectedState) {
        if (!l->broker->waitForConnected(2000)) {
            cut(l);
            return;
        }
    }
    QByteArray &buf = l->buffer[di];
    while (!l->dead && l->heldFrame.isEmpty() && buf.size() >= 2) {
        const quint16 len = qFromBigEndian<quint16>(buf.constData());
        if (buf.size() < 2 + len)
            break;
        const QByteArray body = buf.mid(2, len);
        const QByteArray whole = buf.left(2 + len);
        buf.remove(0, 2 + len);
        const int index = l->count[di]++;
        m_frames.push_back({l->id, d, body});
        if (m_drop && (*m_drop)(l->id, d, index, body)) {
            m_drop.reset();
            cut(l);
            return;
        }
        if (m_hold && (*m_hold)(l->id, d, index, body)) {
            m_hold.reset();
            m_held = true;
            l->heldFrame = whole;
            return; // everything after it on this link waits too
        }
        to->write(whole);
    }
}

// ---- BrokerProcess -----------------------------------------------------------------------

BrokerProcess::BrokerProcess(const QString &dataDir, quint16 port, QStringList extraArgs)
    : m_dataDir(dataDir), m_port(port), m_extra(std::move(extraArgs))
{
}

BrokerProcess::~BrokerProcess()
{
    stop();
}

bool BrokerProcess::start(int timeoutMs)
{
    m_process = std::make_unique<QProcess>();
    m_process->setProcessChannelMode(QProcess::MergedChannels);
    QStringList args{QStringLiteral("broker"), QStringLiteral("--headless"), QStringLiteral("--listen"),
                     QStringLiteral("127.0.0.1:%1").arg(m_port), QStringLiteral("--data"), m_dataDir};
    args += m_extra;
    if (const QString store = testStoreLocation(m_dataDir); !store.isEmpty() && !m_extra.contains(QStringLiteral("--store")))
        args << QStringLiteral("--store") << store;
    m_process->start(QStringLiteral(SOTTO_BINARY), args);
    if (!m_process->waitForStarted(kProgramStartMs))
        return false;
    QDeadlineTimer deadline(timeoutMs);
    while (!deadline.hasExpired()) {
        QTcpSocket probe;
        probe.connectToHost(QHostAddress::LocalHost, m_port);
        if (probe.waitForConnected(200)) {
            probe.abort();
            return true;
        }
        if (m_process->state() == QProcess::NotRunning)
            return false;
        QTest::qWait(50);
    }
    return false;
}

QByteArray BrokerProcess::outputSoFar()
{
    if (m_process)
        m_output += m_process->readAll();
    return m_output;
}

namespace {

// SIGKILL, reaped; what it printed is kept.
void killProcess(std::unique_ptr<QProcess> &process, QByteArray &output)
{
    if (!process)
        return;
    process->kill();
    process->waitForFinished(5000);
    output += process->readAll();
    process.reset();
}

} // namespace

void BrokerProcess::kill()
{
    killProcess(m_process, m_output);
}

void BrokerProcess::stop()
{
    if (!m_process)
        return;
    m_process->terminate();
    if (!m_process->waitForFinished(5000))
        m_process->kill();
    m_output += m_process->readAll();
    m_process.reset();
}

QJsonObject BrokerProcess::status() const
{
    QProcess p;
    p.start(QStringLiteral(SOTTO_BINARY), {QStringLiteral("broker"), QStringLiteral("status"), QStringLiteral("--json"),
                                           QStringLiteral("--data"), m_dataDir});
    p.waitForFinished(10000);
    return QJsonDocument::fromJson(p.readAllStandardOutput()).object();
}

QString BrokerProcess::waitForRole(const QString &role, int timeoutMs)
{
    QDeadlineTimer deadline(timeoutMs);
    QString seen;
    do {
        seen = status().value(QStringLiteral("role")).toString();
        if (seen == role)
            break;
        QTest::qWait(50);
    } while (!deadline.hasExpired());
    return seen;
}

QString BrokerProcess::invite(const QString &account)
{
    QProcess p;
    p.start(QStringLiteral(SOTTO_BINARY),
            {QStringLiteral("broker"), QStringLiteral("invite"), account, QStringLiteral("--data"), m_dataDir});
    p.waitForFinished(10000);
    return QString::fromUtf8(p.readAllStandardOutput()).trimmed();
}

// ---- relays of their own ------------------------------------------------------------------

SecretBytes writeRelaySecret(const QString &path)
{
    auto raw = crypto::randomBytes(32);
    if (!raw)
        qFatal("no randomness");
    if (!writePrivateFile(path, raw->toBase64() + '\n').ok())
        qFatal("cannot write %s", qPrintable(path));
    return SecretBytes::copyOf(*raw);
}

bool RelayProcess::start(int timeoutMs)
{
    m_process = std::make_unique<QProcess>();
    m_process->setProcessChannelMode(QProcess::MergedChannels);
    m_process->start(QStringLiteral(SOTTO_BINARY), QStringList{QStringLiteral("relay"), QStringLiteral("--listen"), address(),
                                                               QStringLiteral("--secret-file"), m_secretFile} + m_extra);
    if (!m_process->waitForStarted(kProgramStartMs))
        return false;
    QDeadlineTimer deadline(timeoutMs);
    while (!deadline.hasExpired() && m_process->state() != QProcess::NotRunning) {
        if (outputSoFar().contains("relay listening"))
            return true;
        m_process->waitForReadyRead(50);
    }
    return false;
}

void RelayProcess::kill()
{
    killProcess(m_process, m_output);
}

QByteArray RelayProcess::outputSoFar()
{
    if (m_process)
        m_output += m_process->readAll();
    return m_output;
}

} // namespace sotto::test

