// The profile directory: every step persisted, files 0600, damaged files reported and untouched.
#include "core/invite.h"
#include "core/privatefile.h"
#include "client/profile.h"
#include "core/skbp.h"
#include "client/timelinejournal.h"
#include "support/filemodes.h"

#include <QCborMap>
#include <QCborValue>
#include <QDir>
#include <QFile>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QTest>

#ifdef Q_OS_UNIX
#include <sys/stat.h>
#endif

using namespace sotto;

namespace {
QString s(const char *text)
{
    return QString::fromUtf8(text);
}

SecretBytes keyOf(char fill)
{
    return SecretBytes::copyOf(QByteArray(32, fill));
}

InviteLink makeLink(const QString &account = s("alice"), char salt = 'b')
{
    InviteLink l;
    l.host = s("127.0.0.1");
    l.port = 7421;
    l.account = account;
    l.brokerPublicKey = QByteArray(32, salt);
    l.secret = keyOf('s');
    return l;
}

QByteArray readAll(const QString &path)
{
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly))
        return QByteArray("<unreadable>");
    return f.readAll();
}

bool writeRaw(const QString &path, const QByteArray &bytes)
{
    QFile f(path);
    if (!f.open(QIODevice::WriteOnly | QIODevice::Truncate))
        return false;
    return f.write(bytes) == bytes.size();
}

QByteArray cbor(const QCborMap &m)
{
    return m.toCborValue().toCbor();
}

QCborMap keysMap(qint64 epoch, const QByteArray &key, qint64 pendingEpoch = 0,
                 const QByteArray &pendingKey = {}, const QByteArray &invite = {})
{
    QCborMap m;
    m.insert(QLatin1StringView("epoch"), epoch);
    m.insert(QLatin1StringView("key"), key);
    m.insert(QLatin1StringView("pending_epoch"), pendingEpoch);
    m.insert(QLatin1StringView("pending_key"), pendingKey);
    m.insert(QLatin1StringView("invite"), invite);
    return m;
}

#ifdef Q_OS_UNIX
constexpr QFileDevice::Permissions kModeBits =
    QFileDevice::ReadOwner | QFileDevice::WriteOwner | QFileDevice::ExeOwner |
    QFileDevice::ReadGroup | QFileDevice::WriteGroup | QFileDevice::ExeGroup |
    QFileDevice::ReadOther | QFileDevice::WriteOther | QFileDevice::ExeOther;

QFileDevice::Permissions modeOf(const QString &path)
{
    return QFile::permissions(path) & kModeBits;
}
#endif

// The user's alone, as core/privatefile.h reads it from the file system (a DACL on Windows) and,
// on POSIX, to the exact mode: 0700 for a folder, 0600 for a file.
bool isPrivate(const QString &path)
{
    if (test::underWine() && QFileInfo(path).isDir())
        return true; // Wine keeps no folder DACL (support/filemodes.h): what it can check is the files
    if (!isOwnerOnly(path).value())
        return false;
#ifdef Q_OS_UNIX
    const auto rw = QFileDevice::ReadOwner | QFileDevice::WriteOwner;
    return modeOf(path) == (QFileInfo(path).isDir() ? rw | QFileDevice::ExeOwner : rw);
#else
    return true;
#endif
}

// Sets umask 0 for its lifetime, so a mode of 0600 is the program's doing and not the umask's.
class OpenUmask
{
public:
#ifdef Q_OS_UNIX
    OpenUmask() : m_old(::umask(0)) {}
    ~OpenUmask()
    {
        ::umask(m_old);
    }

private:
    mode_t m_old;
#endif
};
} // namespace

class TestProfile : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void freshDirectory();
    void adoptInviteIsPersisted();
    void pendingCommitRotateArePersisted();
    void discardPendingIsPersisted();
    void rotationKeepsNewerPending();
    void brokerNameIsPersisted();
    void filesArePrivate();
    void keyForEpoch();
    void corruptFiles_data();
    void corruptFiles();
    void keysWithoutIdentityAreCorrupt();
    void adoptInviteRefusedWhenEnrolled();
    void timelineIsKeptBoundedAndPrivate();

