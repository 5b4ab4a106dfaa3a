#include "audio/rtp.h"

#include <QtEndian>

namespace sotto::audio {

QByteArray encodeRtp(const RtpPacket &p)
{
    QByteArray out(kRtpHeaderSize, Qt::Uninitialized);
    out[0] = char(0x80);
    out[1] = char((p.marker ? 0x80 : 0x00) | (p.payloadType & 0x7f));
    qToBigEndian(p.seq, out.data() + 2);
    qToBigEndian(p.timestamp, out.data() + 4);
    qToBigEndian(p.ssrc, out.data() + 8);
    out.append(p.payload);
    return out;
}

Result<RtpPacket> decodeRtp(QByteArrayView b)
{
    auto bad = [](const char *why) { return makeError(ErrorCode::BadRequest, QString::fromLatin1(why)); };
    if (b.size() < kRtpHeaderSize)
        return bad("RTP packet too short");
    const quint8 b0 = quint8(b[0]);
    if ((b0 >> 6) != 2)
        return bad("not RTP version 2");
    const int cc = b0 & 0x0f;
    qsizetype pos = kRtpHeaderSize + 4 * cc;
    if (b.size() < pos)
        return bad("RTP CSRC list truncated");
    if (b0 & 0x10) { // extension
        if (b.size() < pos + 4)
            return bad("RTP extension truncated");
        const qsizetype words = qFromBigEndian<quint16>(b.data() + pos + 2);
        pos += 4 + 4 * words;
        if (b.size() < pos)
            return bad("RTP extension truncated");
    }
    qsizetype end = b.size();
    if (b0 & 0x20) { // padding
        const int pad = quint8(b[end - 1]);
        if (pad == 0 || pad > end - pos)
            return bad("bad RTP padding");
        end -= pad;
    }
    RtpPacket p;
    p.marker = quint8(b[1]) & 0x80;
    p.payloadType = quint8(b[1]) & 0x7f;
    p.seq = qFromBigEndian<quint16>(b.data() + 2);
    p.timestamp = qFromBigEndian<quint32>(b.data() + 4);
    p.ssrc = qFromBigEndian<quint32>(b.data() + 8);
    p.payload = b.sliced(pos, end - pos).toByteArray();
    return p;
}

bool peekRtpSsrc(QByteArrayView b, quint32 &ssrc)
{
    if (b.size() < kRtpHeaderSize || (quint8(b[0]) & 0xC0) != 0x80)
        return false;
    ssrc = qFromBigEndian<quint32>(b.data() + 8);
    return true;
}

} // namespace sotto::audio
