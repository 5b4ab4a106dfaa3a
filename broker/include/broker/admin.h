#pragma once

// The operator's account tools — list accounts, revoke one, invite (also a replacement device)
// — and the local admin channel through which `sotto broker accounts|revoke|invite` reach a
// running broker, so that a change takes effect at once instead of being written into its store
// behind its back. When no broker runs, the same requests are served from the store directly,
// under the data directory's lock.
//
//   channel  = a QLocalServer named localChannelName(DATA, "admin") — DATA/admin.sock on POSIX, a
//              named pipe on Windows (core/localchannel.h) — for the broker's own user and the
//              administrator only (owner-only socket or pipe, and the peer's user checked too)
//   request  = one JSON object, one line: {"cmd":"accounts"}
//                                       | {"cmd":"revoke","account":NAME}
//                                       | {"cmd":"invite","account":NAME,"expires":SECONDS,"replace":BOOL,"advertise":"HOST:PORT"?}
//   answer   = one JSON object, one line: {"ok":true, …} | {"ok":false,"error":TEXT}
//
// Everything here runs on the thread that owns the store.

#include "broker/store.h"
#include "core/result.h"

#include <QJsonArray>
#include <QJsonObject>
#include <QObject>
#include <QString>

#include <functional>

class QLocalServer;

namespace sotto::broker {

struct InviteRequest
{
    QString account;
    qint64 validForSecs = 7 * 86400;
    bool replace = false; // for an enrolled account: a new or reinstalled device
};

// A fresh single-use invite in `store` (one open invite per account: it replaces any other),
// as a sotto:// link to `hostPort`, naming the store's other broker instances in `alt`. Errors (ErrorCode::Usage): a bad name, an enrolled account
// without `replace`, `replace` for an account that is not enrolled.
Result<QString> createInvite(Store &store, const QByteArray &brokerPublicKey, const QString &hostPort,
                             const InviteRequest &request);

// `sotto broker status` as JSON: {"ok","role","why","store","address","instances","since",
// "sessions","online","relays":[…]}.
struct BrokerStatus;
QJsonObject statusJson(const BrokerStatus &status);

// One account as the operator sees it (no key, only its fingerprint).
QJsonObject accountSummary(const AccountRecord &a, bool online);

// One admin request, parsed once, from the grammar above (the command line composes it with
// toJson()). Usage: not an object with a known "cmd". Fields a command does not use are ignored;
// a missing account is empty (and then unknown to the store, which says so).
struct AdminCommand
{
    enum class Kind { Status, Accounts, Revoke, Invite };
    Kind kind = Kind::Status;
    InviteRequest invite = {}; // revoke: .account; invite: all of it
    QString advertise = {};    // invite: HOST:PORT for the link; empty: what the broker advertises
    static Result<AdminCommand> parse(const QJsonObject &request);
    QJsonObject toJson() const;
};

// What an admin command does, wherever it runs: on a running broker (Broker) or on a stopped
// one's store (adminOffline). run() is the one dispatcher: status() for `status`; for the others
// mayAct() first (a standby, or a store another instance serves, refuses), then the command, then
// commit() (durable before the tool hears "ok").
class AdminHandler
{
public:
    virtual ~AdminHandler() = default;
    // {"ok":true, …} with the command's answer ("accounts": [...], "link": TEXT), or its error.
    Result<QJsonObject> run(const AdminCommand &command);

protected:
    virtual Result<QJsonObject> status() = 0;
    virtual Result<void> mayAct() = 0;
    virtual QJsonArray accounts() = 0;
    virtual Result<void> revoke(const QString &account) = 0;
    virtual Result<QString> invite(const InviteRequest &request, const QString &advertise) = 0;
    virtual Result<void> commit() = 0;
};

// The name of a data directory's admin channel (a socket path on POSIX, a pipe name on Windows).
QString adminSocketPath(const QString &dataDir);

class AdminServer : public QObject
{
    Q_OBJECT
public:
    using Handler = std::function<QJsonObject(const QJsonObject &request)>;
    explicit AdminServer(Handler handler, QObject *parent = nullptr);
    ~AdminServer() override;
    // Listens at adminSocketPath(dataDir); a socket file left by a broker that died is replaced.
    Result<void> listen(const QString &dataDir);
    void close();

private:
    void onConnection();
    Handler m_handler;
    QLocalServer *m_server = nullptr;
};

// Sends one request to the broker running on `dataDir`. ErrorCode::Offline when none listens
// there; ErrorCode::Network when it did not answer in time.
Result<QJsonObject> adminRequest(const QString &dataDir, const QJsonObject &request, int timeoutMs = 5000);

// The same request served from the store of a stopped broker (taking its lock; refused while a
// broker holds it). ErrorCode::Io when the directory holds no broker store: nothing is created.
Result<QJsonObject> adminOffline(const QString &dataDir, const QJsonObject &request);

} // namespace sotto::broker
