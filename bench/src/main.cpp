// sotto-bench: every benchmark in one process and one run (BENCH.md).
//
//   sotto-bench [--json FILE] [--quick] [--only NAME,...]
//
// Figures are medians over repeated runs, with their spread; ratios come from the same run.

#include "benchclient.h"
#include "mediabench.h"
#include "phonebench.h"
#include "setupbench.h"

#include "broker/broker.h"
#include "net/epolldispatcher.h"
#include "client/client.h"
#include "core/invite.h"
#ifdef SOTTO_BENCH_POSTGRES
#include "support/fixtures.h"
#include "support/pgserver.h"
#endif
#include "core/crypto.h"
#include "core/noise.h"
#include "core/skbp.h"
#include "core/relayauth.h"
#include "core/relaywire.h"
#include "audio/rtp.h"

#include <QCommandLineParser>
#include <QDir>
#include <QCoreApplication>
#include <QDeadlineTimer>
#include <QElapsedTimer>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QTemporaryDir>
#include <QThread>
#include <QDateTime>
#include <QUdpSocket>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#ifdef Q_OS_UNIX
#include <sys/resource.h>
#include <time.h>
#endif
#ifdef Q_OS_LINUX
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#endif

using namespace sotto;
using namespace sotto::bench;

namespace {

void raiseFileLimit()
{
#ifdef Q_OS_UNIX
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = std::min<rlim_t>(rl.rlim_max, 65536);
        setrlimit(RLIMIT_NOFILE, &rl);
    }
#endif
}

struct Summary
{
    double median = 0;
    double min = 0;
    double max = 0;
    int runs = 0;
};

Summary summarize(std::vector<double> v)
{
    std::sort(v.begin(), v.end());
    Summary s;
    s.runs = int(v.size());
    if (v.empty())
        return s;
    s.median = v[v.size() / 2];
    s.min = v.front();
    s.max = v.back();
    return s;
}

double percentile(std::vector<double> v, double p)
{
    if (v.empty())
        return 0;
    std::sort(v.begin(), v.end());
    const std::size_t i = std::min(v.size() - 1, std::size_t(p * double(v.size() - 1) + 0.5));
    return v[i];
}

bool spin(const std::function<bool()> &done, int ms)
{
    QDeadlineTimer deadline(ms);
    while (!done() && !deadline.hasExpired())
        QCoreApplication::processEvents(QEventLoop::AllEvents, 5);
    return done();
}

// A broker on its own thread, so that clients in this thread load it as real peers would.
class BrokerHost
{
public:
    explicit BrokerHost(const std::function<void(broker::BrokerConfig &)> &adjust = {})
    {
        m_context.moveToThread(&m_thread);
        if (QAbstractEventDispatcher *d = net::createServerEventDispatcher())
            m_thread.setEventDispatcher(d);
        m_thread.start();
        broker::BrokerConfig cfg;
        cfg.address = QHostAddress::LocalHost;
        cfg.port = 0;
        cfg.dataDir = m_dir.filePath(QStringLiteral("broker"));
        cfg.name = QStringLiteral("bench");
        // Every cycle pays for its own rotation (the broker's worst case, and what BENCH.md's
        // cycle counts): no coalescing of back-to-back calls' rotations.
        cfg.rotationMinIntervalMs = 0;
        if (adjust)
            adjust(cfg);
        run([this, cfg] {
            m_broker = new broker::Broker(cfg);
            auto r = m_broker->start();
            if (!r)
                qFatal("broker: %s", qPrintable(r.error().message));
            m_port = m_broker->port();
        });
    }
    ~BrokerHost()
    {
        run([this] { delete m_broker; });
        m_thread.quit();
        m_thread.wait();
    }
    void run(std::function<void()> f) { QMetaObject::invokeMethod(&m_context, f, Qt::BlockingQueuedConnection); }
    quint16 port() const { return m_port; }
    // Accounts created straight in the store (the enrolment handshake is measured elsewhere).
    std::vector<SecretBytes> seed(const QStringList &names)
    {
        std::vector<SecretBytes> keys;
        for (int i = 0; i < names.size(); ++i)
            keys.push_back(*crypto::randomSecret(32));
        run([&] {
            auto &store = m_broker->store();
            for (int i = 0; i < names.size(); ++i) {
                (void)store.setPending(names[i], 1, keys[std::size_t(i)], broker::PendingKind::Handshake);
                (void)store.commitPending(names[i]);
            }
            store.flush();
        });
        return keys;
    }
    QByteArray publicKey()
    {
        QByteArray k;
        run([&] { k = m_broker->publicKey(); });
        return k;
    }
    void invite(const QString &account)
    {
        run([&] { (void)m_broker->createInvite(account, 3600); });
    }

private:
    QTemporaryDir m_dir;
    QThread m_thread;
    QObject m_context;
    broker::Broker *m_broker = nullptr;
    quint16 m_port = 0;
};

std::vector<std::unique_ptr<BenchClient>> loginAll(quint16 port, const QStringList &names, std::vector<SecretBytes> keys)
{
    std::vector<std::unique_ptr<BenchClient>> clients;
    int online = 0;
    for (int i = 0; i < names.size(); ++i) {
        auto c = std::make_unique<BenchClient>(names[i], std::move(keys[std::size_t(i)]), 1, port);
        QObject::connect(c.get(), &BenchClient::online, [&online] { ++online; });
        QObject::connect(c.get(), &BenchClient::failed, [](const QString &why) { std::fprintf(stderr, "client: %s\n", qPrintable(why)); });
        c->connectToBroker();
        clients.push_back(std::move(c));
        if (i % 50 == 49)
            spin([&] { return online >= i - 25; }, 5000);
    }
    if (!spin([&] { return online == names.size(); }, 60000))
        qFatal("only %d of %lld clients logged in", online, qint64(names.size()));
    return clients;
}

std::vector<std::unique_ptr<BenchClient>> loginAll(BrokerHost &host, const QStringList &names)
{
    return loginAll(host.port(), names, host.seed(names));
}

QStringList pairNames(int pairs)
{
    QStringList names;
    for (int i = 0; i < pairs; ++i) {
        names.append(QStringLiteral("caller%1").arg(i));
        names.append(QStringLiteral("callee%1").arg(i));
    }
    return names;
}