private:
    // A profile in `dir` enrolled as alice at epoch 1 with keyOf('1').
    static bool makeEnrolled(const QString &dir);
};

bool TestProfile::makeEnrolled(const QString &dir)
{
    auto p = Profile::open(dir);
    return p && p->adoptInvite(makeLink()) && p->setPending(1, keyOf('1')) && p->commitPending();
}

void TestProfile::freshDirectory()
{
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const QString dir = tmp.filePath(s("a/b/profile"));
    auto p = Profile::open(dir);
    QVERIFY2(p.ok(), qPrintable(p.ok() ? QString() : p.error().message));
    QVERIFY(QFileInfo(dir).isDir());
    QCOMPARE(p->dir(), QDir(dir).absolutePath());
    QVERIFY(!p->hasIdentity());
    QVERIFY(!p->isEnrolled());
    QCOMPARE(p->epoch(), 0u);
    QCOMPARE(p->pendingEpoch(), 0u);
    QVERIFY(p->brokerFingerprint().isEmpty());
    // Opening writes nothing.
    QVERIFY(!QFile::exists(QDir(dir).filePath(s("profile.json"))));
    QVERIFY(!QFile::exists(QDir(dir).filePath(s("keys.cbor"))));
    QVERIFY(isPrivate(dir));
}

void TestProfile::adoptInviteIsPersisted()
{
    QTemporaryDir tmp;
    {
        auto p = Profile::open(tmp.path());
        QVERIFY(p.ok());
        auto r = p->adoptInvite(makeLink());
        QVERIFY2(r.ok(), qPrintable(r.ok() ? QString() : r.error().message));
        QVERIFY(p->hasIdentity());
        QVERIFY(!p->isEnrolled());
    }
    auto p = Profile::open(tmp.path());
    QVERIFY2(p.ok(), qPrintable(p.ok() ? QString() : p.error().message));
    QVERIFY(p->hasIdentity());
    QVERIFY(!p->isEnrolled());
    QCOMPARE(p->account(), s("alice"));
    QCOMPARE(p->brokerHost(), s("127.0.0.1"));
    QCOMPARE(p->brokerPort(), quint16(7421));
    QCOMPARE(p->brokerKey(), QByteArray(32, 'b'));
    QCOMPARE(p->brokerFingerprint(), skbp::fingerprint(QByteArray(32, 'b')));
    QCOMPARE(p->epoch(), 0u);
    QCOMPARE(p->pendingEpoch(), 0u);
    QVERIFY(p->inviteSecret().equals(keyOf('s')));

    // profile.json holds no secret.
    const QByteArray json = readAll(QDir(tmp.path()).filePath(s("profile.json")));
    QVERIFY(QJsonDocument::fromJson(json).isObject());
    QVERIFY(!json.contains(QByteArray(32, 's').toHex()));
    QVERIFY(!json.contains(QByteArray(32, 's').toBase64()));
}

