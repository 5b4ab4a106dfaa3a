#pragma once

// The shared-secret credentials of relays of their own (PROTOCOL.md §9.1; extension). A broker
// and its relays share one secret (`--relay-secret-file`); with it the broker mints each member's
// relay token, and the relay checks the token without asking anyone (coturn's shared-secret
// credentials are the model). The same secret authenticates the broker's control channel.
//
//   token  = u32(expiry) || HMAC-SHA256(secret, "SKBP/1 relay-token" || sid || u32(ssrc) || u32(expiry))[0..12]
//            ; 16 bytes, the size of a drawn token, so phones need not know which they hold
//   expiry = Unix time in seconds after which the token makes no new binding
//
//   control channel (TCP on the relay's port, SKBP/1 frames):
//   relay  → broker  hello {"t":"hello", "nonce": bytes(32)}
//   broker → relay   auth  {"t":"auth", "nonce": bytes(32), "proof": controlProof("broker", nr, nb)}
//   relay  → broker  ok    {"t":"ok", "proof": controlProof("relay", nr, nb)}
//   then each frame  = cbor(map) || HMAC-SHA256(k_dir, u64(seq) || cbor(map))[0..16]
//                      k_dir = HMAC-SHA256(secret, "SKBP/1 relay-control key" || dir || nr || nb),
//                      dir = "broker>relay" or "relay>broker": one key per direction, so a frame
//                      reflected back to its sender fails its MAC (it cannot pass for the other
//                      side's); seq counts the frames of one direction from 0
//
// Pure functions; any thread. Failures: an empty result (OpenSSL could not compute an HMAC).

#include "core/secretbytes.h"

#include <QByteArray>
#include <QByteArrayView>
#include <QCborMap>

#include <optional>

namespace sotto::relayauth {

constexpr int kNonceSize = 32;
constexpr int kProofSize = 32;
constexpr int kFrameMacSize = 16;
constexpr quint32 kMaxLifetimeS = 24 * 3600; // a relay refuses tokens that claim to live longer

enum class TokenCheck
{
    Valid,
    Forged,  // the MAC does not match: another secret, session, SSRC or expiry
    Expired, // the expiry has passed
    TooLong, // an expiry further ahead than kMaxLifetimeS (the relay bounds what it remembers)
};

QByteArray mintToken(QByteArrayView secret, QByteArrayView sid, quint32 ssrc, quint32 expiry);
// The expiry a token claims (its first four bytes); 0 for a token of the wrong size.
quint32 tokenExpiry(QByteArrayView token);
TokenCheck checkToken(QByteArrayView secret, QByteArrayView sid, quint32 ssrc, QByteArrayView token, quint32 now);

// A binding's proof of possession (PROTOCOL.md: proven binds). The grant key goes to the member
// inside its sealed call_key/incoming and never crosses the media path; a relay of its own
// derives it from its secret as it checks the token:
//   grantKey   = HMAC-SHA256(secret, "SKBP/1 relay-grant-key" || sid || u32(ssrc) || token)
//   bindProof  = HMAC-SHA256(grantKey, "SKBP/1 bind" || sid || u32(ssrc) || token || u64(stamp))[0..16]
//   trunkProof = HMAC-SHA256(trunkToken, "SKBP/1 trunk-bind" || dir || sid || u64(stamp))[0..16]
//                ; dir = "home>peer" from the home broker's relay, "peer>home" from the other: a
//                ; relay's own bind reflected back to it fails (both relays hold the token)
//                ; the trunk token (drawn by the home broker, sent over the peer channel and the
//                ; control channels) is the key: trunk binds no longer carry it
// A relay takes a proven bind only with a stamp within kBindWindowMs of its clock and above the
// binding's last one, so a bind seen on the wire cannot be replayed to move the binding.
constexpr qint64 kBindWindowMs = 30000;
SecretBytes grantKey(QByteArrayView secret, QByteArrayView sid, quint32 ssrc, QByteArrayView token);
QByteArray bindProof(const SecretBytes &grantKey, QByteArrayView sid, quint32 ssrc, QByteArrayView token, quint64 stamp);
QByteArray trunkProof(QByteArrayView trunkToken, QByteArrayView sid, quint64 stamp, bool fromHome);
// A whole proven-bind datagram (relaywire::encodeProvenBind) for this grant and stamp; empty for
// fields of the wrong size.
QByteArray provenBind(QByteArrayView sid, quint32 ssrc, QByteArrayView token, const SecretBytes &grantKey, quint64 stamp);
// Whether `stamp` (ms) is within kBindWindowMs of `nowMs`.
bool freshStamp(quint64 stamp, qint64 nowMs);

// Mutual proof of the secret over both nonces; role is "broker" or "relay".
QByteArray controlProof(QByteArrayView secret, QByteArrayView role, QByteArrayView relayNonce, QByteArrayView brokerNonce);
// The control channel's MAC keys, one per direction. Empty (both) when OpenSSL failed.
struct ControlKeys
{
    SecretBytes brokerToRelay;
    SecretBytes relayToBroker;
    bool isEmpty() const { return brokerToRelay.isEmpty() || relayToBroker.isEmpty(); }
};
ControlKeys controlKeys(QByteArrayView secret, QByteArrayView relayNonce, QByteArrayView brokerNonce);

// A control frame's body after the handshake: the map and its MAC for this sequence number.
QByteArray sealFrame(const SecretBytes &key, quint64 seq, const QCborMap &message);
// The map, or std::nullopt for a bad MAC, a short frame or a body that is not one CBOR map.
std::optional<QCborMap> openFrame(const SecretBytes &key, quint64 seq, QByteArrayView frame);

} // namespace sotto::relayauth
