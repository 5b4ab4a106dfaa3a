#include "core/wire.h"

#include "core/invite.h"
#include "core/skbp.h"

#include <QCborArray>
#include <QHostAddress>
#include <QCborStreamReader>
#include <QCborValue>
#include <QtEndian>

#include <iterator>
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

enum class Field { Text, Account, Address, U32, Sid, Wrapped, Bytes, Proof, Token, Bool, Peers, Relay, Array, Map, HostPorts, HostPort };

struct FieldSpec
{
    QLatin1StringView key;
    Field type;
    bool required;
};

struct Schema
{
    MessageType type;
    QLatin1StringView name;
    std::span<const FieldSpec> fields;
};

constexpr FieldSpec kConfirm[] = {{key::id, Field::U32, false}};
constexpr FieldSpec kLogin[] = {{key::client, Field::Text, true}};
constexpr FieldSpec kWelcome[] = {{key::epoch, Field::U32, true},
                                  {key::broker, Field::Text, true},
                                  {key::fp, Field::Text, true},
                                  {key::refresh_in, Field::U32, false},
                                  {key::brokers, Field::HostPorts, false}};
constexpr FieldSpec kDirectory[] = {{key::id, Field::U32, false}, {key::accounts, Field::Array, false},
                                    {key::more, Field::Bool, false}};
constexpr FieldSpec kOk[] = {{key::id, Field::U32, true}};
constexpr FieldSpec kPresence[] = {{key::account, Field::Address, true}, {key::online, Field::Bool, true}};
constexpr FieldSpec kCall[] = {{key::id, Field::U32, false}, {key::to, Field::Address, true}};
constexpr FieldSpec kCallKey[] = {{key::id, Field::U32, false},  {key::sid, Field::Sid, true},
                                  {key::callee, Field::Address, true}, {key::epoch, Field::U32, true},
                                  {key::gen, Field::U32, true},  {key::wrapped, Field::Wrapped, true},
                                  {key::ssrc, Field::U32, true}, {key::relay, Field::Relay, true},
                                  {key::via, Field::Account, false}};
constexpr FieldSpec kIncoming[] = {{key::sid, Field::Sid, true},    {key::from, Field::Address, true},
                                   {key::epoch, Field::U32, false}, {key::gen, Field::U32, true},
                                   {key::ssrc, Field::U32, true},   {key::peers, Field::Peers, true},
                                   {key::relay, Field::Relay, true},   {key::via, Field::Account, false}};
constexpr FieldSpec kAnswer[] = {{key::id, Field::U32, false}, {key::sid, Field::Sid, true}};
constexpr FieldSpec kAnswered[] = {{key::sid, Field::Sid, true}, {key::peers, Field::Peers, true}};
constexpr FieldSpec kEnded[] = {{key::sid, Field::Sid, true}, {key::reason, Field::Text, true}};
constexpr FieldSpec kInvite[] = {{key::id, Field::U32, false}, {key::sid, Field::Sid, true},
                                 {key::who, Field::Address, true}};
constexpr FieldSpec kSessionKey[] = {{key::sid, Field::Sid, true}, {key::gen, Field::U32, true},
                                     {key::wrapped, Field::Wrapped, true},
                                     {key::peers, Field::Peers, false}, {key::via, Field::Account, false}};
constexpr FieldSpec kJoined[] = {{key::sid, Field::Sid, true}, {key::who, Field::Address, true},
                                 {key::ssrc, Field::U32, true}, {key::gen, Field::U32, true}};
constexpr FieldSpec kLeft[] = {{key::sid, Field::Sid, true}, {key::who, Field::Address, true},
                               {key::gen, Field::U32, false}};
constexpr FieldSpec kRekey[] = {{key::sid, Field::Sid, true}, {key::gen, Field::U32, true},
                                {key::wrapped, Field::Wrapped, true}, {key::via, Field::Account, false}};
// Extensions (docs/PROTOCOL.md): who rings in a call, and who is muted.
constexpr FieldSpec kRinging[] = {{key::sid, Field::Sid, true}, {key::who, Field::Address, true}};
constexpr FieldSpec kMute[] = {{key::id, Field::U32, false}, {key::sid, Field::Sid, true}, {key::muted, Field::Bool, true}};
constexpr FieldSpec kMuted[] = {{key::sid, Field::Sid, true}, {key::who, Field::Address, true}, {key::muted, Field::Bool, true}};
// Between peered brokers (§8).
constexpr FieldSpec kFedCall[] = {{key::sid, Field::Sid, true}, {key::from, Field::Account, true},
                                  {key::to, Field::Account, true}, {key::trunk, Field::Token, true},
                                  {key::relay_at, Field::HostPort, false}};