void TestProfile::pendingCommitRotateArePersisted()
{
    QTemporaryDir tmp;
    {
        auto p = Profile::open(tmp.path());
        QVERIFY(p.ok());
        QVERIFY(p->adoptInvite(makeLink()).ok());
        QVERIFY(p->setPending(1, keyOf('1')).ok());
    }
    {
        auto p = Profile::open(tmp.path());
        QVERIFY(p.ok());
        QVERIFY(!p->isEnrolled());
        QCOMPARE(p->epoch(), 0u);
        QCOMPARE(p->pendingEpoch(), 1u);
        QCOMPARE(skbp::fingerprint(p->pendingKey()), skbp::fingerprint(keyOf('1')));
        QVERIFY(p->inviteSecret().equals(keyOf('s'))); // kept until enrolment commits
        QVERIFY(p->commitPending().ok());
    }
    {
        auto p = Profile::open(tmp.path());
        QVERIFY(p.ok());
        QVERIFY(p->isEnrolled());
        QCOMPARE(p->epoch(), 1u);
        QCOMPARE(skbp::fingerprint(p->key()), skbp::fingerprint(keyOf('1')));
        QCOMPARE(p->pendingEpoch(), 0u);
        QVERIFY(p->pendingKey().isEmpty());
        QVERIFY(p->inviteSecret().isEmpty()); // consumed
        QVERIFY(p->adoptRotation(2, keyOf('2')).ok());
    }
    {
        auto p = Profile::open(tmp.path());
        QVERIFY(p.ok());
        QCOMPARE(p->epoch(), 2u);
        QCOMPARE(skbp::fingerprint(p->key()), skbp::fingerprint(keyOf('2')));
        QCOMPARE(p->pendingEpoch(), 0u);
        // A periodic refresh: pending, then commit.
        QVERIFY(p->setPending(3, keyOf('3')).ok());
    }
    {
        auto p = Profile::open(tmp.path());
        QVERIFY(p.ok());
        QCOMPARE(p->epoch(), 2u);
        QCOMPARE(p->pendingEpoch(), 3u);
        QCOMPARE(skbp::fingerprint(p->key()), skbp::fingerprint(keyOf('2')));
        QCOMPARE(skbp::fingerprint(p->pendingKey()), skbp::fingerprint(keyOf('3')));
        QVERIFY(p->commitPending().ok());
    }
    auto p = Profile::open(tmp.path());
    QVERIFY(p.ok());
    QCOMPARE(p->epoch(), 3u);
    QCOMPARE(skbp::fingerprint(p->key()), skbp::fingerprint(keyOf('3')));
    QCOMPARE(p->pendingEpoch(), 0u);
    QCOMPARE(p->account(), s("alice"));

    // commitPending with nothing pending is an error and changes nothing on disk.
    const QByteArray before = readAll(QDir(tmp.path()).filePath(s("keys.cbor")));
    QVERIFY(!p->commitPending().ok());
    QCOMPARE(readAll(QDir(tmp.path()).filePath(s("keys.cbor"))), before);
}

void TestProfile::discardPendingIsPersisted()
{
    QTemporaryDir tmp;
    QVERIFY(makeEnrolled(tmp.path()));
    {
        auto p = Profile::open(tmp.path());
        QVERIFY(p.ok());
        QVERIFY(p->setPending(2, keyOf('2')).ok());
        QVERIFY(p->discardPending().ok());
    }
    auto p = Profile::open(tmp.path());
    QVERIFY(p.ok());
    QCOMPARE(p->epoch(), 1u);
    QCOMPARE(skbp::fingerprint(p->key()), skbp::fingerprint(keyOf('1')));
    QCOMPARE(p->pendingEpoch(), 0u);
    QVERIFY(p->pendingKey().isEmpty());
}

void TestProfile::rotationKeepsNewerPending()
{
    QTemporaryDir tmp;
    QVERIFY(makeEnrolled(tmp.path()));
    {
        auto p = Profile::open(tmp.path());
        QVERIFY(p.ok());
        QVERIFY(p->setPending(5, keyOf('5')).ok());
        QVERIFY(p->adoptRotation(2, keyOf('2')).ok());
    }
    auto p = Profile::open(tmp.path());
    QVERIFY(p.ok());
    QCOMPARE(p->epoch(), 2u);
    QCOMPARE(skbp::fingerprint(p->key()), skbp::fingerprint(keyOf('2')));
    QCOMPARE(p->pendingEpoch(), 5u);
    QCOMPARE(skbp::fingerprint(p->pendingKey()), skbp::fingerprint(keyOf('5')));
}

void TestProfile::brokerNameIsPersisted()
{
    QTemporaryDir tmp;
    QVERIFY(makeEnrolled(tmp.path()));
    {
        auto p = Profile::open(tmp.path());
        QVERIFY(p.ok());
        QVERIFY(p->setBrokerName(s("hq")).ok());
    }
    auto p = Profile::open(tmp.path());
    QVERIFY(p.ok());
    QCOMPARE(p->brokerName(), s("hq"));
    QCOMPARE(p->epoch(), 1u);
}

