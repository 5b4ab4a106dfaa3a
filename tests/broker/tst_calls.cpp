// Patent Fig. 1 and Fig. 2 end to end over loopback: a real broker, real phone engines, a real
// SQLite store; plus concurrent callers and the chain attack of PROTOCOL.md §1.
#include "core/crypto.h"
#include "core/skbp.h"
#include "support/fixtures.h"
#include "support/wiretap.h"

#include <QSet>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTest>

using namespace sotto;
using namespace sotto::test;

class TestCalls : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void initTestCase() { QStandardPaths::setTestModeEnabled(true); }
    void fig1_data();
    void fig1();
    void fig2Conference();
    void concurrentCallersGetDistinctKeys();
    void chainAttack_data();
    void chainAttack();
    void declineEndsCallAndRotates();
    void unansweredCallsStopRinging();
    void muteIsShownToTheOthers();
    void periodicRefreshWhenIdle();
    void reconnectsAfterBrokerRestart();
};

void TestCalls::fig1_data()
{
    QTest::addColumn<bool>("patent");
    QTest::newRow("derived") << false;
    QTest::newRow("patent") << true;
}

void TestCalls::fig1()
{
    QFETCH(bool, patent);
    TestBroker broker(patent ? skbp::KeyMode::Patent : skbp::KeyMode::Derived);
    TestPhone alice(QStringLiteral("alice")), bob(QStringLiteral("bob"));
    QVERIFY(enrolAndLogin(broker, alice));
    QVERIFY(enrolAndLogin(broker, bob));
    QCOMPARE(bob.profile().epoch(), 1u);
    const SecretBytes bobKey = bob.profile().key();

    const QByteArray sid = establishCall(alice, bob);
    QVERIFY(!sid.isEmpty());
    // {SK}K_alice unwrapped by alice equals the SK bob derived himself from K_bob.
    auto aliceSk = alice.engine().sessionKey(sid, 0);
    auto bobSk = bob.engine().sessionKey(sid, 0);
    QVERIFY(aliceSk && bobSk);
    QCOMPARE(skbp::fingerprint(*aliceSk), skbp::fingerprint(*bobSk));
    auto expected = skbp::sessionKey(patent ? skbp::KeyMode::Patent : skbp::KeyMode::Derived, bobKey, sid,
                                     QStringLiteral("bob"), 1);
    QVERIFY(expected->equals(*aliceSk));
    QCOMPARE(aliceSk->equals(bobKey), patent); // only patent mode hands out K_bob itself
    // Both timelines tell the same fingerprint; neither holds a key.
    const auto aliceEvents = alice.engine().timeline().eventsFor(sid);
    QVERIFY(!aliceEvents.empty());
    QCOMPARE(aliceEvents.front().kind, TimelineEvent::Kind::CallKey);
    QCOMPARE(aliceEvents.front().fp, skbp::fingerprint(*bobSk));
    QCOMPARE(aliceEvents.front().notation, QStringLiteral("{SK}K_alice"));

    // Hang up: bob's key rotates ({K_bob'}K_bob) and the broker commits epoch 2 on the ack.
    QSignalSpy rotated(&bob.engine(), &ClientEngine::rotated);
    alice.engine().leave(sid);
    QVERIFY(rotated.wait(5000));
    QCOMPARE(rotated.first().at(0).toUInt(), 2u);
    QCOMPARE(bob.profile().epoch(), 2u);
    QVERIFY(!bob.profile().key().equals(bobKey));
    QTRY_COMPARE_WITH_TIMEOUT(broker.broker().store().account(QStringLiteral("bob"))->epoch, 2u, 5000);
    QVERIFY(broker.broker().store().account(QStringLiteral("bob"))->key.equals(bob.profile().key()));
    QCOMPARE(bob.engine().timeline().events().back().kind, TimelineEvent::Kind::Rotated);
    QCOMPARE(bob.engine().timeline().events().back().sid, sid); // shown with the call that caused it

    // bob can still be called, under the new epoch.
    QVERIFY(callWorks(alice, bob));
    QCOMPARE(bob.profile().epoch(), 3u);
    // The old epoch is refused at login, and so is the old key; the current one works.
    QCOMPARE(rawLogin(broker.port(), QStringLiteral("bob"), 1, bobKey), QStringLiteral("auth"));
    QCOMPARE(rawLogin(broker.port(), QStringLiteral("bob"), 3, bobKey), QStringLiteral("auth"));
    QCOMPARE(rawLogin(broker.port(), QStringLiteral("bob"), 3, bob.profile().key()), QStringLiteral("welcome"));
}