constexpr FieldSpec kFedCallKey[] = {{key::sid, Field::Sid, true}, {key::epoch, Field::U32, true},
                                     {key::gen, Field::U32, true}, {key::wrapped, Field::Wrapped, true}};
constexpr FieldSpec kFedError[] = {{key::sid, Field::Sid, true}, {key::code, Field::Text, true},
                                   {key::msg, Field::Text, false}};
constexpr FieldSpec kDeliver[] = {{key::to, Field::Account, true}, {key::msg, Field::Map, true},
                                  {key::trunk, Field::Token, false}, {key::relay_at, Field::HostPort, false}};
constexpr FieldSpec kRequest[] = {{key::from, Field::Account, true}, {key::msg, Field::Map, true}};
constexpr FieldSpec kRotate[] = {{key::epoch, Field::U32, true}, {key::wrapped, Field::Wrapped, true}};
constexpr FieldSpec kRotateAck[] = {{key::epoch, Field::U32, true}, {key::proof, Field::Proof, true}};
constexpr FieldSpec kError[] = {{key::code, Field::Text, true}, {key::msg, Field::Text, false}, {key::fp, Field::Text, false},
                                {key::id, Field::U32, false}};
constexpr FieldSpec kEnrolled[] = {{key::epoch, Field::U32, true}};

// Messages whose fields are another's.
constexpr const auto &kDecline = kAnswer;
constexpr const auto &kLeave = kAnswer;
constexpr const auto &kResume = kAnswer; // {"t":"resume","id"?,"sid"}: a call this phone kept
constexpr const auto &kRefreshDue = kConfirm;
constexpr const auto &kPing = kConfirm;

// One row per message, in MessageType's order (the X-macro writes both), so a type's schema is
// kSchemas[type]. A message without a field list above does not compile.
constexpr Schema kSchemas[] = {
#define SOTTO_X(name, text) {MessageType::name, QLatin1StringView(text), k##name},
    SOTTO_SKBP_MESSAGES(SOTTO_X)
#undef SOTTO_X
};
static_assert(std::size(kSchemas) == kMessageTypeCount);

const Schema &schemaOf(MessageType type)
{
    return kSchemas[std::size_t(type)];
}

bool isU32(const QCborValue &v)
{
    return v.isInteger() && v.toInteger() >= 0 && v.toInteger() <= 0xffffffffLL;
}

// A session has at most 16 members; a peers list longer than this is not one.
constexpr qsizetype kMaxPeers = 64;

bool checkPeers(const QCborValue &v)
{
    if (!v.isArray())
        return false;
    const QCborArray a = v.toArray();
    if (a.size() > kMaxPeers)
        return false;
    for (const QCborValue &p : a) {
        if (!p.isMap())
            return false;
        const QCborMap m = p.toMap();
        const QCborValue acc = m.value(key::account);
        if (!acc.isString() || !skbp::isValidAddress(acc.toString())
            || !isU32(m.value(key::ssrc)))
            return false;
    }
    return true;
}

// Broker instances of one store (extension: active/standby): a few "HOST:PORT" texts.
constexpr qsizetype kMaxBrokers = 16;

bool checkHostPorts(const QCborValue &v)
{
    if (!v.isArray() || v.toArray().size() > kMaxBrokers)
        return false;
    for (const QCborValue &a : v.toArray()) {
        if (!a.isString() || a.toString().size() > 270)
            return false;
        const auto hostPort = parseHostPort(a.toString(), 0);
        if (!hostPort || hostPort->first.isEmpty() || hostPort->second == 0)
            return false;
    }
    return true;
}

// A relay of its own (extension): a literal address, no name to look up.
bool isLiteralAddress(const QCborValue &v)
{
    return v.isString() && v.toString().size() <= 64 && !QHostAddress(v.toString()).isNull();
}

