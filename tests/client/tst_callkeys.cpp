// The phone's key keeping and directory, each alone (PROTOCOL.md §6.1, §6.2). KeyKeeper: a
// call's generations — the current key, the previous one for late packets until the grace runs
// out, SRTP material identical to what any member derives, the relay grant's key, all wiped when
// the call is forgotten — and unwrapping under this device's key, refusing what was wrapped for
// another context, epoch or owner. Directory: pages under the newest request only, presence, the
// bound, never ourselves.

#include "client/directory.h"
#include "client/keykeeper.h"
#include "client/profile.h"

#include "core/crypto.h"
#include "core/invite.h"
#include "core/skbp.h"
#include "core/wire.h"

#include <QCborArray>
#include <QTemporaryDir>
#include <QTest>

using namespace sotto;
namespace key = wire::key;

namespace {

QString s(const char *text)
{
    return QString::fromLatin1(text);
}

SecretBytes keyOf(char fill)
{
    return SecretBytes::copyOf(QByteArray(32, fill));
}

wire::Message page(std::optional<quint32> id, std::initializer_list<std::pair<const char *, bool>> accounts, bool more)
{
    QCborMap m = wire::message(wire::MessageType::Directory);
    if (id)
        m.insert(key::id, qint64(*id));
    QCborArray list;
    for (const auto &[name, online] : accounts) {
        QCborMap e;
        e.insert(key::account, s(name));
        e.insert(key::online, online);
        list.append(e);
    }
    m.insert(key::accounts, list);
    if (more)
        m.insert(key::more, true);
    return wire::Message(wire::MessageType::Directory, m);
}

QStringList names(const Directory &d)
{
    QStringList out;
    for (const ContactInfo &c : d.contacts())
        out << c.account + (c.online ? s("+") : s("-"));
    return out;
}

} // namespace

class TestCallKeys : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void generationsAndTheirGrace();
    void srtpMaterialIsEveryMembers();
    void unwrapUnderThisDevicesKeyOnly_data();
    void unwrapUnderThisDevicesKeyOnly();
    void directoryPages();
    void directoryPresenceAndBound();
};

void TestCallKeys::generationsAndTheirGrace()
{
    QTemporaryDir dir;
    auto profile = Profile::open(dir.path());
    QVERIFY(profile.ok());
    KeyKeeper keys(*profile, 100);
    const QByteArray sid(16, 's');
    QVERIFY(!keys.keyed(sid));
    keys.setRelayKey(sid, keyOf('r')); // an invitee holds its grant before its key
    QVERIFY(!keys.keyed(sid));
    QVERIFY(!keys.sessionKey(sid, 0));
    QCOMPARE(keys.srtpMaterial(sid, 0, 1).error().code, ErrorCode::NotInSession);

    keys.install(sid, 3, keyOf('a'));
    QVERIFY(keys.keyed(sid));
    QCOMPARE(keys.fingerprint(sid), skbp::fingerprint(keyOf('a')));
    QVERIFY(keys.sessionKey(sid, 3)->view() == keyOf('a').view());
    QVERIFY(!keys.sessionKey(sid, 2)); // nothing before the first

    keys.install(sid, 4, keyOf('b'));
    QVERIFY(keys.sessionKey(sid, 4)->view() == keyOf('b').view());
    QVERIFY(keys.sessionKey(sid, 3)->view() == keyOf('a').view()); // late packets of gen 3
    QVERIFY(keys.srtpMaterial(sid, 3, 7).ok());
    QTRY_VERIFY_WITH_TIMEOUT(!keys.sessionKey(sid, 3), 5000); // wiped after the grace
    QCOMPARE(keys.srtpMaterial(sid, 3, 7).error().code, ErrorCode::NotInSession);
    QVERIFY(keys.srtpMaterial(sid, 4, 7).ok());
    QVERIFY(keys.relayKey(sid).view() == keyOf('r').view());

    keys.forget(sid);
    QVERIFY(!keys.keyed(sid));
    QVERIFY(!keys.sessionKey(sid, 4));
    QVERIFY(keys.relayKey(sid).isEmpty());
}

void TestCallKeys::srtpMaterialIsEveryMembers()
{
    QTemporaryDir dir;
    auto profile = Profile::open(dir.path());
    QVERIFY(profile.ok());
    KeyKeeper keys(*profile, 2000);
    const QByteArray sid(16, 't');
    keys.install(sid, 0, keyOf('k'));
    for (quint32 ssrc : {1u, 0xdeadbeefu}) {
        auto mine = keys.srtpMaterial(sid, 0, ssrc);
        QVERIFY(mine.ok());
        auto theirs = skbp::srtpMaterial(keyOf('k'), sid, 0, ssrc); // as any member derives it
        QVERIFY(theirs.ok());
        QVERIFY(mine->masterKey.view() == theirs->masterKey.view());
        QVERIFY(mine->masterSalt.view() == theirs->masterSalt.view());
    }
}

