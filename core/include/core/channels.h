#pragma once

// Which messages each channel takes (PROTOCOL.md §6.2, §8), named by enumerator of the master
// list SOTTO_SKBP_MESSAGES (messages.h), and from each list a handler interface and its one
// dispatcher. A handler has one pure virtual `on<Message>` per message of its channel — a class
// that misses one cannot be made, so the build names it — and one `unexpected` for everything
// else: there is no list of what a channel does not take. Adding a message to a channel is one
// line in the master list (with its schema in wire.cpp) and one in the channel's list.
//
// Header-only; dispatch runs on the caller's thread.

#include "core/messages.h"
#include "core/wire.h"

// clang-format off
// A phone's requests to its broker, once online (§6.2). Anything else closes the channel.
#define SOTTO_PHONE_REQUESTS(X)                                                                  \
    X(Directory) X(Call) X(Answer) X(Decline) X(Invite) X(Leave) X(Mute) X(Resume) X(RotateAck)  \
    X(Ping)
// What a broker tells an online phone (§6.2). A phone ignores anything else, as it would a newer
// broker's extension.
#define SOTTO_BROKER_EVENTS(X)                                                                   \
    X(Directory) X(Presence) X(CallKey) X(Incoming) X(Answered) X(SessionKey) X(Joined)          \
    X(Ringing) X(Muted) X(Left) X(Rekey) X(Ended) X(Rotate) X(RefreshDue) X(Error) X(Ok) X(Ping)
// A peer link's own messages, on the session channel between brokers (§8): the federation's.
#define SOTTO_PEER_LINK_MESSAGES(X) X(Directory) X(Presence) X(Welcome) X(Ping)
// A peer's messages about calls (§8), for the call router. The router ignores anything else.
#define SOTTO_PEER_CALL_MESSAGES(X) X(FedCall) X(FedCallKey) X(FedError) X(Deliver) X(Request)
// What a peer may ask, in a `request`, for its member of a session homed here (§8).
#define SOTTO_PEER_REQUESTS(X) X(Answer) X(Decline) X(Leave) X(Invite) X(Mute)
// What a session's home broker may `deliver` to our member (§8): only what it sends a member
// about a call — never a rotation, a refresh or a directory (our own business with our accounts).
#define SOTTO_PEER_DELIVERABLE(X)                                                                \
    X(Incoming) X(Answered) X(Joined) X(Left) X(Ended) X(SessionKey) X(Rekey) X(Error)
// clang-format on

// Declares, in namespace sotto::wire, `template<typename Return, typename... Context> class
// HANDLER` for the messages of LIST: `Return on<Message>(Context..., const Message &)` for each,
// `Return unexpected(Context..., const Message &)` for the rest, and `dispatch(Context...,
// const Message &)` that calls the one for the message's type.
#define SOTTO_CHANNEL_PURE(name) virtual Return on##name(Context... context, const Message &m) = 0;
#define SOTTO_CHANNEL_CASE(name)                                                                 \
    case MessageType::name:                                                                      \
        return on##name(context..., m);
#define SOTTO_CHANNEL(HANDLER, LIST)                                                             \
    template<typename Return, typename... Context>                                               \
    class HANDLER                                                                                \
    {                                                                                            \
    public:                                                                                      \
        virtual ~HANDLER() = default;                                                            \
        Return dispatch(Context... context, const Message &m)                                    \
        {                                                                                        \
            switch (m.type()) {                                                                  \
                LIST(SOTTO_CHANNEL_CASE)                                                         \
            default:                                                                             \
                return unexpected(context..., m);                                                \
            }                                                                                    \
        }                                                                                        \
                                                                                                 \
    protected:                                                                                   \
        LIST(SOTTO_CHANNEL_PURE)                                                                 \
        virtual Return unexpected(Context... context, const Message &m) = 0;                     \
    };

namespace sotto::wire {

SOTTO_CHANNEL(PhoneRequestHandler, SOTTO_PHONE_REQUESTS)
SOTTO_CHANNEL(BrokerEventHandler, SOTTO_BROKER_EVENTS)
SOTTO_CHANNEL(PeerLinkHandler, SOTTO_PEER_LINK_MESSAGES)
SOTTO_CHANNEL(PeerCallHandler, SOTTO_PEER_CALL_MESSAGES)
SOTTO_CHANNEL(PeerRequestHandler, SOTTO_PEER_REQUESTS)

// Whether a home broker may deliver a message of this type to our member.
constexpr bool isPeerDeliverable(MessageType type)
{
#define SOTTO_X(name) || type == MessageType::name
    return false SOTTO_PEER_DELIVERABLE(SOTTO_X);
#undef SOTTO_X
}

} // namespace sotto::wire