void TestCalls::fig2Conference()
{
    TestBroker broker;
    TestPhone alice(QStringLiteral("alice")), bob(QStringLiteral("bob")), carol(QStringLiteral("carol"));
    FrameProxy proxy(broker.port());
    QVERIFY(enrolAndLogin(broker, alice, proxy.port()));
    QVERIFY(enrolAndLogin(broker, bob));
    QVERIFY(enrolAndLogin(broker, carol));
    const QByteArray sid = establishCall(alice, bob);
    QVERIFY(!sid.isEmpty());

    QSignalSpy carolRings(&carol.engine(), &ClientEngine::incomingCall);
    alice.engine().invite(sid, QStringLiteral("carol"));
    QVERIFY(carolRings.wait(3000));
    QCOMPARE(carolRings.first().at(2).toBool(), true); // a conference invite: no key yet
    QVERIFY(!carol.engine().sessionKey(sid, 0));
    QVERIFY(!carol.engine().sessionKey(sid, 1));
    carol.engine().answer(sid);

    // All three hold generation 1 = ratchet(SK_0); carol never sees generation 0.
    QTRY_VERIFY_WITH_TIMEOUT(alice.engine().sessionKey(sid, 1) && bob.engine().sessionKey(sid, 1)
                                 && carol.engine().sessionKey(sid, 1), 3000);
    const SecretBytes gen1 = *carol.engine().sessionKey(sid, 1);
    QVERIFY(alice.engine().sessionKey(sid, 1)->equals(gen1));
    QVERIFY(bob.engine().sessionKey(sid, 1)->equals(gen1));
    QVERIFY(!carol.engine().sessionKey(sid, 0));
    QCOMPARE(carol.engine().session(sid)->gen, 1u);
    QCOMPARE(int(alice.engine().session(sid)->members.size()), 2);
    // Each member sends under its own SSRC, drawn by the broker, with its own relay token.
    QSet<quint32> ssrcs;
    QSet<QByteArray> tokens;
    for (TestPhone *p : {&alice, &bob, &carol}) {
        const auto info = *p->engine().session(sid);
        ssrcs.insert(info.ownSsrc);
        tokens.insert(info.relayToken);
        QCOMPARE(info.relayToken.size(), 16);
        QCOMPARE(info.relayPort, broker.port());
        for (const MemberInfo &m : info.members) // what others call us is what we send as
            QCOMPARE(m.ssrc, [&] { for (TestPhone *q : {&alice, &bob, &carol}) if (q->account() == m.account) return q->engine().session(sid)->ownSsrc; return 0u; }());
    }
    QCOMPARE(ssrcs.size(), 3);
    QCOMPARE(tokens.size(), 3);

    // carol leaves: alice and bob re-key to generation 2.
    carol.engine().leave(sid);
    QTRY_VERIFY_WITH_TIMEOUT(alice.engine().session(sid) && alice.engine().session(sid)->gen == 2
                                 && bob.engine().session(sid) && bob.engine().session(sid)->gen == 2, 3000);
    const SecretBytes gen2 = *alice.engine().sessionKey(sid, 2);
    QVERIFY(bob.engine().sessionKey(sid, 2)->equals(gen2));
    QVERIFY(!gen2.equals(gen1));
    QVERIFY(!carol.engine().session(sid)); // carol erased her keys
    // carol cannot obtain generation 2: it is fresh (not a ratchet of what she had) ...
    QVERIFY(!skbp::ratchet(gen1, sid, 2)->equals(gen2));
    // ... and the {SK_2}K_alice on the wire does not open with K_carol, only with K_alice.
    const auto conns = loginConnections(proxy.frames(), QStringLiteral("alice"));
    QCOMPARE(int(conns.size()), 1);
    const TapResult tap = tapLogin(proxy.frames(), conns.front(), alice.profile().key());
    QVERIFY(tap.decrypted);
    QByteArray rekeyWrapped;
    for (const auto &m : tap.toClient) {
        if (m.typeName() == QLatin1StringView("rekey"))
            rekeyWrapped = m.bytes(QLatin1StringView("wrapped"));
    }
    QVERIFY(!rekeyWrapped.isEmpty());
    const skbp::WrapContext forAlice{skbp::WrapPurpose::Rekey, sid, 2, QStringLiteral("alice")};
    QVERIFY(skbp::unwrap(alice.profile().key(), alice.profile().epoch(), rekeyWrapped, forAlice)->equals(gen2));
    const skbp::WrapContext forCarol{skbp::WrapPurpose::Rekey, sid, 2, QStringLiteral("carol")};
    QVERIFY(!skbp::unwrap(carol.profile().key(), alice.profile().epoch(), rekeyWrapped, forCarol).ok());
    QVERIFY(!skbp::unwrap(carol.profile().key(), alice.profile().epoch(), rekeyWrapped, forAlice).ok());

    // Timelines: in order, with the right generations.
    std::vector<std::pair<TimelineEvent::Kind, quint32>> got;
    for (const auto &e : bob.engine().timeline().eventsFor(sid))
        got.emplace_back(e.kind, e.gen.value_or(99));
    const std::vector<std::pair<TimelineEvent::Kind, quint32>> want{
        {TimelineEvent::Kind::Incoming, 0}, {TimelineEvent::Kind::SessionKey, 0}, {TimelineEvent::Kind::Answered, 0},
        {TimelineEvent::Kind::Joined, 1},   {TimelineEvent::Kind::Left, 2},       {TimelineEvent::Kind::Rekeyed, 2}};
    QCOMPARE(got, want);

    // alice hangs up: the call ends for bob, and bob's key rotates.
    QSignalSpy bobEnded(&bob.engine(), &ClientEngine::callEnded);
    QSignalSpy bobRotated(&bob.engine(), &ClientEngine::rotated);
    alice.engine().leave(sid);
    QVERIFY(bobEnded.wait(3000));
    QTRY_COMPARE_WITH_TIMEOUT(bobRotated.size(), 1, 3000);
}

