// RTP as the phone receives it (audio/rtp.h): decodeRtp on the whole input, as on every packet
// after SRTP has removed its protection.
//
//   input = rtp packet          ; header, CSRCs, extension, payload, padding: every length checked
//
// A decoded packet's payload lies inside the packet after the fixed header; peekRtpSsrc agrees
// on the SSRC; encodeRtp of it decodes to the same fields, and gives back the input itself when
// the input had no CSRC, extension or padding.

#include "fuzzsupport.h"

#include "audio/rtp.h"

using namespace sotto;
using namespace sotto::audio;
using namespace sotto::fuzz;

namespace {

fuzz::Seeds seeds()
{
    RtpPacket p;
    p.seq = 0x1234;
    p.timestamp = 960 * 7;
    p.ssrc = 0xcafebabe;
    p.payload = fixedBytes(0x11, 60);
    const QByteArray plain = encodeRtp(p);
    p.marker = true;
    const QByteArray marked = encodeRtp(p);
    // V=2 P X CC=2, two CSRCs, a one-word extension, 3 bytes of padding.
    QByteArray full = QByteArray::fromHex("b2ef1234000003c0cafebabe") + be32(1) + be32(2) +
                      QByteArray::fromHex("bede0001") + be32(0xaabbccdd) + fixedBytes(0x40, 20) +
                      QByteArray::fromHex("000003");
    return {
        {"opus", plain},
        {"marker", marked},
        {"csrc-ext-padding", full},
        {"header-only", encodeRtp(RtpPacket{})},
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
    const QByteArrayView in = inputView(data, size);
    quint32 peeked = 0;
    const bool looksLikeRtp = peekRtpSsrc(in, peeked);
    auto p = decodeRtp(in);
    if (!p) {
        FUZZ_CHECK(p.error().code == ErrorCode::BadRequest);
        return 0;
    }
    FUZZ_CHECK(looksLikeRtp && peeked == p->ssrc);
    FUZZ_CHECK(p->payload.size() <= in.size() - kRtpHeaderSize);
    FUZZ_CHECK(in.sliced(kRtpHeaderSize).indexOf(p->payload) >= 0);
    const QByteArray again = encodeRtp(*p);
    auto q = decodeRtp(again);
    FUZZ_CHECK(q.ok());
    FUZZ_CHECK(q->marker == p->marker && q->payloadType == p->payloadType && q->seq == p->seq &&
               q->timestamp == p->timestamp && q->ssrc == p->ssrc && q->payload == p->payload);
    if ((quint8(in[0]) & 0x3f) == 0)
        FUZZ_CHECK(again == in);
    return 0;
}