void TestProfile::filesArePrivate()
{
    [[maybe_unused]] const OpenUmask umask0; // a 0644 default would show through if the code relied on the umask
    QTemporaryDir tmp;
    const QString dir = tmp.filePath(s("p"));
    const QString keys = QDir(dir).filePath(s("keys.cbor"));
    const QString id = QDir(dir).filePath(s("profile.json"));

    auto p = Profile::open(dir);
    QVERIFY(p.ok());
    QVERIFY(isPrivate(dir));
    QVERIFY(p->adoptInvite(makeLink()).ok());
    QVERIFY(isPrivate(keys));
    QVERIFY(isPrivate(id));
    QVERIFY(p->setPending(1, keyOf('1')).ok());
    QVERIFY(isPrivate(keys));
    QVERIFY(p->commitPending().ok());
    QVERIFY(isPrivate(keys));
    QVERIFY(p->setBrokerName(s("hq")).ok());
    QVERIFY(isPrivate(id));

#ifdef Q_OS_UNIX
    // A file someone loosened is tightened again by the next (atomic) write.
    const auto rw = QFileDevice::ReadOwner | QFileDevice::WriteOwner;
    QVERIFY(QFile::setPermissions(keys, rw | QFileDevice::ReadGroup | QFileDevice::ReadOther));
    QVERIFY(!isPrivate(keys));
    QVERIFY(p->adoptRotation(2, keyOf('2')).ok());
    QVERIFY(isPrivate(keys));
    QVERIFY(isPrivate(id));
#endif

    // No temporary file is left next to them.
    QCOMPARE(QDir(dir).entryList(QDir::Files | QDir::Hidden).size(), 2);
}

void TestProfile::keyForEpoch()
{
    QTemporaryDir tmp;
    auto p = Profile::open(tmp.path());
    QVERIFY(p.ok());
    QVERIFY(p->adoptInvite(makeLink()).ok());
    QVERIFY(p->keyForEpoch(0) == nullptr);
    QVERIFY(p->keyForEpoch(1) == nullptr);

    QVERIFY(p->setPending(1, keyOf('1')).ok());
    QVERIFY(p->keyForEpoch(0) == nullptr);
    QVERIFY(p->keyForEpoch(1) != nullptr);
    QCOMPARE(skbp::fingerprint(*p->keyForEpoch(1)), skbp::fingerprint(keyOf('1')));

    QVERIFY(p->commitPending().ok());
    QVERIFY(p->setPending(2, keyOf('2')).ok());
    const SecretBytes *current = p->keyForEpoch(1);
    const SecretBytes *pending = p->keyForEpoch(2);
    QVERIFY(current != nullptr);
    QVERIFY(pending != nullptr);
    QVERIFY(current == &p->key());
    QVERIFY(pending == &p->pendingKey());
    QCOMPARE(skbp::fingerprint(*current), skbp::fingerprint(keyOf('1')));
    QCOMPARE(skbp::fingerprint(*pending), skbp::fingerprint(keyOf('2')));
    QVERIFY(p->keyForEpoch(0) == nullptr);
    QVERIFY(p->keyForEpoch(3) == nullptr);
    QVERIFY(p->keyForEpoch(0xffffffffu) == nullptr);

    // After a reload the same holds.
    auto q = Profile::open(tmp.path());
    QVERIFY(q.ok());
    QVERIFY(q->keyForEpoch(1) && q->keyForEpoch(2));
    QCOMPARE(skbp::fingerprint(*q->keyForEpoch(1)), skbp::fingerprint(keyOf('1')));
    QCOMPARE(skbp::fingerprint(*q->keyForEpoch(2)), skbp::fingerprint(keyOf('2')));
    QVERIFY(q->keyForEpoch(0) == nullptr);
    QVERIFY(q->keyForEpoch(3) == nullptr);

    // Rotation past the pending epoch drops the pending key; its epoch is then unknown.
    QVERIFY(q->adoptRotation(4, keyOf('4')).ok());
    QVERIFY(q->keyForEpoch(1) == nullptr);
    QVERIFY(q->keyForEpoch(2) == nullptr);
    QVERIFY(q->keyForEpoch(4) != nullptr);
    QCOMPARE(skbp::fingerprint(*q->keyForEpoch(4)), skbp::fingerprint(keyOf('4')));
}

