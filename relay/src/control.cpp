#include "relay/control.h"

#include "core/skbp.h"

#include <QCborValue>

namespace sotto::relay::control {

namespace {

const QString kT = QStringLiteral("t");

struct KindName
{
    Order::Kind kind;
    QLatin1StringView name;
};
constexpr KindName kKinds[] = {
#define SOTTO_X(name, text) {Order::Kind::name, QLatin1StringView(text)},
    SOTTO_RELAY_ORDERS(SOTTO_X)
#undef SOTTO_X
};

QLatin1StringView kindName(Order::Kind k)
{
    return kKinds[int(k)].name;
}

std::optional<Order::Kind> kindOf(const QCborValue &t)
{
    if (!t.isString())
        return std::nullopt;
    const QString text = t.toString();
    for (const KindName &k : kKinds) {
        if (k.name == text)
            return k.kind;
    }
    return std::nullopt;
}

std::optional<quint64> unsignedOf(const QCborMap &m, const char *key, quint64 max)
{
    const QCborValue v = m.value(QLatin1StringView(key));
    if (!v.isInteger() || v.toInteger() < 0 || quint64(v.toInteger()) > max)
        return std::nullopt;
    return quint64(v.toInteger());
}

std::optional<QByteArray> bytesOf(const QCborMap &m, const char *key, qsizetype size)
{
    const QCborValue v = m.value(QLatin1StringView(key));
    if (!v.isByteArray() || v.toByteArray().size() != size)
        return std::nullopt;
    return v.toByteArray();
}

} // namespace

QCborMap encode(const Order &o)
{
    QCborMap m;
    m.insert(kT, QString(kindName(o.kind)));
    switch (o.kind) {
    case Order::Kind::Ping:
        m.insert(QStringLiteral("id"), qint64(o.id));
        break;
    case Order::Kind::Trunk:
        m.insert(QStringLiteral("sid"), o.sid);
        m.insert(QStringLiteral("host"), o.host.toString());
        m.insert(QStringLiteral("port"), qint64(o.port));
        m.insert(QStringLiteral("token"), o.token);
        if (o.home)
            m.insert(QStringLiteral("home"), true);
        break;
    case Order::Kind::Untrunk:
        m.insert(QStringLiteral("sid"), o.sid);
        break;
    case Order::Kind::End:
        m.insert(QStringLiteral("sid"), o.sid);
        if (o.until)
            m.insert(QStringLiteral("until"), qint64(o.until));
        break;
    case Order::Kind::Leave:
        m.insert(QStringLiteral("sid"), o.sid);
        m.insert(QStringLiteral("ssrc"), qint64(o.ssrc));
        if (o.until)
            m.insert(QStringLiteral("until"), qint64(o.until));
        break;
    }
    return m;
}

std::optional<Order> decodeOrder(const QCborMap &m)
{
    const auto kind = kindOf(m.value(kT));
    if (!kind)
        return std::nullopt;
    Order o;
    o.kind = *kind;
    if (o.kind == Order::Kind::Ping) {
        auto id = unsignedOf(m, "id", 0xffffffffu);
        if (!id)
            return std::nullopt;
        o.id = quint32(*id);
        return o;
    }
    auto sid = bytesOf(m, "sid", skbp::kSidSize);
    if (!sid)
        return std::nullopt;
    o.sid = *sid;
    if (m.contains(QLatin1StringView("until"))) {
        auto until = unsignedOf(m, "until", 0xffffffffu);
        if (!until)
            return std::nullopt;
        o.until = quint32(*until);
    }
    switch (o.kind) {
    case Order::Kind::Ping:
    case Order::Kind::Untrunk:
    case Order::Kind::End:
        return o;
    case Order::Kind::Leave: {
        auto ssrc = unsignedOf(m, "ssrc", 0xffffffffu);
        if (!ssrc)
            return std::nullopt;
        o.ssrc = quint32(*ssrc);
        return o;
    }
    case Order::Kind::Trunk: {
        const QCborValue host = m.value(QLatin1StringView("host"));
        auto port = unsignedOf(m, "port", 65535);
        auto token = bytesOf(m, "token", skbp::kTokenSize);
        o.host = host.isString() && host.toString().size() <= 64 ? QHostAddress(host.toString()) : QHostAddress();
        if (o.host.isNull() || !port || *port == 0 || !token)
            return std::nullopt;
        const QCborValue home = m.value(QLatin1StringView("home"));
        if (!home.isUndefined() && !home.isBool())
            return std::nullopt;
        o.port = quint16(*port);
        o.token = *token;
        o.home = home.toBool(false);
        return o;
    }
    }
    return std::nullopt;
}

QCborMap encode(const Pong &p)
{
    QCborMap m;
    m.insert(kT, QStringLiteral("pong"));
    m.insert(QStringLiteral("id"), qint64(p.id));
    m.insert(QStringLiteral("sessions"), qint64(p.sessions));
    m.insert(QStringLiteral("members"), qint64(p.members));
    m.insert(QStringLiteral("trunks"), qint64(p.trunks));
    m.insert(QStringLiteral("forwarded"), qint64(p.forwarded));
    m.insert(QStringLiteral("refused"), qint64(p.refused));
    return m;
}

std::optional<Pong> decodePong(const QCborMap &m)
{
    if (m.value(kT).toString() != QLatin1StringView("pong")) // the one answer: not an order
        return std::nullopt;
    auto id = unsignedOf(m, "id", 0xffffffffu);
    auto sessions = unsignedOf(m, "sessions", 0xffffffffu);
    auto members = unsignedOf(m, "members", 0xffffffffu);
    auto trunks = unsignedOf(m, "trunks", 0xffffffffu);
    auto forwarded = unsignedOf(m, "forwarded", quint64(INT64_MAX));
    auto refused = unsignedOf(m, "refused", quint64(INT64_MAX));
    if (!id || !sessions || !members || !trunks || !forwarded || !refused)
        return std::nullopt;
    return Pong{quint32(*id), quint32(*sessions), quint32(*members), quint32(*trunks), *forwarded, *refused};
}

} // namespace sotto::relay::control
