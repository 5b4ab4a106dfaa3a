#pragma once

// A member of a session at a relay, as raw UDP: binds with a grant's token, sends RTP-shaped
// packets and counts what arrives. For tests of relays of their own (the test phones carry no
// media of their own). The waits spin the event loop, so a broker in the same process runs.

#include "audio/rtp.h"
#include "core/relayauth.h"
#include "core/relaywire.h"
#include "support/fixtures.h"

#include <QDateTime>
#include <QDeadlineTimer>
#include <QNetworkDatagram>
#include <QTest>
#include <QUdpSocket>

#include <algorithm>
#include <memory>
#include <optional>

namespace sotto::test {

// One member's UDP socket at a relay.
struct RelayMember
{
    QUdpSocket socket;
    QByteArray sid;
    quint32 ssrc = 0;
    quint16 relayPort = 0;

    RelayMember(const QByteArray &sessionId, quint32 own, quint16 port) : sid(sessionId), ssrc(own), relayPort(port)
    {
        socket.bind(QHostAddress::LocalHost, 0);
    }
    quint64 stamp = 0; // of the last bind sent

    // Binds with a grant (`token`, proving `key`): true when the relay acknowledged it within a
    // second. `stampMs` 0: a fresh stamp, newer than the last.
    bool bind(const QByteArray &token, const SecretBytes &key, quint64 stampMs = 0)
    {
        stamp = stampMs ? stampMs : std::max<quint64>(stamp + 1, quint64(QDateTime::currentMSecsSinceEpoch()));
        return sendAndWaitForAck(relayauth::provenBind(sid, ssrc, token, key, stamp));
    }
    // Sends any datagram (a plain bind, a replayed one…): true when the relay acknowledged a
    // binding of this member within a second.
    bool sendAndWaitForAck(const QByteArray &datagram)
    {
        drain(0);
        socket.writeDatagram(datagram, QHostAddress::LocalHost, relayPort);
        QDeadlineTimer deadline(1000);
        while (!deadline.hasExpired()) {
            while (socket.hasPendingDatagrams()) {
                const auto ack = relaywire::decodeBindAck(socket.receiveDatagram().data());
                if (ack && ack->sid == sid && ack->ssrc == ssrc)
                    return true;
            }
            QTest::qWait(5); // the broker in this process keeps running
        }
        return false;
    }
    void sendRtp(quint16 seq)
    {
        audio::RtpPacket p;
        p.seq = seq;
        p.ssrc = ssrc;
        p.payload = QByteArray(40, char(seq));
        socket.writeDatagram(audio::encodeRtp(p), QHostAddress::LocalHost, relayPort);
    }
    // RTP datagrams that arrive within waitMs.
    int drain(int waitMs = 300)
    {
        int n = 0;
        QDeadlineTimer deadline(waitMs);
        do {
            while (socket.hasPendingDatagrams())
                n += relaywire::isRtp(socket.receiveDatagram().data()) ? 1 : 0;
            if (waitMs > 0)
                QTest::qWait(5);
        } while (!deadline.hasExpired());
        return n;
    }
};

// Media between two members of one session: each hears the other's packets.
inline bool mediaFlows(RelayMember &a, RelayMember &b)
{
    for (quint16 i = 0; i < 5; ++i)
        a.sendRtp(i);
    const int atB = b.drain();
    for (quint16 i = 0; i < 5; ++i)
        b.sendRtp(i);
    return atB == 5 && a.drain() == 5;
}

// A call's two members at the relay the broker placed it on (a relay of its own, 127.0.0.1),
// bound with their grants; std::nullopt when the grants differ or a bind is not acknowledged.
struct RelayCall
{
    QByteArray sid;
    quint16 relayPort = 0;
    std::unique_ptr<RelayMember> a, b;
};

inline std::optional<RelayCall> bindRelayCall(TestPhone &caller, TestPhone &callee, const QByteArray &sid)
{
    const auto ia = caller.engine().session(sid);
    const auto ib = callee.engine().session(sid);
    if (!ia || !ib || ia->relayPort != ib->relayPort || ia->relayHost != QStringLiteral("127.0.0.1"))
        return std::nullopt;
    RelayCall c;
    c.sid = sid;
    c.relayPort = ia->relayPort;
    c.a = std::make_unique<RelayMember>(sid, ia->ownSsrc, ia->relayPort);
    c.b = std::make_unique<RelayMember>(sid, ib->ownSsrc, ib->relayPort);
    if (!c.a->bind(ia->relayToken, caller.engine().relayGrantKey(sid)) || !c.b->bind(ib->relayToken, callee.engine().relayGrantKey(sid)))
        return std::nullopt;
    return c;
}

} // namespace sotto::test
