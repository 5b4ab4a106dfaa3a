// The relay's datagrams (core/relaywire.h): what arrives on the broker's UDP port, from phones
// and from peered relays, and what a phone hears back.
//
//   input = datagram
//
// classify() and the decoders agree: exactly the decoder of the datagram's kind accepts it (RTP:
// rtpSsrc), a decoded datagram encodes back to the input byte for byte, a trunk's RTP is a view
// into the datagram, and rtpSsrc agrees with the phone's own peekRtpSsrc. Then the encoders get
// fields cut from the input (of any size): each gives nothing or a datagram that decodes to them.

#include "fuzzsupport.h"

#include "audio/rtp.h"
#include "core/relaywire.h"

using namespace sotto;
using namespace sotto::fuzz;
using relaywire::Kind;

namespace {

void checkDecoders(QByteArrayView d)
{
    const Kind kind = relaywire::classify(d);
    const auto bind = relaywire::decodeBind(d);
    const auto ack = relaywire::decodeBindAck(d);
    const auto trunkBind = relaywire::decodeTrunkBind(d);
    const auto trunkMedia = relaywire::decodeTrunkMedia(d);
    const auto proven = relaywire::decodeProvenBind(d);
    const auto provenTrunk = relaywire::decodeProvenTrunkBind(d);
    const auto ssrc = relaywire::rtpSsrc(d);
    FUZZ_CHECK(proven.has_value() == (kind == Kind::ProvenBind));
    FUZZ_CHECK(provenTrunk.has_value() == (kind == Kind::ProvenTrunkBind));
    if (proven)
        FUZZ_CHECK(relaywire::encodeProvenBind(*proven) == d);
    if (provenTrunk)
        FUZZ_CHECK(relaywire::encodeProvenTrunkBind(*provenTrunk) == d);
    FUZZ_CHECK(bind.has_value() == (kind == Kind::Bind));
    FUZZ_CHECK(ack.has_value() == (kind == Kind::BindAck));
    FUZZ_CHECK(trunkBind.has_value() == (kind == Kind::TrunkBind));
    FUZZ_CHECK(trunkMedia.has_value() == (kind == Kind::TrunkMedia));
    FUZZ_CHECK(ssrc.has_value() == (kind == Kind::Rtp));
    FUZZ_CHECK(relaywire::isRtp(d) == (kind == Kind::Rtp));
    quint32 peeked = 0;
    FUZZ_CHECK(audio::peekRtpSsrc(d, peeked) == ssrc.has_value());
    if (ssrc)
        FUZZ_CHECK(peeked == *ssrc);
    if (bind) {
        FUZZ_CHECK(bind->sid.size() == relaywire::kSidSize &&
                   bind->token.size() == relaywire::kTokenSize);
        FUZZ_CHECK(relaywire::encodeBind(*bind) == d);
    }
    if (ack)
        FUZZ_CHECK(relaywire::encodeBindAck(*ack) == d);
    if (trunkBind)
        FUZZ_CHECK(relaywire::encodeTrunkBind(*trunkBind) == d);
    if (trunkMedia) {
        FUZZ_CHECK(trunkMedia->rtp.data() == d.data() + 1 + relaywire::kSidSize);
        FUZZ_CHECK(trunkMedia->rtp.size() == d.size() - 1 - relaywire::kSidSize);
        FUZZ_CHECK(relaywire::rtpSsrc(trunkMedia->rtp).has_value());
        FUZZ_CHECK(relaywire::encodeTrunkMedia(trunkMedia->sid, trunkMedia->rtp) == d);
    }
}

void checkEncoders(Cursor in)
{
    const QByteArray sid = in.bytes(in.u8() % 20).toByteArray();
    const QByteArray token = in.bytes(in.u8() % 20).toByteArray();
    const quint32 ssrc = in.u32();
    const QByteArrayView rtp = in.rest();
    const bool fieldsOk =
        sid.size() == relaywire::kSidSize && token.size() == relaywire::kTokenSize;

    const QByteArray bind = relaywire::encodeBind({sid, ssrc, token});
    FUZZ_CHECK(bind.isEmpty() != fieldsOk);
    if (!bind.isEmpty()) {
        const auto b = relaywire::decodeBind(bind);
        FUZZ_CHECK(b && b->sid == sid && b->ssrc == ssrc && b->token == token);
    }
    const QByteArray ack = relaywire::encodeBindAck({sid, ssrc});
    FUZZ_CHECK(ack.isEmpty() != (sid.size() == relaywire::kSidSize));
    if (!ack.isEmpty()) {
        const auto a = relaywire::decodeBindAck(ack);
        FUZZ_CHECK(a && a->sid == sid && a->ssrc == ssrc);
    }
    const QByteArray trunkBind = relaywire::encodeTrunkBind({sid, token});
    FUZZ_CHECK(trunkBind.isEmpty() != fieldsOk);
    if (!trunkBind.isEmpty()) {
        const auto t = relaywire::decodeTrunkBind(trunkBind);
        FUZZ_CHECK(t && t->sid == sid && t->token == token);
    }
    const QByteArray media = relaywire::encodeTrunkMedia(sid, rtp);
    FUZZ_CHECK(media.isEmpty() != (sid.size() == relaywire::kSidSize && relaywire::isRtp(rtp)));
    if (!media.isEmpty()) {
        const auto m = relaywire::decodeTrunkMedia(media);
        FUZZ_CHECK(m && m->sid == sid && m->rtp == rtp);
    }
}

fuzz::Seeds seeds()
{
    const QByteArray sid = fixedBytes(0x20, relaywire::kSidSize);
    const QByteArray token = fixedBytes(0x40, relaywire::kTokenSize);
    audio::RtpPacket p;
    p.seq = 7;
    p.timestamp = 6720;
    p.ssrc = 0x0badf00d;
    p.payload = fixedBytes(0x60, 40);
    const QByteArray rtp = audio::encodeRtp(p);
    return {
        {"bind", relaywire::encodeBind({sid, 0x0badf00d, token})},
        {"bind-ack", relaywire::encodeBindAck({sid, 0x0badf00d})},
        {"trunk-bind", relaywire::encodeTrunkBind({sid, token})},
        {"trunk-media", relaywire::encodeTrunkMedia(sid, rtp)},
        {"proven-bind", relaywire::encodeProvenBind({{sid, 0x0badf00d, token}, 1, QByteArray(16, 'p')})},
        {"proven-trunk-bind", relaywire::encodeProvenTrunkBind({sid, 2, QByteArray(16, 'q')})},
        {"rtp", rtp},
        {"bind-short", relaywire::encodeBind({sid, 1, token}).chopped(1)},
        {"trunk-media-not-rtp", relaywire::encodeTrunkMedia(sid, rtp).replace(17, 1, "\x40")},
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
    const QByteArrayView d = inputView(data, size);
    checkDecoders(d);
    checkEncoders(Cursor(d));
    return 0;
}
