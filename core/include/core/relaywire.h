#pragma once

// The UDP datagrams of the media relay (PROTOCOL.md §7) and of the relays' trunks between peered
// brokers (§8; extension, see broker/include/broker/relay.h). One codec for the relay and the
// phone's media session. The relay never decrypts: RTP is only recognised and its SSRC read.
//
//   bind         = 0x01 sid u32(ssrc) token      ; 37 bytes, phone → relay
//   bind-ack     = 0x02 sid u32(ssrc)            ; 21 bytes, relay → phone
//   trunk-media  = 0x03 sid rtp                  ; >= 29 bytes, relay → relay
//   trunk-bind   = 0x04 sid token                ; 33 bytes, relay → relay (also the keep-alive)
//   proven-bind  = 0x05 sid u32(ssrc) token u64(stamp) proof   ; 61 bytes, phone → relay
//   proven-trunk = 0x06 sid u64(stamp) proof     ; 41 bytes, relay → relay
//   stamp        = the sender's clock, ms since the epoch; strictly growing per binding
//   proof        = 16 bytes (relayauth::bindProof / trunkBindProof): possession of the grant's
//                  key (or the trunk token), which never crosses the wire in clear
//   Sotto's relays take only proven binds: a plain bind (0x01, 0x04) carries a bearer token
//   that anyone who sees it could replay from an address of their own.
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
constexpr quint8 kProvenBindTag = 0x05;
constexpr quint8 kProvenTrunkBindTag = 0x06;
constexpr int kStampSize = 8;
constexpr int kProofSize = 16;

constexpr int kBindSize = 1 + kSidSize + kSsrcSize + kTokenSize;
constexpr int kBindAckSize = 1 + kSidSize + kSsrcSize;
constexpr int kTrunkBindSize = 1 + kSidSize + kTokenSize;
constexpr int kMinTrunkMediaSize = 1 + kSidSize + kRtpHeaderSize;
constexpr int kProvenBindSize = kBindSize + kStampSize + kProofSize;
constexpr int kProvenTrunkBindSize = 1 + kSidSize + kStampSize + kProofSize;

enum class Kind
{
    Malformed, // empty, an unknown first byte, or a known one with the wrong size
    Bind,
    BindAck,
    TrunkMedia,
    TrunkBind,
    ProvenBind,
    ProvenTrunkBind,
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
struct ProvenBind
{
    Bind bind;
    quint64 stamp = 0;
    QByteArray proof; // kProofSize bytes
};
struct ProvenTrunkBind
{
    QByteArray sid;
    quint64 stamp = 0;
    QByteArray proof;
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
QByteArray encodeProvenBind(const ProvenBind &b);
QByteArray encodeProvenTrunkBind(const ProvenTrunkBind &t);
// Empty also when `rtp` is not RTP (see isRtp).
QByteArray encodeTrunkMedia(QByteArrayView sid, QByteArrayView rtp);

// std::nullopt for anything but exactly that datagram.
std::optional<Bind> decodeBind(QByteArrayView datagram);
std::optional<BindAck> decodeBindAck(QByteArrayView datagram);
std::optional<TrunkBind> decodeTrunkBind(QByteArrayView datagram);
std::optional<ProvenBind> decodeProvenBind(QByteArrayView datagram);
std::optional<ProvenTrunkBind> decodeProvenTrunkBind(QByteArrayView datagram);
std::optional<TrunkMedia> decodeTrunkMedia(QByteArrayView datagram);

// At least a fixed RTP header with version 2 (first byte 0x80–0xBF); nothing past the SSRC is
// looked at (the rest is SRTP, which only the members can check).
bool isRtp(QByteArrayView datagram);
// The SSRC of an RTP datagram (bytes 8..11, big-endian); std::nullopt unless isRtp.
std::optional<quint32> rtpSsrc(QByteArrayView datagram);

} // namespace sotto::relaywire