// `sotto-bench --serve-broker PAIRS --keys FILE`: a BrokerHost in a process of its own, its
// accounts seeded and their keys written (hex, one a line, 0600) to FILE; prints "port N" and
// serves until its standard input closes. 10,000 phones and their broker in one process would
// need 20,000 descriptors, more than a process may hold here.
int serveBroker(int pairs, const QString &keysPath)
{
    BrokerHost host;
    const QStringList names = pairNames(pairs);
    const std::vector<SecretBytes> keys = host.seed(names);
    QFile f(keysPath);
    if (!f.open(QIODevice::WriteOnly | QIODevice::Truncate) || !f.setPermissions(QFile::ReadOwner | QFile::WriteOwner))
        return 1;
    for (const SecretBytes &k : keys)
        f.write(k.view().toByteArray().toHex() + '\n');
    f.close();
    std::printf("port %u\n", unsigned(host.port()));
    std::fflush(stdout);
    char buf[64];
    while (std::fread(buf, 1, sizeof buf, stdin) > 0) {
    }
    return 0;
}

// The broker of serveBroker(), from the parent's side.
class BrokerChild
{
public:
    explicit BrokerChild(int pairs)
    {
        m_process.setProcessChannelMode(QProcess::ForwardedErrorChannel);
        m_process.start(QCoreApplication::applicationFilePath(),
                        {QStringLiteral("--serve-broker"), QString::number(pairs), QStringLiteral("--keys"), m_dir.filePath(QStringLiteral("keys"))});
        QDeadlineTimer deadline(120000);
        while (!m_process.canReadLine() && !deadline.hasExpired() && m_process.state() != QProcess::NotRunning)
            m_process.waitForReadyRead(1000);
        const QByteArray line = m_process.readLine().trimmed();
        if (!line.startsWith("port "))
            qFatal("the broker process did not start");
        m_port = quint16(line.mid(5).toUInt());
        QFile f(m_dir.filePath(QStringLiteral("keys")));
        if (!f.open(QIODevice::ReadOnly))
            qFatal("no keys from the broker process");
        while (!f.atEnd())
            m_keys.push_back(SecretBytes::copyOf(QByteArray::fromHex(f.readLine().trimmed())));
    }
    ~BrokerChild()
    {
        m_process.closeWriteChannel();
        if (!m_process.waitForFinished(10000))
            m_process.kill();
    }
    quint16 port() const { return m_port; }
    qint64 pid() const { return m_process.processId(); }
    std::vector<SecretBytes> takeKeys() { return std::move(m_keys); }

private:
    QTemporaryDir m_dir;
    QProcess m_process;
    quint16 m_port = 0;
    std::vector<SecretBytes> m_keys;
};

// ---- the benchmarks ----------------------------------------------------------------------------

