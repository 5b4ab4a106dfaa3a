// The call router's parts alone, each from a table (PROTOCOL.md §6): who may make whom ring and
// how a declined caller backs off (RingPolicy), who is involved where (SessionTable), how a
// call's members and first messages are made (CallSetup), how a member is reached wherever it is
// (MemberReach), and how the callee's key moves after calls — coalesced, spaced, durable,
// re-sent (KeyRotation, on a real store in a SQLite file or PostgreSQL, with the time in the
// test's hand).

#include "calls/callsetup.h"
#include "calls/keyrotation.h"
#include "calls/memberreach.h"
#include "calls/memberkeys.h"
#include "calls/ringpolicy.h"
#include "calls/sessiontable.h"
#include "media/inprocessmedia.h"

#include "broker/store.h"
#include "core/crypto.h"
#include "core/skbp.h"
#include "relay/relay.h"
#include "support/pgserver.h"
#include "support/routerfakes.h"

#include <QTemporaryDir>
#include <QTest>

using namespace sotto;
using namespace sotto::broker;
using T = wire::MessageType;

Q_DECLARE_METATYPE(sotto::broker::RingLoad)
Q_DECLARE_METATYPE(sotto::ErrorCode)

class TestCallParts : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void ringLimits_data();
    void ringLimits();
    void declineBackoff_data();
    void declineBackoff();
    void lapsedBackoffsArePruned();
    void sessionTableKeepsItsIndex();
    void callSetupMakesAValidCall();
    void memberReach_data();
    void memberReach();
    void rotation_data();
    void rotation();
    void claimSid_data();
    void claimSid();
};

namespace {

RingPolicy::Limits limits()
{
    return {.maxSessionsPerAccount = 8, .maxRingingPerAccount = 32, .maxRingingPerCaller = 4,
            .declineBackoffMs = 2000, .declineBackoffMaxMs = 16000};
}

// What a part of the router runs on: a real store in a temporary directory (SQLite, or
// PostgreSQL under SOTTO_TEST_STORE), the broker's own in-process relay, an outbox that keeps
// what is sent, and a broker named "a".
struct RouterParts
{
    QTemporaryDir dir;
    Store store;
    relay::RelayTable relays;
    InProcessMedia media{relays, [] { return quint16(7420); }};
    test::FakeOutbox outbox;
    BrokerConfig config;

    bool open()
    {
        config.name = QStringLiteral("a");
        auto location = StoreLocation::parse(test::testStoreAt(dir.filePath(QStringLiteral("broker.db"))));
        return location.ok() && store.open(*location).ok();
    }
    RouterContext context(PeerLinks &peers) { return {store, media, peers, outbox, config, [](const QString &) {}}; }
};

Member joinedMember(const QString &account)
{
    Member m;
    m.account = account;
    m.joined = true;
    return m;
}

Member ringingMember(const QString &account, const QString &by)
{
    Member m;
    m.account = account;
    m.ringBy = by;
    return m;
}

} // namespace

void TestCallParts::ringLimits_data()
{
    QTest::addColumn<RingLoad>("load");
    QTest::addColumn<bool>("declinedJustNow");
    QTest::addColumn<bool>("allowed");
    QTest::addColumn<ErrorCode>("code");
    QTest::addColumn<QString>("says");

    using L = RingLoad;
    const auto ok = ErrorCode::Internal; // unused when allowed
    QTest::newRow("idle") << L{} << false << true << ok << QString();
    QTest::newRow("callee in 7 calls") << L{.calleeJoined = 7} << false << true << ok << QString();
    QTest::newRow("callee in 8 calls: busy") << L{.calleeJoined = 8} << false << false << ErrorCode::Busy << "bob is busy";
    QTest::newRow("31 ring for the callee") << L{.calleeRinging = 31} << false << true << ok << QString();
    QTest::newRow("32 ring for the callee: busy") << L{.calleeRinging = 32} << false << false << ErrorCode::Busy << "bob is busy";
    QTest::newRow("already rung by this caller") << L{.calleeRinging = 1, .callerRingingCallee = 1} << false << false
                                                 << ErrorCode::Busy << "already ringing for you";
    QTest::newRow("caller rings 3 others") << L{.callerRinging = 3} << false << true << ok << QString();
    QTest::newRow("caller rings 4 others") << L{.callerRinging = 4} << false << false << ErrorCode::RateLimited
                                           << "4 calls are ringing already";
    QTest::newRow("caller in 8 calls") << L{.callerJoined = 8} << false << false << ErrorCode::RateLimited << "too many sessions";
    QTest::newRow("declined a moment ago") << L{} << true << false << ErrorCode::RateLimited
                                           << "bob declined your last call; try again in 2 s";
    // The callee's limits come first: a busy callee is busy whoever calls.
    QTest::newRow("busy before backing off") << L{.calleeJoined = 8} << true << false << ErrorCode::Busy << "bob is busy";
}

