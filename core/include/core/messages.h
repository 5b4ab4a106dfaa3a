#pragma once

// Every SKBP/1 message type and field name, each written once (PROTOCOL.md §5, §6, §8 and the
// extensions of docs/PROTOCOL.md), and builders for the messages more than one part sends.
//
// SOTTO_SKBP_MESSAGES(X) calls X(Enumerator, "wire name") for each message, in the order of the
// schema table in wire.cpp (which it also generates). Which channel takes which message, and the
// handler interfaces and dispatchers made from that, are channels.h's. Adding a message is one
// line here, one schema in wire.cpp (the build fails without it) and one line in the list of
// each channel that takes it (a handler that lacks its on<Message> then fails the build).
//
// Functions are pure and may be called from any thread.

#include "core/result.h"
#include "core/secretbytes.h"

#include <QByteArray>
#include <QCborArray>
#include <QCborMap>
#include <QLatin1StringView>
#include <QString>

#include <optional>

// clang-format off
#define SOTTO_SKBP_MESSAGES(X)                                                                   \
    /* §5–§6: phone ↔ broker, in the sealed channel */                                          \
    X(Login, "login")             X(Welcome, "welcome")         X(Directory, "directory")        \
    X(Presence, "presence")       X(Call, "call")               X(CallKey, "call_key")           \
    X(Incoming, "incoming")       X(Answer, "answer")           X(Decline, "decline")            \
    X(Answered, "answered")       X(Ended, "ended")             X(Invite, "invite")              \
    X(SessionKey, "session_key")  X(Joined, "joined")           X(Left, "left")                  \
    X(Rekey, "rekey")             X(Leave, "leave")             X(Rotate, "rotate")              \
    X(RotateAck, "rotate_ack")    X(Error, "error")             X(Confirm, "confirm")            \
    X(Enrolled, "enrolled")       X(RefreshDue, "refresh_due")  X(Ping, "ping")                  \
    X(Ok, "ok")                                                                                  \
    /* §8: broker ↔ broker */                                                                   \
    X(FedCall, "fcall")           X(FedCallKey, "fcall_key")    X(FedError, "ferror")            \
    X(Deliver, "deliver")         X(Request, "request")                                          \
    /* extensions: who rings in a call, who is muted; a call kept over a broker take-over */    \
    X(Ringing, "ringing")         X(Mute, "mute")               X(Muted, "muted")                \
    X(Resume, "resume")

// Every map key on the wire: X(name) for the key "name".
#define SOTTO_SKBP_FIELDS(X)                                                                     \
    X(t) X(id) X(client) X(epoch) X(broker) X(fp) X(refresh_in) X(key_mode) X(accounts) X(more)  \
    X(account) X(online) X(to) X(from) X(sid) X(callee) X(gen) X(wrapped) X(ssrc) X(relay)       \
    X(port) X(token) X(via) X(peers) X(reason) X(who) X(muted) X(trunk) X(code) X(msg) X(proof) \
    X(brokers) X(host) X(relay_at) X(key)
// clang-format on

namespace sotto::wire {

enum class MessageType : quint8 {
#define SOTTO_X(name, text) name,
    SOTTO_SKBP_MESSAGES(SOTTO_X)
#undef SOTTO_X
};

#define SOTTO_X(name, text) +1
inline constexpr int kMessageTypeCount = 0 SOTTO_SKBP_MESSAGES(SOTTO_X);
#undef SOTTO_X

// "call_key" for MessageType::CallKey, and back; std::nullopt for a name this build does not know.
QLatin1StringView messageTypeName(MessageType type);
std::optional<MessageType> messageTypeFromName(QStringView name);

// The keys: wire::key::sid is "sid". Misspelling one is a compile error, not a silent miss.
namespace key {
#define SOTTO_X(name) inline constexpr QLatin1StringView name{#name};
SOTTO_SKBP_FIELDS(SOTTO_X)
#undef SOTTO_X
} // namespace key

// {"t": type}, for the fields to follow.
QCborMap message(MessageType type);

// ---- builders (PROTOCOL.md §6.2 grammar) --------------------------------------------------------
// Each gives exactly the fields its schema names, in wire.cpp's order; optional ones only when set.

//   peer  = {"account": address, "ssrc": u32}
QCborMap peerEntry(const QString &account, quint32 ssrc);
//   relay = {"host": text?, "port": u16, "token": bytes(16), "key": bytes(32)?}
//   host  = a literal IPv4 or IPv6 address: a relay of its own (extension); absent, the broker's
//   key   = the grant's key (extension): the member proves possession of it in every bind
//           (relaywire's proven-bind); it travels only inside the sealed message
QCborMap relayGrant(quint16 port, const QByteArray &token, const QString &host = {}, const SecretBytes &grantKey = {});

//   answer / decline / leave = {"t","sid"}: a member's request about one of its calls
QCborMap aboutSession(MessageType type, const QByteArray &sid);

//   call_key = {"t","id"?,"sid","callee","epoch","gen","wrapped","ssrc","relay","via"?}
struct CallKey
{
    std::optional<quint32> id{}; // the caller's request
    QByteArray sid{};
    QString callee{};
    quint32 epoch = 0; // of the callee's key SK_0 came from
    quint32 gen = 0;
    QByteArray wrapped{}; // {SK}K_caller
    quint32 ssrc = 0;   // the caller's
    QCborMap relay{};     // relayGrant()
    QString via{};        // federation: the broker the key came through
};
QCborMap callKey(const CallKey &m);

//   incoming = {"t","sid","from","epoch"?,"gen","ssrc","peers","relay"}
struct Incoming
{
    QByteArray sid{};
    QString from{};
    std::optional<quint32> epoch{}; // a callee's; none for an invitee (its key comes after it answers)
    quint32 gen = 0;
    quint32 ssrc = 0; // the callee's or invitee's
    QCborArray peers{}; // peerEntry()s of the joined members
    QCborMap relay{};
};
QCborMap incoming(const Incoming &m);

//   session_key = {"t","sid","gen","wrapped","peers"}
QCborMap sessionKey(const QByteArray &sid, quint32 gen, const QByteArray &wrapped, const QCborArray &peers);
//   rekey = {"t","sid","gen","wrapped"}
QCborMap rekey(const QByteArray &sid, quint32 gen, const QByteArray &wrapped);
//   left = {"t","sid","who","gen"?}   ; gen: the generation the others re-key to, if they do
QCborMap left(const QByteArray &sid, const QString &who, std::optional<quint32> gen = {});
//   ended = {"t","sid","reason"}
QCborMap ended(const QByteArray &sid, EndReason reason);
//   rotate = {"t","epoch","wrapped"}
QCborMap rotate(quint32 epoch, const QByteArray &wrapped);
//   ringing = {"t","sid","who"}; muted = {"t","sid","who","muted"}
QCborMap ringing(const QByteArray &sid, const QString &who);
QCborMap muted(const QByteArray &sid, const QString &who, bool muted);

} // namespace sotto::wire