void TestProfile::corruptFiles_data()
{
    QTest::addColumn<QString>("file");
    QTest::addColumn<QByteArray>("bytes");

    const QByteArray k32(32, 'k');
    const QByteArray k31(31, 'k');
    const QByteArray good = cbor(keysMap(1, k32));

    QTest::newRow("keys-empty") << s("keys.cbor") << QByteArray();
    QTest::newRow("keys-truncated") << s("keys.cbor") << good.left(good.size() / 2);
    QTest::newRow("keys-truncated-by-one") << s("keys.cbor") << good.chopped(1);
    QTest::newRow("keys-garbage") << s("keys.cbor")
                                  << QByteArray("\xde\xad\xbe\xef garbage \x00\x01\x02", 17);
    QTest::newRow("keys-text") << s("keys.cbor") << QByteArray("{\"epoch\": 1}\n");
    QTest::newRow("keys-cbor-array") << s("keys.cbor") << QCborValue(QCborArray{1, 2, 3}).toCbor();
    QTest::newRow("keys-31-byte-key") << s("keys.cbor") << cbor(keysMap(1, k31));
    QTest::newRow("keys-33-byte-key") << s("keys.cbor") << cbor(keysMap(1, k32 + 'x'));
    QTest::newRow("keys-epoch-without-key") << s("keys.cbor") << cbor(keysMap(1, QByteArray()));
    QTest::newRow("keys-31-byte-pending-key") << s("keys.cbor") << cbor(keysMap(1, k32, 2, k31));
    QTest::newRow("keys-31-byte-invite")
        << s("keys.cbor") << cbor(keysMap(0, QByteArray(), 0, QByteArray(), k31));
    QTest::newRow("keys-31-byte-key-epoch-0") << s("keys.cbor") << cbor(keysMap(0, k31));
    QTest::newRow("keys-31-byte-pending-key-pending-epoch-0")
        << s("keys.cbor") << cbor(keysMap(1, k32, 0, k31));
    // Found by fuzz/fuzz_profile: a float epoch far out of range reached an undefined
    // double-to-integer conversion. Epochs are u32 integers; anything else is damage.
    QCborMap floatEpoch = keysMap(1, k32);
    floatEpoch.insert(QLatin1StringView("epoch"), 1.0e21);
    QTest::newRow("keys-float-epoch") << s("keys.cbor") << cbor(floatEpoch);
    QCborMap floatPending = keysMap(1, k32, 2, k32);
    floatPending.insert(QLatin1StringView("pending_epoch"), 2.0);
    QTest::newRow("keys-float-pending-epoch") << s("keys.cbor") << cbor(floatPending);
    QTest::newRow("keys-negative-epoch") << s("keys.cbor") << cbor(keysMap(-1, k32));
    QTest::newRow("keys-epoch-past-u32") << s("keys.cbor") << cbor(keysMap(0x100000001LL, k32));
    QCborMap textEpoch = keysMap(1, k32);
    textEpoch.insert(QLatin1StringView("epoch"), s("1"));
    QTest::newRow("keys-text-epoch") << s("keys.cbor") << cbor(textEpoch);

    QTest::newRow("profile-garbage") << s("profile.json") << QByteArray("\x01\x02garbage{{{", 12);
    QTest::newRow("profile-empty") << s("profile.json") << QByteArray();
    QTest::newRow("profile-truncated")
        << s("profile.json") << QByteArray("{\"account\": \"alice\", \"broker_h");
    QTest::newRow("profile-json-array") << s("profile.json") << QByteArray("[1, 2]");
    QJsonObject o;
    o.insert(QLatin1StringView("account"), s("Bob"));
    o.insert(QLatin1StringView("broker_host"), s("127.0.0.1"));
    o.insert(QLatin1StringView("broker_port"), 7420);
    o.insert(QLatin1StringView("broker_key"), QString::fromLatin1(QByteArray(32, 'b').toHex()));
    QTest::newRow("profile-bad-account") << s("profile.json") << QJsonDocument(o).toJson();
    o.insert(QLatin1StringView("account"), s("bob"));
    o.insert(QLatin1StringView("broker_key"), QString::fromLatin1(QByteArray(31, 'b').toHex()));
    QTest::newRow("profile-short-broker-key") << s("profile.json") << QJsonDocument(o).toJson();
    o.insert(QLatin1StringView("broker_key"), QString::fromLatin1(QByteArray(32, 'b').toHex()));
    o.insert(QLatin1StringView("broker_port"), 0);
    QTest::newRow("profile-port-zero") << s("profile.json") << QJsonDocument(o).toJson();
    o.insert(QLatin1StringView("broker_port"), 7420);
    o.remove(QLatin1StringView("broker_host"));
    QTest::newRow("profile-no-host") << s("profile.json") << QJsonDocument(o).toJson();
}

