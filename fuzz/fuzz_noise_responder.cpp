// The responder's reading of handshake message 1: the broker answering an enrolment (Noise
// NKpsk0, §4) or a peered broker's federation handshake (KKpsk0, §8), with fixed keys and psk.
//
//   input = u8(flags) rest     ; flags bit 0: 0 NKpsk0, 1 KKpsk0; bit 1: 0 raw, 1 payload
//
// raw:     rest is message 1 off the wire. Only the genuine message (in the seeds) may be read;
//          then the payload must be what the genuine initiator sent and the reply can be written.
// payload: rest is the payload of a message 1 the genuine initiator writes; the responder must
//          read it back unchanged, answer, and both ends must agree on the keys.
// Anything that fails must fail as ErrorCode::Crypto.

#include "handshakes.h"

using namespace sotto;
using namespace sotto::fuzz;

namespace {

fuzz::Seeds seeds()
{
    using noise::Pattern;
    const QByteArray nk =
        handshakeMessages(Pattern::NKpsk0, firstPayload(Pattern::NKpsk0), replyPayload()).first;
    const QByteArray kk =
        handshakeMessages(Pattern::KKpsk0, firstPayload(Pattern::KKpsk0), replyPayload()).first;
    return {
        {"nkpsk0-message", QByteArray(1, '\x00') + nk},
        {"kkpsk0-message", QByteArray(1, '\x01') + kk},
        {"nkpsk0-payload", QByteArray(1, '\x02') + firstPayload(Pattern::NKpsk0)},
        {"kkpsk0-payload", QByteArray(1, '\x03') + firstPayload(Pattern::KKpsk0)},
        {"nkpsk0-short", QByteArray(1, '\x00') + nk.first(40)},
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
    const HandshakeInput in = handshakeInput(inputView(data, size));
    noise::HandshakeState responder = handshake(in.pattern, Role::Responder);
    if (!in.payloadMode) {
        auto payload = responder.readMessage(in.rest);
        if (!payload) {
            FUZZ_CHECK(payload.error().code == ErrorCode::Crypto);
            FUZZ_CHECK(!responder.isComplete());
            return 0;
        }
        FUZZ_CHECK(*payload == firstPayload(in.pattern));
        FUZZ_CHECK(wire::decodeMap(*payload).ok());
        FUZZ_CHECK(responder.writeMessage(replyPayload()).ok());
        FUZZ_CHECK(responder.isComplete());
        return 0;
    }
    noise::HandshakeState initiator = handshake(in.pattern, Role::Initiator);
    auto m1 = initiator.writeMessage(in.rest);
    if (!m1) {
        FUZZ_CHECK(in.rest.size() + 32 + 16 > noise::kMaxMessage);
        return 0;
    }
    auto payload = responder.readMessage(*m1);
    FUZZ_CHECK(payload.ok() && *payload == in.rest);
    if (in.pattern == noise::Pattern::KKpsk0)
        FUZZ_CHECK(responder.remoteStatic() == publicOf(initiatorStatic()));
    (void)wire::decodeMap(*payload); // as the broker does next
    auto m2 = responder.writeMessage(replyPayload());
    FUZZ_CHECK(m2.ok());
    auto reply = initiator.readMessage(*m2);
    FUZZ_CHECK(reply.ok() && *reply == replyPayload());
    checkSameKeys(initiator, responder);
    return 0;
}
