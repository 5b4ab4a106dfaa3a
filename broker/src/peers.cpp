#include "broker/peers.h"

#include "core/invite.h"

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
    QByteArray text = input.trimmed();
    std::optional<QByteArray> out;
    for (auto options : {QByteArray::Base64UrlEncoding | QByteArray::OmitTrailingEquals | QByteArray::AbortOnBase64DecodingErrors,
                         QByteArray::Base64Encoding | QByteArray::AbortOnBase64DecodingErrors}) {
        auto r = QByteArray::fromBase64Encoding(text, options);
        if (!out && r && r.decoded.size() == 32)
            out = r.decoded;
        r.decoded.fill('\0');
    }
    text.fill('\0');
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
#ifdef Q_OS_UNIX
    if (f.permissions() & (QFileDevice::ReadGroup | QFileDevice::ReadOther))
        return usage(QStringLiteral("the %1 %2 is readable by others (chmod 600 it)").arg(what, path));
#endif
    QByteArray text = f.read(4096);
    std::optional<QByteArray> raw = text.size() == 32 ? std::optional<QByteArray>(text) : decode32(text);
    text.fill('\0');
    if (!raw)
        return usage(QStringLiteral("the %1 %2 must hold 32 bytes (base64)").arg(what, path));
    SecretBytes secret = SecretBytes::copyOf(*raw);
    raw->fill('\0');
    return secret;
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
        ini.endGroup();
        auto peer = parsePeer(QStringLiteral("%1=%2,%3").arg(name, address, key));
        if (!peer)
            return usage(QStringLiteral("%1 [%2]: %3").arg(path, name, peer.error().message));
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
