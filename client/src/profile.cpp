#include "client/profile.h"

#include "core/invite.h"
#include "core/privatefile.h"
#include "core/skbp.h"

#include <QCborStreamReader>
#include <QCborStreamWriter>
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
// keys.cbor = { "epoch": uint, "key": bstr, "pending_epoch": uint, "pending_key": bstr,
//               "invite": bstr }   (a definite-length map; absent epochs are 0, absent keys empty;
//               unknown entries are skipped)
// Written and read through QCborStreamWriter/Reader straight to and from buffers this code owns
// and wipes: a QCborMap would keep the keys in a container of its own that nothing can wipe.
QByteArray encodeKeys(const Profile::StoredKeys &k)
{
    QByteArray out;
    QCborStreamWriter w(&out);
    w.startMap(5);
    auto bytes = [&](const char *name, const SecretBytes &key) {
        w.append(QLatin1StringView(name));
        w.appendByteString(reinterpret_cast<const char *>(key.data()), qsizetype(key.size()));
    };
    w.append("epoch"_L1);
    w.append(quint64(k.epoch));
    bytes("key", k.key);
    w.append("pending_epoch"_L1);
    w.append(quint64(k.pendingEpoch));
    bytes("pending_key", k.pendingKey);
    bytes("invite", k.invite);
    w.endMap();
    return out;
}

Result<Profile::StoredKeys> decodeKeys(const QByteArray &raw)
{
    auto bad = [](const char *why) { return makeError(ErrorCode::Corrupt, QString::fromLatin1(why)); };
    QCborStreamReader r(raw);
    if (!r.isMap() || !r.enterContainer())
        return bad("not CBOR");
    Profile::StoredKeys k;
    int entries = 0;
    while (r.lastError() == QCborError::NoError && r.hasNext()) {
        if (++entries > 64 || !r.isString())
            return bad("not CBOR");
        QString name;
        auto part = r.readString();
        while (part.status == QCborStreamReader::Ok) {
            name += part.data;
            part = r.readString();
        }
        if (part.status == QCborStreamReader::Error || name.size() > 64)
            return bad("not CBOR");
        if (name == "epoch"_L1 || name == "pending_epoch"_L1) {
            // An integer that fits a u32 (as saveKeys writes it): anything else is damage.
            if (!r.isUnsignedInteger() || quint64(r.toUnsignedInteger()) > 0xffffffffULL)
                return bad("epochs");
            (name == "epoch"_L1 ? k.epoch : k.pendingEpoch) = quint32(quint64(r.toUnsignedInteger()));
            r.next();
        } else if ((name == "key"_L1 || name == "pending_key"_L1 || name == "invite"_L1) && r.isByteArray()) {
            QByteArray b;
            auto chunk = r.readByteArray();
            while (chunk.status == QCborStreamReader::Ok && b.size() <= 64) {
                b.append(chunk.data.constData(), chunk.data.size()); // a copy: += would share the buffer wiped next
                wipeInPlace(chunk.data);
                chunk = r.readByteArray();
            }
            if (chunk.status == QCborStreamReader::Error || b.size() > 64) {
                wipeInPlace(b);
                return bad("key sizes");
            }
            SecretBytes &slot = name == "key"_L1 ? k.key : name == "pending_key"_L1 ? k.pendingKey : k.invite;
            slot = SecretBytes::takeFrom(b);
        } else if (!r.next()) {
            return bad("not CBOR");
        }
    }
    if (r.lastError() != QCborError::NoError || !r.leaveContainer())
        return bad("not CBOR");
    return k;
}

} // namespace

Result<Profile> Profile::open(const QString &dir)
{
    if (auto r = makePrivateDir(dir); !r)
        return makeError(r.error().code, QStringLiteral("cannot create profile directory %1: %2").arg(dir, r.error().message));
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
        auto keys = decodeKeys(raw);
        wipeInPlace(raw);
        if (!keys)
            return corrupt(keysPath, keys.error().message);
        m_epoch = keys->epoch;
        m_key = std::move(keys->key);
        m_pendingEpoch = keys->pendingEpoch;
        m_pendingKey = std::move(keys->pendingKey);
        m_invite = std::move(keys->invite);
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
    QByteArray raw = encodeKeys({m_epoch, m_key, m_pendingEpoch, m_pendingKey, m_invite});
    auto r = writePrivateFile(QDir(m_dir).filePath(kKeysFile), raw);
    wipeInPlace(raw);
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

Result<void> Profile::adoptInvite(const InviteLink &link, Rejoin rejoin)
{
    if (isEnrolled() && rejoin == Rejoin::No)
        return makeError(ErrorCode::Usage, QStringLiteral("this profile is already enrolled as %1").arg(m_account));
    if (rejoin == Rejoin::Yes) {
        m_key.clear();
        m_epoch = 0;
    }
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