void TestCallParts::ringLimits()
{
    QFETCH(RingLoad, load);
    QFETCH(bool, declinedJustNow);
    QFETCH(bool, allowed);
    QFETCH(ErrorCode, code);
    QFETCH(QString, says);
    const QString alice = QStringLiteral("alice"), bob = QStringLiteral("bob");
    RingPolicy policy(limits());
    const qint64 now = 1'000'000;
    if (declinedJustNow)
        policy.noteDecline(bob, alice, now);
    const auto r = policy.mayRing(alice, bob, load, now);
    QCOMPARE(r.ok(), allowed);
    if (!allowed) {
        QCOMPARE(r.error().code, code);
        QVERIFY2(r.error().message.contains(says), qPrintable(r.error().message));
    }
    // Another caller is never held back by alice's back-off.
    if (declinedJustNow && load.calleeJoined < 8)
        QVERIFY(policy.mayRing(QStringLiteral("carol"), bob, load, now).ok());
}

void TestCallParts::declineBackoff_data()
{
    // Declines at the given times (ms); after each, how long alice must wait (ms): it doubles from
    // 2 s to the 16 s ceiling, an answer ends it, and a quiet as long as the ceiling starts it over.
    QTest::addColumn<QList<qint64>>("declines");
    QTest::addColumn<QList<qint64>>("waits");
    QTest::addColumn<qint64>("answeredAt"); // -1: never
    QTest::newRow("one") << QList<qint64>{0} << QList<qint64>{2000} << qint64(-1);
    QTest::newRow("doubling") << QList<qint64>{0, 2000, 6000, 14000} << QList<qint64>{2000, 4000, 8000, 16000} << qint64(-1);
    QTest::newRow("ceiling") << QList<qint64>{0, 2000, 6000, 14000, 30000, 46000}
                             << QList<qint64>{2000, 4000, 8000, 16000, 16000, 16000} << qint64(-1);
    // After the 8 s wait that ends at 14 s, a quiet of more than 16 s: back to 2 s.
    QTest::newRow("quiet starts over") << QList<qint64>{0, 2000, 6000, 31000} << QList<qint64>{2000, 4000, 8000, 2000}
                                       << qint64(-1);
    QTest::newRow("an answer ends it") << QList<qint64>{0, 2000, 7000} << QList<qint64>{2000, 4000, 2000} << qint64(6500);
}

void TestCallParts::declineBackoff()
{
    QFETCH(QList<qint64>, declines);
    QFETCH(QList<qint64>, waits);
    QFETCH(qint64, answeredAt);
    const QString alice = QStringLiteral("alice"), bob = QStringLiteral("bob");
    RingPolicy policy(limits());
    const qint64 t0 = 5'000'000;
    for (qsizetype i = 0; i < declines.size(); ++i) {
        const qint64 at = t0 + declines[i];
        if (answeredAt >= 0 && answeredAt <= declines[i] && (i == 0 || declines[i - 1] < answeredAt)) {
            QVERIFY(policy.mayRing(alice, bob, {}, t0 + answeredAt).ok());
            policy.noteAnswer(bob, alice);
        }
        policy.noteDecline(bob, alice, at);
        QVERIFY2(!policy.mayRing(alice, bob, {}, at + waits[i] - 1).ok(), qPrintable(QStringLiteral("decline %1").arg(i)));
        QVERIFY2(policy.mayRing(alice, bob, {}, at + waits[i]).ok(), qPrintable(QStringLiteral("decline %1").arg(i)));
    }
}

void TestCallParts::lapsedBackoffsArePruned()
{
    // Only declines make entries, and lapsed ones go as more come in: a caller cycling through
    // names cannot grow the broker's memory without bound.
    RingPolicy policy(limits());
    const QString bob = QStringLiteral("bob");
    const std::size_t n = RingPolicy::kPruneFloor + 1; // the next decline finds more than the floor
    for (std::size_t i = 0; i < n; ++i)
        policy.noteDecline(bob, QStringLiteral("caller%1").arg(i), 0);
    QCOMPARE(policy.remembered(), n);
    policy.noteDecline(bob, QStringLiteral("late"), 10 * limits().declineBackoffMaxMs);
    QCOMPARE(policy.remembered(), std::size_t(1));
}