void TestCalls::concurrentCallersGetDistinctKeys()
{
    for (bool patent : {false, true}) {
        TestBroker broker(patent ? skbp::KeyMode::Patent : skbp::KeyMode::Derived);
        TestPhone alice(QStringLiteral("alice")), dave(QStringLiteral("dave")), bob(QStringLiteral("bob"));
        QVERIFY(enrolAndLogin(broker, alice));
        QVERIFY(enrolAndLogin(broker, dave));
        QVERIFY(enrolAndLogin(broker, bob));
        const QByteArray s1 = establishCall(alice, bob);
        const QByteArray s2 = establishCall(dave, bob);
        QVERIFY(!s1.isEmpty() && !s2.isEmpty());
        QVERIFY(s1 != s2);
        const auto k1 = alice.engine().sessionKey(s1, 0);
        const auto k2 = dave.engine().sessionKey(s2, 0);
        QVERIFY(k1 && k2);
        QVERIFY(bob.engine().sessionKey(s1, 0)->equals(*k1));
        QVERIFY(bob.engine().sessionKey(s2, 0)->equals(*k2));
        // Derived mode: distinct keys. Patent mode: both are K_bob (the weakness it demonstrates).
        QCOMPARE(k1->equals(*k2), patent);
    }
}

void TestCalls::chainAttack_data()
{
    fig1_data();
}

// A former caller who recorded bob's control channel tries to follow bob's key chain:
// with SK = K_bob (patent mode) it decrypts bob's `rotate` and learns K_bob'.
void TestCalls::chainAttack()
{
    QFETCH(bool, patent);
    TestBroker broker(patent ? skbp::KeyMode::Patent : skbp::KeyMode::Derived);
    FrameProxy wire(broker.port()); // the eavesdropper's recording of bob's traffic
    TestPhone alice(QStringLiteral("alice")), bob(QStringLiteral("bob"));
    QVERIFY(enrolAndLogin(broker, alice));
    QVERIFY(enrolAndLogin(broker, bob, wire.port()));
    const SecretBytes bobOld = bob.profile().key();
    const QByteArray sid = establishCall(alice, bob);
    QVERIFY(!sid.isEmpty());
    const SecretBytes stolen = *alice.engine().sessionKey(sid, 0); // all alice legitimately holds
    QSignalSpy rotated(&bob.engine(), &ClientEngine::rotated);
    alice.engine().leave(sid);
    QVERIFY(rotated.wait(5000));
    const SecretBytes bobNext = bob.profile().key();

    const auto conns = loginConnections(wire.frames(), QStringLiteral("bob"));
    QCOMPARE(int(conns.size()), 1);
    const skbp::WrapContext rotateCtx{skbp::WrapPurpose::Rotate, QByteArray(16, '\0'), 0, QStringLiteral("bob")};
    auto rotateBlob = [](const TapResult &t) {
        for (const auto &m : t.toClient) {
            if (m.typeName() == QLatin1StringView("rotate"))
                return m.bytes(QLatin1StringView("wrapped"));
        }
        return QByteArray();
    };
    const TapResult tap = tapLogin(wire.frames(), conns.front(), stolen);
    std::optional<SecretBytes> recovered;
    if (const QByteArray blob = rotateBlob(tap); !blob.isEmpty()) {
        if (auto k = skbp::unwrap(stolen, *skbp::wrappedEpoch(blob), blob, rotateCtx))
            recovered = std::move(*k);
    }
    if (patent) {
        QVERIFY(tap.decrypted);
        QVERIFY(recovered.has_value());
        QVERIFY(recovered->equals(bobNext)); // the attack succeeds
    } else {
        QVERIFY(!tap.decrypted); // bob's channel does not even open with the session key
        QVERIFY(!recovered.has_value());
        // Even handed the real rotate blob (read here with bob's old key), SK does not unwrap it.
        const TapResult truth = tapLogin(wire.frames(), conns.front(), bobOld);
        QVERIFY(truth.decrypted);
        const QByteArray blob = rotateBlob(truth);
        QVERIFY(!blob.isEmpty());
        QVERIFY(!skbp::unwrap(stolen, 1, blob, rotateCtx).ok());
        QVERIFY(skbp::unwrap(bobOld, 1, blob, rotateCtx)->equals(bobNext));
    }
}

