// The calls homed here that have members behind a peered broker (PROTOCOL.md §8, patent Fig. 3):
// their key asked of the callee's broker, their requests, a link that goes down. See homecalls.h.
#include "calls/homecalls.h"

#include "core/channels.h"
#include "core/crypto.h"
#include "calls/routing.h"

#include "relay/relay.h"
#include "broker/store.h"

#include <QCborArray>
#include <QTimer>

namespace sotto::broker {

namespace key = wire::key;

using namespace routing;

// ---- the caller's broker (home) ------------------------------------------------------------------

Result<void> HomeCalls::call(const QString &from, const skbp::Address &callee, const wire::Message &msg)
{
    const auto &[account, peer] = callee;
    const QString to = callee.toString();
    PeerLinks &fed = m_ctx.peers;
    if (!fed.isPeer(peer))
        return err(ErrorCode::UnknownAccount, QStringLiteral("no broker \"%1\" is peered with this one").arg(peer));
    if (!fed.isUp(peer))
        return err(ErrorCode::Offline, QStringLiteral("broker %1 cannot be reached").arg(peer));
    bool online = false;
    if (!m_reach.isKnownRemote(to, &online))
        return err(ErrorCode::UnknownAccount, QStringLiteral("no account \"%1\"").arg(to));
    if (!online)
        return err(ErrorCode::Offline, QStringLiteral("%1 is offline").arg(to));
    auto opened = m_setup.openSession(from, to);
    if (!opened)
        return opened.error();
    std::unique_ptr<Session> session = std::move(*opened);
    const QByteArray *sid = &session->sid;
    session->awaitingKey = true;
    session->callId = msg.id();
    auto pair = m_setup.addCallerAndCallee(*session);
    if (!pair)
        return pair.error();
    if (auto r = m_setup.admitLocals(*session); !r)
        return r.error();
    // Broker B derives SK_0 from K_dave: ask it (fcall), wait for {SK}K_AB (fcall_key).
    const QByteArray trunk = m_reach.trunkOf(*session, peer);
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

void HomeCalls::onFedCallKey(const QString &peer, const wire::Message &m)
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
        m_reach.sendTo(s.caller, wire::errorMessage(ErrorCode::Internal, why, s.callId));
        m_calls.endSession(sid, EndReason::Failed);
        return;
    }
    s.key = std::move(*sk);
    s.awaitingKey = false;
    const quint32 calleeEpoch = m.u32(key::epoch);

    // via: the first hop, {SK}K_AB from the callee's broker.
    const QCborMap callKey = m_setup.callKeyMessage(s, *caller, calleeEpoch, *wrapped, s.callId, peer);
    const QCborMap incoming = m_setup.incomingMessage(s, *caller, *callee, calleeEpoch);

    m_ctx.log(QStringLiteral("session %1: {SK}K_%2%3 from broker %3 (SK from K_%4 epoch %5), re-wrapped as {SK}K_%6")
                     .arg(shortSid(sid), m_ctx.config.name, peer, skbp::Address::parse(s.callee).account)
                     .arg(calleeEpoch)
                     .arg(s.caller));
    m_reach.sendTo(s.caller, callKey);
    m_reach.sendTo(s.callee, incoming);
    m_calls.armRingTimeout(sid, s.callee);
    m_ctx.outbox.sessionsChanged();
}

void HomeCalls::onFedError(const QString &peer, const wire::Message &m)
{
    const QByteArray sid = m.bytes(key::sid);
    const Session *s = m_table.find(sid);
    if (!s || !s->awaitingKey || skbp::Address::parse(s->callee).broker != peer)
        return;
    failAwaitingKey(sid, errorCodeFromName(m.text(key::code)),
                    QStringLiteral("broker %1 refused the call: %2").arg(peer, m.text(key::msg)));
}

void HomeCalls::failAwaitingKey(const QByteArray &sid, ErrorCode code, const QString &why)
{
    const QByteArray keep = sid; // `sid` may live in the session taken below
    std::unique_ptr<Session> s = m_table.take(keep);
    if (!s)
        return;
    m_reach.sendTo(s->caller, wire::errorMessage(code, why, s->callId));
    m_ctx.log(QStringLiteral("session %1: %2").arg(shortSid(keep), why));
    m_ctx.media.endSession(keep);
    m_ctx.outbox.sessionsChanged();
}

// A peer's `request` for its member of one of our sessions, as that member's own request.
class HomeCalls::PeerRequests final : public wire::PeerRequestHandler<Result<void>>
{
public:
    PeerRequests(CallLifecycle &calls, const QString &home, const QString &from, const QString &peer,
                 const QByteArray &sid)
        : m_calls(calls), m_home(home), m_from(from), m_peer(peer), m_sid(sid)
    {
    }

private:
    Result<void> onAnswer(const wire::Message &) override { return m_calls.answer(m_from, m_sid); }
    Result<void> onDecline(const wire::Message &) override { return m_calls.decline(m_from, m_sid); }
    Result<void> onLeave(const wire::Message &) override { return m_calls.leave(m_from, m_sid); }
    Result<void> onInvite(const wire::Message &m) override
    {
        return m_calls.invite(m_from, m_sid, routing::localize(m.text(key::who), m_peer, m_home));
    }
    Result<void> onMute(const wire::Message &m) override { return m_calls.mute(m_from, m_sid, m.boolean(key::muted)); }
    Result<void> unexpected(const wire::Message &m) override
    {
        return err(ErrorCode::BadRequest, QStringLiteral("unexpected request \"%1\"").arg(m.typeName()));
    }

    CallLifecycle &m_calls;
    const QString &m_home; // our name
    const QString &m_from;
    const QString &m_peer;
    const QByteArray &m_sid;
};

void HomeCalls::onRequest(const QString &peer, const QString &fromAccount, const QCborMap &msg)
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
        PeerRequests requests(m_calls, m_ctx.config.name, from, peer, sid);
        return requests.dispatch(*m);
    }();
    if (!r)
        m_reach.sendTo(from, wire::errorMessage(r.error().code, r.error().message));
}

// ---- the link going down ----------------------------------------------------------------------------------------

void HomeCalls::onPeerDown(const QString &peer)
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
                    m_reach.sendTo(m.account, left);
            }
        }
        int remaining = 0;
        for (const Member &m : s.members)
            remaining += m.joined && m.account != last ? 1 : 0;
        if (!s.answered || remaining < 2)
            m_calls.endSession(sid, EndReason::Disconnected);
        else
            (void)m_calls.leave(last, sid);
    }
}

} // namespace sotto::broker
