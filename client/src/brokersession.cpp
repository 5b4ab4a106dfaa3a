#include "client/brokersession.h"

#include "client/profile.h"
#include "core/invite.h"
#include "core/log.h"
#include "core/skbp.h"

#include <QCborArray>
#include <QPointer>

namespace sotto {

namespace key = wire::key;

namespace {

// A socket error as a person reads it: "connection refused", not "QAbstractSocket::…".
QString describeSocketError(const QTcpSocket &tcp)
{
    switch (tcp.error()) {
    case QAbstractSocket::ConnectionRefusedError:
        return QStringLiteral("connection refused");
    case QAbstractSocket::HostNotFoundError:
        return QStringLiteral("host not found");
    case QAbstractSocket::SocketTimeoutError:
        return QStringLiteral("timed out");
    case QAbstractSocket::NetworkError:
        return QStringLiteral("network unreachable");
    case QAbstractSocket::RemoteHostClosedError:
        return QStringLiteral("the broker closed the connection");
    default:
        return tcp.errorString().isEmpty() ? QStringLiteral("connection failed") : tcp.errorString().toLower();
    }
}

} // namespace

BrokerSession::BrokerSession(Profile &profile, Options options, QObject *parent)
    : QObject(parent), m_profile(profile), m_options(std::move(options))
{
    m_reconnectTimer.setSingleShot(true);
    connect(&m_reconnectTimer, &QTimer::timeout, this, &BrokerSession::connectNow);
    m_loginTimer.setSingleShot(true);
    connect(&m_loginTimer, &QTimer::timeout, this, [this] {
        if (m_socket && !m_loggedIn) {
            qCInfo(lcCore) << "login timed out";
            dropConnection(QStringLiteral("the broker did not answer the login"));
        }
    });
    connect(&m_keepAliveTimer, &QTimer::timeout, this, &BrokerSession::onKeepAlive);
}

BrokerSession::~BrokerSession()
{
    m_running = false;
    if (m_socket)
        m_socket->disconnect(this);
}

void BrokerSession::start()
{
    m_running = true;
    m_refused = false;
    m_backoffMs = 0;
    if (!m_socket)
        connectNow();
}

void BrokerSession::stop()
{
    m_running = false;
    m_reconnectTimer.stop();
    m_loginTimer.stop();
    m_keepAliveTimer.stop();
    if (m_socket) {
        m_socket->disconnect(this);
        m_socket->closeGracefully();
        m_socket = nullptr;
    }
    m_login.reset();
    m_loggedIn = false;
    m_channel = SecureChannel();
}

void BrokerSession::reconnectNow()
{
    if (!m_running || m_socket)
        return;
    m_reconnectTimer.stop();
    m_backoffMs = 0;
    connectNow();
}

QHostAddress BrokerSession::brokerAddress() const
{
    return m_socket && m_socket->socket() ? m_socket->socket()->peerAddress() : QHostAddress();
}

QDateTime BrokerSession::nextRetry() const
{
    if (!m_reconnectTimer.isActive())
        return {};
    return QDateTime::currentDateTimeUtc().addMSecs(m_reconnectTimer.remainingTime());
}

void BrokerSession::send(const QCborMap &message)
{
    if (!m_socket || !m_loggedIn)
        return;
    if (auto sealed = m_channel.seal(message))
        m_socket->send(*sealed);
}

void BrokerSession::connectNow()
{
    if (!m_running || m_socket)
        return;
    if (!m_profile.hasIdentity() || (!m_profile.isEnrolled() && m_profile.pendingEpoch() == 0)) {
        m_running = false;
        Q_EMIT loginFailed(makeError(ErrorCode::Usage, QStringLiteral("this profile is not enrolled")));
        return;
    }
    const QPointer<BrokerSession> alive(this);
    Q_EMIT connecting();
    if (!alive || !m_running || m_socket)
        return; // a handler stopped us (or connected already)
    auto *tcp = new QTcpSocket;
    m_socket = new FramedSocket(tcp, this);
    m_socket->enableKeepAlive(60);
    connect(m_socket, &FramedSocket::connected, this, &BrokerSession::onConnected);
    connect(m_socket, &FramedSocket::frameReceived, this, &BrokerSession::onFrame);
    connect(m_socket, &FramedSocket::disconnected, this, &BrokerSession::onDisconnected);
    m_loginTimer.start(m_options.loginTimeoutMs);
    const auto [host, port] = currentAddress();
    tcp->connectToHost(host, port);
}

std::pair<QString, quint16> BrokerSession::currentAddress() const
{
    auto hp = parseHostPort(currentAddressText(), skbp::kDefaultPort);
    if (!hp)
        return {m_profile.brokerHost(), m_profile.brokerPort()};
    return *hp;
}

QString BrokerSession::currentAddressText() const
{
    const QStringList all = m_profile.brokerAddresses();
    return all.at(m_addressIndex % all.size());
}

void BrokerSession::onConnected()
{
    m_login.emplace(m_profile, m_options.device, m_pendingRefused);
    onLogin(m_login->hello());
}

// Every way out of a frame tears the connection down first and emits last: a handler may stop
// the session or destroy its owner, and nothing here touches it afterwards.
void BrokerSession::onFrame(const QByteArray &body)
{
    m_sinceLastFrame.start();
    if (m_login)
        return onLogin(m_login->take(body));
    BrokerFrame f = openBrokerFrame(m_channel, body);
    switch (f.kind) {
    case BrokerFrame::Kind::Message:
        Q_EMIT message(*f.message);
        return;
    case BrokerFrame::Kind::Unknown:
        qCDebug(lcCore) << "ignoring a message of a type this phone does not know";
        return;
    case BrokerFrame::Kind::Bad:
        qCWarning(lcCore) << "dropping the broker connection:" << f.error.message;
        return dropConnection(QStringLiteral("the broker sent a bad frame"));
    case BrokerFrame::Kind::BrokerError:
        if (f.error.code == ErrorCode::Auth)
            return refuseForGood(f.error);
        return dropConnection(f.error.message);
    }
}

void BrokerSession::onLogin(BrokerLogin::Progress progress)
{
    if (auto *send = std::get_if<BrokerLogin::Send>(&progress)) {
        if (!send->frame.isEmpty())
            m_socket->send(send->frame);
        return;
    }
    m_login.reset();
    if (auto *failed = std::get_if<BrokerLogin::Failed>(&progress))
        return dropConnection(failed->reason);
    if (std::holds_alternative<BrokerLogin::PendingRefused>(progress)) {
        // The broker never committed the pending key: the current one, at once.
        m_pendingRefused = true;
        dropSocket();
        m_channel = SecureChannel();
        return connectNow();
    }
    m_pendingRefused = false;
    if (auto *refused = std::get_if<BrokerLogin::Refused>(&progress))
        return refuseForGood(refused->error);
    auto &welcome = std::get<BrokerLogin::Welcome>(progress);
    m_channel = std::move(welcome.channel);
    m_loginTimer.stop();
    m_loggedIn = true;
    m_offlineReason.clear();
    m_backoffMs = 0;
    m_failedInRound = 0;
    if (welcome.welcome.has(key::brokers)) {
        QStringList brokers;
        for (const QCborValue &v : welcome.welcome.map().value(key::brokers).toArray())
            brokers.append(v.toString());
        (void)m_profile.setBrokerAlternates(brokers);
    }
    if (m_options.keepAliveMs > 0)
        m_keepAliveTimer.start(m_options.keepAliveMs);
    Q_EMIT online(welcome.welcome, welcome.pending);
}

void BrokerSession::dropSocket()
{
    if (!m_socket)
        return;
    m_socket->disconnect(this);
    m_socket->abort();
    m_socket->deleteLater();
    m_socket = nullptr;
    m_login.reset();
}

void BrokerSession::dropConnection(const QString &why)
{
    m_failure = why;
    if (m_socket)
        m_socket->abort();
    onDisconnected();
}

void BrokerSession::refuseForGood(const Error &error)
{
    // The broker no longer takes this device's key (revoked, or replaced by another device):
    // retrying cannot help, only a new invite can. Stop, say so, and tell the owner last.
    qCInfo(lcCore) << "the broker refused this device's key:" << error.message;
    m_running = false;
    m_refused = true; // onDisconnected() says so in the offline reason
    m_reconnectTimer.stop();
    m_failure = error.message;
    if (m_socket)
        m_socket->abort();
    const QPointer<BrokerSession> alive(this);
    onDisconnected();
    if (alive)
        Q_EMIT loginFailed(error);
}

void BrokerSession::onKeepAlive()
{
    if (!m_socket || !m_loggedIn)
        return;
    if (m_sinceLastFrame.isValid() && m_sinceLastFrame.elapsed() > 3 * qint64(m_options.keepAliveMs)) {
        qCInfo(lcCore) << "the broker has been silent for" << m_sinceLastFrame.elapsed() / 1000 << "s: reconnecting";
        return dropConnection(QStringLiteral("the broker went silent"));
    }
    send(wire::message(wire::MessageType::Ping));
}

void BrokerSession::onDisconnected()
{
    const bool wasLoggedIn = m_loggedIn;
    QString reason = std::exchange(m_failure, QString());
    if (reason.isEmpty() && wasLoggedIn)
        reason = QStringLiteral("connection lost");
    if (reason.isEmpty() && m_socket && m_socket->socket())
        reason = !m_socket->closeReason().isEmpty() ? m_socket->closeReason() : describeSocketError(*m_socket->socket());
    if (reason.isEmpty())
        reason = QStringLiteral("connection failed");
    m_offlineReason = QStringLiteral("cannot reach %1 (%2)").arg(currentAddressText(), reason);
    if (wasLoggedIn)
        m_offlineReason = QStringLiteral("lost the broker at %1 (%2)").arg(currentAddressText(), reason);
    if (m_refused)
        m_offlineReason = QStringLiteral("the broker at %1 no longer accepts this device's key (it was removed or "
                                         "replaced): a new invite brings it back")
                              .arg(currentAddressText());
    dropSocket();
    m_loginTimer.stop();
    m_keepAliveTimer.stop();
    m_sinceLastFrame.invalidate();
    m_loggedIn = false;
    m_channel = SecureChannel();
    if (wasLoggedIn)
        qCInfo(lcCore) << "disconnected from the broker";
    const QPointer<BrokerSession> alive(this);
    Q_EMIT lost(wasLoggedIn);
    if (alive && m_running && !m_socket) // a handler may have stopped us, or started again
        scheduleReconnect();
}

void BrokerSession::scheduleReconnect()
{
    const int addresses = int(m_profile.brokerAddresses().size());
    if (addresses > 1) {
        m_addressIndex = (m_addressIndex + 1) % addresses;
        if (++m_failedInRound < addresses) {
            m_reconnectTimer.start(0);
            Q_EMIT retryScheduled(0, m_offlineReason);
            return;
        }
        m_failedInRound = 0;
    }
    m_backoffMs = m_backoffMs == 0 ? m_options.minBackoffMs : std::min(m_backoffMs * 2, m_options.maxBackoffMs);
    m_reconnectTimer.start(m_backoffMs);
    Q_EMIT retryScheduled(m_backoffMs, m_offlineReason);
}

} // namespace sotto
