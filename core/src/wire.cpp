#include "core/wire.h"

#include "core/skbp.h"

#include <QCborArray>
#include <QCborStreamReader>
#include <QCborValue>
#include <QtEndian>

#include <array>
#include <span>

namespace sotto::wire {

namespace {

Error badRequest(const QString &msg)
{
    return makeError(ErrorCode::BadRequest, msg);
}

// Reads lp(account) from the front of `in`; advances it.
Result<QString> readAccount(QByteArrayView &in)
{
    if (in.isEmpty())
        return badRequest(QStringLiteral("truncated account"));
    const int len = quint8(in[0]);
    if (in.size() < 1 + len)
        return badRequest(QStringLiteral("truncated account"));
    const QString account = QString::fromUtf8(in.sliced(1, len));
    if (!skbp::isValidAccount(account) || account.toUtf8().size() != len)
        return badRequest(QStringLiteral("invalid account name"));
    in = in.sliced(1 + len);
    return account;
}

enum class Field { Text, Account, Address, U32, Sid, Wrapped, Bytes, Proof, Token, Bool, Peers, Relay, Array, Map };

struct FieldSpec
{
    const char *key;
    Field type;
    bool required;
};

struct Schema
{
    const char *type;
    std::span<const FieldSpec> fields;
};

constexpr FieldSpec kNone[] = {{"id", Field::U32, false}};
constexpr FieldSpec kLogin[] = {{"client", Field::Text, true}};
constexpr FieldSpec kWelcome[] = {{"epoch", Field::U32, true},
                                  {"broker", Field::Text, true},
                                  {"fp", Field::Text, true},
                                  {"refresh_in", Field::U32, false}};
constexpr FieldSpec kDirectory[] = {{"id", Field::U32, false}, {"accounts", Field::Array, false},
                                    {"more", Field::Bool, false}};
constexpr FieldSpec kOk[] = {{"id", Field::U32, true}};
constexpr FieldSpec kPresence[] = {{"account", Field::Address, true}, {"online", Field::Bool, true}};
constexpr FieldSpec kCall[] = {{"id", Field::U32, false}, {"to", Field::Address, true}};
constexpr FieldSpec kCallKey[] = {{"id", Field::U32, false},  {"sid", Field::Sid, true},
                                  {"callee", Field::Address, true}, {"epoch", Field::U32, true},
                                  {"gen", Field::U32, true},  {"wrapped", Field::Wrapped, true},
                                  {"ssrc", Field::U32, true}, {"relay", Field::Relay, true},
                                  {"via", Field::Account, false}};
constexpr FieldSpec kIncoming[] = {{"sid", Field::Sid, true},    {"from", Field::Address, true},
                                   {"epoch", Field::U32, false}, {"gen", Field::U32, true},
                                   {"ssrc", Field::U32, true},   {"peers", Field::Peers, true},
                                   {"relay", Field::Relay, true}};
constexpr FieldSpec kSidOnly[] = {{"id", Field::U32, false}, {"sid", Field::Sid, true}};
constexpr FieldSpec kAnswered[] = {{"sid", Field::Sid, true}, {"peers", Field::Peers, true}};
constexpr FieldSpec kEnded[] = {{"sid", Field::Sid, true}, {"reason", Field::Text, true}};
constexpr FieldSpec kInvite[] = {{"id", Field::U32, false}, {"sid", Field::Sid, true},
                                 {"who", Field::Address, true}};
constexpr FieldSpec kSessionKey[] = {{"sid", Field::Sid, true}, {"gen", Field::U32, true},
                                     {"wrapped", Field::Wrapped, true},
                                     {"peers", Field::Peers, false}, {"via", Field::Account, false}};
constexpr FieldSpec kJoined[] = {{"sid", Field::Sid, true}, {"who", Field::Address, true},
                                 {"ssrc", Field::U32, true}, {"gen", Field::U32, true}};
constexpr FieldSpec kLeft[] = {{"sid", Field::Sid, true}, {"who", Field::Address, true},
                               {"gen", Field::U32, false}};
constexpr FieldSpec kRekey[] = {{"sid", Field::Sid, true}, {"gen", Field::U32, true},
                                {"wrapped", Field::Wrapped, true}, {"via", Field::Account, false}};
// Extensions (docs/PROTOCOL.md): who rings in a call, and who is muted.
constexpr FieldSpec kRinging[] = {{"sid", Field::Sid, true}, {"who", Field::Address, true}};
constexpr FieldSpec kMute[] = {{"id", Field::U32, false}, {"sid", Field::Sid, true}, {"muted", Field::Bool, true}};
constexpr FieldSpec kMuted[] = {{"sid", Field::Sid, true}, {"who", Field::Address, true}, {"muted", Field::Bool, true}};
// Between peered brokers (§8).
constexpr FieldSpec kFedCall[] = {{"sid", Field::Sid, true}, {"from", Field::Account, true},
                                  {"to", Field::Account, true}, {"trunk", Field::Token, true}};
constexpr FieldSpec kFedCallKey[] = {{"sid", Field::Sid, true}, {"epoch", Field::U32, true},
                                     {"gen", Field::U32, true}, {"wrapped", Field::Wrapped, true}};
constexpr FieldSpec kFedError[] = {{"sid", Field::Sid, true}, {"code", Field::Text, true},
                                   {"msg", Field::Text, false}};
constexpr FieldSpec kDeliver[] = {{"to", Field::Account, true}, {"msg", Field::Map, true},
                                  {"trunk", Field::Token, false}};
constexpr FieldSpec kRequest[] = {{"from", Field::Account, true}, {"msg", Field::Map, true}};
constexpr FieldSpec kRotate[] = {{"epoch", Field::U32, true}, {"wrapped", Field::Wrapped, true}};
constexpr FieldSpec kRotateAck[] = {{"epoch", Field::U32, true}, {"proof", Field::Proof, true}};
constexpr FieldSpec kError[] = {{"code", Field::Text, true}, {"msg", Field::Text, false}, {"fp", Field::Text, false},
                                {"id", Field::U32, false}};
constexpr FieldSpec kEnrolled[] = {{"epoch", Field::U32, true}};

constexpr std::array<Schema, 33> kSchemas{{
    {"login", kLogin},
    {"welcome", kWelcome},
    {"directory", kDirectory},
    {"presence", kPresence},
    {"call", kCall},
    {"call_key", kCallKey},
    {"incoming", kIncoming},
    {"answer", kSidOnly},
    {"decline", kSidOnly},
    {"answered", kAnswered},
    {"ended", kEnded},
    {"invite", kInvite},
    {"session_key", kSessionKey},
    {"joined", kJoined},
    {"left", kLeft},
    {"rekey", kRekey},
    {"leave", kSidOnly},
    {"rotate", kRotate},
    {"rotate_ack", kRotateAck},
    {"error", kError},
    {"confirm", kNone},
    {"enrolled", kEnrolled},
    {"refresh_due", kNone},
    {"ping", kNone},
    {"ok", kOk},
    {"fcall", kFedCall},
    {"fcall_key", kFedCallKey},
    {"ferror", kFedError},
    {"deliver", kDeliver},
    {"request", kRequest},
    {"ringing", kRinging},
    {"mute", kMute},
    {"muted", kMuted},
}};

bool isU32(const QCborValue &v)
{
    return v.isInteger() && v.toInteger() >= 0 && v.toInteger() <= 0xffffffffLL;
}

bool checkPeers(const QCborValue &v)
{
    if (!v.isArray())
        return false;
    const QCborArray a = v.toArray();
    if (a.size() > 64)
        return false;
    for (const QCborValue &p : a) {
        if (!p.isMap())
            return false;
        const QCborMap m = p.toMap();
        const QCborValue acc = m.value(QLatin1StringView("account"));
        if (!acc.isString() || !skbp::isValidAddress(acc.toString())
            || !isU32(m.value(QLatin1StringView("ssrc"))))
            return false;
    }
    return true;
}

bool checkField(const QCborValue &v, Field type)
{
    switch (type) {
    case Field::Text:
        return v.isString();
    case Field::Account:
        return v.isString() && skbp::isValidAccount(v.toString());
    case Field::Address:
        return v.isString() && skbp::isValidAddress(v.toString());
    case Field::Map:
        return v.isMap();
    case Field::U32:
        return isU32(v);
    case Field::Sid:
        return v.isByteArray() && v.toByteArray().size() == skbp::kSidSize;
    case Field::Wrapped:
        return v.isByteArray() && v.toByteArray().size() == skbp::kWrappedSize;
    case Field::Proof:
        return v.isByteArray() && v.toByteArray().size() == 32;
    case Field::Token:
        return v.isByteArray() && v.toByteArray().size() == 16;
    case Field::Bytes:
        return v.isByteArray();
    case Field::Bool:
        return v.isBool();
    case Field::Array:
        return v.isArray();
    case Field::Peers:
        return checkPeers(v);
    case Field::Relay: {
        if (!v.isMap())
            return false;
        const QCborMap m = v.toMap();
        const QCborValue port = m.value(QLatin1StringView("port"));
        const QCborValue token = m.value(QLatin1StringView("token"));
        return isU32(port) && port.toInteger() <= 65535 && token.isByteArray()
            && token.toByteArray().size() == 16;
    }
    }
    return false;
}

} // namespace

QByteArray frame(QByteArrayView body)
{
    if (body.isEmpty() || body.size() > kMaxFrame)
        return {};
    QByteArray out(2, Qt::Uninitialized);
    qToBigEndian(quint16(body.size()), out.data());
    out.append(body);
    return out;
}

std::optional<Result<QByteArray>> FrameReader::next()
{
    const qsizetype avail = m_buffer.size() - m_offset;
    if (avail < 2)
        return std::nullopt;
    const quint16 len = qFromBigEndian<quint16>(m_buffer.constData() + m_offset);
    if (len == 0)
        return Result<QByteArray>(badRequest(QStringLiteral("zero-length frame")));
    if (avail < 2 + len)
        return std::nullopt;
    QByteArray body = m_buffer.mid(m_offset + 2, len);
    m_offset += 2 + len;
    if (m_offset == m_buffer.size()) {
        m_buffer.clear();
        m_offset = 0;
    } else if (m_offset > 65536) {
        m_buffer.remove(0, m_offset);
        m_offset = 0;
    }
    return Result<QByteArray>(std::move(body));
}

QByteArray encodeEnroll1(const Enroll1 &m, quint8 tag)
{
    return char(tag) + skbp::lp(m.account) + skbp::u32(m.epoch) + m.noiseMessage;
}

Result<Enroll1> decodeEnroll1(QByteArrayView body, quint8 tag)
{
    if (body.isEmpty() || quint8(body[0]) != tag)
        return badRequest(QStringLiteral("not an enrolment frame"));
    QByteArrayView rest = body.sliced(1);
    auto account = readAccount(rest);
    if (!account)
        return account.error();
    // e (32) + encrypted payload (at least the 16-byte tag)
    if (rest.size() < 4 + 32 + 16)
        return badRequest(QStringLiteral("truncated enrolment frame"));
    return Enroll1{*account, qFromBigEndian<quint32>(rest.data()), rest.sliced(4).toByteArray()};
}

QByteArray encodeEnroll2(QByteArrayView noiseMessage, quint8 tag)
{
    return char(tag) + noiseMessage.toByteArray();
}

Result<QByteArray> decodeEnroll2(QByteArrayView body, quint8 tag)
{
    if (body.size() < 1 + 32 + 16 || quint8(body[0]) != tag)
        return badRequest(QStringLiteral("bad enrolment answer"));
    return body.sliced(1).toByteArray();
}

QByteArray encodeHello(const Hello &m, quint8 tag)
{
    return char(tag) + skbp::lp(m.account) + skbp::u32(m.epoch) + m.nonce;
}

Result<Hello> decodeHello(QByteArrayView body, quint8 tag)
{
    if (body.isEmpty() || quint8(body[0]) != tag)
        return badRequest(QStringLiteral("not a login frame"));
    QByteArrayView rest = body.sliced(1);
    auto account = readAccount(rest);
    if (!account)
        return account.error();
    if (rest.size() != 4 + skbp::kNonceSize)
        return badRequest(QStringLiteral("bad login frame length"));
    return Hello{*account, qFromBigEndian<quint32>(rest.data()), rest.sliced(4).toByteArray()};
}

QByteArray encodeChallenge(QByteArrayView nonce, quint8 tag)
{
    return char(tag) + nonce.toByteArray();
}

Result<QByteArray> decodeChallenge(QByteArrayView body, quint8 tag)
{
    if (body.size() != 1 + skbp::kNonceSize || quint8(body[0]) != tag)
        return badRequest(QStringLiteral("bad login challenge"));
    return body.sliced(1).toByteArray();
}

Message::Message(QCborMap map)
    : m_type(map.value(QLatin1StringView("t")).toString()), m_map(std::move(map))
{
}

std::optional<quint32> Message::id() const
{
    const QCborValue v = m_map.value(QLatin1StringView("id"));
    if (!isU32(v))
        return std::nullopt;
    return quint32(v.toInteger());
}

QCborMap message(QLatin1StringView type)
{
    QCborMap m;
    m.insert(QLatin1StringView("t"), QString(type));
    return m;
}

std::vector<QCborMap> directoryPages(const QCborArray &accounts, std::optional<quint32> id)
{
    // Each entry {"account": text, "online": bool} encodes to its name's length plus at most 19
    // bytes; 24 leaves room. A page's own fields take under 64 bytes.
    constexpr qsizetype kBudget = kMaxSealedPlaintext - 512;
    std::vector<QCborMap> pages;
    QCborArray page;
    qsizetype size = 0;
    auto emitPage = [&](bool more) {
        QCborMap m = message(QLatin1StringView("directory"));
        if (id)
            m.insert(QLatin1StringView("id"), qint64(*id));
        m.insert(QLatin1StringView("accounts"), page);
        if (more)
            m.insert(QLatin1StringView("more"), true);
        pages.push_back(std::move(m));
        page = QCborArray();
        size = 0;
    };
    for (const QCborValue &entry : accounts) {
        const qsizetype entrySize = entry.toMap().value(QLatin1StringView("account")).toString().toUtf8().size() + 24;
        if (size + entrySize > kBudget && !page.isEmpty())
            emitPage(true);
        page.append(entry);
        size += entrySize;
    }
    emitPage(false);
    return pages;
}

QByteArray encodeMessage(const QCborMap &map)
{
    return map.toCborValue().toCbor();
}

Result<QCborMap> decodeMap(QByteArrayView body)
{
    QCborStreamReader reader(body.data(), body.size());
    const QCborValue v = QCborValue::fromCbor(reader);
    if (reader.lastError() != QCborError::NoError)
        return badRequest(QStringLiteral("malformed CBOR: %1").arg(reader.lastError().toString()));
    if (reader.currentOffset() != body.size())
        return badRequest(QStringLiteral("trailing bytes after CBOR message"));
    if (!v.isMap())
        return badRequest(QStringLiteral("message is not a CBOR map"));
    return v.toMap();
}

Result<Message> decodeMessage(QByteArrayView body)
{
    auto decoded = decodeMap(body);
    if (!decoded)
        return decoded.error();
    QCborMap map = std::move(decoded.value());
    const QCborValue t = map.value(QLatin1StringView("t"));
    if (!t.isString())
        return badRequest(QStringLiteral("message has no text \"t\""));
    const QString type = t.toString();
    for (const Schema &s : kSchemas) {
        if (type != QLatin1StringView(s.type))
            continue;
        for (const FieldSpec &f : s.fields) {
            const QCborValue fv = map.value(QLatin1StringView(f.key));
            if (fv.isUndefined() && !f.required)
                continue;
            if (!checkField(fv, f.type))
                return badRequest(QStringLiteral("%1: bad or missing field \"%2\"")
                                      .arg(type, QLatin1StringView(f.key)));
        }
        return Message(std::move(map));
    }
    return badRequest(QStringLiteral("unknown message type"));
}

bool isUnknownType(QByteArrayView body)
{
    auto decoded = decodeMap(body);
    if (!decoded)
        return false;
    const QCborValue t = decoded->value(QLatin1StringView("t"));
    if (!t.isString())
        return false;
    const QString type = t.toString();
    for (const Schema &s : kSchemas) {
        if (type == QLatin1StringView(s.type))
            return false;
    }
    return true;
}

QCborMap errorMessage(ErrorCode code, const QString &msg, std::optional<quint32> id)
{
    QCborMap m = message(QLatin1StringView("error"));
    m.insert(QLatin1StringView("code"), errorCodeName(code));
    m.insert(QLatin1StringView("msg"), msg);
    if (id)
        m.insert(QLatin1StringView("id"), qint64(*id));
    return m;
}

QByteArray encodeError(ErrorCode code, const QString &msg, std::optional<quint32> id)
{
    return encodeMessage(errorMessage(code, msg, id));
}

QByteArray encodeCleartextError(ErrorCode code, const QString &msg, const QString &brokerFingerprint)
{
    QCborMap m = errorMessage(code, msg);
    if (!brokerFingerprint.isEmpty())
        m.insert(QLatin1StringView("fp"), brokerFingerprint);
    return char(kErrorTag) + encodeMessage(m);
}

QString cleartextErrorFingerprint(QByteArrayView body)
{
    if (body.isEmpty() || quint8(body[0]) != kErrorTag)
        return {};
    auto m = decodeMessage(body.sliced(1));
    if (!m || m->type() != QLatin1StringView("error"))
        return {};
    const QString fp = m->text(QLatin1StringView("fp"));
    return fp.size() <= 64 ? fp : QString();
}

std::optional<Error> decodeCleartextError(QByteArrayView body)
{
    if (body.isEmpty() || quint8(body[0]) != kErrorTag)
        return std::nullopt;
    auto m = decodeMessage(body.sliced(1));
    if (!m || m->type() != QLatin1StringView("error"))
        return std::nullopt;
    return Error{errorCodeFromName(m->text(QLatin1StringView("code"))),
                 m->text(QLatin1StringView("msg"))};
}

} // namespace sotto::wire
