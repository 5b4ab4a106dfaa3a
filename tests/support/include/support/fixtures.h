#pragma once

// Real parts for end-to-end tests: a broker in a temporary directory on loopback, phone engines
// with temporary profiles, a frame-aware TCP proxy for fault injection, and a broker child
// process that can be killed with SIGKILL.

#include "broker/broker.h"
#include "client/client.h"
#include "core/invite.h"
#include "client/profile.h"

#include <QJsonObject>
#include <QProcess>
#include <QTcpServer>
#include <QTemporaryDir>

#include <functional>
#include <memory>
#include <optional>
#include <vector>

namespace sotto::test {

// How long a test waits for a program it starts to be running (not for it to be ready): starting
// a Windows program under Wine, while other tests run, takes seconds at times.
constexpr int kProgramStartMs = 30000;

// Short timeouts so fault tests finish quickly.
ClientOptions fastClientOptions();
// A TCP port that was free a moment ago.
quint16 freePort();

class TestBroker
{
public:
    explicit TestBroker(skbp::KeyMode mode = skbp::KeyMode::Derived, qint64 refreshSecs = 24 * 3600,
                        int handshakeTimeoutMs = 5000);
    // A test broker whose configuration `adjust` changes first (loopback, any port, own dir).
    explicit TestBroker(const std::function<void(broker::BrokerConfig &)> &adjust);
    ~TestBroker();

    broker::Broker &broker() { return *m_broker; }
    quint16 port() const { return m_port; }
    QString dataDir() const { return m_dir.path(); }
    // An invite whose link points at `viaPort` (a proxy) or the broker itself.
    InviteLink invite(const QString &account, quint16 viaPort = 0);
    void restart();
    QString storeDump() { return m_broker->store().dump(); }

private:
    void start();
    QTemporaryDir m_dir;
    broker::BrokerConfig m_config;
    quint16 m_port = 0;
    std::unique_ptr<broker::Broker> m_broker;
};

class TestPhone
{
public:
    explicit TestPhone(const QString &account, ClientOptions options = fastClientOptions());
    ~TestPhone();

    QString account() const { return m_account; }
    ClientEngine &engine() { return *m_engine; }
    Profile &profile() { return *m_profile; }
    QString dir() const { return m_dir.path(); }

    bool enrol(const InviteLink &link, int timeoutMs = 5000);
    bool goOnline(int timeoutMs = 5000);
    // A crash and restart: the engine and profile objects go without another write, then the
    // profile is loaded again from disk.
    void crashAndReopen();

private:
    void open();
    QString m_account;
    ClientOptions m_options;
    QTemporaryDir m_dir;
    std::optional<Profile> m_profile;
    std::unique_ptr<ClientEngine> m_engine;
};

// Enrols and logs in `phone` against `broker`; QVERIFY-friendly.
bool enrolAndLogin(TestBroker &broker, TestPhone &phone, quint16 viaPort = 0);
// alice calls bob, bob answers; returns the session id (empty on failure).
QByteArray establishCall(TestPhone &caller, TestPhone &callee, int timeoutMs = 5000);
// Places a call, answers it, hangs up, and waits for the callee's rotation (if any).
bool callWorks(TestPhone &caller, TestPhone &callee);

// A TCP proxy that understands SKBP frames. It forwards, records, and on request drops or holds
// one frame and then cuts the connection: on TCP a lost message means a lost connection.
class FrameProxy : public QObject
{
    Q_OBJECT
public:
    enum class Direction { ToBroker, ToClient };
    struct Frame
    {
        int connection;
        Direction direction;
        QByteArray body;
    };
    using Match = std::function<bool(int connection, Direction, int index, const QByteArray &body)>;

    explicit FrameProxy(quint16 targetPort, QObject *parent = nullptr);
    ~FrameProxy() override;

    quint16 port() const;
    void setTargetPort(quint16 port) { m_target = port; }
    // The first frame that matches is not forwarded; that connection is then closed both ways.
    void dropNext(Match match);
    // The first frame that matches is held (not forwarded) until release() or cut(); held()
    // tells whether it has happened.
    void holdNext(Match match);
    bool held() const { return m_held; }
    void cutAll();
    const std::vector<Frame> &frames() const { return m_frames; }
    int connections() const { return m_nextId; }

private:
    struct Link;
    void onNewConnection();
    void pump(Link *link, Direction d);
    void cut(Link *link);

    QTcpServer m_server;
    quint16 m_target;
    std::vector<std::unique_ptr<Link>> m_links;
    std::vector<Frame> m_frames;
    std::optional<Match> m_drop;
    std::optional<Match> m_hold;
    bool m_held = false;
    int m_nextId = 0;
};

// `sotto broker --headless` as a child process (for kill -9).
class BrokerProcess
{
public:
    explicit BrokerProcess(const QString &dataDir, quint16 port, QStringList extraArgs = {});
    ~BrokerProcess();
    bool start(int timeoutMs = 10000);
    void kill(); // SIGKILL: no clean-up, no final commit
    void stop(); // SIGTERM
    quint16 port() const { return m_port; }
    QString invite(const QString &account);
    // `sotto broker status --json` on its data dir (an empty object when that fails).
    QJsonObject status() const;
    // The role status() reports ("active", "standby", "stopped") once it is `role`, or the last
    // one seen when `timeoutMs` ran out.
    QString waitForRole(const QString &role, int timeoutMs);
    bool isRunning() const { return m_process && m_process->state() != QProcess::NotRunning; }
    qint64 pid() const { return m_process ? m_process->processId() : 0; }
    QString dataDir() const { return m_dataDir; }
    QByteArray output() const { return m_output; }
    // What it has printed up to now (while it runs).
    QByteArray outputSoFar();

private:
    QString m_dataDir;
    quint16 m_port;
    QStringList m_extra;
    std::unique_ptr<QProcess> m_process;
    QByteArray m_output;
};

// A fresh relay secret: 32 random bytes, written base64 to a 0600 file at `path`.
SecretBytes writeRelaySecret(const QString &path);

// `sotto relay` as a child process on 127.0.0.1 (for kill -9).
class RelayProcess
{
public:
    RelayProcess(const QString &secretFile, quint16 port, QStringList extraArgs = {})
        : m_secretFile(secretFile), m_port(port), m_extra(std::move(extraArgs))
    {
    }
    ~RelayProcess() { kill(); }
    // Until it says it listens (false: it exited or was silent for timeoutMs).
    bool start(int timeoutMs = 10000);
    void kill(); // SIGKILL
    quint16 port() const { return m_port; }
    QString address() const { return QStringLiteral("127.0.0.1:%1").arg(m_port); }
    bool isRunning() const { return m_process && m_process->state() != QProcess::NotRunning; }
    QByteArray outputSoFar();

private:
    QString m_secretFile;
    quint16 m_port;
    QStringList m_extra;
    std::unique_ptr<QProcess> m_process;
    QByteArray m_output;
};

} // namespace sotto::test