void TestCallParts::sessionTableKeepsItsIndex()
{
    const QString alice = QStringLiteral("alice"), bob = QStringLiteral("bob"), carol = QStringLiteral("carol");
    SessionTable table;
    auto one = std::make_unique<Session>();
    one->sid = QByteArray(16, '\1');
    one->members = {joinedMember(alice), ringingMember(bob, alice)};
    Session &s = table.insert(std::move(one));
    auto two = std::make_unique<Session>();
    two->sid = QByteArray(16, '\2');
    two->members = {joinedMember(carol), ringingMember(alice, carol)};
    table.insert(std::move(two));

    struct Expect
    {
        QString account;
        int joined, ringingTo, ringingBy, sessions;
    };
    auto check = [&](const std::vector<Expect> &rows, const char *when) {
        for (const Expect &e : rows) {
            const QString where = QStringLiteral("%1, %2").arg(QLatin1StringView(when), e.account);
            QVERIFY2(table.joinedSessionsOf(e.account) == e.joined, qPrintable(where));
            QVERIFY2(table.ringingTo(e.account) == e.ringingTo, qPrintable(where));
            QVERIFY2(table.ringingBy(e.account) == e.ringingBy, qPrintable(where));
            QVERIFY2(int(table.sessionsWith(e.account).size()) == e.sessions, qPrintable(where));
        }
    };
    check({{alice, 1, 1, 1, 2}, {bob, 0, 1, 0, 1}, {carol, 1, 0, 1, 1}}, "two calls ringing");
    QCOMPARE(table.ringingBy(alice, bob), 1);
    QCOMPARE(table.ringingBy(alice, carol), 0);

    s.find(bob)->joined = true; // bob answers (a flag: not indexed, read through the index)
    check({{alice, 1, 1, 0, 2}, {bob, 1, 0, 0, 1}}, "bob answered");
    table.addMember(s, ringingMember(carol, bob)); // bob invites carol
    check({{bob, 1, 0, 1, 1}, {carol, 1, 1, 1, 2}}, "carol invited");
    table.dropMember(s, carol); // she declines
    check({{bob, 1, 0, 0, 1}, {carol, 1, 0, 1, 1}}, "carol declined");

    QVERIFY(table.take(QByteArray(16, '\1')));
    QVERIFY(!table.take(QByteArray(16, '\1')));
    check({{alice, 0, 1, 0, 1}, {bob, 0, 0, 0, 0}}, "the first call over");
    QVERIFY(table.take(QByteArray(16, '\2')));
    QCOMPARE(table.indexedAccounts(), std::size_t(0)); // nothing is left behind in the index
    QVERIFY(table.all().empty());
}