void TestCalls::declineEndsCallAndRotates()
{
    TestBroker broker;
    TestPhone alice(QStringLiteral("alice")), bob(QStringLiteral("bob"));
    QVERIFY(enrolAndLogin(broker, alice));
    QVERIFY(enrolAndLogin(broker, bob));
    QSignalSpy incoming(&bob.engine(), &ClientEngine::incomingCall);
    QSignalSpy ended(&alice.engine(), &ClientEngine::callEnded);
    QSignalSpy rotated(&bob.engine(), &ClientEngine::rotated);
    alice.engine().call(QStringLiteral("bob"));
    QVERIFY(incoming.wait(3000));
    bob.engine().decline(incoming.first().at(0).toByteArray());
    QVERIFY(ended.wait(3000));
    QCOMPARE(ended.first().at(1).value<EndReason>(), EndReason::Declined);
    // alice held a key derived from K_bob: it rotates even though nobody talked.
    QTRY_COMPARE_WITH_TIMEOUT(rotated.size(), 1, 3000);
    QVERIFY(alice.engine().sessions().empty());
}

void TestCalls::unansweredCallsStopRinging()
{
    TestBroker broker([](broker::BrokerConfig &c) { c.ringTimeoutMs = 700; });
    TestPhone alice(QStringLiteral("alice")), bob(QStringLiteral("bob")), carol(QStringLiteral("carol"));
    QVERIFY(enrolAndLogin(broker, alice));
    QVERIFY(enrolAndLogin(broker, bob));
    QVERIFY(enrolAndLogin(broker, carol));

    // Nobody answers: the call ends "no answer" on both phones, and bob's key rotates (alice
    // was handed a key derived from it).
    QSignalSpy bobRings(&bob.engine(), &ClientEngine::incomingCall);
    QSignalSpy aliceEnded(&alice.engine(), &ClientEngine::callEnded);
    QSignalSpy bobEnded(&bob.engine(), &ClientEngine::callEnded);
    QSignalSpy bobRotated(&bob.engine(), &ClientEngine::rotated);
    alice.engine().call(QStringLiteral("bob"));
    QVERIFY(bobRings.wait(3000));
    QTRY_COMPARE_WITH_TIMEOUT(aliceEnded.size(), 1, 5000);
    QCOMPARE(aliceEnded.first().at(1).value<EndReason>(), EndReason::NoAnswer);
    QTRY_COMPARE_WITH_TIMEOUT(bobEnded.size(), 1, 3000);
    QCOMPARE(bobEnded.first().at(1).value<EndReason>(), EndReason::NoAnswer);
    QTRY_COMPARE_WITH_TIMEOUT(bobRotated.size(), 1, 3000);
    QVERIFY(broker.broker().sessions().empty());
    QVERIFY(alice.engine().sessions().empty() && bob.engine().sessions().empty());

    // An invitee who never answers stops ringing; the call goes on at its generation (no key
    // changed hands), and the ring timeout never cuts an answered call.
    const QByteArray sid = establishCall(alice, bob);
    QVERIFY(!sid.isEmpty());
    const quint32 gen = alice.engine().session(sid)->gen;
    QSignalSpy carolRings(&carol.engine(), &ClientEngine::incomingCall);
    QSignalSpy carolEnded(&carol.engine(), &ClientEngine::callEnded);
    alice.engine().invite(sid, QStringLiteral("carol"));
    QVERIFY(carolRings.wait(3000));
    QTRY_COMPARE_WITH_TIMEOUT(carolEnded.size(), 1, 5000);
    QCOMPARE(carolEnded.first().at(1).value<EndReason>(), EndReason::NoAnswer);
    QVERIFY(!carol.engine().session(sid));
    QTest::qWait(200);
    const auto sessions = broker.broker().sessions();
    QCOMPARE(int(sessions.size()), 1);
    QCOMPARE(sessions.front().members.size(), 2);
    QVERIFY(sessions.front().ringing.isEmpty());
    QCOMPARE(alice.engine().session(sid)->gen, gen);
    QCOMPARE(bob.engine().session(sid)->gen, gen);
    QVERIFY(callWorks(carol, alice)); // carol's phone is free again

    // Two invitees ring at once and the first declines: the others learn that she, not he, left.
    TestPhone dave(QStringLiteral("dave"));
    QVERIFY(enrolAndLogin(broker, dave));
    const QByteArray both = establishCall(alice, bob);
    QVERIFY(!both.isEmpty());
    QSignalSpy carolRingsAgain(&carol.engine(), &ClientEngine::incomingCall);
    QSignalSpy daveRings(&dave.engine(), &ClientEngine::incomingCall);
    QSignalSpy aliceLeft(&alice.engine(), &ClientEngine::memberLeft);
    alice.engine().invite(both, QStringLiteral("carol"));
    alice.engine().invite(both, QStringLiteral("dave"));
    QVERIFY(carolRingsAgain.wait(3000));
    QTRY_COMPARE_WITH_TIMEOUT(daveRings.size(), 1, 3000);
    // Every member sees who rings (extension `ringing`), not only the one who invited.
    const QStringList ringingBoth{QStringLiteral("carol"), QStringLiteral("dave")};
    QTRY_COMPARE_WITH_TIMEOUT(alice.engine().session(both)->ringing, ringingBoth, 3000);
    QTRY_COMPARE_WITH_TIMEOUT(bob.engine().session(both)->ringing, ringingBoth, 3000);
    carol.engine().decline(both);
    // She stops ringing; she never was a member, so no one "left".
    QTRY_COMPARE_WITH_TIMEOUT(alice.engine().session(both)->ringing, QStringList{QStringLiteral("dave")}, 3000);
    QTRY_COMPARE_WITH_TIMEOUT(bob.engine().session(both)->ringing, QStringList{QStringLiteral("dave")}, 3000);
    QCOMPARE(aliceLeft.size(), 0);
    const auto now = broker.broker().sessions();
    auto it = std::find_if(now.begin(), now.end(), [&](const auto &v) { return v.sid == both; });
    QVERIFY(it != now.end());
    QCOMPARE(it->ringing, QStringList{QStringLiteral("dave")});
}

