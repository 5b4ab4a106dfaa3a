#pragma once

// Sessions homed on another broker that our accounts are members of (PROTOCOL.md §8, patent
// Fig. 3, the callee's side). The home broker keeps the members, the generation and the key; we
// keep a mirror: our members there and their SSRCs, and whose key of ours (a callee's) made SK_0,
// to rotate after the call. Keys from the home broker come as {SK}K_AB and leave re-wrapped under
// our member's own key; our members' requests go home (`request`). Private to the broker; main
// thread only. Every handler either acts or drops the message and changes nothing.

#include "routercontext.h"

#include "core/wire.h"

#include <QByteArray>
#include <QCborMap>
#include <QObject>
#include <QString>

#include <map>
#include <set>
#include <optional>
#include <vector>

namespace sotto::broker {

class KeyRotation;
class MemberKeys;
class RingPolicy;
class SessionTable;

class RemoteSessions
{
public:
    // `local`: the sessions homed here, for the ringing limits our accounts share with local
    // calls and the check that a sid is not ours; `ring` the policy both follow; `keys` to wrap
    // for our members; `rotation` for the key a call from a peer was keyed from.
    RemoteSessions(RouterContext context, const SessionTable &local, const RingPolicy &ring, MemberKeys &keys,
                   KeyRotation &rotation);

    bool contains(const QByteArray &sid) const { return m_mirrors.contains(sid); }
    // The mirrored sessions `account` is in.
    std::vector<QByteArray> sessionsWith(const QString &account) const;
    // Calls from a peer ringing our `callee` (from `caller`, "name@peer", when given).
    int ringing(const QString &callee, const QString &caller = {}) const;

    // fcall: a peer's caller calls our account. We derive SK_0 from its key and send it home as
    // {SK}K_AB (fcall_key), or refuse (ferror).
    void onFedCall(const QString &peer, const wire::Message &m);
    // deliver: the home broker's message for our member `to`, checked (only what a home broker
    // sends about a call its member is in), its names made ours, its key re-wrapped.
    // `relayAt`: where the home's relay of its own listens for our relay's trunk (else its address).
    void onDeliver(const QString &peer, const QString &to, QCborMap msg, const QByteArray &trunk, const QString &relayAt);
    // Our member's answer, decline, invite, mute or leave goes home; a leave or decline takes it
    // out of the mirror whatever the home broker says.
    Result<void> forwardRequest(const QString &from, const QByteArray &sid, wire::MessageType type,
                                const QString &who = {}, const QCborMap &extra = {});
    // The link is down: our members' side of its sessions ends ("disconnected").
    void onPeerDown(const QString &peer);
    // Our relay for the session died: our members leave it (the home is told) and hear "failed".
    void relayLost(const QByteArray &sid);

private:
    struct Mirror
    {
        QString home;                      // the peer that holds the session
        QString callee;                    // our account whose key made SK_0, if any
        QString caller;                    // "name@home" of the one who called, if it called ours
        std::map<QString, quint32> locals; // our accounts in the session → ssrc
        quint32 calleeEpoch = 0;
        std::set<QString> formerLocals = {}; // ours that were in it: the home may still name them (left, peers)
    };
    // A name the home broker `peer` wrote, as we write it — if it may write it: one of its own
    // accounts ("x" or "x@peer"), or one of ours that is in the session (`mirror`) or is `to`,
    // the member the message is for. Anything else (another of our accounts, a third broker's)
    // is a forgery: nullopt.
    std::optional<QString> memberName(const QString &written, const QString &peer, const Mirror &mirror,
                                      const QString &to) const;
    // `account` (empty: nobody) leaves the mirror; the last one out ends it and rotates the
    // callee's key.
    void dropMember(const QByteArray &sid, const QString &account);

    RouterContext m_ctx;
    const SessionTable &m_local;
    const RingPolicy &m_ring;
    MemberKeys &m_keys;
    KeyRotation &m_rotation;
    std::map<QByteArray, Mirror> m_mirrors;
    QObject m_timers; // context of the never-rang deadlines: they die with us
};

} // namespace sotto::broker
