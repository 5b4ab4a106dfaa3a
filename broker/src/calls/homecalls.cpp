// The calls homed here that have members behind a peered broker (PROTOCOL.md §8, patent Fig. 3):
// their key asked of the callee's broker, messages to those members, their requests, a link that
// goes down. CallRouter's federated half; see callrouter.h.
#include "calls/callrouter.h"

#include "core/crypto.h"
#include "calls/remotesessions.h"
#include "calls/routing.h"

#include "relay/relay.h"
#include "broker/store.h"

#include <QCborArray>
#include <QTimer>

namespace sotto::broker {

namespace key = wire::key;

using namespace routing;

// ---- keys and names ------------------------------------------------------------------------------

bool CallRouter::isKnownRemote(const QString &address, bool *online) const
{
    const auto [account, peer] = skbp::Address::parse(address);
    PeerLinks &fed = m_ctx.peers;
    if (peer.isEmpty() || !fed.isPeer(peer))
        return false;
    const auto &dir = fed.directory(peer);
    auto it = dir.find(account);
    if (it == dir.end())
        return false;
    if (online)
        *online = it->second && fed.isUp(peer);
    return true;
}

void CallRouter::dropTrunkIfUnused(const Session &s, const QString &departed)
{
    // With the peer's last member gone, the relay stops sending the call over to its relay.
    const QString peer = skbp::Address::parse(departed).broker;
    if (peer.isEmpty())
        return;
    for (const Member &m : s.members) {
        if (skbp::Address::parse(m.account).broker == peer)
            return;
    }
    m_ctx.media.removeTrunks(s.sid);
}

QByteArray CallRouter::trunkOf(Session &s, const QString &peer)
{
    // Drawn by the home broker and sent with the call, so that a K_AB refresh in between
    // cannot leave the two relays with different tokens.
    if (s.trunkToken.isEmpty()) {
        auto t = crypto::randomBytes(skbp::kTokenSize);
        if (!t)
            return {};
        s.trunkToken = *t;
    }
    if (!routing::addTrunk(m_ctx, s.sid, peer, s.trunkToken, {}, true))
        return {};
    return s.trunkToken;
}

// ---- the caller's broker (home) ------------------------------------------------------------------

Result<void> CallRouter::callRemote(const QString &from, const skbp::Address &callee, const wire::Message &msg)
{
    const auto &[account, peer] = callee;
    const QString to = callee.toString();
    PeerLinks &fed = m_ctx.peers;
    if (!fed.isPeer(peer))
        return err(ErrorCode::UnknownAccount, QStringLiteral("no broker \"%1\" is peered with this one").arg(peer));
    if (!fed.isUp(peer))
        return err(ErrorCode::Offline, QStringLiteral("broker %1 cannot be reached").arg(peer));
    bool online = false;
    if (!isKnownRemote(to, &online))
        return err(ErrorCode::UnknownAccount, QStringLiteral("no account \"%1\"").arg(to));
    if (!online)
        return err(ErrorCode::Offline, QStringLiteral("%1 is offline").arg(to));
    auto opened = openSession(from, to);
    if (!opened)
        return opened.error();
    std::unique_ptr<Session> session = std::move(*opened);
    const QByteArray *sid = &session->sid;
    session->awaitingKey = true;
    session->callId = msg.id();
    auto pair = addCallerAndCallee(*session);
    if (!pair)
        return pair.error();
    if (auto r = admitLocals(*session); !r)
        return r.error();
    // Broker B derives SK_0 from K_dave: ask it (fcall), wait for {SK}K_AB (fcall_key).
    const QByteArray trunk = trunkOf(*session, peer);
    if (trunk.isEmpty()) {
        m_ctx.media.endSession(*sid);
        return err(ErrorCode::Offline, QStringLiteral("no relay for the call"));
    }
    QCborMap fcall = wire::message(wire::MessageType::FedCall);
    fcall.insert(key::sid, *sid);
    fcall.insert(key::from, from);
    fcall.insert(key::to, account);
    fcall.insert(key::trunk, trunk);
    if (const QString at = m_ctx.media.relayAt(*sid); !at.isEmpty())
        fcall.insert(key::relay_at, at);
    if (!fed.send(peer, fcall)) {
        m_ctx.media.endSession(*sid);
        return err(ErrorCode::Offline, QStringLiteral("broker %1 cannot be reached").arg(peer));
    }
    // The caller is not left waiting on a peer that never answers.
    QTimer::singleShot(m_ctx.config.federatedRingDeadlineMs, &m_timers, [this, id = *sid, peer = peer] {
        if (const Session *s = m_table.find(id); s && s->awaitingKey)
            failAwaitingKey(id, ErrorCode::Offline, QStringLiteral("broker %1 did not answer in time").arg(peer));
    });
    m_table.insert(std::move(session));
    m_ctx.log(QStringLiteral("%1 calls %2: session %3, asking broker %4 for the session key")
                     .arg(from, to, shortSid(*sid), peer));
    m_ctx.outbox.sessionsChanged();
    return {};
}

void CallRouter::onFedCallKey(const QString &peer, const wire::Message &m)
{
    const QByteArray sid = m.bytes(key::sid);
    Session *found = m_table.find(sid);
    if (!found || !found->awaitingKey || skbp::Address::parse(found->callee).broker != peer)
        return;
    Session &s = *found;
    auto sk = routing::unwrapFromPeer(m_ctx.store, peer, m.bytes(key::wrapped), {skbp::WrapPurpose::Federation, sid, 0, peer});
    Member *caller = s.find(s.caller);
    Member *callee = s.find(s.callee);
    auto wrapped = sk ? m_keys.wrapFor(s.caller, *sk, {skbp::WrapPurpose::Call, sid, 0, s.caller})
                      : Result<QByteArray>(sk.error());
    if (!wrapped || !caller || !callee) {
        const QString why = wrapped ? QStringLiteral("session vanished") : wrapped.error().message;
        sendTo(s.caller, wire::errorMessage(ErrorCode::Internal, why, s.callId));
        endSession(sid, EndReason::Failed);
        return;
    }
    s.key = std::move(*sk);
    s.awaitingKey = false;
    const quint32 calleeEpoch = m.u32(key::epoch);

    // via: the first hop, {SK}K_AB from the callee's broker.
    const QCborMap callKey = callKeyMessage(s, *caller, calleeEpoch, *wrapped, s.callId, peer);
    const QCborMap incoming = incomingMessage(s, *caller, *callee, calleeEpoch);

    m_ctx.log(QStringLiteral("session %1: {SK}K_%2%3 from broker %3 (SK from K_%4 epoch %5), re-wrapped as {SK}K_%6")
                     .arg(shortSid(sid), m_ctx.config.name, peer, skbp::Address::parse(s.callee).account)
                     .arg(calleeEpoch)
                     .arg(s.caller));
    sendTo(s.caller, callKey);
    sendTo(s.callee, incoming);
    armRingTimeout(sid, s.callee);
    m_ctx.outbox.sessionsChanged();
}

void CallRouter::onFedError(const QString &peer, const wire::Message &m)
{
    const QByteArray sid = m.bytes(key::sid);
    const Session *s = m_table.find(sid);
    if (!s || !s->awaitingKey || skbp::Address::parse(s->callee).broker != peer)
        return;
    failAwaitingKey(sid, errorCodeFromName(m.text(key::code)),
                    QStringLiteral("broker %1 refused the call: %2").arg(peer, m.text(key::msg)));
}

void CallRouter::failAwaitingKey(const QByteArray &sid, ErrorCode code, const QString &why)
{
    const QByteArray keep = sid; // `sid` may live in the session taken below
    std::unique_ptr<Session> s = m_table.take(keep);
    if (!s)
        return;
    sendTo(s->caller, wire::errorMessage(code, why, s->callId));
    m_ctx.log(QStringLiteral("session %1: %2").arg(shortSid(keep), why));
    m_ctx.media.endSession(keep);
    m_ctx.outbox.sessionsChanged();
}

void CallRouter::sendTo(const QString &address, const QCborMap &message, Outbox::Delivery delivery)
{
    if (skbp::Address::parse(address).isRemote())
        deliverRemote(address, message); // a member behind a peered broker
    else
        m_ctx.outbox.sendTo(address, message, delivery);
}

void CallRouter::deliverRemote(const QString &address, const QCborMap &message)
{
    const auto [account, peer] = skbp::Address::parse(address);
    QCborMap deliver = wire::message(wire::MessageType::Deliver);
    deliver.insert(key::to, account);
    deliver.insert(key::msg, message);
    if (message.value(key::t).toString() == wire::messageTypeName(wire::MessageType::Incoming)) {
        Session *s = m_table.find(message.value(key::sid).toByteArray());
        if (const QByteArray trunk = s ? trunkOf(*s, peer) : QByteArray(); !trunk.isEmpty()) {
            deliver.insert(key::trunk, trunk);
            if (const QString at = m_ctx.media.relayAt(s->sid); !at.isEmpty())
                deliver.insert(key::relay_at, at);
        }
    }
    m_ctx.peers.send(peer, deliver); // a link that is down ends these sessions anyway
}

// A peer's `request` for its member of one of our sessions, as that member's own request.
class CallRouter::PeerRequests final : public wire::PeerRequestHandler<Result<void>>
{
public:
    PeerRequests(CallRouter &router, const QString &from, const QString &peer, const QByteArray &sid)
        : m_router(router), m_from(from), m_peer(peer), m_sid(sid)
    {
    }

private:
    Result<void> onAnswer(const wire::Message &) override { return m_router.answer(m_from, m_sid); }
    Result<void> onDecline(const wire::Message &) override { return m_router.decline(m_from, m_sid); }
    Result<void> onLeave(const wire::Message &) override { return m_router.leave(m_from, m_sid); }
    Result<void> onInvite(const wire::Message &m) override
    {
        return m_router.invite(m_from, m_sid, routing::localize(m.text(key::who), m_peer, m_router.m_ctx.config.name));
    }
    Result<void> onMute(const wire::Message &m) override { return m_router.mute(m_from, m_sid, m.boolean(key::muted)); }
    Result<void> unexpected(const wire::Message &m) override
    {
        return err(ErrorCode::BadRequest, QStringLiteral("unexpected request \"%1\"").arg(m.typeName()));
    }