void TestProfile::corruptFiles()
{
    QFETCH(QString, file);
    QFETCH(QByteArray, bytes);

    QTemporaryDir tmp;
    QVERIFY(makeEnrolled(tmp.path()));
    const QString path = QDir(tmp.path()).filePath(file);
    const QString other =
        QDir(tmp.path()).filePath(file == s("keys.cbor") ? s("profile.json") : s("keys.cbor"));
    QVERIFY(writeRaw(path, bytes));
    const QByteArray otherBefore = readAll(other);

    for (int attempt = 0; attempt < 2; ++attempt) { // and again: the first failure changed nothing
        auto p = Profile::open(tmp.path());
        QVERIFY2(!p.ok(), "a damaged file was accepted");
        QCOMPARE(p.error().code, ErrorCode::Corrupt);
        QVERIFY2(p.error().message.contains(file), qPrintable(p.error().message));
        QVERIFY(!p.error().message.contains(u'\n'));
        QCOMPARE(readAll(path), bytes);
        QCOMPARE(readAll(other), otherBefore);
    }
    QCOMPARE(QDir(tmp.path()).entryList(QDir::Files | QDir::Hidden).size(), 2);
}

void TestProfile::keysWithoutIdentityAreCorrupt()
{
    QTemporaryDir tmp;
    const QString keys = QDir(tmp.path()).filePath(s("keys.cbor"));
    const QByteArray bytes = cbor(keysMap(1, QByteArray(32, 'k')));
    QVERIFY(writeRaw(keys, bytes));
    auto p = Profile::open(tmp.path());
    QVERIFY(!p.ok());
    QCOMPARE(p.error().code, ErrorCode::Corrupt);
    QCOMPARE(readAll(keys), bytes);
    QVERIFY(!QFile::exists(QDir(tmp.path()).filePath(s("profile.json"))));
}

void TestProfile::adoptInviteRefusedWhenEnrolled()
{
    QTemporaryDir tmp;
    QVERIFY(makeEnrolled(tmp.path()));
    const QString keys = QDir(tmp.path()).filePath(s("keys.cbor"));
    const QString id = QDir(tmp.path()).filePath(s("profile.json"));
    const QByteArray keysBefore = readAll(keys);
    const QByteArray idBefore = readAll(id);
    {
        auto p = Profile::open(tmp.path());
        QVERIFY(p.ok());
        QVERIFY(p->isEnrolled());
        auto r = p->adoptInvite(makeLink(s("mallory"), 'm'));
        QVERIFY(!r.ok());
        QCOMPARE(r.error().code, ErrorCode::Usage);
        // Neither memory nor disk changed.
        QCOMPARE(p->account(), s("alice"));
        QCOMPARE(p->brokerKey(), QByteArray(32, 'b'));
        QCOMPARE(p->epoch(), 1u);
        QCOMPARE(skbp::fingerprint(p->key()), skbp::fingerprint(keyOf('1')));
    }
    QCOMPARE(readAll(keys), keysBefore);
    QCOMPARE(readAll(id), idBefore);
    auto p = Profile::open(tmp.path());
    QVERIFY(p.ok());
    QCOMPARE(p->account(), s("alice"));
    QCOMPARE(p->epoch(), 1u);
    QCOMPARE(skbp::fingerprint(p->key()), skbp::fingerprint(keyOf('1')));

    // A profile that adopted an invite but has not enrolled yet may take another one.
    QTemporaryDir tmp2;
    auto fresh = Profile::open(tmp2.path());
    QVERIFY(fresh.ok());
    QVERIFY(fresh->adoptInvite(makeLink()).ok());
    QVERIFY(fresh->adoptInvite(makeLink(s("bob"), 'c')).ok());
    QCOMPARE(fresh->account(), s("bob"));
}

