#include "broker/admin.h"

#include "broker/config.h"
#include "broker/datadir.h"
#include "broker/store.h"
#include "broker/views.h"
#include "broker/log.h"
#include "core/crypto.h"
#include "core/invite.h"
#include "core/localchannel.h"
#include "core/skbp.h"

#include <algorithm>

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

namespace {

// The commands' names on the channel, in the order of AdminCommand::Kind.
constexpr QLatin1StringView kCommandNames[] = {QLatin1StringView("status"), QLatin1StringView("accounts"),
                                               QLatin1StringView("revoke"), QLatin1StringView("invite")};
static_assert(std::size(kCommandNames) == std::size_t(AdminCommand::Kind::Invite) + 1);

} // namespace

Result<AdminCommand> AdminCommand::parse(const QJsonObject &request)
{
    const QString cmd = request.value(QStringLiteral("cmd")).toString();
    const auto kind = std::find(std::begin(kCommandNames), std::end(kCommandNames), cmd);
    if (kind == std::end(kCommandNames))
        return makeError(ErrorCode::Usage, QStringLiteral("unknown admin command \"%1\"").arg(cmd));
    AdminCommand c;
    c.kind = Kind(kind - std::begin(kCommandNames));
    c.invite.account = request.value(QStringLiteral("account")).toString();
    c.invite.validForSecs = qint64(request.value(QStringLiteral("expires")).toDouble(7 * 86400));
    c.invite.replace = request.value(QStringLiteral("replace")).toBool();
    c.advertise = request.value(QStringLiteral("advertise")).toString();
    return c;
}

QJsonObject AdminCommand::toJson() const
{
    QJsonObject r{{QStringLiteral("cmd"), kCommandNames[int(kind)]}};
    if (kind == Kind::Revoke || kind == Kind::Invite)
        r.insert(QStringLiteral("account"), invite.account);
    if (kind == Kind::Invite) {
        r.insert(QStringLiteral("expires"), double(invite.validForSecs));
        r.insert(QStringLiteral("replace"), invite.replace);
        if (!advertise.isEmpty())
            r.insert(QStringLiteral("advertise"), advertise);
    }
    return r;
}

Result<QJsonObject> AdminHandler::run(const AdminCommand &command)
{
    if (command.kind == AdminCommand::Kind::Status)
        return status();
    if (auto r = mayAct(); !r)
        return r.error();
    QJsonObject answer{{QStringLiteral("ok"), true}};
    switch (command.kind) {
    case AdminCommand::Kind::Status:
        break;
    case AdminCommand::Kind::Accounts:
        answer.insert(QStringLiteral("accounts"), accounts());
        break;
    case AdminCommand::Kind::Revoke:
        if (auto r = revoke(command.invite.account); !r)
            return r.error();
        break;
    case AdminCommand::Kind::Invite: {
        auto link = invite(command.invite, command.advertise);
        if (!link)
            return link.error();
        answer.insert(QStringLiteral("link"), *link);
        break;
    }
    }
    if (auto r = commit(); !r)
        return r.error();
    return answer;
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

namespace {

// The commands on a stopped broker's store, under its data directory's lock.
class StoreAdmin final : public AdminHandler
{
public:
    StoreAdmin(const QString &dataDir, Store &store, const QByteArray &publicKey)
        : m_dataDir(dataDir), m_store(store), m_publicKey(publicKey)
    {
    }

private:
    Result<QJsonObject> status() override
    {
        BrokerStatus status;
        status.store = m_store.path();
        status.instances = m_store.brokerAddresses();
        status.why = QStringLiteral("no broker runs on %1").arg(m_dataDir);
        return statusJson(status);
    }
    // A shared store with an active instance elsewhere: its memory is the truth, and a change
    // written behind its back would be undone or break the commit rule.
    Result<void> mayAct() override
    {
        if (m_store.tryLockActive())
            return {};
        return makeError(ErrorCode::Busy, QStringLiteral("an active broker serves the store %1 (one of %2): run this on its "
                                                         "machine, against its data dir")
                                              .arg(m_store.path(), m_store.brokerAddresses().join(QStringLiteral(", "))));
    }
    QJsonArray accounts() override
    {
        QJsonArray list;
        for (const AccountRecord *a : m_store.accounts())
            list.append(accountSummary(*a, false));
        return list;
    }
    Result<void> revoke(const QString &account) override { return m_store.revoke(account); }
    Result<QString> invite(const InviteRequest &request, const QString &advertise) override
    {
        QString hostPort = advertise;
        if (hostPort.isEmpty())
            hostPort = m_store.metaValue(QStringLiteral("advertise"));
        if (hostPort.isEmpty())
            hostPort = m_store.metaValue(QStringLiteral("listen"));
        if (hostPort.isEmpty())
            hostPort = QStringLiteral("%1:%2").arg(advertisedHost(QHostAddress::Any)).arg(skbp::kDefaultPort);
        return createInvite(m_store, m_publicKey, hostPort, request);
    }
    Result<void> commit() override
    {
        if (!m_store.flush())
            return makeError(ErrorCode::Io, QStringLiteral("cannot write the store in %1").arg(m_dataDir));
        return {};
    }

    QString m_dataDir;
    Store &m_store;
    QByteArray m_publicKey;
};

} // namespace

Result<QJsonObject> adminOffline(const QString &dataDir, const QJsonObject &request)
{
    auto command = AdminCommand::parse(request);
    if (!command)
        return command.error();
    auto location = datadir::storeLocation(dataDir);
    if (!location)
        return location.error();
    if ((!location->isPostgres() && !QFile::exists(location->path)) || !QFile::exists(datadir::staticKeyPath(dataDir)))
        return makeError(ErrorCode::Io, QStringLiteral("no broker store in %1 (start a broker there first)").arg(dataDir));
    auto lock = datadir::lock(dataDir);
    if (!lock)
        return lock.error();
    auto key = datadir::loadOrCreateStaticKey(dataDir);
    if (!key)
        return key.error();
    Store store;
    if (auto r = store.open(*location); !r)
        return r.error();
    StoreAdmin admin(dataDir, store, key->publicKey);
    auto answer = admin.run(*command);
    store.close();
    return answer;
}

} // namespace sotto::broker
