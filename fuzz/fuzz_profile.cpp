// The phone's profile loader (core/profile.h): Profile::open on a directory whose files come from
// the input.
//
//   input = u8(files) json [0x00 cbor]   ; files bit 0: write profile.json (the json part),
//                                        ; bit 1: write keys.cbor (the part after the first NUL)
//
// JSON text holds no raw NUL, so the split loses nothing. A profile that opens is consistent
// (an identity has a valid account, a host, a port and a 32-byte broker key; an epoch has a
// 32-byte key, no epoch no key); keys never load without an identity. Whatever opened survives
// being written back: after a save of both files, opening again gives the same values.

#include "fuzzsupport.h"

#include "client/profile.h"
#include "core/skbp.h"

#include <QCborMap>
#include <QJsonDocument>
#include <QJsonObject>

using namespace sotto;
using namespace sotto::fuzz;

namespace {

QString g_dir;

void writeFile(const QString &name, QByteArrayView bytes)
{
    QFile f(QDir(g_dir).filePath(name));
    FUZZ_CHECK(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
    FUZZ_CHECK(f.write(bytes.data(), bytes.size()) == bytes.size());
}

void clearDir()
{
    QDir d(g_dir);
    for (const QString &f : d.entryList(QDir::Files | QDir::Hidden | QDir::System))
        d.remove(f);
}

void checkConsistent(const Profile &p)
{
    if (p.hasIdentity()) {
        FUZZ_CHECK(skbp::isValidAccount(p.account()));
        FUZZ_CHECK(!p.brokerHost().isEmpty() && p.brokerPort() > 0);
        FUZZ_CHECK(p.brokerKey().size() == 32 && !p.brokerFingerprint().isEmpty());
    }
    FUZZ_CHECK(p.epoch() == 0 ? p.key().isEmpty() : p.key().size() == 32);
    FUZZ_CHECK(p.pendingEpoch() == 0 ? p.pendingKey().isEmpty() : p.pendingKey().size() == 32);
    FUZZ_CHECK(p.inviteSecret().isEmpty() || p.inviteSecret().size() == 32);
    FUZZ_CHECK(p.keyForEpoch(0) == nullptr);
    if (p.isEnrolled())
        FUZZ_CHECK(p.keyForEpoch(p.epoch()) == &p.key());
}

fuzz::Seeds seeds()
{
    QJsonObject o;
    o.insert(QLatin1StringView("account"), QStringLiteral("alice"));
    o.insert(QLatin1StringView("broker_host"), QStringLiteral("broker.example.org"));
    o.insert(QLatin1StringView("broker_port"), 7420);
    o.insert(QLatin1StringView("broker_key"), QString::fromLatin1(fixedBytes(0x10).toHex()));
    o.insert(QLatin1StringView("broker_fp"), skbp::fingerprint(fixedBytes(0x10)));
    o.insert(QLatin1StringView("broker_name"), QStringLiteral("home"));
    const QByteArray json = QJsonDocument(o).toJson(QJsonDocument::Compact);
    auto keys = [](qint64 epoch, QByteArray key, qint64 pending, QByteArray pendingKey,
                   QByteArray invite) {
        QCborMap m;
        m.insert(QLatin1StringView("epoch"), epoch);
        m.insert(QLatin1StringView("key"), key);
        m.insert(QLatin1StringView("pending_epoch"), pending);
        m.insert(QLatin1StringView("pending_key"), pendingKey);
        m.insert(QLatin1StringView("invite"), invite);
        return m.toCborValue().toCbor();
    };
    const QByteArray invited = keys(0, {}, 0, {}, fixedBytes(0x50));
    const QByteArray enrolled = keys(3, fixedBytes(0x60), 0, {}, {});
    const QByteArray refreshing = keys(3, fixedBytes(0x60), 4, fixedBytes(0x61), {});
    const QByteArray nul(1, '\0');
    return {
        {"identity-only", '\x01' + json},
        {"invited", '\x03' + json + nul + invited},
        {"enrolled", '\x03' + json + nul + enrolled},
        {"refreshing", '\x03' + json + nul + refreshing},
        {"bad-key-size", '\x03' + json + nul + keys(3, fixedBytes(0x60, 31), 0, {}, {})},
        {"keys-without-identity", '\x02' + nul + enrolled},
    };
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    writeSeedsIfAsked(argc, argv, seeds);
    g_dir = QDir(scratchDir("profile")).filePath(QStringLiteral("profile"));
    QDir().mkpath(g_dir);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Cursor in(inputView(data, size));
    const quint8 files = in.u8();
    const QByteArrayView rest = in.rest();
    const qsizetype nul = rest.indexOf('\0');
    const QByteArrayView json = nul < 0 ? rest : rest.first(nul);
    const QByteArrayView cbor = nul < 0 ? QByteArrayView() : rest.sliced(nul + 1);
    clearDir();
    if (files & 1)
        writeFile(QStringLiteral("profile.json"), json);
    if (files & 2)
        writeFile(QStringLiteral("keys.cbor"), cbor);

    auto p = Profile::open(g_dir);
    if (!p) {
        FUZZ_CHECK(p.error().code == ErrorCode::Corrupt);
        clearDir();
        return 0;
    }
    checkConsistent(*p);
    if (files & 2)
        FUZZ_CHECK(p->hasIdentity()); // keys never load without an identity
    if (p->hasIdentity()) {
        // Write both files back (the name changes so that the identity is saved), then reread.
        FUZZ_CHECK(p->setBrokerName(p->brokerName() + QStringLiteral("-2")).ok());
        FUZZ_CHECK(p->discardPending().ok());
        auto q = Profile::open(g_dir);
        FUZZ_CHECK(q.ok());
        checkConsistent(*q);
        FUZZ_CHECK(q->account() == p->account() && q->brokerHost() == p->brokerHost() &&
                   q->brokerPort() == p->brokerPort() && q->brokerKey() == p->brokerKey() &&
                   q->brokerName() == p->brokerName());
        FUZZ_CHECK(q->epoch() == p->epoch() && q->key().equals(p->key()));
        FUZZ_CHECK(q->pendingEpoch() == 0 && q->pendingKey().isEmpty());
        FUZZ_CHECK(q->inviteSecret().equals(p->inviteSecret()));
    }
    clearDir();
    return 0;
}