void TestProfile::timelineIsKeptBoundedAndPrivate()
{
    QTemporaryDir dir;
    const QString path = QDir(dir.path()).filePath(QStringLiteral("timeline.jsonl"));
    const QByteArray sid(16, '\x5a');
    const auto event = [&](int i) {
        TimelineEvent e;
        e.kind = i % 2 ? TimelineEvent::Kind::Joined : TimelineEvent::Kind::CallKey;
        e.sid = sid;
        e.gen = quint32(i);
        e.epoch = 7;
        e.fp = QStringLiteral("ab12-cd34-ef56-%1").arg(i, 4, 10, QLatin1Char('0'));
        e.peer = QStringLiteral("bob");
        e.notation = QStringLiteral("{SK}K_alice");
        e.text = QStringLiteral("step %1").arg(i);
        return e;
    };
    {
        Timeline t;
        TimelineJournal j(t, path);
        QVERIFY(j.load().ok()); // no file yet: nothing, and the file is made private
        QVERIFY(isPrivate(path));
        for (int i = 0; i < 3; ++i)
            t.append(event(i));
    }
    // A crash cut the last line short, and someone wrote a line that is not a step.
    {
        QFile f(path);
        QVERIFY(f.open(QIODevice::Append));
        f.write("{\"event\":\"nonsense\",\"ts\":\"2026-01-01T00:00:00Z\"}\n{\"ts\":\"2026-");
    }
    {
        Timeline t;
        TimelineJournal j(t, path);
        QVERIFY(j.load().ok());
        QCOMPARE(t.events().size(), std::size_t(3));
        const TimelineEvent &e = t.events()[1];
        QCOMPARE(e.kind, TimelineEvent::Kind::Joined);
        QCOMPARE(e.sid, sid);
        QCOMPARE(e.gen, std::optional<quint32>(1));
        QCOMPARE(e.epoch, std::optional<quint32>(7));
        QCOMPARE(e.fp, QStringLiteral("ab12-cd34-ef56-0001"));
        QCOMPARE(e.notation, QStringLiteral("{SK}K_alice"));
        QCOMPARE(e.text, QStringLiteral("step 1"));
        // Bounded: the file never holds more than twice the bound, and keeps the newest.
        for (int i = 3; i < 2 * TimelineJournal::kMaxEvents + 50; ++i)
            t.append(event(i));
    }
    QFile f(path);
    QVERIFY(f.open(QIODevice::ReadOnly));
    const QList<QByteArray> lines = f.readAll().split('\n');
    QVERIFY(lines.size() - 1 <= 2 * TimelineJournal::kMaxEvents);
    QVERIFY(lines.size() - 1 >= TimelineJournal::kMaxEvents);
    QVERIFY(lines.at(lines.size() - 2).contains(QByteArray("step ") + QByteArray::number(2 * TimelineJournal::kMaxEvents + 49)));
    QVERIFY(isPrivate(path));
    Timeline t;
    TimelineJournal j(t, path);
    QVERIFY(j.load().ok());
    QCOMPARE(t.events().size(), std::size_t(TimelineJournal::kMaxEvents));
    QCOMPARE(t.events().back().text, QStringLiteral("step %1").arg(2 * TimelineJournal::kMaxEvents + 49));
}

QTEST_GUILESS_MAIN(TestProfile)
#include "tst_profile.moc"