    CallRouter &m_router;
    const QString &m_from;
    const QString &m_peer;
    const QByteArray &m_sid;
};

void CallRouter::onRequest(const QString &peer, const QString &fromAccount, const QCborMap &msg)
{
    if (!skbp::isValidAccount(fromAccount)) { // a peer speaks for its own accounts, named bare
        m_ctx.log(QStringLiteral("broker %1 refused: a request from \"%2\", not one of its accounts").arg(peer, fromAccount));
        return;
    }
    const QString from = skbp::Address{fromAccount, peer}.toString();
    Result<void> r = [&]() -> Result<void> {
        auto m = wire::validateMessage(msg);
        if (!m)
            return m.error();
        const QByteArray sid = m->bytes(key::sid);
        if (!m_table.locate(sid, from).second) // a peer may only speak for its own members of our sessions
            return err(ErrorCode::NotInSession, QStringLiteral("not in that call"));
        PeerRequests requests(*this, from, peer, sid);
        return requests.dispatch(*m);
    }();
    if (!r)
        deliverRemote(from, wire::errorMessage(r.error().code, r.error().message));
}

// ---- the link ----------------------------------------------------------------------------------------

void CallRouter::onPeerMessage(const QString &peer, const wire::Message &m)
{
    dispatch(peer, m);
}

void CallRouter::onFedCall(const QString &peer, const wire::Message &m)
{
    m_remote->onFedCall(peer, m);
}

void CallRouter::onDeliver(const QString &peer, const wire::Message &m)
{
    m_remote->onDeliver(peer, m.text(key::to), m.map().value(key::msg).toMap(), m.bytes(key::trunk), m.text(key::relay_at));
}

void CallRouter::onRequest(const QString &peer, const wire::Message &m)
{
    onRequest(peer, m.text(key::from), m.map().value(key::msg).toMap());
}

void CallRouter::onPeerUp(const QString &) {}

void CallRouter::onPeerDown(const QString &peer)
{
    // The peer's accounts are unreachable now.
    for (const auto &[account, online] : m_ctx.peers.directory(peer)) {
        if (online)
            m_ctx.outbox.broadcastPresence(skbp::Address{account, peer}.toString(), false);
    }
    // Our sessions with members there: those members are gone (the rest re-key, or the call
    // ends). Their own broker ends its side the same way; every key stays where it was.
    std::vector<std::pair<QByteArray, QString>> gone;
    for (const auto &[sid, s] : m_table.all()) {
        for (const Member &mem : s->members) {
            if (skbp::Address::parse(mem.account).broker == peer)
                gone.emplace_back(sid, mem.account);
        }
    }
    std::map<QByteArray, QStringList> bySession;
    for (const auto &[sid, account] : gone)
        bySession[sid].append(account);
    for (const auto &[sid, accounts] : bySession) {
        Session *found = m_table.find(sid);
        if (!found)
            continue;
        Session &s = *found;
        if (s.awaitingKey) {
            failAwaitingKey(sid, ErrorCode::Offline, QStringLiteral("broker %1 went away").arg(peer));
            continue;
        }
        // All of that broker's members go at once; the rest re-key once, or the call ends.
        const QString last = accounts.back();
        for (const QString &account : accounts.mid(0, accounts.size() - 1)) {
            m_table.dropMember(s, account);
            const QCborMap left = wire::left(sid, account);
            for (const Member &m : s.members) {
                if (m.joined && m.account != last)
                    sendTo(m.account, left);
            }
        }
        int remaining = 0;
        for (const Member &m : s.members)
            remaining += m.joined && m.account != last ? 1 : 0;
        if (!s.answered || remaining < 2)
            endSession(sid, EndReason::Disconnected);
        else
            (void)leave(last, sid);
    }
    // Sessions homed there: end our members' side of them.
    m_remote->onPeerDown(peer);
    m_ctx.outbox.sessionsChanged();
}

} // namespace sotto::broker
