#include "broker/peers.h"

#include "core/invite.h"
#include "core/privatefile.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QSettings>

namespace sotto::broker {

namespace {

Error usage(const QString &msg)
{
    return makeError(ErrorCode::Usage, msg);
}

// Decodes 32 bytes of base64 or base64url; the copies made on the way are wiped (a secret
// goes through here).
std::optional<QByteArray> decode32(const QByteArray &input)
{
    QByteArray text(input.constData(), input.size()); // a buffer of its own: wiped below
    text = std::move(text).trimmed();
    std::optional<QByteArray> out;
    for (auto options : {QByteArray::Base64UrlEncoding | QByteArray::OmitTrailingEquals | QByteArray::AbortOnBase64DecodingErrors,
                         QByteArray::Base64Encoding | QByteArray::AbortOnBase64DecodingErrors}) {
        auto r = QByteArray::fromBase64Encoding(text, options);
        if (!out && r && r.decoded.size() == 32)
            out = QByteArray(r.decoded.constData(), r.decoded.size()); // a buffer of its own
        wipeInPlace(r.decoded);
    }
    wipeInPlace(text);
    return out;
}

} // namespace

QString encodePublicKey(const QByteArray &key)
{
    return QString::fromLatin1(key.toBase64(QByteArray::Base64UrlEncoding | QByteArray::OmitTrailingEquals));
}

Result<PeerConfig> parsePeer(const QString &spec)
{
    const qsizetype eq = spec.indexOf(u'=');
    const qsizetype comma = spec.lastIndexOf(u',');
    if (eq <= 0 || comma < eq)
        return usage(QStringLiteral("--peer wants NAME=HOST:PORT,PUBKEY, not \"%1\"").arg(spec));
    PeerConfig p;
    p.name = spec.left(eq);
    if (!skbp::isValidAccount(p.name))
        return usage(QStringLiteral("--peer: \"%1\" is not a valid broker name (a-z 0-9 . _ -)").arg(p.name));
    auto hp = parseHostPort(spec.mid(eq + 1, comma - eq - 1), skbp::kDefaultPort);
    if (!hp)
        return usage(QStringLiteral("--peer %1: %2").arg(p.name, hp.error().message));
    p.host = hp->first;
    p.port = hp->second;
    auto key = decode32(spec.mid(comma + 1).toLatin1());
    if (!key)
        return usage(QStringLiteral("--peer %1: the public key must be 32 bytes in base64url (sotto broker pubkey prints it)")
                         .arg(p.name));
    p.publicKey = *key;
    return p;
}

bool PeerConfig::allowsRelayAt(const QHostAddress &address, quint16 port) const
{
    if (address.isNull())
        return false;
    if (QHostAddress(host).isEqual(address, QHostAddress::TolerantConversion))
        return true; // the peer's own host (its broker's relay, or one of its own beside it)
    for (const QString &r : relays) {
        auto hp = parseHostPort(r, 0);
        if (hp && hp->second == port && QHostAddress(hp->first).isEqual(address, QHostAddress::TolerantConversion))
            return true;
    }
    return false;
}

Result<std::pair<QString, QString>> parsePeerRelayOption(const QString &spec)
{
    const qsizetype eq = spec.indexOf(u'=');
    if (eq <= 0 || eq == spec.size() - 1)
        return usage(QStringLiteral("--peer-relay wants NAME=HOST:PORT, not \"%1\"").arg(spec));
    auto hp = parseHostPort(spec.mid(eq + 1), 0);
    if (!hp || QHostAddress(hp->first).isNull() || hp->second == 0)
        return usage(QStringLiteral("--peer-relay %1: a literal IP address and port, not \"%2\"").arg(spec.left(eq), spec.mid(eq + 1)));
    return std::pair{spec.left(eq), spec.mid(eq + 1)};
}

Result<std::pair<QString, QString>> parsePeerSecretOption(const QString &spec)
{
    const qsizetype eq = spec.indexOf(u'=');
    if (eq <= 0 || eq == spec.size() - 1)
        return usage(QStringLiteral("--peer-secret-file wants NAME=FILE, not \"%1\"").arg(spec));
    return std::pair{spec.left(eq), spec.mid(eq + 1)};
}

Result<SecretBytes> readSecretFile(const QString &path, const QString &what)
{
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly))
        return usage(QStringLiteral("cannot read the %1 %2").arg(what, path));
    auto alone = isOwnerOnly(path);
    if (!alone)
        return usage(QStringLiteral("cannot read the %1 %2: %3").arg(what, path, alone.error().message));
    if (!*alone)
        return usage(QStringLiteral("the %1 %2 is readable by others (%3)").arg(what, path, ownerOnlyHint()));
    QByteArray text = f.read(4096);
    std::optional<QByteArray> raw = text.size() == 32 ? std::optional<QByteArray>(QByteArray(text.constData(), 32)) : decode32(text);
    wipeInPlace(text);
    if (!raw)
        return usage(QStringLiteral("the %1 %2 must hold 32 bytes (base64)").arg(what, path));
    return SecretBytes::takeFrom(*raw);
}

Result<SecretBytes> readPeerSecret(const QString &path)
{
    return readSecretFile(path, QStringLiteral("peering secret"));
}

Result<std::vector<PeerConfig>> loadPeersFile(const QString &dataDir)
{
    std::vector<PeerConfig> out;
    const QString path = QDir(dataDir).filePath(QStringLiteral("peers.ini"));
    if (!QFileInfo::exists(path))
        return out;
    QSettings ini(path, QSettings::IniFormat);
    if (ini.status() != QSettings::NoError)
        return usage(QStringLiteral("%1 cannot be read").arg(path));
    for (const QString &name : ini.childGroups()) {
        ini.beginGroup(name);
        const QString address = ini.value(QStringLiteral("address")).toString();
        const QString key = ini.value(QStringLiteral("key")).toString();
        const QString secretFile = ini.value(QStringLiteral("secret_file")).toString();
        const QStringList relays = ini.value(QStringLiteral("relays")).toString().split(u' ', Qt::SkipEmptyParts);
        ini.endGroup();
        auto peer = parsePeer(QStringLiteral("%1=%2,%3").arg(name, address, key));
        if (!peer)
            return usage(QStringLiteral("%1 [%2]: %3").arg(path, name, peer.error().message));
        for (const QString &r : relays) {
            auto parsed = parsePeerRelayOption(name + u'=' + r);
            if (!parsed)
                return usage(QStringLiteral("%1 [%2] relays: %3").arg(path, name, parsed.error().message));
            peer->relays.append(parsed->second);
        }
        if (!secretFile.isEmpty()) {
            auto secret = readPeerSecret(QDir(dataDir).absoluteFilePath(secretFile));
            if (!secret)
                return usage(QStringLiteral("%1 [%2]: %3").arg(path, name, secret.error().message));
            peer->secret = std::move(*secret);
        }
        out.push_back(std::move(*peer));
    }
    return out;
}

} // namespace sotto::broker