// A call's parts: distinct SSRCs and tokens, the caller joined and the callee rung by it, a relay
// grant for each member of ours (none for one behind a peer), and first messages that pass the
// schema a phone checks them against.
void TestCallParts::callSetupMakesAValidCall()
{
    RouterParts parts;
    QVERIFY(parts.open());
    test::NoPeers peers;
    const RouterContext ctx = parts.context(peers);
    SessionTable table;
    RingPolicy ring(limits());
    CallSetup setup(ctx, table, ring);

    auto opened = setup.openSession(QStringLiteral("alice"), QStringLiteral("bob"));
    QVERIFY(opened.ok());
    Session &s = **opened;
    QCOMPARE(s.sid.size(), qsizetype(skbp::kSidSize));
    auto pair = setup.addCallerAndCallee(s);
    QVERIFY(pair.ok());
    const auto &[caller, callee] = *pair;
    QVERIFY(caller.ssrc != 0 && callee.ssrc != 0 && caller.ssrc != callee.ssrc);
    QVERIFY(caller.token != callee.token);
    QVERIFY(caller.joined && !callee.joined);
    QCOMPARE(callee.ringBy, QStringLiteral("alice"));
    for (int i = 0; i < 40; ++i) { // many more: never a clash, never zero
        auto m = setup.newMember(s, QStringLiteral("m%1").arg(i));
        QVERIFY(m.ok());
        QVERIFY(m->ssrc != 0);
        QVERIFY(!s.find(m->account));
        for (const Member &o : s.members)
            QVERIFY(o.ssrc != m->ssrc);
        s.members.push_back(*m);
    }
    s.members.resize(2);
    Member dave = *setup.newMember(s, QStringLiteral("dave@b"));
    s.members.push_back(dave);
    QVERIFY(setup.admitLocals(s).ok());
    QVERIFY(!s.find(QStringLiteral("alice"))->relay.isEmpty());
    QVERIFY(!s.find(QStringLiteral("bob"))->relay.isEmpty());
    QVERIFY(s.find(QStringLiteral("dave@b"))->relay.isEmpty()); // its own broker's relay grants it
    const QCborArray joined = CallSetup::joinedPeers(s);
    QCOMPARE(joined.size(), 1);
    QCOMPARE(joined.at(0).toMap().value(wire::key::account).toString(), QStringLiteral("alice"));
    auto secret = crypto::randomSecret(skbp::kKeySize);
    auto under = crypto::randomSecret(skbp::kKeySize);
    QVERIFY(secret.ok() && under.ok());
    auto wrapped = skbp::wrap(*under, 1, *secret, {skbp::WrapPurpose::Call, s.sid, 0, QStringLiteral("alice")});
    QVERIFY(wrapped.ok());
    const QCborMap callKey = CallSetup::callKeyMessage(s, *s.find(QStringLiteral("alice")), 3, *wrapped, 9);
    const QCborMap incoming = CallSetup::incomingMessage(s, *s.find(QStringLiteral("alice")), *s.find(QStringLiteral("bob")), 3);
    for (const QCborMap &m : {callKey, incoming}) {
        auto decoded = wire::decodeMessage(wire::encodeMessage(m));
        QVERIFY2(decoded.ok(), decoded.ok() ? "" : qPrintable(decoded.error().message));
    }
    QCOMPARE(quint32(incoming.value(wire::key::ssrc).toInteger()), s.find(QStringLiteral("bob"))->ssrc);
    QCOMPARE(quint32(callKey.value(wire::key::ssrc).toInteger()), s.find(QStringLiteral("alice"))->ssrc);
}

void TestCallParts::memberReach_data()
{
    QTest::addColumn<QString>("address");
    QTest::addColumn<bool>("linkUp");
    QTest::addColumn<QString>("reaches"); // "phone:bob", "peer:b:dave", or "" (nothing sent)
    QTest::addColumn<bool>("known");
    QTest::addColumn<bool>("online");

    const auto row = [](const char *name, const char *address, bool up, const char *reaches, bool known, bool online) {
        QTest::newRow(name) << QString::fromLatin1(address) << up << QString::fromLatin1(reaches) << known << online;
    };
    row("ours: through its phone", "bob", true, "phone:bob", false, false);
    row("ours written in full is still ours", "bob@a", true, "phone:bob", false, false);
    row("a peer's, online: through its broker", "dave@b", true, "peer:b:dave", true, true);
    row("a peer's, offline there: known, still delivered", "erin@b", true, "peer:b:erin", true, false);
    row("a peer's account it never named", "zed@b", true, "peer:b:zed", false, false);
    row("a peer's over a link that is down: nothing goes", "dave@b", false, "", true, false);
    row("a broker that is no peer: nothing goes", "dave@c", true, "", false, false);
}

void TestCallParts::memberReach()
{
    QFETCH(QString, address);
    QFETCH(bool, linkUp);
    QFETCH(QString, reaches);
    QFETCH(bool, known);
    QFETCH(bool, online);

    RouterParts parts;
    QVERIFY(parts.open());
    test::FakePeers peers;
    peers.peers[QStringLiteral("b")] = {.up = linkUp,
                                        .directory = {{QStringLiteral("dave"), true}, {QStringLiteral("erin"), false}}};
    const RouterContext ctx = parts.context(peers);
    test::FakeOutbox &outbox = parts.outbox;
    const BrokerConfig &config = parts.config;
    SessionTable table;
    MemberReach reach(ctx, table);

    const QCborMap ended = wire::ended(QByteArray(skbp::kSidSize, 's'), EndReason::Hangup);
    reach.sendTo(skbp::Address::parse(address).relativeTo(config.name).toString(), ended);
    QStringList went;
    for (const test::SentMessage &m : outbox.sent)
        went << QStringLiteral("phone:%1").arg(m.to);
    for (const auto &[peer, m] : peers.sent) {
        QCOMPARE(m.value(wire::key::t).toString(), QStringLiteral("deliver"));
        QCOMPARE(m.value(wire::key::msg).toMap(), ended); // the message itself, for the member
        went << QStringLiteral("peer:%1:%2").arg(peer, m.value(wire::key::to).toString());
    }
    QCOMPARE(went, reaches.isEmpty() ? QStringList() : QStringList{reaches});
    bool isOnline = false;
    QCOMPARE(reach.isKnownRemote(address, &isOnline), known);
    QCOMPARE(isOnline && known, online);
}