void TestCalls::muteIsShownToTheOthers()
{
    TestBroker broker;
    TestPhone alice(QStringLiteral("alice")), bob(QStringLiteral("bob")), carol(QStringLiteral("carol")),
        dave(QStringLiteral("dave"));
    for (TestPhone *p : {&alice, &bob, &carol, &dave})
        QVERIFY(enrolAndLogin(broker, *p));
    const QByteArray sid = establishCall(alice, bob);
    QVERIFY(!sid.isEmpty());
    QSignalSpy carolRings(&carol.engine(), &ClientEngine::incomingCall);
    alice.engine().invite(sid, QStringLiteral("carol"));
    QVERIFY(carolRings.wait(3000));
    carol.engine().answer(sid);
    QTRY_COMPARE_WITH_TIMEOUT(alice.engine().session(sid)->members.size(), std::size_t(2), 3000);

    // bob mutes: alice and carol are told (extension `mute`/`muted`); bob's own view is his.
    bob.engine().setMuted(sid, true);
    const QStringList justBob{QStringLiteral("bob")};
    QTRY_COMPARE_WITH_TIMEOUT(alice.engine().session(sid)->muted, justBob, 3000);
    QTRY_COMPARE_WITH_TIMEOUT(carol.engine().session(sid)->muted, justBob, 3000);
    QVERIFY(bob.engine().session(sid)->muted.isEmpty());
    // A later joiner learns who is muted already.
    QSignalSpy daveRings(&dave.engine(), &ClientEngine::incomingCall);
    carol.engine().invite(sid, QStringLiteral("dave"));
    QVERIFY(daveRings.wait(3000));
    dave.engine().answer(sid);
    QTRY_COMPARE_WITH_TIMEOUT(dave.engine().session(sid) ? dave.engine().session(sid)->muted : QStringList(), justBob, 3000);
    // Unmuted: everyone's badge goes.
    bob.engine().setMuted(sid, false);
    QTRY_VERIFY_WITH_TIMEOUT(alice.engine().session(sid)->muted.isEmpty() && carol.engine().session(sid)->muted.isEmpty()
                                 && dave.engine().session(sid)->muted.isEmpty(),
                             3000);
    // A muted member who leaves takes the badge along.
    carol.engine().setMuted(sid, true);
    QTRY_COMPARE_WITH_TIMEOUT(alice.engine().session(sid)->muted, QStringList{QStringLiteral("carol")}, 3000);
    carol.engine().leave(sid);
    QTRY_VERIFY_WITH_TIMEOUT(alice.engine().session(sid)->muted.isEmpty(), 3000);
}

