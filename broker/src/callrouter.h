#pragma once

// Sessions, session keys and rotation (PROTOCOL.md §6). Private to the broker. Every handler
// either succeeds or returns an error and changes nothing.

#include "core/result.h"
#include "core/secretbytes.h"
#include "core/skbp.h"
#include "core/wire.h"

#include <QByteArray>
#include <QCborMap>
#include <QString>

#include <map>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

namespace sotto::broker {

class Broker;
struct SessionView;

class CallRouter
{
public:
    explicit CallRouter(Broker &broker);
    ~CallRouter();

    QCborMap directory(std::optional<quint32> id) const;
    Result<void> call(const QString &from, const wire::Message &m);
    Result<void> answer(const QString &from, const QByteArray &sid);
    Result<void> decline(const QString &from, const QByteArray &sid);
    Result<void> invite(const QString &from, const QByteArray &sid, const QString &who);
    Result<void> leave(const QString &from, const QByteArray &sid);
    Result<void> rotateAck(const QString &from, quint32 epoch, const QByteArray &proof);

    void onLogin(const QString &account);
    void onOffline(const QString &account);
    // A pending key of this account was committed: start a deferred rotation if one waits.
    void onKeyCommitted(const QString &account);

    std::vector<SessionView> sessions() const;

private:
    struct Member
    {
        QString account;
        quint32 ssrc = 0;
        QByteArray token;
        bool joined = false;
    };
    struct Session
    {
        QByteArray sid;
        QString caller;
        QString callee;
        quint32 gen = 0;
        SecretBytes key; // SK_gen
        std::vector<Member> members;
        bool answered = false;
        Member *find(const QString &account);
        int joinedCount() const;
    };

    Result<Member> newMember(const Session &s, const QString &account) const;
    // The session and this account's place in it, or nulls.
    std::pair<Session *, Member *> locate(const QByteArray &sid, const QString &account);
    QCborMap relayOf(const Member &m) const;
    void endSession(const QByteArray &sid, const QString &reason, const QString &except = {});
    void rotate(const QString &account);
    void sendRotate(const QString &account);
    int sessionsOf(const QString &account) const;
    // wrap() for an account, with its wrap keys cached.
    Result<QByteArray> wrapFor(const QString &account, quint32 epoch, const SecretBytes &key,
                               const SecretBytes &secret, const skbp::WrapContext &ctx);

    Broker &m_broker;
    std::map<QByteArray, std::unique_ptr<Session>> m_sessions;
    std::unordered_map<QString, skbp::WrapKeyCache> m_wrapKeys;
};

} // namespace sotto::broker
