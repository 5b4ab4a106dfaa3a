#pragma once

// The orders a broker gives its relays of their own over the control channel, and their answer
// (PROTOCOL.md §9.1; extension). The channel's handshake and MACs are relayauth's; these are the
// maps inside the sealed frames. The relay server reads them and the broker's relay pool writes them.
//
//   ping    = {"t":"ping", "id": u32}
//   trunk   = {"t":"trunk", "sid": bytes(16), "host": literal address, "port": u16, "token": bytes(16),
//              "home"?: true}                   ; the relay is the session's home side
//   untrunk = {"t":"untrunk", "sid"}
//   end     = {"t":"end", "sid", "until"?: u32}  ; the session is over: its tokens bind no more
//   leave   = {"t":"leave", "sid", "ssrc": u32, "until"?: u32}
//                                                ; one member left: its token binds no more
//             until: Unix seconds when the last token minted for it expires — the relay keeps
//             the revocation that long (absent: as long as any token may live, 24 h). The broker
//             keeps what is still live and sends it again whenever the link comes back.
//   pong    = {"t":"pong", "id", "sessions": u32, "members": u32, "trunks": u32,
//              "forwarded": u64, "refused": u64} ; relay → broker, the relay's load
//
// decode*() give std::nullopt for anything else: an unknown "t", a field missing, of the wrong
// type or size. Pure; any thread.

#include <QByteArray>
#include <QCborMap>
#include <QHostAddress>

#include <optional>

// The orders, each once: X(Kind, "wire name"). The Kind enum, the names on the wire, the
// decoder's lookup and the OrderHandler interface are all made from this list.
#define SOTTO_RELAY_ORDERS(X) X(Ping, "ping") X(Trunk, "trunk") X(Untrunk, "untrunk") X(End, "end") X(Leave, "leave")

namespace sotto::relay::control {

struct Order
{
#define SOTTO_X(name, text) name,
    enum class Kind { SOTTO_RELAY_ORDERS(SOTTO_X) };
#undef SOTTO_X
    Kind kind = Kind::Ping;
    quint32 id = 0;     // ping
    QByteArray sid;     // all but ping
    QHostAddress host;  // trunk
    quint16 port = 0;   // trunk
    QByteArray token;   // trunk
    bool home = false;  // trunk: this relay is the session's home side ("home": true; absent: false)
    quint32 ssrc = 0;   // leave
    quint32 until = 0;  // end, leave (0: absent)
};

struct Pong
{
    quint32 id = 0;
    quint32 sessions = 0;
    quint32 members = 0;
    quint32 trunks = 0;
    quint64 forwarded = 0;
    quint64 refused = 0; // binds refused: forged, expired, revoked or the relay full
};

QCborMap encode(const Order &o);
std::optional<Order> decodeOrder(const QCborMap &m);

// What a relay does with each order: one pure virtual on<Kind> per order of the list (a handler
// that lacks one cannot be made), and dispatch() that calls the one for the order's kind.
template<typename Context>
class OrderHandler
{
public:
    virtual ~OrderHandler() = default;
    void dispatch(Context context, const Order &o)
    {
        switch (o.kind) {
#define SOTTO_X(name, text)                                                                      \
    case Order::Kind::name:                                                                      \
        return on##name(context, o);
            SOTTO_RELAY_ORDERS(SOTTO_X)
#undef SOTTO_X
        }
    }

protected:
#define SOTTO_X(name, text) virtual void on##name(Context context, const Order &o) = 0;
    SOTTO_RELAY_ORDERS(SOTTO_X)
#undef SOTTO_X
};
QCborMap encode(const Pong &p);
std::optional<Pong> decodePong(const QCborMap &m);

} // namespace sotto::relay::control
