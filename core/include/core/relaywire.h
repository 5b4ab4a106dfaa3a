#pragma once

// The UDP datagrams of the media relay (PROTOCOL.md §7) and of the relays' trunks between peered
// brokers (§8; extension, see broker/include/broker/relay.h). One codec for the relay and the
// phone's media session. The relay never decrypts: RTP is only recognised and its SSRC read.
//
//   bind         = 0x01 sid u32(ssrc) token      ; 37 bytes, phone → relay
//   bind-ack     = 0x02 sid u32(ssrc)            ; 21 bytes, relay → phone
//   trunk-media  = 0x03 sid rtp                  ; >= 29 bytes, relay → relay
//   trunk-bind   = 0x04 sid token                ; 33 bytes, relay → relay (also the keep-alive)
//   rtp          = b0 b1 seq(16) ts(32) ssrc(32) ...   ; b0 in 0x80..0xBF (V=2), >= 12 bytes
//   sid          = 16 bytes                      ; the session id of call_key / incoming
//   token        = 16 bytes                      ; relay token (bind) or trunk token (trunk-bind)
//
// The first byte tells the kind: 0x01–0x04 never start RTP (whose version bits are 10). Every
// size is exact except RTP's; a datagram of the right kind but the wrong size is malformed.
// Functions are pure and may be called from any thread.

#include "core/skbp.h"

#include <QByteArray>
#include <QByteArrayView>

#include <optional>

namespace sotto::relaywire {

constexpr int kSidSize = skbp::kSidSize;
constexpr int kTokenSize = skbp::kTokenSize;
constexpr int kSsrcSize = 4;
constexpr int kRtpHeaderSize = 12;

constexpr quint8 kBindTag = 0x01;
constexpr quint8 kBindAckTag = 0x02;
constexpr quint8 kTrunkMediaTag = 0x03;
constexpr quint8 kTrunkBindTag = 0x04;

constexpr int kBindSize = 1 + kSidSize + kSsrcSize + kTokenSize;
constexpr int kBindAckSize = 1 + kSidSize + kSsrcSize;
constexpr int kTrunkBindSize = 1 + kSidSize + kTokenSize;
constexpr int kMinTrunkMediaSize = 1 + kSidSize + kRtpHeaderSize;

enum class Kind
{
    Malformed, // empty, an unknown first byte, or a known one with the wrong size
    Bind,
    BindAck,
    TrunkMedia,
    TrunkBind,
    Rtp,
};

// What a datagram is, sizes checked: a datagram of kind K decodes with K's decoder, and one of
// any other kind does not.
Kind classify(QByteArrayView datagram);

struct Bind
{
    QByteArray sid; // kSidSize bytes
    quint32 ssrc = 0;
    QByteArray token; // kTokenSize bytes
};
struct BindAck
{
    QByteArray sid;
    quint32 ssrc = 0;
};
struct TrunkBind
{
    QByteArray sid;
    QByteArray token;
};
struct TrunkMedia
{
    QByteArray sid;
    QByteArrayView rtp; // a view into the decoded datagram: valid as long as it is
};

// Encoders give an empty array for fields of the wrong size (a caller's bug), as wire::frame does.
QByteArray encodeBind(const Bind &b);
QByteArray encodeBindAck(const BindAck &a);
QByteArray encodeTrunkBind(const TrunkBind &t);
// Empty also when `rtp` is not RTP (see isRtp).
QByteArray encodeTrunkMedia(QByteArrayView sid, QByteArrayView rtp);

// std::nullopt for anything but exactly that datagram.
std::optional<Bind> decodeBind(QByteArrayView datagram);
std::optional<BindAck> decodeBindAck(QByteArrayView datagram);
std::optional<TrunkBind> decodeTrunkBind(QByteArrayView datagram);
std::optional<TrunkMedia> decodeTrunkMedia(QByteArrayView datagram);

// At least a fixed RTP header with version 2 (first byte 0x80–0xBF); nothing past the SSRC is
// looked at (the rest is SRTP, which only the members can check).
bool isRtp(QByteArrayView datagram);
// The SSRC of an RTP datagram (bytes 8..11, big-endian); std::nullopt unless isRtp.
std::optional<quint32> rtpSsrc(QByteArrayView datagram);

} // namespace sotto::relaywire
