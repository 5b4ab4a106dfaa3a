#include "core/profile.h"

#include "core/invite.h"
#include "core/skbp.h"

#include <QCborMap>
#include <QCborValue>
#include <QDir>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSaveFile>

namespace sotto {

using namespace Qt::Literals::StringLiterals;

namespace {
const QString kIdentityFile = QStringLiteral("profile.json");
const QString kKeysFile = QStringLiteral("keys.cbor");

Error corrupt(const QString &path, const QString &why)
{
    return makeError(ErrorCode::Corrupt,
                     QStringLiteral("profile file %1 is damaged (%2); it was left as it is").arg(path, why));
}
} // namespace

Result<void> writePrivateFile(const QString &path, QByteArrayView data)
{
    QSaveFile f(path);
    if (!f.open(QIODevice::WriteOnly))
        return makeError(ErrorCode::Io, QStringLiteral("cannot write %1: %2").arg(path, f.errorString()));
    // The temporary file gets the mode before any byte is written; rename keeps it.
    f.setPermissions(QFileDevice::ReadOwner | QFileDevice::WriteOwner);
    if (f.write(data.data(), data.size()) != data.size() || !f.commit())
        return makeError(ErrorCode::Io, QStringLiteral("cannot write %1: %2").arg(path, f.errorString()));
    return {};
}

Result<Profile> Profile::open(const QString &dir)
{
    if (!QDir().mkpath(dir))
        return makeError(ErrorCode::Io, QStringLiteral("cannot create profile directory %1").arg(dir));
    QFile::setPermissions(dir, QFileDevice::ReadOwner | QFileDevice::WriteOwner | QFileDevice::ExeOwner);
    Profile p;
    p.m_dir = QDir(dir).absolutePath();
    if (auto r = p.load(); !r)
        return r.error();
    return p;
}

Result<void> Profile::load()
{
    const QString idPath = QDir(m_dir).filePath(kIdentityFile);
    if (QFile::exists(idPath)) {
        QFile f(idPath);
        if (!f.open(QIODevice::ReadOnly))
            return makeError(ErrorCode::Io, QStringLiteral("cannot read %1").arg(idPath));
        QJsonParseError err;
        const QJsonDocument doc = QJsonDocument::fromJson(f.readAll(), &err);
        if (err.error != QJsonParseError::NoError || !doc.isObject())
            return corrupt(idPath, QStringLiteral("not JSON"));
        const QJsonObject o = doc.object();
        m_account = o.value("account"_L1).toString();
        m_brokerHost = o.value("broker_host"_L1).toString();
        const int port = o.value("broker_port"_L1).toInt(-1);
        m_brokerKey = QByteArray::fromHex(o.value("broker_key"_L1).toString().toLatin1());
        m_brokerName = o.value("broker_name"_L1).toString();
        m_brokerAlternates.clear();
        for (const QJsonValue &v : o.value("broker_alternates"_L1).toArray()) {
            auto hp = parseHostPort(v.toString(), skbp::kDefaultPort);
            if (!v.isString() || !hp || hp->first.isEmpty() || hp->second == 0 || m_brokerAlternates.size() >= 16)
                return corrupt(idPath, QStringLiteral("broker_alternates holds a bad address"));
            m_brokerAlternates.append(v.toString());
        }
        if (!skbp::isValidAccount(m_account) || m_brokerHost.isEmpty() || port <= 0 || port > 65535
            || m_brokerKey.size() != 32)
            return corrupt(idPath, QStringLiteral("fields missing or invalid"));
        m_brokerPort = quint16(port);
    }
    const QString keysPath = QDir(m_dir).filePath(kKeysFile);
    if (QFile::exists(keysPath)) {
        if (!hasIdentity())
            return corrupt(keysPath, QStringLiteral("keys without an identity"));
        QFile f(keysPath);
        if (!f.open(QIODevice::ReadOnly))
            return makeError(ErrorCode::Io, QStringLiteral("cannot read %1").arg(keysPath));
        QByteArray raw = f.readAll();
        QCborParserError err;
        const QCborValue v = QCborValue::fromCbor(raw, &err);
        raw.fill('\0');
        if (err.error != QCborError::NoError || !v.isMap())
            return corrupt(keysPath, QStringLiteral("not CBOR"));
        const QCborMap m = v.toMap();
        // An epoch is an integer that fits a u32 (as saveKeys writes it), or absent for 0. Any
        // other value is damage, and a float must not reach toInteger(): out of range, that
        // conversion is undefined behaviour (found by fuzz/fuzz_profile).
        auto epochOf = [&](QLatin1StringView key) -> std::optional<quint32> {
            const QCborValue e = m.value(key);
            if (e.isUndefined())
                return 0;
            if (!e.isInteger() || e.toInteger() < 0 || e.toInteger() > 0xffffffffLL)
                return std::nullopt;
            return quint32(e.toInteger());
        };
        const std::optional<quint32> epoch = epochOf("epoch"_L1);
        const std::optional<quint32> pendingEpoch = epochOf("pending_epoch"_L1);
        if (!epoch || !pendingEpoch)
            return corrupt(keysPath, QStringLiteral("epochs"));
        auto secret = [&](QLatin1StringView key) {
            QByteArray b = m.value(key).toByteArray();
            SecretBytes s = SecretBytes::copyOf(b);
            b.fill('\0');
            return s;
        };
        m_epoch = *epoch;
        m_key = secret("key"_L1);
        m_pendingEpoch = *pendingEpoch;
        m_pendingKey = secret("pending_key"_L1);
        m_invite = secret("invite"_L1);
        const bool ok = (m_epoch == 0 ? m_key.isEmpty() : m_key.size() == 32)
            && (m_pendingEpoch == 0 ? m_pendingKey.isEmpty() : m_pendingKey.size() == 32)
            && (m_invite.isEmpty() || m_invite.size() == 32);
        if (!ok)
            return corrupt(keysPath, QStringLiteral("key sizes"));
    }
    return {};
}

QString Profile::brokerFingerprint() const
{
    return m_brokerKey.isEmpty() ? QString() : skbp::fingerprint(m_brokerKey);
}

const SecretBytes *Profile::keyForEpoch(quint32 epoch) const
{
    if (epoch == 0)
        return nullptr;
    if (epoch == m_epoch)
        return &m_key;
    if (epoch == m_pendingEpoch)
        return &m_pendingKey;
    return nullptr;
}

Result<void> Profile::saveIdentity()
{
    QJsonObject o;
    o.insert("account"_L1, m_account);
    o.insert("broker_host"_L1, m_brokerHost);
    o.insert("broker_port"_L1, int(m_brokerPort));
    o.insert("broker_key"_L1, QString::fromLatin1(m_brokerKey.toHex()));
    o.insert("broker_fp"_L1, brokerFingerprint());
    o.insert("broker_name"_L1, m_brokerName);
    if (!m_brokerAlternates.isEmpty())
        o.insert("broker_alternates"_L1, QJsonArray::fromStringList(m_brokerAlternates));
    return writePrivateFile(QDir(m_dir).filePath(kIdentityFile), QJsonDocument(o).toJson());
}

Result<void> Profile::saveKeys()
{
    QCborMap m;
    m.insert("epoch"_L1, qint64(m_epoch));
    m.insert("key"_L1, m_key.view().toByteArray());
    m.insert("pending_epoch"_L1, qint64(m_pendingEpoch));
    m.insert("pending_key"_L1, m_pendingKey.view().toByteArray());
    m.insert("invite"_L1, m_invite.view().toByteArray());
    QByteArray raw = m.toCborValue().toCbor();
    auto r = writePrivateFile(QDir(m_dir).filePath(kKeysFile), raw);
    raw.fill('\0');
    return r;
}

QStringList Profile::brokerAddresses() const
{
    const QString first = m_brokerHost.contains(u':') ? QStringLiteral("[%1]:%2").arg(m_brokerHost).arg(m_brokerPort)
                                                       : QStringLiteral("%1:%2").arg(m_brokerHost).arg(m_brokerPort);
    QStringList out{first};
    for (const QString &a : m_brokerAlternates) {
        if (!out.contains(a))
            out.append(a);
    }
    return out;
}

Result<void> Profile::setBrokerAlternates(const QStringList &addresses)
{
    QStringList alternates;
    const QString first = brokerAddresses().constFirst();
    for (const QString &a : addresses) {
        auto hp = parseHostPort(a, skbp::kDefaultPort);
        if (a != first && hp && !hp->first.isEmpty() && hp->second != 0 && !alternates.contains(a) && alternates.size() < 16)
            alternates.append(a);
    }
    if (alternates == m_brokerAlternates)
        return {};
    m_brokerAlternates = alternates;
    return saveIdentity();
}

Result<void> Profile::adoptInvite(const InviteLink &link)
{
    if (isEnrolled())
        return makeError(ErrorCode::Usage, QStringLiteral("this profile is already enrolled as %1").arg(m_account));
    m_account = link.account;
    m_brokerHost = link.host;
    m_brokerPort = link.port;
    m_brokerKey = link.brokerPublicKey;
    m_brokerAlternates = link.alternates;
    m_invite = link.secret;
    m_pendingEpoch = 0;
    m_pendingKey.clear();
    if (auto r = saveIdentity(); !r)
        return r;
    return saveKeys();
}

Result<void> Profile::setBrokerName(const QString &name)
{
    if (name == m_brokerName)
        return {};
    m_brokerName = name;
    return saveIdentity();
}

Result<void> Profile::setPending(quint32 epoch, const SecretBytes &key)
{
    m_pendingEpoch = epoch;
    m_pendingKey = key;
    return saveKeys();
}

Result<void> Profile::commitPending()
{
    if (m_pendingEpoch == 0)
        return makeError(ErrorCode::Internal, QStringLiteral("no pending key"));
    m_epoch = m_pendingEpoch;
    m_key = std::move(m_pendingKey);
    m_pendingKey.clear();
    m_pendingEpoch = 0;
    m_invite.clear(); // consumed by the broker when the first enrolment committed
    return saveKeys();
}

Result<void> Profile::discardPending()
{
    m_pendingEpoch = 0;
    m_pendingKey.clear();
    return saveKeys();
}

Result<void> Profile::adoptRotation(quint32 epoch, const SecretBytes &key)
{
    m_epoch = epoch;
    m_key = key;
    if (m_pendingEpoch <= epoch) {
        m_pendingEpoch = 0;
        m_pendingKey.clear();
    }
    return saveKeys();
}

} // namespace sotto
