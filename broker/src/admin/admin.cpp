#include "broker/admin.h"

#include "broker/broker.h"
#include "broker/log.h"
#include "core/crypto.h"
#include "core/invite.h"
#include "core/localchannel.h"
#include "core/skbp.h"

#include <QDateTime>
#include <QDir>
#include <QFile>
#include <QDeadlineTimer>
#include <QJsonArray>
#include <QJsonDocument>
#include <QLocalServer>
#include <QLocalSocket>
#include <QLockFile>
#include <QPointer>
#include <QTimer>

namespace sotto::broker {

namespace {

constexpr qint64 kMaxRequest = 64 * 1024;

QJsonObject failure(const QString &why)
{
    return QJsonObject{{QStringLiteral("ok"), false}, {QStringLiteral("error"), why}};
}

} // namespace

QString adminSocketPath(const QString &dataDir)
{
    return localChannelName(dataDir, QStringLiteral("admin"));
}

QJsonObject accountSummary(const AccountRecord &a, bool online)
{
    return QJsonObject{
        {QStringLiteral("account"), a.name},
        {QStringLiteral("epoch"), qint64(a.epoch)},
        {QStringLiteral("fingerprint"), a.isEnrolled() ? skbp::fingerprint(a.key) : QString()},
        {QStringLiteral("online"), online},
        {QStringLiteral("last_login"), a.lastLogin},
        {QStringLiteral("rotation_pending"), a.pendingKind == PendingKind::Rotate},
        {QStringLiteral("enrolment_pending"), a.pendingKind == PendingKind::Handshake},
        {QStringLiteral("revoked"), a.revoked},
    };
}

Result<QString> createInvite(Store &store, const QByteArray &brokerPublicKey, const QString &hostPort,
                             const InviteRequest &request)
{
    const QString &account = request.account;
    if (!skbp::isValidAccount(account))
        return makeError(ErrorCode::Usage, QStringLiteral("\"%1\" is not a valid account name (1-64 of a-z 0-9 . _ -)").arg(account));
    const AccountRecord *a = store.account(account);
    const bool enrolled = a && a->isEnrolled();
    if (enrolled && !request.replace)
        return makeError(ErrorCode::Usage, QStringLiteral("account \"%1\" is already enrolled (--replace makes an invite "
                                                          "for a new device; the old key works until it enrols)")
                                               .arg(account));
    if (!enrolled && request.replace)
        return makeError(ErrorCode::Usage, QStringLiteral("account \"%1\" is not enrolled: there is nothing to replace "
                                                          "(invite it without --replace)")
                                               .arg(account));
    if (request.validForSecs <= 0)
        return makeError(ErrorCode::Usage, QStringLiteral("an invite must be valid for some time"));
    auto hp = parseHostPort(hostPort, skbp::kDefaultPort);
    if (!hp)
        return makeError(ErrorCode::Usage, QStringLiteral("bad broker address \"%1\": %2").arg(hostPort, hp.error().message));
    auto secret = crypto::randomSecret(skbp::kKeySize);
    if (!secret)
        return secret.error();
    if (auto r = store.createInvite(account, *secret, QDateTime::currentSecsSinceEpoch() + request.validForSecs); !r)
        return r.error();
    // The broker's other instances (active/standby on one store), for the phone to try in turn.
    QStringList alternates = store.brokerAddresses();
    alternates.removeAll(hostPort);
    while (alternates.size() > 15)
        alternates.removeLast();
    InviteLink link{hp->first, hp->second, account, brokerPublicKey, std::move(*secret), alternates};
    return link.toString();
}

QJsonObject statusJson(const BrokerStatus &s)
{
    QJsonArray relays;
    for (const RelayStatus &r : s.relays) {
        relays.append(QJsonObject{{QStringLiteral("address"), r.address},
                                  {QStringLiteral("up"), r.up},
                                  {QStringLiteral("why"), r.why},
                                  {QStringLiteral("sessions"), r.sessions},
                                  {QStringLiteral("relay_sessions"), double(r.relaySessions)},
                                  {QStringLiteral("members"), double(r.members)},
                                  {QStringLiteral("forwarded"), double(r.forwarded)},
                                  {QStringLiteral("refused"), double(r.refused)},
                                  {QStringLiteral("text"), relayStatusText(r)}});
    }
    return QJsonObject{{QStringLiteral("ok"), true},
                       {QStringLiteral("relays"), relays},
                       {QStringLiteral("role"), brokerRoleName(s.role)},
                       {QStringLiteral("why"), s.why},
                       {QStringLiteral("store"), s.store},
                       {QStringLiteral("address"), s.address},
                       {QStringLiteral("instances"), QJsonArray::fromStringList(s.instances)},
                       {QStringLiteral("since"), double(s.sinceMs)},
                       {QStringLiteral("sessions"), s.sessions},
                       {QStringLiteral("online"), s.online}};
}

// ---- the channel, broker side ------------------------------------------------------------

AdminServer::AdminServer(Handler handler, QObject *parent) : QObject(parent), m_handler(std::move(handler)) {}

AdminServer::~AdminServer()
{
    close();
}

Result<void> AdminServer::listen(const QString &dataDir)
{
    close();
    const QString path = adminSocketPath(dataDir);
    // We hold the data directory's lock: a socket file there is a dead broker's.
    QLocalServer::removeServer(path);
    m_server = new QLocalServer(this);
    m_server->setSocketOptions(QLocalServer::UserAccessOption);
    if (!m_server->listen(path)) {
        const QString why = m_server->errorString();
        delete m_server;
        m_server = nullptr;
        return makeError(ErrorCode::Io, QStringLiteral("cannot open the admin channel %1: %2").arg(path, why));
    }
    connect(m_server, &QLocalServer::newConnection, this, &AdminServer::onConnection);
    return {};
}

void AdminServer::close()
{
    if (!m_server)
        return;
    const QString path = m_server->fullServerName();
    m_server->close();
    delete m_server;
    m_server = nullptr;
    QFile::remove(path);
}

void AdminServer::onConnection()
{
    while (QLocalSocket *s = m_server->nextPendingConnection()) {
        s->setParent(this);
        // The broker's own user, or the administrator (root), who can read the store anyway:
        // `sudo sotto broker invite …` reaches the system service, which runs as a user of its
        // own (DynamicUser=).
        if (!peerIsSameUser(s)) {
            qCWarning(lcBroker) << "admin channel: a connection from another user refused";
            s->abort();
            s->deleteLater();
            continue;
        }
        // One request a connection, a line of JSON; a slow or silent client is dropped.
        QTimer::singleShot(5000, s, [s] { s->abort(); });
        connect(s, &QLocalSocket::disconnected, s, &QObject::deleteLater);
        connect(s, &QLocalSocket::readyRead, this, [this, s] {
            if (!s->canReadLine()) {
                if (s->bytesAvailable() > kMaxRequest)
                    s->abort();
                return;
            }
            QJsonParseError err{};
            const QJsonDocument doc = QJsonDocument::fromJson(s->readLine(kMaxRequest), &err);
            const QJsonObject answer = doc.isObject() ? m_handler(doc.object()) : failure(QStringLiteral("not a JSON request"));
            // The client closes once it has read the answer (or the 5 s bound above does): a
            // server that disconnects first may discard what it wrote on Windows, where
            // DisconnectNamedPipe drops what the client has not read yet.
            s->write(QJsonDocument(answer).toJson(QJsonDocument::Compact) + '\n');
            s->flush();
        });
    }
}

// ---- the channel, tool side --------------------------------------------------------------

Result<QJsonObject> adminRequest(const QString &dataDir, const QJsonObject &request, int timeoutMs)
{
    QLocalSocket s;
    s.connectToServer(adminSocketPath(dataDir));
    if (!s.waitForConnected(timeoutMs))
        return makeError(ErrorCode::Offline, QStringLiteral("no broker is running on %1").arg(dataDir));
    s.write(QJsonDocument(request).toJson(QJsonDocument::Compact) + '\n');
    s.flush();
    QByteArray line;
    QDeadlineTimer deadline(timeoutMs);
    while (!line.endsWith('\n') && !deadline.hasExpired()) {
        if (!s.waitForReadyRead(int(std::max<qint64>(1, deadline.remainingTime()))) && s.state() != QLocalSocket::ConnectedState)
            break;
        line += s.readAll();
    }
    const QJsonDocument doc = QJsonDocument::fromJson(line);
    if (!doc.isObject())
        return makeError(ErrorCode::Network, QStringLiteral("the broker on %1 did not answer").arg(dataDir));
    return doc.object();
}

// ---- a stopped broker's store ------------------------------------------------------------

Result<QJsonObject> adminOffline(const QString &dataDir, const QJsonObject &request)
{
    const QDir dir(dataDir);
    auto location = Broker::storeLocation(dataDir);
    if (!location)
        return location.error();
    if ((!location->isPostgres() && !QFile::exists(location->path)) || !QFile::exists(dir.filePath(QStringLiteral("broker.key"))))
        return makeError(ErrorCode::Io, QStringLiteral("no broker store in %1 (start a broker there first)").arg(dataDir));
    auto lock = Broker::lockDataDir(dataDir);
    if (!lock)
        return lock.error();
    auto key = Broker::loadOrCreateStaticKey(dir.filePath(QStringLiteral("broker.key")));
    if (!key)
        return key.error();
    Store store;
    if (auto r = store.open(*location); !r)
        return r.error();
    const QString cmd = request.value(QStringLiteral("cmd")).toString();
    if (cmd == QLatin1StringView("status")) {
        BrokerStatus status;
        status.store = store.path();
        status.instances = store.brokerAddresses();
        status.why = QStringLiteral("no broker runs on %1").arg(dataDir);
        return statusJson(status);
    }
    // A shared store with an active instance elsewhere: its memory is the truth, and a change
    // written behind its back would be undone or break the commit rule.
    if (!store.tryLockActive())
        return makeError(ErrorCode::Busy, QStringLiteral("an active broker serves the store %1 (one of %2): run this on its "
                                                         "machine, against its data dir")
                                              .arg(store.path(), store.brokerAddresses().join(QStringLiteral(", "))));
    QJsonObject answer{{QStringLiteral("ok"), true}};
    if (cmd == QLatin1StringView("accounts")) {
        QJsonArray list;
        for (const AccountRecord *a : store.accounts())
            list.append(accountSummary(*a, false));
        answer.insert(QStringLiteral("accounts"), list);
    } else if (cmd == QLatin1StringView("revoke")) {
        const QString account = request.value(QStringLiteral("account")).toString();
        if (auto r = store.revoke(account); !r)
            return r.error();
    } else if (cmd == QLatin1StringView("invite")) {
        InviteRequest req{request.value(QStringLiteral("account")).toString(),
                          qint64(request.value(QStringLiteral("expires")).toDouble(7 * 86400)),
                          request.value(QStringLiteral("replace")).toBool()};
        QString hostPort = request.value(QStringLiteral("advertise")).toString();
        if (hostPort.isEmpty())
            hostPort = store.metaValue(QStringLiteral("advertise"));
        if (hostPort.isEmpty())
            hostPort = store.metaValue(QStringLiteral("listen"));
        if (hostPort.isEmpty())
            hostPort = QStringLiteral("%1:%2").arg(Broker::advertisedHost(QHostAddress::Any)).arg(skbp::kDefaultPort);
        auto link = createInvite(store, key->publicKey, hostPort, req);
        if (!link)
            return link.error();
        answer.insert(QStringLiteral("link"), *link);
    } else {
        return makeError(ErrorCode::Usage, QStringLiteral("unknown admin command \"%1\"").arg(cmd));
    }
    if (!store.flush())
        return makeError(ErrorCode::Io, QStringLiteral("cannot write the store in %1").arg(dataDir));
    store.close();
    return answer;
}

} // namespace sotto::broker