void TestCallKeys::unwrapUnderThisDevicesKeyOnly_data()
{
    QTest::addColumn<int>("wrapEpoch");
    QTest::addColumn<QString>("owner");
    QTest::addColumn<QByteArray>("sid");
    QTest::addColumn<bool>("tamper");
    QTest::addColumn<int>("code"); // -1: unwraps
    const QByteArray sid(16, 'x');
    QTest::newRow("ours") << 1 << s("alice") << sid << false << -1;
    QTest::newRow("an epoch we do not hold") << 2 << s("alice") << sid << false << int(ErrorCode::Auth);
    QTest::newRow("for another account") << 1 << s("bob") << sid << false << int(ErrorCode::Crypto);
    QTest::newRow("for another call") << 1 << s("alice") << QByteArray(16, 'y') << false << int(ErrorCode::Crypto);
    QTest::newRow("tampered with") << 1 << s("alice") << sid << true << int(ErrorCode::Crypto);
}

void TestCallKeys::unwrapUnderThisDevicesKeyOnly()
{
    QFETCH(int, wrapEpoch);
    QFETCH(QString, owner);
    QFETCH(QByteArray, sid);
    QFETCH(bool, tamper);
    QFETCH(int, code);
    QTemporaryDir dir;
    auto profile = Profile::open(dir.path());
    QVERIFY(profile.ok());
    InviteLink link;
    link.host = s("127.0.0.1");
    link.port = 7421;
    link.account = s("alice");
    link.brokerPublicKey = QByteArray(32, 'b');
    link.secret = keyOf('s');
    QVERIFY(profile->adoptInvite(link).ok());
    QVERIFY(profile->setPending(1, keyOf('1')).ok());
    QVERIFY(profile->commitPending().ok());
    KeyKeeper keys(*profile, 2000);

    const SecretBytes secret = keyOf('S');
    auto wrapped = skbp::wrap(keyOf(char('0' + wrapEpoch)), quint32(wrapEpoch), secret,
                              {skbp::WrapPurpose::Call, sid, 0, owner});
    QVERIFY(wrapped.ok());
    QByteArray blob = *wrapped;
    if (tamper)
        blob[blob.size() - 1] = char(blob.back() ^ 1);
    auto r = keys.unwrap(blob, {skbp::WrapPurpose::Call, QByteArray(16, 'x'), 0, {}});
    if (code < 0) {
        QVERIFY2(r.ok(), r.ok() ? "" : qPrintable(r.error().message));
        QVERIFY(r->view() == secret.view());
    } else {
        QVERIFY(!r.ok());
        QCOMPARE(int(r.error().code), code);
    }
}

void TestCallKeys::directoryPages()
{
    Directory d(s("alice"));
    d.requested(7);
    QVERIFY(!d.takePage(page(7, {{"bob", true}, {"alice", true}}, true))); // ourselves: never
    QVERIFY(d.contacts().empty());                                         // not before the last page
    QVERIFY(!d.takePage(page(6, {{"mallory", true}}, false)));             // an older request's page
    QVERIFY(d.takePage(page(7, {{"carol", false}, {"bad name!", true}}, false)));
    QCOMPARE(names(d), (QStringList{s("bob+"), s("carol-")}));
    // A new request drops what an unfinished answer brought; the contacts stay until it ends.
    d.requested(8);
    QVERIFY(!d.takePage(page(8, {{"dave", true}}, true)));
    d.connectionLost();
    QVERIFY(d.takePage(page(8, {{"erin", true}}, false)));
    QCOMPARE(names(d), (QStringList{s("erin+")}));
}

void TestCallKeys::directoryPresenceAndBound()
{
    Directory d(s("alice"), 2);
    QVERIFY(d.takePresence(s("bob"), true));
    QVERIFY(!d.takePresence(s("alice"), true));
    QVERIFY(d.takePresence(s("carol"), true));
    QVERIFY(!d.takePresence(s("dave"), true)); // the bound: a broker cannot grow the phone's memory
    QVERIFY(d.takePresence(s("bob"), false));  // a contact already held still changes
    QCOMPARE(names(d), (QStringList{s("bob-"), s("carol+")}));
    d.requested(1);
    QVERIFY(d.takePage(page(1, {{"p", true}, {"q", true}, {"r", true}}, false)));
    QCOMPARE(d.size(), std::size_t(2));
}

QTEST_GUILESS_MAIN(TestCallKeys)
#include "tst_callkeys.moc"
