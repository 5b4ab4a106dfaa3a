#pragma once

// RTP (RFC 3550) for Opus (RFC 7587): payload type 111, clock 48 kHz, no CSRC, no extensions on
// send; on receive, CSRCs, extensions and padding are skipped and every length is checked.
//
//   header = V=2 P X CC | M PT | seq(16) | timestamp(32) | ssrc(32) | csrc*CC | [ext] payload [pad]

#include "core/result.h"

#include <QByteArray>

namespace sotto::audio {

constexpr int kRtpHeaderSize = 12;
constexpr quint8 kOpusPayloadType = 111;

struct RtpPacket
{
    bool marker = false;
    quint8 payloadType = kOpusPayloadType;
    quint16 seq = 0;
    quint32 timestamp = 0;
    quint32 ssrc = 0;
    QByteArray payload;
};

QByteArray encodeRtp(const RtpPacket &p);
Result<RtpPacket> decodeRtp(QByteArrayView bytes);
// The SSRC of something that looks like RTP (for the relay, which cannot decrypt).
bool peekRtpSsrc(QByteArrayView bytes, quint32 &ssrc);

} // namespace sotto::audio
