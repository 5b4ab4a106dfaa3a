#include "phones/switchboard.h"

#include "phones/phoneconnection.h"

#include "core/skbp.h"
#include "core/wire.h"

namespace sotto::broker {

namespace key = wire::key;

Switchboard::Switchboard(Context context) : m_ctx(std::move(context))
{
    m_presenceTimer.setSingleShot(true);
    QObject::connect(&m_presenceTimer, &QTimer::timeout, &m_context, [this] { flushPresence(); });
}

Switchboard::~Switchboard()
{
    for (PhoneConnection *c : m_connections)
        QObject::disconnect(c, nullptr, &m_context, nullptr);
}

void Switchboard::add(PhoneConnection *c)
{
    m_connections.push_back(c);
    QObject::connect(c, &PhoneConnection::closed, &m_context, [this](PhoneConnection *closed) { onClosed(closed); });
}

void Switchboard::onClosed(PhoneConnection *c)
{
    std::erase(m_connections, c);
    const QString account = c->account();
    auto it = m_online.find(account);
    if (it != m_online.end() && it->second == c) {
        m_online.erase(it);
        m_subscribers.erase(account);
        m_ctx.wentOffline(account);
        broadcastPresence(account, false);
        m_ctx.log(QStringLiteral("%1 offline").arg(account));
        m_ctx.accountsChanged();
    }
    c->deleteLater();
}

void Switchboard::registerOnline(PhoneConnection *c)
{
    const QString account = c->account();
    auto it = m_online.find(account);
    if (it != m_online.end() && it->second != c) {
        PhoneConnection *old = it->second;
        it->second = c; // sessions stay with the account; the old channel just goes
        old->close();
    } else {
        m_online.emplace(account, c);
        broadcastPresence(account, true);
    }
    const AccountRecord *a = m_ctx.store.account(account);
    m_ctx.log(QStringLiteral("%1 online (epoch %2)").arg(account).arg(a ? a->epoch : 0));
    m_ctx.accountsChanged();
}

void Switchboard::closeAll(const QString &account, const PhoneConnection *except)
{
    for (PhoneConnection *c : std::vector<PhoneConnection *>(m_connections)) {
        if (c != except && (account.isEmpty() || c->account() == account))
            c->close();
    }
}

std::vector<QString> Switchboard::onlineAccounts() const
{
    std::vector<QString> out;
    out.reserve(m_online.size());
    for (const auto &[name, c] : m_online)
        out.push_back(name);
    return out;
}

void Switchboard::sendTo(const QString &account, const QCborMap &message, Delivery delivery)
{
    Q_ASSERT(!skbp::Address::parse(account).isRemote()); // the call router delivers to those
    auto deliver = [this, account, message] {
        auto it = m_online.find(account);
        if (it != m_online.end())
            it->second->sendMessage(message);
    };
    auto queued = m_queued.find(account);
    const bool mustWait = (delivery == Delivery::AfterCommit && m_ctx.store.hasUncommitted())
        || (queued != m_queued.end() && queued->second > 0);
    if (!mustWait) {
        deliver();
        return;
    }
    ++m_queued[account];
    m_ctx.store.afterCommit([this, account, deliver](bool ok) {
        if (--m_queued[account] == 0)
            m_queued.erase(account);
        if (ok)
            deliver();
    });
}

void Switchboard::broadcastPresence(const QString &account, bool online)
{
    // A login/logout loop must not make us seal a message per subscriber per cycle.
    m_presencePending[account] = online;
    if (m_presenceTimer.isActive())
        return;
    const qint64 interval = m_ctx.config.presenceIntervalMs;
    const qint64 since = m_sincePresenceFlush.isValid() ? m_sincePresenceFlush.elapsed() : interval;
    if (since >= interval)
        flushPresence();
    else
        m_presenceTimer.start(int(interval - since));
}

bool Switchboard::presenceShown(const QString &account) const
{
    if (m_presencePending.contains(account)) {
        if (auto sent = m_presenceSent.find(account); sent != m_presenceSent.end())
            return sent->second;
    }
    return isOnline(account);
}

void Switchboard::dropPendingPresence()
{
    m_presenceTimer.stop();
    m_presencePending.clear();
}

void Switchboard::flushPresence()
{
    m_sincePresenceFlush.start();
    const auto changes = std::move(m_presencePending);
    m_presencePending.clear();
    for (const auto &[account, online] : changes) {
        auto [sent, fresh] = m_presenceSent.try_emplace(account, online);
        if (!fresh && sent->second == online)
            continue; // undone within the interval
        sent->second = online;
        QCborMap p = wire::message(wire::MessageType::Presence);
        p.insert(key::account, account);
        p.insert(key::online, online);
        // Only the phones that asked for the directory: a login costs what its subscribers
        // cost, not a look at every phone online.
        for (const QString &name : m_subscribers) {
            auto c = m_online.find(name);
            if (name != account && c != m_online.end() && c->second->wantsPresence())
                sendTo(name, p);
        }
        const bool remote = skbp::Address::parse(account).isRemote();
        if (!remote)
            m_ctx.toPeers(account, online);
        if (!online && remote)
            m_presenceSent.erase(account); // a peer's account offline: nothing to remember
    }
}

} // namespace sotto::broker
