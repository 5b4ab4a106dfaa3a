#pragma once

// SKBP/1 wire formats (PROTOCOL.md §3–§6): the frame codec, the cleartext opening frames and the
// CBOR message codec. One codec for broker and phone.
//
//   frame      = u16(length) body                    ; 1 <= length <= 65535
//   enroll1    = 0x01 lp(account) u32(epoch) noise_msg1
//   enroll2    = 0x01 noise_msg2
//   hello      = 0x02 lp(account) u32(epoch) n_c     ; n_c: 16 bytes
//   challenge  = 0x02 n_b                            ; n_b: 16 bytes
//   error      = 0xEE cbor-map{"t":"error","code":text,"msg":text}
//   sealed     = AEAD(k_dir, 0^4 || u64(counter), "", cbor-map)   ; after login / handshake
//   cbor-map   = {"t": text, ...}                    ; text keys, unknown keys ignored

#include "core/messages.h"
#include "core/result.h"

#include <QByteArray>
#include <QCborArray>
#include <QCborMap>
#include <QString>

#include <optional>
#include <vector>

namespace sotto::wire {

constexpr quint8 kEnrollTag = 0x01;
constexpr quint8 kLoginTag = 0x02;
// Federation (§8; extension): the inter-broker key handshake (Noise KKpsk0) and the peers'
// session channel. Same frames as 0x01 and 0x02 with the initiating broker's name as the account.
constexpr quint8 kFederateTag = 0x03;
constexpr quint8 kPeerLoginTag = 0x04;
constexpr quint8 kErrorTag = 0xEE;
constexpr int kMaxFrame = 65535;
// The largest CBOR message a sealed frame can carry (the AEAD tag takes 16 bytes).
constexpr int kMaxSealedPlaintext = kMaxFrame - 16;

// Prefixes the body with its u16 length. Empty or over-long bodies are a programming error and
// give an empty result.
QByteArray frame(QByteArrayView body);

// Incremental frame splitter for a byte stream. Never trusts the length: a zero length is an
// error; a length is honoured only once all its bytes have arrived.
class FrameReader
{
public:
    void append(QByteArrayView bytes) { m_buffer.append(bytes); }
    // The next complete frame body, std::nullopt if more bytes are needed, or an error.
    std::optional<Result<QByteArray>> next();
    // True while part of a frame has arrived but not all of it.
    bool hasPartialFrame() const { return !m_buffer.isEmpty(); }

private:
    QByteArray m_buffer;
    qsizetype m_offset = 0;
};

struct Enroll1
{
    QString account;
    quint32 epoch = 0;
    QByteArray noiseMessage;
};
struct Hello
{
    QString account;
    quint32 epoch = 0;
    QByteArray nonce;
};

QByteArray encodeEnroll1(const Enroll1 &m, quint8 tag = kEnrollTag);
Result<Enroll1> decodeEnroll1(QByteArrayView body, quint8 tag = kEnrollTag);
QByteArray encodeEnroll2(QByteArrayView noiseMessage, quint8 tag = kEnrollTag);
Result<QByteArray> decodeEnroll2(QByteArrayView body, quint8 tag = kEnrollTag);
QByteArray encodeHello(const Hello &m, quint8 tag = kLoginTag);
Result<Hello> decodeHello(QByteArrayView body, quint8 tag = kLoginTag);
QByteArray encodeChallenge(QByteArrayView nonce, quint8 tag = kLoginTag);
Result<QByteArray> decodeChallenge(QByteArrayView body, quint8 tag = kLoginTag);

// A decoded, schema-checked message: every field the schema of its "t" names has the right CBOR
// type (and size, for byte strings); accessors may then be used without further checks.
class Message
{
public:
    // Only validateMessage() makes one whose map passed `type`'s schema.
    Message(MessageType type, QCborMap map);
    MessageType type() const { return m_type; }
    QLatin1StringView typeName() const;
    const QCborMap &map() const { return m_map; }

    bool has(QLatin1StringView key) const { return m_map.contains(key); }
    QString text(QLatin1StringView key) const { return m_map.value(key).toString(); }
    quint32 u32(QLatin1StringView key) const { return quint32(m_map.value(key).toInteger()); }
    QByteArray bytes(QLatin1StringView key) const { return m_map.value(key).toByteArray(); }
    bool boolean(QLatin1StringView key) const { return m_map.value(key).toBool(); }
    std::optional<quint32> id() const;

private:
    MessageType m_type;
    QCborMap m_map;
};

QByteArray encodeMessage(const QCborMap &map);
// A directory answer (§6.2) as pages that each fit a sealed frame, in order: every page but the
// last carries "more": true, all carry `id`. One (empty) page for an empty list.
//   directory = {"t":"directory", ?"id":u32, "accounts":[{"account":address,"online":bool}...], ?"more":true}
std::vector<QCborMap> directoryPages(const QCborArray &accounts, std::optional<quint32> id);
// Exactly one CBOR map and nothing after it (no schema; for handshake payloads).
Result<QCborMap> decodeMap(QByteArrayView body);
// Fails with BadRequest for anything but exactly one CBOR map with a text "t" that passes the
// schema of that type; unknown types fail too.
Result<Message> decodeMessage(QByteArrayView body);
// The same for a map already decoded (a message carried inside another: deliver, request).
Result<Message> validateMessage(QCborMap map);
// True for a well-formed map whose "t" names no type this build knows: a newer peer's extension,
// which a phone ignores (PROTOCOL.md, Extensions) instead of dropping the channel.
bool isUnknownType(QByteArrayView body);

QByteArray encodeError(ErrorCode code, const QString &msg, std::optional<quint32> id = {});
QCborMap errorMessage(ErrorCode code, const QString &msg, std::optional<quint32> id = {});
// A cleartext error frame body (0xEE || CBOR).
// `brokerFingerprint`: an enrolment refusal names the broker's own (public) key, so that a phone
// tells a wrong invite from a wrong broker; the same for every refusal, whatever the account.
QByteArray encodeCleartextError(ErrorCode code, const QString &msg, const QString &brokerFingerprint = {});
// The "fp" of a cleartext error frame; empty when it has none.
QString cleartextErrorFingerprint(QByteArrayView body);
std::optional<Error> decodeCleartextError(QByteArrayView body);

} // namespace sotto::wire