void TestCallParts::rotation_data()
{
    // A script, one step per word, against bob's key (enrolled at epoch 1, online unless said):
    //   keyed N   a session keyed from K_bob at epoch N ended (rotateAfter)
    //   ack       bob acknowledges the newest `rotate` with its proof
    //   wait MS   the clock moves on, and deferred rotations get their chance
    //   offline / login   bob's channel closes / bob logs in again
    //   revoke    the operator revoked bob (KeyRotation::forget, then the store's revocation)
    // Then: `rotate` messages bob was sent, his committed epoch, the pending one (0: none),
    // whether a rotation is still owed, and whether the durable record says one is due.
    QTest::addColumn<QStringList>("script");
    QTest::addColumn<int>("rotates");
    QTest::addColumn<int>("epoch");
    QTest::addColumn<int>("pending");
    QTest::addColumn<bool>("owes");
    QTest::addColumn<int>("rotateDue");
    auto s = [](const char *text) { return QString::fromLatin1(text).split(u' ', Qt::SkipEmptyParts); };
    QTest::newRow("one call, one rotation") << s("keyed 1") << 1 << 1 << 2 << true << 1;
    // The record clears once the key is seen to have passed it: at the next chance the interval
    // between rotations gives.
    QTest::newRow("acknowledged: still owed within the interval") << s("keyed 1 ack") << 1 << 2 << 0 << true << 1;
    QTest::newRow("acknowledged: covered") << s("keyed 1 ack wait 1000") << 1 << 2 << 0 << false << 0;
    QTest::newRow("two calls at one epoch coalesce") << s("keyed 1 keyed 1 ack wait 1000") << 1 << 2 << 0 << false << 0;
    // A call during the pending rotation was keyed at the pending epoch: after the commit the
    // key moves again, but not before the interval since the last rotation has passed.
    QTest::newRow("keyed at the pending epoch: again, spaced") << s("keyed 1 keyed 2 ack") << 1 << 2 << 0 << true << 2;
    QTest::newRow("…after the interval") << s("keyed 1 keyed 2 ack wait 1000") << 2 << 2 << 3 << true << 2;
    QTest::newRow("…and acknowledged") << s("keyed 1 keyed 2 ack wait 1000 ack wait 1000") << 2 << 3 << 0 << false << 0;
    QTest::newRow("a burst within the interval: once") << s("keyed 1 ack keyed 2 keyed 2 keyed 2 wait 999") << 1 << 2 << 0
                                                       << true << 2;
    QTest::newRow("offline: pending, sent at login") << s("offline keyed 1") << 0 << 1 << 2 << true << 1;
    QTest::newRow("…sent at login") << s("offline keyed 1 login") << 1 << 1 << 2 << true << 1;
    QTest::newRow("re-sent at every login until acknowledged") << s("keyed 1 login login ack wait 1000") << 3 << 2 << 0 << false << 0;
    QTest::newRow("an old epoch is covered already") << s("keyed 1 ack wait 1000 keyed 1") << 1 << 2 << 0 << false << 0;
    QTest::newRow("revoked: nothing owed") << s("offline keyed 1 revoke") << 0 << 0 << 0 << false << 0;
}

