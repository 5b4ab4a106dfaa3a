#pragma once

// Fixed parties of the two handshakes SKBP/1 runs (PROTOCOL.md §4 enrolment, Noise NKpsk0; §8
// federation, Noise KKpsk0): static keys, psk, prologue and ephemerals are constants, so the
// messages are the same on every run and a seed holding a valid message stays valid.

#include "fuzzsupport.h"

#include "core/crypto.h"
#include "core/noise.h"
#include "core/skbp.h"
#include "core/wire.h"

#include <QCborMap>

namespace sotto::fuzz {

enum class Role
{
    Initiator,
    Responder
};

// The responder's static key (the broker, or broker "b" of a federation) and the KK initiator's.
inline SecretBytes responderStatic()
{
    return fixedSecret(0x10);
}
inline SecretBytes initiatorStatic()
{
    return fixedSecret(0x30);
}
inline QByteArray publicOf(const SecretBytes &priv)
{
    auto kp = crypto::x25519FromPrivate(priv.view());
    FUZZ_CHECK(kp.ok());
    return kp->publicKey;
}

inline noise::HandshakeConfig handshakeConfig(noise::Pattern pattern, Role role)
{
    const bool kk = pattern == noise::Pattern::KKpsk0;
    noise::HandshakeConfig c;
    c.pattern = pattern;
    c.initiator = role == Role::Initiator;
    c.prologue = kk ? skbp::federatePrologue(u"a", u"b", 1) : skbp::enrollPrologue(u"alice", 1);
    c.psk = fixedSecret(0x50);
    c.fixedEphemeral = fixedSecret(c.initiator ? 0x70 : 0x90);
    if (c.initiator) {
        c.remoteStatic = publicOf(responderStatic());
        if (kk)
            c.localStatic = initiatorStatic();
    } else {
        c.localStatic = responderStatic();
        if (kk)
            c.remoteStatic = publicOf(initiatorStatic());
    }
    return c;
}

inline noise::HandshakeState handshake(noise::Pattern pattern, Role role)
{
    auto hs = noise::HandshakeState::create(handshakeConfig(pattern, role));
    FUZZ_CHECK(hs.ok());
    return std::move(hs).value();
}

// The payloads the phone and the brokers really send (enroller.cpp, connection.cpp,
// federation.cpp).
inline QByteArray firstPayload(noise::Pattern pattern)
{
    QCborMap m;
    if (pattern == noise::Pattern::KKpsk0)
        m.insert(QLatin1StringView("broker"), QStringLiteral("a"));
    else
        m.insert(QLatin1StringView("device"), QStringLiteral("fuzz phone"));
    return wire::encodeMessage(m);
}
inline QByteArray replyPayload()
{
    QCborMap m;
    m.insert(QLatin1StringView("epoch"), qint64(2));
    return wire::encodeMessage(m);
}

// Message 1 and 2 of a complete handshake between the fixed parties.
inline std::pair<QByteArray, QByteArray>
handshakeMessages(noise::Pattern pattern, QByteArrayView payload1, QByteArrayView payload2)
{
    noise::HandshakeState i = handshake(pattern, Role::Initiator);
    noise::HandshakeState r = handshake(pattern, Role::Responder);
    auto m1 = i.writeMessage(payload1);
    FUZZ_CHECK(m1.ok());
    FUZZ_CHECK(r.readMessage(*m1).ok());
    auto m2 = r.writeMessage(payload2);
    FUZZ_CHECK(m2.ok());
    FUZZ_CHECK(i.readMessage(*m2).ok());
    return {*m1, *m2};
}

} // namespace sotto::fuzz

namespace sotto::fuzz {

// Both ends complete: the same handshake hash and the same two transport keys.
inline void checkSameKeys(const noise::HandshakeState &a, const noise::HandshakeState &b)
{
    FUZZ_CHECK(a.isComplete() && b.isComplete());
    FUZZ_CHECK(a.handshakeHash() == b.handshakeHash());
    const auto [a1, a2] = a.split();
    const auto [b1, b2] = b.split();
    FUZZ_CHECK(a1.hasKey() && a2.hasKey());
    FUZZ_CHECK(a1.key().equals(b1.key()) && a2.key().equals(b2.key()));
    FUZZ_CHECK(!a1.key().equals(a2.key()));
}

// The input's first byte: bit 0 picks the pattern, bit 1 the mode (raw message or payload).
struct HandshakeInput
{
    noise::Pattern pattern;
    bool payloadMode;
    QByteArrayView rest;
};
inline HandshakeInput handshakeInput(QByteArrayView in)
{
    Cursor c(in);
    const quint8 flags = c.u8();
    return {flags & 1 ? noise::Pattern::KKpsk0 : noise::Pattern::NKpsk0, bool(flags & 2), c.rest()};
}

} // namespace sotto::fuzz
