// The CBOR message codec: decodeMessage on the whole input, as the broker and the phone call it
// on every opened frame.
//
//   input = cbor-map                      ; wire.h's grammar; anything else must be refused
//
// A message that passes its schema re-encodes to CBOR that decodes again, to a map that encodes
// to the same bytes (the first re-encoding may differ from the input: CBOR has several encodings
// of one value; ours must be a fixed point). decodeMap must agree with decodeMessage on what is a
// map at all.

#include "fuzzsupport.h"

#include "core/wire.h"

#include <QCborArray>

using namespace sotto;
using namespace sotto::fuzz;

namespace {

QLatin1StringView k(const char *s)
{
    return QLatin1StringView(s);
}

fuzz::Seeds seeds()
{
    const QByteArray sid = fixedBytes(0x20, 16);
    const QByteArray token = fixedBytes(0x40, 16);
    const QByteArray wrapped = fixedBytes(0x60, 65);
    QCborMap relay;
    relay.insert(k("port"), 7420);
    relay.insert(k("token"), token);
    QCborMap peer;
    peer.insert(k("account"), QStringLiteral("carol@b"));
    peer.insert(k("ssrc"), qint64(0xdeadbeef));
    const QCborArray peers{peer};

    QCborMap login = wire::message(wire::MessageType::Login);
    login.insert(k("client"), QStringLiteral("sotto 0.1.0"));
    QCborMap welcome = wire::message(wire::MessageType::Welcome);
    welcome.insert(k("epoch"), 3);
    welcome.insert(k("broker"), QStringLiteral("home"));
    welcome.insert(k("fp"), QStringLiteral("3f2a-91c0-7d4e-b815"));
    welcome.insert(k("refresh_in"), 86400);
    QCborMap callKey = wire::message(wire::MessageType::CallKey);
    callKey.insert(k("id"), 9);
    callKey.insert(k("sid"), sid);
    callKey.insert(k("callee"), QStringLiteral("bob"));
    callKey.insert(k("epoch"), 1);
    callKey.insert(k("gen"), 0);
    callKey.insert(k("wrapped"), wrapped);
    callKey.insert(k("ssrc"), qint64(0x12345678));
    callKey.insert(k("relay"), relay);
    QCborMap incoming = wire::message(wire::MessageType::Incoming);
    incoming.insert(k("sid"), sid);
    incoming.insert(k("from"), QStringLiteral("alice"));
    incoming.insert(k("gen"), 1);
    incoming.insert(k("ssrc"), 42);
    incoming.insert(k("peers"), peers);
    incoming.insert(k("relay"), relay);
    QCborMap directory = wire::message(wire::MessageType::Directory);
    QCborMap entry;
    entry.insert(k("account"), QStringLiteral("bob"));
    entry.insert(k("online"), true);
    directory.insert(k("accounts"), QCborArray{entry});
    QCborMap deliver = wire::message(wire::MessageType::Deliver);
    deliver.insert(k("to"), QStringLiteral("dave"));
    QCborMap inner = wire::message(wire::MessageType::Ended);
    inner.insert(k("sid"), sid);
    inner.insert(k("reason"), QStringLiteral("hangup"));
    deliver.insert(k("msg"), inner);
    deliver.insert(k("trunk"), token);
    QCborMap rotateAck = wire::message(wire::MessageType::RotateAck);
    rotateAck.insert(k("epoch"), 4);
    rotateAck.insert(k("proof"), fixedBytes(0x80, 32));

    return {
        {"login", wire::encodeMessage(login)},
        {"welcome", wire::encodeMessage(welcome)},
        {"call_key", wire::encodeMessage(callKey)},
        {"incoming", wire::encodeMessage(incoming)},
        {"directory", wire::encodeMessage(directory)},
        {"deliver", wire::encodeMessage(deliver)},
        {"rotate_ack", wire::encodeMessage(rotateAck)},
        {"error", wire::encodeError(ErrorCode::Busy, QStringLiteral("bob is in a call"), 5)},
        {"ping", wire::encodeMessage(wire::message(wire::MessageType::Ping))},
    };
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    writeSeedsIfAsked(argc, argv, seeds);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const QByteArrayView body = inputView(data, size);
    auto m = wire::decodeMessage(body);
    const bool isMap = wire::decodeMap(body).ok();
    if (!m) {
        FUZZ_CHECK(m.error().code == ErrorCode::BadRequest);
        return 0;
    }
    FUZZ_CHECK(isMap);
    FUZZ_CHECK(!m->typeName().isEmpty());
    FUZZ_CHECK(wire::messageTypeFromName(m->map().value(k("t")).toString()) == m->type());
    (void)m->id();

    const QByteArray once = wire::encodeMessage(m->map());
    auto again = wire::decodeMessage(once);
    FUZZ_CHECK(again.ok());
    FUZZ_CHECK(again->type() == m->type());
    FUZZ_CHECK(wire::encodeMessage(again->map()) == once);
    return 0;
}
