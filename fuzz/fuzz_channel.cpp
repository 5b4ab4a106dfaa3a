// The session channel (PROTOCOL.md §5): SecureChannel::open under a fixed key, driven by an op
// stream, so that the fuzzer reaches both the AEAD check and the message decoder behind it.
//
//   input = op*
//   op    = 0x00 lp16(body)               ; a frame body as it came off the wire
//         / 0x01 lp16(plaintext)          ; the plaintext sealed by the real sender (valid frame)
//         / 0x02 u16(pos) u8(mask) lp16(plaintext)   ; sealed, then one byte flipped
//         / 0x03                          ; the last frame that opened, sent again (a replay)
//         / 0x04                          ; a schema message through seal() and open()
//   (the op byte is taken modulo 5; at most 64 ops)
//
// The channel must refuse every tampered frame and replay with ErrorCode::Crypto without moving
// its counter: after any refusal the sender's next frame still opens. Frames the sender sealed
// never fail to decrypt; whatever opens is a schema-checked message.

#include "fuzzsupport.h"

#include "core/channel.h"

using namespace sotto;
using namespace sotto::fuzz;

namespace {

constexpr int kMaxOps = 64;

QLatin1StringView k(const char *s)
{
    return QLatin1StringView(s);
}

// A message of the kind both ends send; `n` varies it.
QCborMap sample(int n)
{
    QCborMap m = wire::message(wire::MessageType::Call);
    m.insert(k("id"), n);
    m.insert(k("to"), QStringLiteral("bob"));
    return m;
}

class Harness
{
public:
    Harness()
        : m_receiver(noise::CipherState(fixedSecret(0x01)), noise::CipherState(fixedSecret(0x02))),
          m_sender(fixedSecret(0x02)),
          m_peer(noise::CipherState(fixedSecret(0x02)), noise::CipherState(fixedSecret(0x01)))
    {
    }

    // A frame from the wire: may decrypt only if it is exactly what the sender would seal next.
    void wireFrame(QByteArrayView body)
    {
        auto r = m_receiver.open(body);
        if (!r.ok() && r.error().code == ErrorCode::Crypto)
            return; // refused, the counter stays: checked by the next valid frame
        // It decrypted, so it was the sender's next frame: both counters move on.
        FUZZ_CHECK(m_sender.encryptWithAd({}, "sync").ok());
        m_lastOpened = body.toByteArray();
        if (r.ok())
            checkMessage(*r);
        else
            FUZZ_CHECK(r.error().code == ErrorCode::BadRequest);
    }

    void sealed(QByteArrayView plaintext)
    {
        auto ct = m_sender.encryptWithAd({}, plaintext);
        FUZZ_CHECK(ct.ok());
        auto r = m_receiver.open(*ct);
        FUZZ_CHECK(r.ok() || r.error().code == ErrorCode::BadRequest);
        if (r.ok())
            checkMessage(*r);
        m_lastOpened = *ct;
    }

    void tampered(quint16 pos, quint8 mask, QByteArrayView plaintext)
    {
        noise::CipherState copy = m_sender; // the real sender does not send this one
        auto ct = copy.encryptWithAd({}, plaintext);
        FUZZ_CHECK(ct.ok());
        QByteArray bad = *ct;
        bad[pos % bad.size()] = char(bad[pos % bad.size()] ^ (mask ? mask : 1));
        auto r = m_receiver.open(bad);
        FUZZ_CHECK(!r.ok() && r.error().code == ErrorCode::Crypto);
    }

    void replay()
    {
        if (m_lastOpened.isEmpty())
            return;
        auto r = m_receiver.open(m_lastOpened);
        FUZZ_CHECK(!r.ok() && r.error().code == ErrorCode::Crypto);
    }

    void message(int n)
    {
        const QCborMap m = sample(n);
        while (m_peerNonce < m_sender.nonce()) {
            FUZZ_CHECK(m_peer.seal(QCborMap()).ok());
            ++m_peerNonce;
        }
        auto ct = m_peer.seal(m);
        ++m_peerNonce;
        FUZZ_CHECK(ct.ok());
        FUZZ_CHECK(m_sender.encryptWithAd({}, "sync").ok()); // the same frame, from the other copy
        auto r = m_receiver.open(*ct);
        FUZZ_CHECK(r.ok());
        FUZZ_CHECK(r->map() == m);
        m_lastOpened = *ct;
    }

private:
    void checkMessage(const wire::Message &m)
    {
        FUZZ_CHECK(!m.typeName().isEmpty());
        FUZZ_CHECK(wire::decodeMessage(wire::encodeMessage(m.map())).ok());
    }

    SecureChannel m_receiver;
    noise::CipherState m_sender;
    // The same sending key behind SecureChannel::seal, brought up to the sender's counter when
    // used.
    SecureChannel m_peer;
    quint64 m_peerNonce = 0;
    QByteArray m_lastOpened;
};

fuzz::Seeds seeds()
{
    // Valid wire frames for the first counters, as the sender would send them.
    noise::CipherState sender(fixedSecret(0x02));
    auto frameOf = [&](const QCborMap &m) {
        auto ct = sender.encryptWithAd({}, wire::encodeMessage(m));
        FUZZ_CHECK(ct.ok());
        return QByteArray(1, '\0') + lengthPrefixed(*ct);
    };
    const QByteArray f0 = frameOf(sample(1));
    const QByteArray f1 = frameOf(wire::message(wire::MessageType::Ping));
    const QByteArray f2 = frameOf(wire::message(wire::MessageType::Confirm));
    const QByteArray login = wire::encodeMessage([] {
        QCborMap m = wire::message(wire::MessageType::Login);
        m.insert(k("client"), QStringLiteral("sotto"));
        return m;
    }());
    auto op = [](char code, const QByteArray &rest = {}) { return QByteArray(1, code) + rest; };
    return {
        {"wire-frames", f0 + f1 + f2},
        {"sealed", op(1, lengthPrefixed(login)) + op(1, lengthPrefixed("not cbor")) + op(4)},
        {"tamper-then-valid", op(2, be16(5) + QByteArray(1, '\x80') + lengthPrefixed(login)) +
                                  op(1, lengthPrefixed(login))},
        {"replay", f0 + op(3) + f1 + op(3) + op(4)},
        {"mixed",
         f0 + op(4) + op(0, lengthPrefixed("garbage")) + op(1, lengthPrefixed(login)) + op(3)},
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
    Harness h;
    for (int ops = 0; ops < kMaxOps && !in.atEnd(); ++ops) {
        switch (in.u8() % 5) {
        case 0:
            h.wireFrame(in.lengthPrefixed());
            break;
        case 1:
            h.sealed(in.lengthPrefixed());
            break;
        case 2: {
            const quint16 pos = in.u16();
            const quint8 mask = in.u8();
            h.tampered(pos, mask, in.lengthPrefixed());
            break;
        }
        case 3:
            h.replay();
            break;
        case 4:
            h.message(ops);
            break;
        }
    }
    // However the stream went, the two ends are still in step.
    h.message(0);
    return 0;
}