#ifdef Q_OS_LINUX
// A blocking loopback TCP connection for measuring one exchange at a time.
int connectTo(quint16 port)
{
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    timeval tv{2, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (::connect(fd, reinterpret_cast<sockaddr *>(&sa), sizeof sa) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

// One whole frame (u16 length || body) from a blocking socket; false on a short read.
bool readFrame(int fd)
{
    unsigned char head[2];
    if (::recv(fd, head, 2, MSG_WAITALL) != 2)
        return false;
    std::vector<char> body(std::size_t(head[0] << 8 | head[1]));
    return ::recv(fd, body.data(), body.size(), MSG_WAITALL) == ssize_t(body.size());
}

// PROTOCOL §4: the refusal of an enrolment must take the same time whatever the account's
// state. Five cases, interleaved so that they share the machine's noise; each attempt is a
// msg1 under a wrong psk, timed from its write to the error frame.
struct RefusalTiming
{
    std::map<QString, double> medianUs;
    double spread = 0;
};

RefusalTiming benchEnrolRefusal(int attempts)
{
    BrokerHost host;
    host.seed({QStringLiteral("enrolled")});
    host.invite(QStringLiteral("invited"));
    const QByteArray pub = host.publicKey();
    struct Case
    {
        const char *name;
        QString account;
        quint32 epoch;
    };
    const std::vector<Case> cases{
        {"unknown account", QStringLiteral("nobody"), 0},
        {"open invite", QStringLiteral("invited"), 0},
        {"current epoch", QStringLiteral("enrolled"), 1},
        {"other epoch", QStringLiteral("enrolled"), 2},
        {"enrolled, epoch 0", QStringLiteral("enrolled"), 0},
    };
    std::map<QString, std::vector<double>> samples;
    for (int i = 0; i < attempts; ++i) {
        for (const Case &c : cases) {
            noise::HandshakeConfig cfg{noise::Pattern::NKpsk0, true, skbp::enrollPrologue(c.account, c.epoch), {}, pub,
                                       *crypto::randomSecret(32), std::nullopt};
            auto hs = noise::HandshakeState::create(std::move(cfg));
            const QByteArray frame = wire::frame(wire::encodeEnroll1({c.account, c.epoch, *hs->writeMessage("{}")}));
            const int fd = connectTo(host.port());
            if (fd < 0)
                qFatal("cannot connect to the bench broker");
            QElapsedTimer t;
            t.start();
            (void)::send(fd, frame.constData(), std::size_t(frame.size()), 0);
            const bool ok = readFrame(fd);
            const double us = double(t.nsecsElapsed()) / 1000.0;
            ::close(fd);
            if (!ok)
                qFatal("no refusal for case %s", c.name);
            if (i >= attempts / 10) // the first tenth warms caches up
                samples[QString::fromLatin1(c.name)].push_back(us);
        }
    }
    RefusalTiming out;
    double lo = 1e300, hi = 0;
    for (auto &[name, v] : samples) {
        const double m = percentile(v, 0.5);
        out.medianUs[name] = m;
        lo = std::min(lo, m);
        hi = std::max(hi, m);
    }
    out.spread = lo > 0 ? hi / lo : 0;
    return out;
}

// A broker restart: every phone reconnects at once. With a short listen backlog the kernel
// drops SYNs and the clients wait a second for the retransmit. Each of `count` connections sends
// a hello at once; timed to its challenge.
struct Burst
{
    double p50 = 0, max = 0;
    int done = 0;
};

Burst benchReconnectBurst(int count, int backlog)
{
    BrokerHost host([backlog](broker::BrokerConfig &c) { c.listenBacklog = backlog; });
    const QByteArray hello = wire::frame(wire::encodeHello({QStringLiteral("someone"), 1, QByteArray(skbp::kNonceSize, 'n')}));
    struct Conn
    {
        int fd = -1;
        bool sent = false;
        QByteArray got;
        double doneMs = -1;
    };
    std::vector<Conn> conns(static_cast<std::size_t>(count));
    QElapsedTimer clock;
    clock.start();
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(host.port());
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (Conn &c : conns) {
        c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        (void)::connect(c.fd, reinterpret_cast<sockaddr *>(&sa), sizeof sa);
    }
    int remaining = count;
    std::vector<pollfd> fds;
    while (remaining > 0 && clock.elapsed() < 15000) {
        fds.clear();
        for (Conn &c : conns) {
            if (c.doneMs < 0)
                fds.push_back({c.fd, short(c.sent ? POLLIN : POLLOUT), 0});
        }
        if (::poll(fds.data(), nfds_t(fds.size()), 100) <= 0)
            continue;
        for (const pollfd &p : fds) {
            if (!p.revents)
                continue;
            Conn &c = *std::find_if(conns.begin(), conns.end(), [&](const Conn &x) { return x.fd == p.fd; });
            if (!c.sent && (p.revents & POLLOUT)) {
                int err = 0;
                socklen_t len = sizeof err;
                ::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
                if (err == 0 && ::send(c.fd, hello.constData(), std::size_t(hello.size()), MSG_NOSIGNAL) == hello.size())
                    c.sent = true;
            } else if (p.revents & POLLIN) {
                char buf[256];
                const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
                if (n > 0)
                    c.got.append(buf, qsizetype(n));
                if (c.got.size() >= 2 + 1 + skbp::kNonceSize || n <= 0) {
                    c.doneMs = double(clock.nsecsElapsed()) / 1e6;
                    --remaining;
                }
            }
        }
    }
    Burst b;
    std::vector<double> times;
    for (Conn &c : conns) {
        if (c.doneMs >= 0 && c.got.size() >= 2 + 1 + skbp::kNonceSize)
            times.push_back(c.doneMs);
        ::close(c.fd);
    }
    b.done = int(times.size());
    if (!times.empty()) {
        b.p50 = percentile(times, 0.5);
        b.max = *std::max_element(times.begin(), times.end());
    }
    return b;
}
#endif


Summary timeSetupWork(void (SetupWork::*step)(), int runs, int iterations)
{
    SetupWork work;
    (work.*step)();
    std::vector<double> perRun;
    for (int r = 0; r < runs; ++r) {
        const double t0 = cpuMicros();
        for (int i = 0; i < iterations; ++i)
            (work.*step)();
        perRun.push_back((cpuMicros() - t0) / iterations);
    }
    return summarize(perRun);
}

Summary benchNoiseHandshake(int runs, int iterations)
{
    HandshakeWork work;
    std::vector<double> perRun;
    for (int r = 0; r < runs; ++r) {
        double clientMicros = 0;
        for (int i = 0; i < iterations; ++i) {
            double t = cpuMicros();
            work.clientFirst();
            clientMicros += cpuMicros() - t;
            work.respond();
            t = cpuMicros();
            work.clientSecond();
            clientMicros += cpuMicros() - t;
        }
        perRun.push_back(clientMicros / iterations);
    }
    return summarize(perRun);
}

struct Latency
{
    double p50 = 0, p99 = 0, mean = 0;
    int samples = 0;
};

// Clients that log in and stay idle, on a thread of their own: the broker carries them, while
// the measuring thread polls only the sockets it measures.
class IdleLoad
{
public:
    IdleLoad(BrokerHost &host, int count)
    {
        QStringList names;
        for (int i = 0; i < count; ++i)
            names.append(QStringLiteral("idle%1").arg(i));
        auto keys = host.seed(names);
        m_context.moveToThread(&m_thread);
        m_thread.start();
        QMetaObject::invokeMethod(&m_context, [&] {
            for (int i = 0; i < count; ++i) {
                auto c = std::make_unique<BenchClient>(names[i], std::move(keys[std::size_t(i)]), 1, host.port());
                QObject::connect(c.get(), &BenchClient::online, [this] { ++m_online; });
                c->connectToBroker();
                m_clients.push_back(std::move(c));
            }
        }, Qt::BlockingQueuedConnection);
        if (!spin([&] { return m_online.load() == count; }, 60000))
            qFatal("only %d of %d idle clients logged in", m_online.load(), count);
    }
    ~IdleLoad()
    {
        QMetaObject::invokeMethod(&m_context, [this] { m_clients.clear(); }, Qt::BlockingQueuedConnection);
        m_thread.quit();
        m_thread.wait();
    }

private:
    QThread m_thread;
    QObject m_context;
    std::vector<std::unique_ptr<BenchClient>> m_clients;
    std::atomic<int> m_online{0};
};

Latency benchCallSetupLatency(int idleClients, int calls)
{
    BrokerHost host;
    IdleLoad idle(host, idleClients);
    auto clients = loginAll(host, {QStringLiteral("alice"), QStringLiteral("bob")});
    BenchClient &alice = *clients[0];
    BenchClient &bob = *clients[1];
    bob.autoAnswer = false;
    std::vector<double> samples;
    QElapsedTimer clock;
    bool haveKey = false, rang = false;
    QByteArray sid;
    QObject::connect(&alice, &BenchClient::callKey, [&](const QByteArray &s) { haveKey = true; sid = s; });
    QObject::connect(&bob, &BenchClient::incoming, [&](const QByteArray &) { rang = true; });
    int rotations = 0;
    QObject::connect(&bob, &BenchClient::rotated, [&](quint32) { ++rotations; });
    for (int i = 0; i < calls; ++i) {
        haveKey = rang = false;
        clock.start();
        alice.call(QStringLiteral("bob"));
        if (!spin([&] { return haveKey && rang; }, 5000))
            qFatal("call %d did not set up", i);
        samples.push_back(double(clock.nsecsElapsed()) / 1000.0);
        alice.leave(sid);
        if (!spin([&] { return rotations == i + 1; }, 5000)) // settle: bob rotated and acked
            qFatal("call %d: bob's key did not rotate (%d rotations)", i, rotations);
        // A person does not place hundreds of calls a second; the broker's flood limit (500
        // messages a second per connection) would rightly refuse alice otherwise.
        QElapsedTimer gap;
        gap.start();
        spin([&] { return gap.elapsed() >= 4; }, 100);
    }
    Latency l;
    l.p50 = percentile(samples, 0.50);
    l.p99 = percentile(samples, 0.99);
    l.samples = int(samples.size());
    return l;
}

struct Throughput
{
    double value = 0;
    std::vector<double> windows;
    double brokerCpuUsPerCycle = 0; // when the broker is a process of its own
};

// BENCH.md's pair counts; SOTTO_BENCH_PAIRS=a,b,... measures others (for profiling one).
std::vector<int> byPairsCounts()
{
    std::vector<int> out;
    for (const QString &p : qEnvironmentVariable("SOTTO_BENCH_PAIRS").split(u',', Qt::SkipEmptyParts))
        out.push_back(p.toInt());
    if (out.empty())
        out = {200, 1000, 5000};
    return out;
}

Throughput driveCallCycles(std::vector<std::unique_ptr<BenchClient>> &clients, int pairs, int seconds,
                           const std::function<double()> &brokerCpuSeconds = {});

Throughput benchCallCycles(int pairs, int seconds, const QString &store = {})
{
    BrokerHost host([&](broker::BrokerConfig &c) { c.store = store; });
    auto clients = loginAll(host, pairNames(pairs));
    return driveCallCycles(clients, pairs, seconds);
}

// The same with the broker in a process of its own (BrokerChild).
Throughput benchCallCyclesApart(int pairs, int seconds)
{
    BrokerChild broker(pairs);
    auto clients = loginAll(broker.port(), pairNames(pairs), broker.takeKeys());
    return driveCallCycles(clients, pairs, seconds, [&broker] { return processCpuSeconds(broker.pid()); });
}

Throughput driveCallCycles(std::vector<std::unique_ptr<BenchClient>> &clients, int pairs, int seconds,
                           const std::function<double()> &brokerCpuSeconds)
{
    long long cycles = 0;
    bool running = true;
    for (int i = 0; i < pairs; ++i) {
        BenchClient *caller = clients[std::size_t(2 * i)].get();
        BenchClient *callee = clients[std::size_t(2 * i + 1)].get();
        callee->autoAnswer = true;
        const QString calleeName = callee->account();
        // call → call_key/incoming → answer → answered → leave → ended → rotate → ack
        QObject::connect(caller, &BenchClient::answered, caller, [caller](const QByteArray &sid) { caller->leave(sid); });
        QObject::connect(callee, &BenchClient::rotated, caller, [&cycles, &running, caller, calleeName](quint32) {
            ++cycles;
            if (running)
                caller->call(calleeName);
        });
    }
    for (int i = 0; i < pairs; ++i)
        clients[std::size_t(2 * i)]->call(clients[std::size_t(2 * i + 1)]->account());
    // Warm up one second, then count whole-second windows.
    QElapsedTimer t;
    t.start();
    spin([&] { return t.elapsed() >= 1000; }, 2000);
    Throughput out;
    const long long firstCycle = cycles;
    const double firstCpu = brokerCpuSeconds ? brokerCpuSeconds() : -1;
    for (int w = 0; w < seconds; ++w) {
        const long long start = cycles;
        QElapsedTimer win;
        win.start();
        spin([&] { return win.elapsed() >= 1000; }, 2000);
        out.windows.push_back(double(cycles - start) * 1000.0 / double(win.elapsed()));
    }
    if (firstCpu >= 0 && cycles > firstCycle)
        out.brokerCpuUsPerCycle = (brokerCpuSeconds() - firstCpu) * 1e6 / double(cycles - firstCycle);
    running = false;
    spin([] { return false; }, 300);
    out.value = summarize(out.windows).median;
    return out;
}

#ifdef SOTTO_BENCH_POSTGRES
// Two broker processes on one PostgreSQL store; the active is killed with SIGKILL, and the time
// runs until alice's next call to bob is answered (through the new active: the phones' own
// back-off, the standby's poll and the take-over's reload all count). Phones use the shipped
// reconnect back-off, not the tests' fast one.
std::vector<double> benchFailover(int kills)
{
    using namespace sotto::test;
    const QString store = PgServer::shared().createDatabase();
    QTemporaryDir dirA, dirB;
    const QStringList args{QStringLiteral("--store"), store};
    BrokerProcess a(dirA.path(), freePort(), args);
    if (!a.start() || a.waitForRole(QStringLiteral("active"), 10000) != QStringLiteral("active"))
        qFatal("failover: the first broker did not become active");
    QFile::copy(QDir(dirA.path()).filePath(QStringLiteral("broker.key")), QDir(dirB.path()).filePath(QStringLiteral("broker.key")));
    BrokerProcess b(dirB.path(), freePort(), args);
    if (!b.start() || b.waitForRole(QStringLiteral("standby"), 10000) != QStringLiteral("standby"))
        qFatal("failover: the second broker did not become a standby");
    ClientOptions options; // the shipped back-off
    options.loginTimeoutMs = 5000;
    TestPhone alice(QStringLiteral("alice"), options), bob(QStringLiteral("bob"), options);
    for (TestPhone *p : {&alice, &bob}) {
        auto link = InviteLink::parse(a.invite(p->account()));
        if (!link || !p->enrol(*link) || !p->goOnline())
            qFatal("failover: %s did not enrol", qPrintable(p->account()));
    }
    std::vector<double> out;
    BrokerProcess *active = &a, *standby = &b;
    for (int k = 0; k < kills; ++k) {
        if (!standby->isRunning() && (!standby->start() || standby->waitForRole(QStringLiteral("standby"), 10000) != QStringLiteral("standby")))
            qFatal("failover: the killed broker did not come back as a standby");
        spin([&] { return alice.engine().state() == ClientEngine::State::Online && bob.engine().state() == ClientEngine::State::Online; }, 20000);
        QElapsedTimer t;
        active->kill();
        t.start();
        QByteArray sid;
        while (sid.isEmpty() && t.elapsed() < 30000)
            sid = establishCall(alice, bob, 200);
        if (sid.isEmpty())
            qFatal("failover: no call within 30 s of the kill");
        out.push_back(double(t.elapsed()) / 1000.0);
        alice.engine().leave(sid);
        std::swap(active, standby);
    }
    return out;
}

// `sotto relay` processes (relays of their own): `sessions` sessions of three members spread
// over `processes` relays, members bound with minted tokens, every member sending round-robin
// from this thread; the rate is what the members receive (each packet goes to two). The
// per-sender limit is lifted (--sender-rate): capacity, not policy.
std::vector<double> benchRelayProcesses(int processes, int sessions, int seconds)
{
    using namespace sotto::test;
    QTemporaryDir dir;
    const QString secretFile = dir.filePath(QStringLiteral("relay.secret"));
    const SecretBytes secret = writeRelaySecret(secretFile);
    std::vector<std::unique_ptr<RelayProcess>> relays;
    for (int i = 0; i < processes; ++i) {
        relays.push_back(std::make_unique<RelayProcess>(secretFile, freePort(), QStringList{QStringLiteral("--sender-rate"), QStringLiteral("10000000")}));
        if (!relays.back()->start())
            qFatal("relay process did not start");
    }
    struct Member
    {
        std::unique_ptr<QUdpSocket> socket;
        QByteArray packet;
        quint16 port = 0;
    };
    std::vector<Member> members;
    const quint32 expiry = quint32(QDateTime::currentSecsSinceEpoch()) + 600;
    for (int s = 0; s < sessions; ++s) {
        const QByteArray sid = *crypto::randomBytes(16);
        const quint16 port = relays[std::size_t(s % processes)]->port();
        for (int m = 0; m < 3; ++m) {
            const quint32 ssrc = quint32(s * 3 + m + 1);
            Member mem;
            mem.port = port;
            mem.socket = std::make_unique<QUdpSocket>();
            mem.socket->bind(QHostAddress::LocalHost, 0);
            mem.socket->setSocketOption(QAbstractSocket::ReceiveBufferSizeSocketOption, QVariant(1 << 20));
            const QByteArray token = relayauth::mintToken(secret.view(), sid, ssrc, expiry);
            mem.socket->writeDatagram(relayauth::provenBind(sid, ssrc, token, relayauth::grantKey(secret.view(), sid, ssrc, token),
                                                            quint64(QDateTime::currentMSecsSinceEpoch())),
                                      QHostAddress::LocalHost, port);
            audio::RtpPacket p;
            p.ssrc = ssrc;
            p.payload = QByteArray(100, 'v');
            mem.packet = audio::encodeRtp(p);
            members.push_back(std::move(mem));
        }
    }
    char buf[2048];
    quint64 received = 0;
    int acks = 0;
    spin([&] {
        for (auto &m : members) {
            while (m.socket->hasPendingDatagrams())
                acks += m.socket->readDatagram(buf, sizeof buf) == relaywire::kBindAckSize ? 1 : 0;
        }
        return acks == int(members.size());
    }, 5000);
    if (acks != int(members.size()))
        qFatal("relay processes: %d of %d binds acknowledged", acks, int(members.size()));
    auto drain = [&] {
        for (auto &m : members) {
            while (m.socket->hasPendingDatagrams())
                received += m.socket->readDatagram(buf, sizeof buf) > 0 ? 1 : 0;
        }
    };
    std::vector<double> windows;
    QElapsedTimer clock;
    clock.start();
    quint64 last = 0;
    qint64 windowStart = 0;
    std::size_t next = 0;
    while (clock.elapsed() < qint64(seconds) * 1000 + 500) {
        for (int burst = 0; burst < 64; ++burst) {
            Member &m = members[next];
            next = (next + 1) % members.size();
            m.socket->writeDatagram(m.packet, QHostAddress::LocalHost, m.port);
        }
        drain();
        const qint64 now = clock.elapsed();
        if (now - windowStart >= 1000) {
            if (windowStart >= 500)
                windows.push_back(double(received - last) * 1000.0 / double(now - windowStart));
            last = received;
            windowStart = now;
        }
    }
    return windows;
}
#endif

} // namespace

int main(int argc, char **argv)
{
    // Same event dispatcher as the headless broker (see app/cli/main.cpp).
    if (!qEnvironmentVariableIsSet("QT_NO_GLIB"))
        qputenv("QT_NO_GLIB", "1");
    // The broker's dispatcher (epoll on Linux) for the bench's clients too, as `sotto broker`
    // runs: a poll(2) over 10,000 client sockets per pass would measure the bench, not the broker.
    if (QAbstractEventDispatcher *d = net::createServerEventDispatcher())
        QCoreApplication::setEventDispatcher(d);
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("sotto-bench"));
    QCommandLineParser parser;
    parser.addHelpOption();
    const QCommandLineOption json(QStringLiteral("json"), QStringLiteral("write the figures as JSON"), QStringLiteral("FILE"));
    const QCommandLineOption quick(QStringLiteral("quick"), QStringLiteral("a run under two minutes"));
    const QCommandLineOption only(QStringLiteral("only"), QStringLiteral("comma-separated benchmark names"), QStringLiteral("NAMES"));
    const QCommandLineOption callgrind(QStringLiteral("callgrind"), QStringLiteral("instructions per client set-up and per Noise handshake, counted under valgrind's callgrind"));
    const QCommandLineOption probe(QStringLiteral("callgrind-probe"), QStringLiteral("(internal) the measured side of --callgrind"), QStringLiteral("NAME"));
    const QCommandLineOption iterations(QStringLiteral("iterations"), QStringLiteral("calls counted per figure by --callgrind (default 200)"), QStringLiteral("N"), QStringLiteral("200"));
    const QCommandLineOption serve(QStringLiteral("serve-broker"), QStringLiteral("(internal) the broker process of broker_call_cycles_by_pairs"), QStringLiteral("PAIRS"));
    const QCommandLineOption keysFile(QStringLiteral("keys"), QStringLiteral("(internal) where --serve-broker writes its accounts' keys"), QStringLiteral("FILE"));
    parser.addOptions({json, quick, only, callgrind, probe, iterations, serve, keysFile});
    parser.process(app);
    const int probeIterations = std::max(1, parser.value(iterations).toInt());
    if (parser.isSet(serve))
        return serveBroker(parser.value(serve).toInt(), parser.value(keysFile));
    if (parser.isSet(probe))
        return runProbe(parser.value(probe), probeIterations);
    if (parser.isSet(callgrind)) {
        QString error;
        const QJsonObject counts = countInstructions(QCoreApplication::applicationFilePath(), probeIterations, &error);
        if (counts.isEmpty()) {
            std::fprintf(stderr, "sotto-bench: %s\n", qPrintable(error));
            return 1;
        }
        const QJsonObject result{{QStringLiteral("instructions"), counts}};
        std::printf("%s", QJsonDocument(result).toJson().constData());
        if (parser.isSet(json)) {
            QFile f(parser.value(json));
            if (!f.open(QIODevice::WriteOnly) || f.write(QJsonDocument(result).toJson()) < 0)
                return 1;
        }
        return 0;
    }
    const bool q = parser.isSet(quick);
    const QStringList selected = parser.value(only).split(u',', Qt::SkipEmptyParts);
    auto want = [&](const char *name) { return selected.isEmpty() || selected.contains(QLatin1StringView(name)); };
    raiseFileLimit();
    qputenv("QT_LOGGING_RULES", "sotto.*.info=false");

    QJsonObject out;
    QJsonObject spread;
    std::vector<std::pair<QString, QString>> table;
    auto addSpread = [&](const char *key, const Summary &s) {
        spread.insert(QLatin1StringView(key), QJsonObject{{QStringLiteral("min"), s.min}, {QStringLiteral("max"), s.max}, {QStringLiteral("runs"), s.runs}});
    };

    std::optional<Summary> setup, handshake;
    if (want("client_setup_us") || want("setup_vs_handshake")) {
        setup = timeSetupWork(&SetupWork::setup, q ? 5 : 15, q ? 1000 : 4000);
        out.insert(QStringLiteral("client_setup_us"), setup->median);
        addSpread("client_setup_us", *setup);
        table.emplace_back(QStringLiteral("client_setup_us"), QStringLiteral("%1 µs CPU (%2–%3)").arg(setup->median, 0, 'f', 2).arg(setup->min, 0, 'f', 2).arg(setup->max, 0, 'f', 2));
    }
    if (want("client_setup_floor_us") || want("client_setup_us")) {
        const Summary floor = timeSetupWork(&SetupWork::floor, q ? 5 : 15, q ? 1000 : 4000);
        out.insert(QStringLiteral("client_setup_floor_us"), floor.median);
        addSpread("client_setup_floor_us", floor);
        table.emplace_back(QStringLiteral("client_setup_floor_us"), QStringLiteral("%1 µs CPU (%2–%3)").arg(floor.median, 0, 'f', 2).arg(floor.min, 0, 'f', 2).arg(floor.max, 0, 'f', 2));
        if (setup && floor.median > 0) {
            out.insert(QStringLiteral("setup_vs_floor"), setup->median / floor.median);
            table.emplace_back(QStringLiteral("setup_vs_floor"), QStringLiteral("%1x (goal ≤ 2x)").arg(setup->median / floor.median, 0, 'f', 2));
        }
    }
    if (want("client_noise_handshake_us") || want("setup_vs_handshake")) {
        handshake = benchNoiseHandshake(q ? 5 : 15, q ? 100 : 400);
        out.insert(QStringLiteral("client_noise_handshake_us"), handshake->median);
        addSpread("client_noise_handshake_us", *handshake);
        table.emplace_back(QStringLiteral("client_noise_handshake_us"), QStringLiteral("%1 µs CPU (%2–%3)").arg(handshake->median, 0, 'f', 1).arg(handshake->min, 0, 'f', 1).arg(handshake->max, 0, 'f', 1));
    }
    if (setup && handshake && setup->median > 0) {
        const double ratio = handshake->median / setup->median;
        out.insert(QStringLiteral("setup_vs_handshake"), ratio);
        table.emplace_back(QStringLiteral("setup_vs_handshake"), QStringLiteral("%1x (goal ≥ 100x)").arg(ratio, 0, 'f', 1));
    }
    if (want("call_setup_latency_us")) {
        const int idle = q ? 200 : 1000;
        const Latency l = benchCallSetupLatency(idle, q ? 150 : 1000);
        out.insert(QStringLiteral("call_setup_latency_us"), QJsonObject{{QStringLiteral("p50"), l.p50}, {QStringLiteral("p99"), l.p99}, {QStringLiteral("clients"), idle}, {QStringLiteral("samples"), l.samples}});
        table.emplace_back(QStringLiteral("call_setup_latency_us"), QStringLiteral("p50 %1 µs, p99 %2 µs, %3 idle clients (goal p50 ≤ 1000, p99 ≤ 5000)").arg(l.p50, 0, 'f', 0).arg(l.p99, 0, 'f', 0).arg(idle));
    }
    if (want("broker_call_cycles_per_s")) {
        const int pairs = 200;
        const Throughput t = benchCallCycles(pairs, q ? 3 : 8);
        const Summary s = summarize(t.windows);
        out.insert(QStringLiteral("broker_call_cycles_per_s"), QJsonObject{{QStringLiteral("value"), t.value}, {QStringLiteral("pairs"), pairs}});
        addSpread("broker_call_cycles_per_s", s);
        table.emplace_back(QStringLiteral("broker_call_cycles_per_s"), QStringLiteral("%1 /s (%2–%3), %4 pairs (goal ≥ 5000)").arg(t.value, 0, 'f', 0).arg(s.min, 0, 'f', 0).arg(s.max, 0, 'f', 0).arg(pairs));
    }
    if (want("broker_call_cycles_by_pairs")) {
        // The same cycles with more pairs logged in and calling at once: a cost per call that
        // grows with the clients shows here as a falling rate.
        // The rate swings with whatever else this machine runs; the broker's own CPU time per
        // cycle does not, so it is given beside it (broker_call_cpu_us_by_pairs).
        QJsonObject byPairs, cpuByPairs;
        QStringList cells, cpuCells;
        double first = 0, last = 0, firstCpu = 0, lastCpu = 0;
        for (const int pairs : byPairsCounts()) {
            const Throughput t = benchCallCyclesApart(pairs, q ? 3 : 6);
            byPairs.insert(QString::number(pairs), t.value);
            cpuByPairs.insert(QString::number(pairs), t.brokerCpuUsPerCycle);
            cells.append(QStringLiteral("%1 pairs %2/s").arg(pairs).arg(t.value, 0, 'f', 0));
            cpuCells.append(QStringLiteral("%1 pairs %2 µs").arg(pairs).arg(t.brokerCpuUsPerCycle, 0, 'f', 1));
            (first == 0 ? first : last) = t.value;
            (firstCpu == 0 ? firstCpu : lastCpu) = t.brokerCpuUsPerCycle;
        }
        out.insert(QStringLiteral("broker_call_cycles_by_pairs"), byPairs);
        out.insert(QStringLiteral("broker_call_cpu_us_by_pairs"), cpuByPairs);
        if (first > 0 && last > 0) {
            out.insert(QStringLiteral("broker_call_cycles_5000_vs_200"), last / first);
            cells.append(QStringLiteral("last/first = %1 (goal ≥ 0.85)").arg(last / first, 0, 'f', 2));
        }
        if (firstCpu > 0 && lastCpu > 0) {
            out.insert(QStringLiteral("broker_call_cpu_5000_vs_200"), lastCpu / firstCpu);
            cpuCells.append(QStringLiteral("last/first = %1 (goal ≤ 1.18)").arg(lastCpu / firstCpu, 0, 'f', 2));
        }
        table.emplace_back(QStringLiteral("broker_call_cycles_by_pairs"), cells.join(QStringLiteral(", ")));
        table.emplace_back(QStringLiteral("broker_call_cpu_us_by_pairs"), cpuCells.join(QStringLiteral(", ")));
    }
#ifdef SOTTO_BENCH_POSTGRES
    if (want("broker_call_cycles_per_s_postgresql")) {
        const int pairs = 200;
        const Throughput t = benchCallCycles(pairs, q ? 3 : 8, test::PgServer::shared().createDatabase());
        const Summary s = summarize(t.windows);
        const double sqlite = out.value(QStringLiteral("broker_call_cycles_per_s")).toObject().value(QStringLiteral("value")).toDouble();
        QJsonObject o{{QStringLiteral("value"), t.value}, {QStringLiteral("pairs"), pairs}};
        if (sqlite > 0)
            o.insert(QStringLiteral("vs_sqlite"), t.value / sqlite);
        out.insert(QStringLiteral("broker_call_cycles_per_s_postgresql"), o);
        addSpread("broker_call_cycles_per_s_postgresql", s);
        table.emplace_back(QStringLiteral("broker_call_cycles_per_s_postgresql"),
                           QStringLiteral("%1 /s (%2–%3), %4 pairs, %5 of SQLite's (goal ≥ 50%)")
                               .arg(t.value, 0, 'f', 0).arg(s.min, 0, 'f', 0).arg(s.max, 0, 'f', 0).arg(pairs)
                               .arg(sqlite > 0 ? QStringLiteral("%1%").arg(100 * t.value / sqlite, 0, 'f', 0) : QStringLiteral("n/a")));
    }
    if (want("failover_s")) {
        const int kills = q ? 3 : 8;
        const Summary f = summarize(benchFailover(kills));
        out.insert(QStringLiteral("failover_s"), QJsonObject{{QStringLiteral("p50"), f.median}, {QStringLiteral("max"), f.max}, {QStringLiteral("kills"), kills}});
        table.emplace_back(QStringLiteral("failover_s"), QStringLiteral("p50 %1 s, max %2 s over %3 kills -9 of the active (goal p50 ≤ 3)")
                                                              .arg(f.median, 0, 'f', 2).arg(f.max, 0, 'f', 2).arg(kills));
    }
#endif
    if (want("opus_encode_us") || want("media_send_us") || want("media_recv_us") || want("media_send_vs_opus") || want("media_send_plain_vs_opus")) {
        const MediaCpu m = benchMediaCpu(q ? 5 : 15, q ? 200 : 500);
        const Summary opus = summarize(m.opusEncodeUs), send = summarize(m.sendUs), recv = summarize(m.recvUs);
        out.insert(QStringLiteral("opus_encode_us"), opus.median);
        out.insert(QStringLiteral("media_send_us"), send.median);
        out.insert(QStringLiteral("media_recv_us"), recv.median);
        if (opus.median > 0)
            out.insert(QStringLiteral("media_send_vs_opus"), send.median / opus.median);
        addSpread("opus_encode_us", opus);
        addSpread("media_send_us", send);
        addSpread("media_recv_us", recv);
        // 1% of one core per member stream = 200 µs per 20 ms frame.
        table.emplace_back(QStringLiteral("opus_encode_us"), QStringLiteral("%1 µs CPU per 20 ms frame").arg(opus.median, 0, 'f', 1));
        table.emplace_back(QStringLiteral("media_send_us"), QStringLiteral("%1 µs CPU (%2x Opus; goal ≤ 200 µs = 1% of a core)").arg(send.median, 0, 'f', 1).arg(send.median / opus.median, 0, 'f', 2));
        table.emplace_back(QStringLiteral("media_recv_us"), QStringLiteral("%1 µs CPU for two members (goal ≤ 400 µs)").arg(recv.median, 0, 'f', 1));
        const Summary plain = summarize(m.plainSendUs);
        out.insert(QStringLiteral("media_send_plain_us"), plain.median);
        addSpread("media_send_plain_us", plain);
        if (opus.median > 0) {
            out.insert(QStringLiteral("media_send_plain_vs_opus"), plain.median / opus.median);
            table.emplace_back(QStringLiteral("media_send_vs_opus"), QStringLiteral("%1x with processing (goal ≤ 1.6x)").arg(send.median / opus.median, 0, 'f', 2));
            table.emplace_back(QStringLiteral("media_send_plain_vs_opus"), QStringLiteral("%1x without (%2 µs; goal ≤ 1.15x)").arg(plain.median / opus.median, 0, 'f', 2).arg(plain.median, 0, 'f', 1));
        }
    }
    if (want("echo_canceller")) {
        // The same canceller at the rate the phone runs it and at the microphone's own rate.
        QJsonObject e;
        QStringList cells;
        for (const int rate : {16000, 48000}) {
            const EchoFigures f = benchEcho(rate);
            e.insert(QStringLiteral("erle_db_%1k").arg(rate / 1000), f.erleDb);
            e.insert(QStringLiteral("process_us_%1k").arg(rate / 1000), f.processUs);
            cells.append(QStringLiteral("%1 kHz: ERLE %2 dB, %3 µs/frame").arg(rate / 1000).arg(f.erleDb, 0, 'f', 1).arg(f.processUs, 0, 'f', 1));
        }
#ifdef SOTTO_BENCH_WEBRTC
        const EchoFigures w = benchWebRtcEcho();
        e.insert(QStringLiteral("erle_db_webrtc"), w.erleDb);
        e.insert(QStringLiteral("process_us_webrtc"), w.processUs);
        cells.append(QStringLiteral("WebRTC APM 0.3: ERLE %1 dB, %2 µs/frame").arg(w.erleDb, 0, 'f', 1).arg(w.processUs, 0, 'f', 1));
#endif
        out.insert(QStringLiteral("echo_canceller"), e);
        table.emplace_back(QStringLiteral("echo_canceller"), cells.join(QStringLiteral(", ")));
    }
    if (want("relay_packets_per_cpu_s")) {
        // Forwarding per relay-CPU-second, 1 in → 1 out (two-party calls, as coturn was
        // measured): one thread with the batches it has, then smaller batches, then two threads
        // on one port (SO_REUSEPORT).
        QJsonObject o;
        QStringList cells;
        struct Run
        {
            const char *key;
            RelayLoad load;
        };
        const Run runs[] = {{"value", {2, 1, 64}}, {"batch_8", {2, 1, 8}}, {"batch_1", {2, 1, 1}}, {"threads_2", {2, 2, 64}}};
        for (const Run &run : runs) {
            const RelayRate r = benchRelay(150, q ? 2 : 4, run.load);
            o.insert(QLatin1StringView(run.key), r.perCpuSecond);
            if (run.load.threads > 1) {
                o.insert(QStringLiteral("threads_2_packets_per_s"), summarize(r.windows).median);
                o.insert(QStringLiteral("threads_2_threads"), r.threads);
            } else if (run.load.batch == 64) {
                o.insert(QStringLiteral("packets_per_s"), summarize(r.windows).median);
            }
            cells.append(QStringLiteral("%1 %2/cpu-s").arg(QLatin1StringView(run.key)).arg(r.perCpuSecond, 0, 'f', 0));
        }
        o.insert(QStringLiteral("cores"), QThread::idealThreadCount());
        out.insert(QStringLiteral("relay_packets_per_cpu_s"), o);
        table.emplace_back(QStringLiteral("relay_packets_per_cpu_s"), cells.join(QStringLiteral(", ")));
    }
    if (want("relay_packets_per_s")) {
        const int sessions = 100;
        const RelayRate r = benchRelay(sessions, q ? 3 : 6);
        const Summary s = summarize(r.windows);
        out.insert(QStringLiteral("relay_packets_per_s"), QJsonObject{{QStringLiteral("value"), s.median}, {QStringLiteral("sessions"), sessions}, {QStringLiteral("members"), 3}});
        addSpread("relay_packets_per_s", s);
        table.emplace_back(QStringLiteral("relay_packets_per_s"), QStringLiteral("%1 /s forwarded (%2–%3), %4 sessions × 3 (goal ≥ 100000)").arg(s.median, 0, 'f', 0).arg(s.min, 0, 'f', 0).arg(s.max, 0, 'f', 0).arg(sessions));
#ifdef SOTTO_BENCH_POSTGRES
        // Relays of their own, in one run: one process, then three, the same sessions and load.
        const double one = summarize(benchRelayProcesses(1, 300, q ? 3 : 6)).median;
        const double three = summarize(benchRelayProcesses(3, 300, q ? 3 : 6)).median;
        QJsonObject o = out.value(QStringLiteral("relay_packets_per_s")).toObject();
        o.insert(QStringLiteral("one_process"), one);
        o.insert(QStringLiteral("three_processes"), three);
        o.insert(QStringLiteral("three_vs_one"), one > 0 ? three / one : 0.0);
        o.insert(QStringLiteral("cores"), QThread::idealThreadCount());
        out.insert(QStringLiteral("relay_packets_per_s"), o);
        table.emplace_back(QStringLiteral("relay_packets_per_s processes"),
                           QStringLiteral("one `sotto relay` %1 /s, three %2 /s: %3x on %4 cores (goal ≥ 2.5x given the cores)")
                               .arg(one, 0, 'f', 0).arg(three, 0, 'f', 0).arg(one > 0 ? three / one : 0.0, 0, 'f', 2).arg(QThread::idealThreadCount()));
#endif
    }
    if (want("phone_call_cpu_percent")) {
        const PhoneCallCpu c = benchPhoneCallCpu(q ? 15 : 60);
        out.insert(QStringLiteral("phone_call_cpu_percent"), QJsonObject{{QStringLiteral("value"), (c.callerPercent + c.calleePercent) / 2}, {QStringLiteral("caller"), c.callerPercent}, {QStringLiteral("callee"), c.calleePercent}, {QStringLiteral("seconds"), c.seconds}});
        table.emplace_back(QStringLiteral("phone_call_cpu_percent"), QStringLiteral("%1% of a core (caller %2%, callee %3%), a %4 s call (goal below baresip's ~2.9%)").arg((c.callerPercent + c.calleePercent) / 2, 0, 'f', 2).arg(c.callerPercent, 0, 'f', 2).arg(c.calleePercent, 0, 'f', 2).arg(c.seconds, 0, 'f', 0));
    }
    if (want("mouth_to_ear_ms")) {
        const MouthToEar m = benchMouthToEar(q ? 6 : 16);
        if (m.clicks > 0) {
            out.insert(QStringLiteral("mouth_to_ear_ms"), QJsonObject{{QStringLiteral("value"), m.ms}, {QStringLiteral("jitter_buffer_ms"), m.jitterBufferMs}, {QStringLiteral("clicks"), m.clicks}});
            table.emplace_back(QStringLiteral("mouth_to_ear_ms"), QStringLiteral("%1 ms (jitter buffer %2 ms), %3 clicks (goal ≤ 60)").arg(m.ms, 0, 'f', 1).arg(m.jitterBufferMs, 0, 'f', 1).arg(m.clicks));
        } else {
            table.emplace_back(QStringLiteral("mouth_to_ear_ms"), QStringLiteral("no click came through"));
        }
    }
#ifdef Q_OS_LINUX
    if (want("enrol_refusal_timing_spread")) {
        const RefusalTiming t = benchEnrolRefusal(q ? 200 : 600);
        QJsonObject cases;
        QString detail;
        for (const auto &[name, us] : t.medianUs) {
            cases.insert(name, us);
            detail += QStringLiteral("%1%2 %3").arg(detail.isEmpty() ? QString() : QStringLiteral(", "), name).arg(us, 0, 'f', 0);
        }
        out.insert(QStringLiteral("enrol_refusal_timing_spread"), t.spread);
        out.insert(QStringLiteral("enrol_refusal_us"), cases);
        table.emplace_back(QStringLiteral("enrol_refusal_timing_spread"),
                           QStringLiteral("%1 (goal ≤ 1.25; medians µs: %2)").arg(t.spread, 0, 'f', 3).arg(detail));
    }
    if (want("reconnect_burst_ms")) {
        const int count = 1000; // the burst of the issue: 1,000 phones after a restart
        const Burst now = benchReconnectBurst(count, 4096);
        const Burst old = benchReconnectBurst(count, 50);
        out.insert(QStringLiteral("reconnect_burst_ms"),
                   QJsonObject{{QStringLiteral("p50"), now.p50}, {QStringLiteral("max"), now.max}, {QStringLiteral("connections"), count},
                               {QStringLiteral("answered"), now.done}, {QStringLiteral("backlog"), 4096},
                               {QStringLiteral("backlog_50_p50"), old.p50}, {QStringLiteral("backlog_50_max"), old.max}});
        table.emplace_back(QStringLiteral("reconnect_burst_ms"),
                           QStringLiteral("p50 %1 ms, max %2 ms for %3 connects at once (%4 answered); with Qt's backlog of 50: p50 %5, max %6")
                               .arg(now.p50, 0, 'f', 1).arg(now.max, 0, 'f', 1).arg(count).arg(now.done).arg(old.p50, 0, 'f', 1).arg(old.max, 0, 'f', 1));
    }
#endif
    out.insert(QStringLiteral("spread"), spread);
    out.insert(QStringLiteral("quick"), q);

    std::printf("%-28s %s\n", "figure", "value");
    for (const auto &[k, v] : table)
        std::printf("%-28s %s\n", qPrintable(k), v.toUtf8().constData());
    if (parser.isSet(json)) {
        QFile f(parser.value(json));
        if (!f.open(QIODevice::WriteOnly)) {
            std::fprintf(stderr, "sotto-bench: cannot write %s\n", qPrintable(parser.value(json)));
            return 1;
        }
        f.write(QJsonDocument(out).toJson());
    }
    return 0;
}
