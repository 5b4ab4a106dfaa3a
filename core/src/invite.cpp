#include "core/invite.h"

#include "core/skbp.h"

#include <QUrl>
#include <QUrlQuery>

namespace sotto {

namespace {
constexpr auto kB64 = QByteArray::Base64UrlEncoding | QByteArray::OmitTrailingEquals;

Error usage(const QString &msg)
{
    return makeError(ErrorCode::Usage, msg);
}
} // namespace

QString InviteLink::toString() const
{
    // An IPv6 address goes in brackets, its zone's '%' written "%25" (RFC 6874) so that the link
    // parses back; and one arg() for all parts, so that a "%2" in a zone is not taken for the port.
    const QString h = host.contains(u':')
        ? QStringLiteral("[%1]").arg(QString(host).replace(u'%', QStringLiteral("%25")))
        : host;
    QByteArray raw = secret.view().toByteArray();
    QByteArray s = raw.toBase64(kB64);
    wipeInPlace(raw);
    const QString link = QStringLiteral("sotto://%1:%2/join?account=%3&broker=%4&secret=%5")
                             .arg(h, QString::number(port), account,
                                  QString::fromLatin1(brokerPublicKey.toBase64(kB64)),
                                  QString::fromLatin1(s));
    wipeInPlace(s);
    if (alternates.isEmpty())
        return link;
    return link + QStringLiteral("&alt=") + QString::fromLatin1(QUrl::toPercentEncoding(alternates.join(u','), ":,"));
}

Result<InviteLink> InviteLink::parse(const QString &text)
{
    const QUrl url(text.trimmed(), QUrl::StrictMode);
    if (!url.isValid() || url.scheme() != QLatin1StringView("sotto"))
        return usage(QStringLiteral("not a sotto:// invite link"));
    if (url.host().isEmpty())
        return usage(QStringLiteral("invite link has no broker address"));
    if (url.path() != QLatin1StringView("/join"))
        return usage(QStringLiteral("invite link is not a /join link"));
    const QUrlQuery q(url);
    InviteLink link;
    link.host = url.host();
    const int port = url.port(skbp::kDefaultPort);
    if (port <= 0 || port > 65535)
        return usage(QStringLiteral("invite link has a bad port"));
    link.port = quint16(port);
    link.account = q.queryItemValue(QStringLiteral("account"), QUrl::FullyDecoded);
    if (!skbp::isValidAccount(link.account))
        return usage(QStringLiteral("invite link has no valid account name"));
    auto decode = [&](const char *key, QByteArray &out) -> bool {
        const QByteArray v = q.queryItemValue(QLatin1StringView(key), QUrl::FullyEncoded).toLatin1();
        auto r = QByteArray::fromBase64Encoding(v, QByteArray::Base64UrlEncoding
                                                        | QByteArray::AbortOnBase64DecodingErrors);
        if (!r || r.decoded.size() != 32)
            return false;
        out = r.decoded;
        return true;
    };
    if (!decode("broker", link.brokerPublicKey))
        return usage(QStringLiteral("invite link has no valid broker key"));
    QByteArray secret;
    if (!decode("secret", secret))
        return usage(QStringLiteral("invite link has no valid secret"));
    link.secret = SecretBytes::takeFrom(secret);
    if (q.hasQueryItem(QStringLiteral("alt"))) {
        const QStringList alts = q.queryItemValue(QStringLiteral("alt"), QUrl::FullyDecoded).split(u',');
        if (alts.size() > 15)
            return usage(QStringLiteral("invite link names more than 15 other broker addresses"));
        for (const QString &a : alts) {
            auto hp = parseHostPort(a, skbp::kDefaultPort);
            if (!hp || hp->first.isEmpty() || hp->second == 0)
                return usage(QStringLiteral("invite link has a bad broker address \"%1\" in alt").arg(a));
            link.alternates.append(a);
        }
    }
    return link;
}

Result<std::pair<QString, quint16>> parseHostPort(const QString &text, quint16 defaultPort)
{
    QString host = text.trimmed();
    quint16 port = defaultPort;
    QString portText;
    if (host.startsWith(u'[')) {
        const qsizetype close = host.indexOf(u']');
        if (close < 0)
            return usage(QStringLiteral("bad address \"%1\"").arg(text));
        if (close + 1 < host.size()) {
            if (host.at(close + 1) != u':')
                return usage(QStringLiteral("bad address \"%1\"").arg(text));
            portText = host.mid(close + 2);
        }
        host = host.mid(1, close - 1);
    } else if (host.count(u':') == 1) {
        portText = host.section(u':', 1);
        if (portText.isNull())
            portText = QStringLiteral(""); // "host:" names a port, an empty one: refuse it below
        host = host.section(u':', 0, 0);
    }
    if (!portText.isNull()) {
        bool ok = false;
        const uint p = portText.toUInt(&ok);
        if (!ok || p > 65535)
            return usage(QStringLiteral("bad port in \"%1\"").arg(text));
        port = quint16(p);
    }
    if (host.isEmpty())
        return usage(QStringLiteral("bad address \"%1\"").arg(text));
    return std::pair{host, port};
}

Result<qint64> parseDuration(const QString &text)
{
    static const std::pair<QChar, qint64> units[] = {
        {u's', 1}, {u'm', 60}, {u'h', 3600}, {u'd', 86400}};
    const QString t = text.trimmed();
    if (t.size() < 2)
        return usage(QStringLiteral("bad duration \"%1\" (use 90s, 15m, 24h or 7d)").arg(text));
    for (const auto &[unit, mult] : units) {
        if (t.back() != unit)
            continue;
        bool ok = false;
        const qint64 n = t.chopped(1).toLongLong(&ok);
        if (!ok || n <= 0 || n > 3650LL * 86400 / mult)
            break;
        return n * mult;
    }
    return usage(QStringLiteral("bad duration \"%1\" (use 90s, 15m, 24h or 7d)").arg(text));
}

} // namespace sotto