bool checkHostPort(const QCborValue &v)
{
    if (!v.isString() || v.toString().size() > 70)
        return false;
    const auto hostPort = parseHostPort(v.toString(), 0);
    return hostPort && hostPort->second != 0 && !QHostAddress(hostPort->first).isNull();
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
        return v.isByteArray() && v.toByteArray().size() == skbp::kProofSize;
    case Field::Token:
        return v.isByteArray() && v.toByteArray().size() == skbp::kTokenSize;
    case Field::Bytes:
        return v.isByteArray();
    case Field::Bool:
        return v.isBool();
    case Field::Array:
        return v.isArray();
    case Field::Peers:
        return checkPeers(v);
    case Field::HostPorts:
        return checkHostPorts(v);
    case Field::HostPort:
        return checkHostPort(v);
    case Field::Relay: {
        if (!v.isMap())
            return false;
        const QCborMap m = v.toMap();
        const QCborValue port = m.value(key::port);
        const QCborValue token = m.value(key::token);
        if (m.contains(key::host) && !isLiteralAddress(m.value(key::host)))
            return false;
        if (m.contains(key::key) && (!m.value(key::key).isByteArray() || m.value(key::key).toByteArray().size() != skbp::kKeySize))
            return false;
        return isU32(port) && port.toInteger() <= 65535 && token.isByteArray()
            && token.toByteArray().size() == skbp::kTokenSize;
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

Message::Message(MessageType type, QCborMap map) : m_type(type), m_map(std::move(map)) {}

QLatin1StringView Message::typeName() const
{
    return messageTypeName(m_type);
}

QLatin1StringView messageTypeName(MessageType type)
{
    return schemaOf(type).name;
}

std::optional<MessageType> messageTypeFromName(QStringView name)
{
    for (const Schema &s : kSchemas) {
        if (name == s.name)
            return s.type;
    }
    return std::nullopt;
}

std::optional<quint32> Message::id() const
{
    const QCborValue v = m_map.value(key::id);
    if (!isU32(v))
        return std::nullopt;
    return quint32(v.toInteger());
}

QCborMap message(MessageType type)
{
    QCborMap m;
    m.insert(key::t, QString(messageTypeName(type)));
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
        QCborMap m = message(MessageType::Directory);
        if (id)
            m.insert(key::id, qint64(*id));
        m.insert(key::accounts, page);
        if (more)
            m.insert(key::more, true);
        pages.push_back(std::move(m));
        page = QCborArray();
        size = 0;
    };
    for (const QCborValue &entry : accounts) {
        const qsizetype entrySize = entry.toMap().value(key::account).toString().toUtf8().size() + 24;
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

Result<Message> validateMessage(QCborMap map)
{
    const QCborValue t = map.value(key::t);
    if (!t.isString())
        return badRequest(QStringLiteral("message has no text \"t\""));
    const auto type = messageTypeFromName(t.toString());
    if (!type)
        return badRequest(QStringLiteral("unknown message type"));
    for (const FieldSpec &f : schemaOf(*type).fields) {
        const QCborValue fv = map.value(f.key);
        if (fv.isUndefined() && !f.required)
            continue;
        if (!checkField(fv, f.type))
            return badRequest(QStringLiteral("%1: bad or missing field \"%2\"").arg(t.toString(), f.key));
    }
    return Message(*type, std::move(map));
}

Result<Message> decodeMessage(QByteArrayView body)
{
    auto decoded = decodeMap(body);
    if (!decoded)
        return decoded.error();
    return validateMessage(std::move(*decoded));
}

bool isUnknownType(QByteArrayView body)
{
    auto decoded = decodeMap(body);
    if (!decoded)
        return false;
    const QCborValue t = decoded->value(key::t);
    if (!t.isString())
        return false;
    return !messageTypeFromName(t.toString());
}

QCborMap errorMessage(ErrorCode code, const QString &msg, std::optional<quint32> id)
{
    QCborMap m = message(MessageType::Error);
    m.insert(key::code, errorCodeName(code));
    m.insert(key::msg, msg);
    if (id)
        m.insert(key::id, qint64(*id));
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
        m.insert(key::fp, brokerFingerprint);
    return char(kErrorTag) + encodeMessage(m);
}

QString cleartextErrorFingerprint(QByteArrayView body)
{
    if (body.isEmpty() || quint8(body[0]) != kErrorTag)
        return {};
    auto m = decodeMessage(body.sliced(1));
    if (!m || m->type() != MessageType::Error)
        return {};
    const QString fp = m->text(key::fp);
    return fp.size() <= 64 ? fp : QString();
}

std::optional<Error> decodeCleartextError(QByteArrayView body)
{
    if (body.isEmpty() || quint8(body[0]) != kErrorTag)
        return std::nullopt;
    auto m = decodeMessage(body.sliced(1));
    if (!m || m->type() != MessageType::Error)
        return std::nullopt;
    return Error{errorCodeFromName(m->text(key::code)), m->text(key::msg)};
}

} // namespace sotto::wire
