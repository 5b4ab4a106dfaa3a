// The frame reader fed in chunks, and every opening-frame decoder on every frame it yields.
//
//   input = u8(chunking seed) stream
//
// The stream goes to one FrameReader in pseudo-random chunks drawn from the seed (1 to 64 bytes,
// now and then up to 4 KiB) and to a reference split done here in one pass; both must give the
// same frames, the same error and the same partial tail. Each frame body then goes to
// decodeEnroll1/2, decodeHello, decodeChallenge (under their login and federation tags) and
// decodeCleartextError: whatever decodes must encode back to the same bytes.

#include "handshakes.h"

#include "core/wire.h"

using namespace sotto;
using namespace sotto::fuzz;

namespace {

struct Split
{
    std::vector<QByteArray> frames;
    bool failed = false;
    bool partial = false;
};

// The frame grammar of wire.h, read directly.
Split referenceSplit(QByteArrayView stream)
{
    Split s;
    qsizetype pos = 0;
    while (stream.size() - pos >= 2) {
        const int len = quint8(stream[pos]) << 8 | quint8(stream[pos + 1]);
        if (len == 0) {
            s.failed = true;
            return s;
        }
        if (stream.size() - pos < 2 + len)
            break;
        s.frames.push_back(stream.sliced(pos + 2, len).toByteArray());
        pos += 2 + len;
    }
    s.partial = pos < stream.size();
    return s;
}

Split readerSplit(QByteArrayView stream, quint32 seed)
{
    Split s;
    wire::FrameReader reader;
    quint32 state = seed * 2654435761u + 1;
    qsizetype fed = 0;
    while (fed < stream.size() && !s.failed) {
        state = state * 1103515245u + 12345u;
        const quint32 r = state >> 8;
        const qsizetype chunk = (r & 15) == 0 ? 1 + (r >> 4) % 4096 : 1 + (r >> 4) % 64;
        const qsizetype n = std::min(chunk, stream.size() - fed);
        reader.append(stream.sliced(fed, n));
        fed += n;
        while (auto next = reader.next()) {
            if (!next->ok()) {
                FUZZ_CHECK(next->error().code == ErrorCode::BadRequest);
                s.failed = true;
                break;
            }
            s.frames.push_back(next->value());
        }
    }
    if (!s.failed)
        s.partial = reader.hasPartialFrame();
    return s;
}

void checkDecoders(const QByteArray &body)
{
    for (quint8 tag : {wire::kEnrollTag, wire::kFederateTag}) {
        if (auto m = wire::decodeEnroll1(body, tag); m) {
            FUZZ_CHECK(skbp::isValidAccount(m->account));
            FUZZ_CHECK(m->noiseMessage.size() >= 32 + 16);
            FUZZ_CHECK(wire::encodeEnroll1(*m, tag) == body);
        }
        if (auto m = wire::decodeEnroll2(body, tag); m) {
            FUZZ_CHECK(m->size() >= 32 + 16);
            FUZZ_CHECK(wire::encodeEnroll2(*m, tag) == body);
        }
    }
    for (quint8 tag : {wire::kLoginTag, wire::kPeerLoginTag}) {
        if (auto m = wire::decodeHello(body, tag); m) {
            FUZZ_CHECK(skbp::isValidAccount(m->account));
            FUZZ_CHECK(m->nonce.size() == skbp::kNonceSize);
            FUZZ_CHECK(wire::encodeHello(*m, tag) == body);
        }
        if (auto m = wire::decodeChallenge(body, tag); m) {
            FUZZ_CHECK(m->size() == skbp::kNonceSize);
            FUZZ_CHECK(wire::encodeChallenge(*m, tag) == body);
        }
    }
    if (auto e = wire::decodeCleartextError(body)) {
        // The code and text survive a re-encoding (the CBOR itself need not be canonical).
        const auto again =
            wire::decodeCleartextError(wire::encodeCleartextError(e->code, e->message));
        FUZZ_CHECK(again.has_value());
        FUZZ_CHECK(again->code == e->code);
        FUZZ_CHECK(again->message == e->message);
    }
}

fuzz::Seeds seeds()
{
    using noise::Pattern;
    const auto [enroll1, enroll2] =
        handshakeMessages(Pattern::NKpsk0, firstPayload(Pattern::NKpsk0), replyPayload());
    const auto [fed1, fed2] =
        handshakeMessages(Pattern::KKpsk0, firstPayload(Pattern::KKpsk0), replyPayload());
    const QByteArray nonce = fixedBytes(0xa0, skbp::kNonceSize);
    const QByteArray e1 = wire::frame(wire::encodeEnroll1({QStringLiteral("alice"), 1, enroll1}));
    const QByteArray e2 = wire::frame(wire::encodeEnroll2(enroll2));
    const QByteArray f1 =
        wire::frame(wire::encodeEnroll1({QStringLiteral("a"), 1, fed1}, wire::kFederateTag));
    const QByteArray f2 = wire::frame(wire::encodeEnroll2(fed2, wire::kFederateTag));
    const QByteArray hello =
        wire::frame(wire::encodeHello({QStringLiteral("bob.smith-2"), 7, nonce}));
    const QByteArray peerHello =
        wire::frame(wire::encodeHello({QStringLiteral("b"), 3, nonce}, wire::kPeerLoginTag));
    const QByteArray challenge =
        wire::frame(wire::encodeChallenge(fixedBytes(0xb0, skbp::kNonceSize)));
    const QByteArray error = wire::frame(
        wire::encodeCleartextError(ErrorCode::Auth, QStringLiteral("authentication failed")));
    const QByteArray seed(1, '\x2a');
    return {
        {"enroll", seed + e1 + e2},
        {"federate", seed + f1 + f2},
        {"login", QByteArray(1, '\x07') + hello + challenge},
        {"peer-login",
         seed + peerHello + wire::frame(wire::encodeChallenge(nonce, wire::kPeerLoginTag))},
        {"error", seed + error},
        {"partial-tail", seed + hello + challenge.chopped(3)},
        {"zero-length", seed + challenge + QByteArray(2, '\0') + hello},
        {"all", QByteArray(1, '\x01') + e1 + hello + challenge + error + f1 + e2 + peerHello + f2},
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
    Cursor in(inputView(data, size));
    const quint8 seed = in.u8();
    const QByteArrayView stream = in.rest();
    const Split expected = referenceSplit(stream);
    const Split got = readerSplit(stream, seed);
    FUZZ_CHECK(got.failed == expected.failed);
    FUZZ_CHECK(got.frames == expected.frames);
    FUZZ_CHECK(got.failed || got.partial == expected.partial);
    for (const QByteArray &body : got.frames) {
        FUZZ_CHECK(!body.isEmpty() && body.size() <= wire::kMaxFrame);
        FUZZ_CHECK(wire::frame(body).sliced(2) == body);
        checkDecoders(body);
    }
    return 0;
}