void TestCalls::periodicRefreshWhenIdle()
{
    TestBroker broker(skbp::KeyMode::Derived, /*refresh every*/ 1);
    TestPhone alice(QStringLiteral("alice")), bob(QStringLiteral("bob"));
    QVERIFY(enrolAndLogin(broker, alice));
    QVERIFY(enrolAndLogin(broker, bob));
    // In a call nobody refreshes: the handshake would compete with the call.
    const QByteArray sid = establishCall(alice, bob);
    QVERIFY(!sid.isEmpty());
    // A refresh alice began while still idle, just before the call, may finish during it; wait
    // for it so that what follows sees only refreshes begun in the call.
    auto settled = [&] {
        const auto *a = broker.broker().store().account(QStringLiteral("alice"));
        return a && !a->hasPending() && a->epoch == alice.profile().epoch();
    };
    QTRY_VERIFY_WITH_TIMEOUT(settled(), 3000);
    const quint32 during = alice.profile().epoch();
    QTest::qWait(2500);
    QCOMPARE(alice.profile().epoch(), during);
    // Idle again: the refresh is due, so alice runs the Diffie-Hellman and the chain breaks.
    QSignalSpy refreshed(&alice.engine(), &ClientEngine::refreshed);
    alice.engine().leave(sid);
    QVERIFY(refreshed.wait(5000));
    QCOMPARE(alice.profile().epoch(), during + 1);
    const auto *a = broker.broker().store().account(QStringLiteral("alice"));
    QCOMPARE(a->epoch, during + 1);
    QVERIFY(a->key.equals(alice.profile().key()));
    const auto &events = alice.engine().timeline().events();
    // The last refresh is the one after the call (alice may also have refreshed before it).
    auto it = std::find_if(events.rbegin(), events.rend(), [](const TimelineEvent &e) { return e.kind == TimelineEvent::Kind::Refreshed; });
    QVERIFY(it != events.rend());
    QCOMPARE(it->epoch, std::optional<quint32>(during + 1));
    QCOMPARE(it->fp, skbp::fingerprint(alice.profile().key()));
    QVERIFY(callWorks(alice, bob));
}

void TestCalls::reconnectsAfterBrokerRestart()
{
    TestBroker broker;
    TestPhone alice(QStringLiteral("alice")), bob(QStringLiteral("bob"));
    QVERIFY(enrolAndLogin(broker, alice));
    QVERIFY(enrolAndLogin(broker, bob));
    QSignalSpy aliceState(&alice.engine(), &ClientEngine::stateChanged);
    QSignalSpy bobState(&bob.engine(), &ClientEngine::stateChanged);
    broker.restart(); // same port, same store
    // Each notices the loss, backs off, and logs in again by itself.
    auto cameBack = [](const QSignalSpy &spy) {
        return spy.size() >= 2 && spy.first().at(0).value<ClientEngine::State>() == ClientEngine::State::Connecting
            && spy.last().at(0).value<ClientEngine::State>() == ClientEngine::State::Online;
    };
    QTRY_VERIFY_WITH_TIMEOUT(cameBack(aliceState), 5000);
    QTRY_VERIFY_WITH_TIMEOUT(cameBack(bobState), 5000);
    QVERIFY(callWorks(alice, bob));
}

QTEST_GUILESS_MAIN(TestCalls)
#include "tst_calls.moc"