void TestCallParts::rotation()
{
    QFETCH(QStringList, script);
    QFETCH(int, rotates);
    QFETCH(int, epoch);
    QFETCH(int, pending);
    QFETCH(bool, owes);
    QFETCH(int, rotateDue);

    RouterParts parts;
    QVERIFY(parts.open());
    Store &store = parts.store;
    const QString bob = QStringLiteral("bob");
    auto k = crypto::randomSecret(skbp::kKeySize);
    QVERIFY(k.ok());
    QVERIFY(store.setPending(bob, 1, *k, PendingKind::Handshake).ok());
    QVERIFY(store.commitPending(bob).ok());
    SecretBytes current = *k;

    test::NoPeers peers;
    test::FakeOutbox &outbox = parts.outbox;
    outbox.online.insert(bob);
    parts.config.rotationMinIntervalMs = 1000;
    const BrokerConfig &config = parts.config;
    const RouterContext ctx = parts.context(peers);
    MemberKeys keys(ctx);
    qint64 now = 1'000'000;
    KeyRotation rotation(ctx, keys, [&] { return now; });

    int sent = 0;
    std::optional<wire::Message> newest;
    auto collect = [&] {
        for (const wire::Message &m : outbox.take(bob, T::Rotate)) {
            ++sent;
            newest = m;
        }
    };
    for (qsizetype i = 0; i < script.size(); ++i) {
        const QString &step = script[i];
        if (step == u"keyed") {
            rotation.rotateAfter(bob, script[++i].toUInt());
        } else if (step == u"ack") {
            collect();
            QVERIFY2(newest, "ack with no rotate sent");
            const quint32 next = newest->u32(wire::key::epoch);
            const AccountRecord *a = store.account(bob);
            auto key = skbp::unwrap(current, a->epoch, newest->bytes(wire::key::wrapped),
                                    {skbp::WrapPurpose::Rotate, QByteArray(skbp::kSidSize, '\0'), 0, bob});
            QVERIFY(key.ok());
            QVERIFY(rotation.rotateAck(bob, next, *skbp::rotateProof(*key, bob, next)).ok());
            current = *key;
        } else if (step == u"wait") {
            const int ms = script[++i].toInt();
            now += ms;
            // The deferred rotation's timer runs on the event loop's clock: give it its chance.
            if (rotation.armed(bob))
                QTRY_VERIFY_WITH_TIMEOUT(!rotation.armed(bob) || ms < config.rotationMinIntervalMs, 5000);
        } else if (step == u"offline") {
            outbox.online.erase(bob);
        } else if (step == u"login") {
            outbox.online.insert(bob);
            rotation.onLogin(bob);
        } else if (step == u"revoke") {
            rotation.forget(bob);
            QVERIFY(store.revoke(bob).ok());
        } else {
            QFAIL(qPrintable(QStringLiteral("unknown step %1").arg(step)));
        }
        collect();
    }
    const AccountRecord *a = store.account(bob);
    QVERIFY(a);
    QCOMPARE(sent, rotates);
    QCOMPARE(int(a->epoch), epoch);
    QCOMPARE(int(a->pendingKind == PendingKind::Rotate ? a->pendingEpoch : 0), pending);
    QCOMPARE(rotation.owes(bob), owes);
    QCOMPARE(int(a->rotateDue), rotateDue);
}

void TestCallParts::claimSid_data()
{
    // (epoch, sid) claims in order, and whether each is granted: never twice from one key and
    // sid, never from an epoch older than one already used.
    QTest::addColumn<QStringList>("claims");
    QTest::addColumn<QList<bool>>("granted");
    auto s = [](const char *text) { return QString::fromLatin1(text).split(u' ', Qt::SkipEmptyParts); };
    QTest::newRow("distinct sids") << s("1:a 1:b 1:c") << QList<bool>{true, true, true};
    QTest::newRow("a sid again") << s("1:a 1:a") << QList<bool>{true, false};
    QTest::newRow("a new epoch forgets the old sids") << s("1:a 2:a 2:a") << QList<bool>{true, true, false};
    QTest::newRow("an older epoch is refused") << s("2:a 1:b") << QList<bool>{true, false};
}

void TestCallParts::claimSid()
{
    QFETCH(QStringList, claims);
    QFETCH(QList<bool>, granted);
    RouterParts routerParts;
    QVERIFY(routerParts.open());
    test::NoPeers peers;
    const RouterContext ctx = routerParts.context(peers);
    MemberKeys keys(ctx);
    KeyRotation rotation(ctx, keys);
    for (qsizetype i = 0; i < claims.size(); ++i) {
        const auto parts = claims[i].split(u':');
        const QByteArray sid = parts[1].toLatin1().repeated(skbp::kSidSize);
        QCOMPARE(rotation.claimSid(QStringLiteral("bob"), parts[0].toUInt(), sid), granted[i]);
    }
}

QTEST_GUILESS_MAIN(TestCallParts)
#include "tst_callparts.moc"
