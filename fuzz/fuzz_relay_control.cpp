// What a relay of its own reads from its brokers' control channel (relay/include/relay/control.h,
// core/relayauth.h): sealed frames, and the orders and pongs inside them.
//
//   input = u8(seq) frame
//
// openFrame() accepts a frame only when its MAC is that of sealFrame() for the same key and
// sequence number (so the fuzzer's bytes never pass, but a sealed copy of them does, once), and
// what it opens is what was sealed. decodeOrder/decodePong accept a map only when it re-encodes to
// a map they decode to the same thing; a relay token check never says Valid for bytes that were
// not minted.

#include "fuzzsupport.h"

#include "core/relayauth.h"
#include "core/wire.h"
#include "relay/control.h"

#include <QCborValue>

using namespace sotto;
using namespace sotto::fuzz;
using namespace sotto::relay;

namespace {

bool sameOrder(const control::Order &a, const control::Order &b)
{
    return a.kind == b.kind && a.id == b.id && a.sid == b.sid && a.host == b.host && a.port == b.port && a.token == b.token
        && a.ssrc == b.ssrc;
}

void checkMap(const QCborMap &m)
{
    if (auto o = control::decodeOrder(m)) {
        FUZZ_CHECK(o->kind == control::Order::Kind::Ping || o->sid.size() == 16);
        const auto again = control::decodeOrder(control::encode(*o));
        FUZZ_CHECK(again && sameOrder(*again, *o));
    }
    if (auto p = control::decodePong(m)) {
        const auto again = control::decodePong(control::encode(*p));
        FUZZ_CHECK(again && again->id == p->id && again->members == p->members && again->forwarded == p->forwarded);
    }
}

fuzz::Seeds seeds()
{
    const SecretBytes key = SecretBytes::copyOf(fixedBytes(0x11, 32));
    control::Order trunk;
    trunk.kind = control::Order::Kind::Trunk;
    trunk.sid = fixedBytes(0x20, 16);
    trunk.host = QHostAddress(QStringLiteral("127.0.0.1"));
    trunk.port = 7420;
    trunk.token = fixedBytes(0x40, 16);
    control::Order leave;
    leave.kind = control::Order::Kind::Leave;
    leave.sid = trunk.sid;
    leave.ssrc = 0x0badf00d;
    control::Order ping;
    ping.id = 9;
    auto framed = [&](quint8 seq, const QCborMap &m) { return QByteArray(1, char(seq)) + relayauth::sealFrame(key, seq, m); };
    return {
        {"trunk", framed(0, control::encode(trunk))},
        {"leave", framed(1, control::encode(leave))},
        {"ping", framed(2, control::encode(ping))},
        {"pong", framed(3, control::encode(control::Pong{9, 2, 6, 0, 1000, 3}))},
        {"unsealed-trunk", QByteArray(1, '\0') + control::encode(trunk).toCborValue().toCbor()},
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
    if (d.isEmpty())
        return 0;
    static const SecretBytes key = SecretBytes::copyOf(fixedBytes(0x11, 32));
    const quint8 seq = quint8(d[0]);
    const QByteArrayView frame = d.sliced(1);
    // A sealed frame opens under its own sequence number only.
    if (auto opened = relayauth::openFrame(key, seq, frame)) {
        FUZZ_CHECK(!relayauth::openFrame(key, quint64(seq) + 1, frame));
        checkMap(*opened);
    }
    // The map inside, as if its MAC had passed, through the one decoder the relay and broker use
    // (wire::decodeMap: Qt's QCborMap of a truncated map reads out of bounds, so none is kept).
    if (auto m = wire::decodeMap(frame)) {
        checkMap(*m);
        const QByteArray resealed = relayauth::sealFrame(key, seq, *m);
        const auto back = relayauth::openFrame(key, seq, resealed);
        FUZZ_CHECK(back.has_value()); // (not compared: a NaN or a repeated key is not equal to itself)
        if (back)
            checkMap(*back);
    }
    // Bytes nobody minted never make a valid token.
    if (frame.size() >= 36) {
        const auto check = relayauth::checkToken(key.view(), frame.first(16), 1, frame.sliced(16, 16), 0);
        FUZZ_CHECK(check != relayauth::TokenCheck::Valid || relayauth::mintToken(key.view(), frame.first(16), 1, relayauth::tokenExpiry(frame.sliced(16, 16))) == frame.sliced(16, 16));
    }
    return 0;
}
