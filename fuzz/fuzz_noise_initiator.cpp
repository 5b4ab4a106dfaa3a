// The initiator's reading of handshake message 2: the phone finishing its enrolment (Noise
// NKpsk0, §4) or a broker finishing a federation handshake (KKpsk0, §8), with fixed keys and psk.
// The initiator has written its message 1 (fixed ephemeral, so always the same bytes) first.
//
//   input = u8(flags) rest     ; flags bit 0: 0 NKpsk0, 1 KKpsk0; bit 1: 0 raw, 1 payload
//
// raw:     rest is message 2 off the wire. Only the genuine answer (in the seeds) may be read.
// payload: rest is the payload of the message 2 the genuine responder writes; the initiator must
//          read it back unchanged and both ends must agree on the keys.
// Anything that fails must fail as ErrorCode::Crypto and leave the handshake incomplete.

#include "handshakes.h"

using namespace sotto;
using namespace sotto::fuzz;

namespace {

fuzz::Seeds seeds()
{
    using noise::Pattern;
    const QByteArray nk =
        handshakeMessages(Pattern::NKpsk0, firstPayload(Pattern::NKpsk0), replyPayload()).second;
    const QByteArray kk =
        handshakeMessages(Pattern::KKpsk0, firstPayload(Pattern::KKpsk0), replyPayload()).second;
    return {
        {"nkpsk0-message", QByteArray(1, '\x00') + nk},
        {"kkpsk0-message", QByteArray(1, '\x01') + kk},
        {"nkpsk0-payload", QByteArray(1, '\x02') + replyPayload()},
        {"kkpsk0-payload", QByteArray(1, '\x03') + replyPayload()},
        {"kkpsk0-short", QByteArray(1, '\x01') + kk.first(33)},
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
    noise::HandshakeState initiator = handshake(in.pattern, Role::Initiator);
    auto m1 = initiator.writeMessage(firstPayload(in.pattern));
    FUZZ_CHECK(m1.ok());
    if (!in.payloadMode) {
        auto payload = initiator.readMessage(in.rest);
        if (!payload) {
            FUZZ_CHECK(payload.error().code == ErrorCode::Crypto);
            FUZZ_CHECK(!initiator.isComplete());
            return 0;
        }
        FUZZ_CHECK(*payload == replyPayload());
        FUZZ_CHECK(initiator.isComplete());
        FUZZ_CHECK(!initiator.writeMessage({}).ok()); // nothing more to write
        return 0;
    }
    noise::HandshakeState responder = handshake(in.pattern, Role::Responder);
    FUZZ_CHECK(responder.readMessage(*m1).ok());
    auto m2 = responder.writeMessage(in.rest);
    if (!m2) {
        FUZZ_CHECK(in.rest.size() + 32 + 16 > noise::kMaxMessage);
        return 0;
    }
    auto payload = initiator.readMessage(*m2);
    FUZZ_CHECK(payload.ok() && *payload == in.rest);
    (void)wire::decodeMap(*payload); // as the enroller does next
    checkSameKeys(initiator, responder);
    return 0;
}
