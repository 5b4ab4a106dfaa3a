// Two brokers that peer (PROTOCOL.md §8, patent Fig. 3), both in this process on loopback, with
// real phones, real media through both relays, and real SQLite stores: the inter-broker key
// (Noise KKpsk0, commit rule), calls both ways, a conference whose members sit on both brokers,
// rotation by the callee's broker, the link cut and restored mid-call, the inter-broker key's
// periodic refresh, and brokers that must be refused.
#include "broker/broker.h"
#include "core/crypto.h"
#include "core/skbp.h"
#include "support/fixtures.h"
#include "support/pgserver.h"
#include "support/peeredbrokers.h"
#include "support/voicephone.h"

#include <QDir>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>

#include <memory>

using namespace sotto;
using namespace sotto::test;

namespace {

QString s(const char *text)
{
    return QString::fromUtf8(text);
}

constexpr std::size_t kMs = 48;

// Waits until `phone` sees `contact` online in its directory.
bool seesOnline(TestPhone &phone, const QString &contact)
{
    return QTest::qWaitFor([&] {
        for (const ContactInfo &c : phone.engine().contacts()) {
            if (c.account == contact && c.online)
                return true;
        }
        return false;
    }, 5000);
}

QByteArray callAndAnswer(TestPhone &caller, TestPhone &callee, const QString &address)
{
    QSignalSpy started(&caller.engine(), &ClientEngine::callStarted);
    QSignalSpy answered(&caller.engine(), &ClientEngine::callAnswered);
    QObject ctx;
    QObject::connect(&callee.engine(), &ClientEngine::incomingCall, &ctx,
                     [&](const QByteArray &sid, const QString &, bool) { callee.engine().answer(sid); });
    caller.engine().call(address);
    if (!QTest::qWaitFor([&] { return !answered.isEmpty(); }, 5000))
        return {};
    return started.first().at(0).toByteArray();
}

} // namespace

class TestFederation : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() { QStandardPaths::setTestModeEnabled(true); }

    void linkAgreesOnInterBrokerKey()
    {
        PeeredBrokers fed;
        QVERIFY(fed.start());
        QTRY_VERIFY_WITH_TIMEOUT(fed.linked(), 5000);
        const broker::PeerView pa = fed.a->peers().front(), pb = fed.b->peers().front();
        QCOMPARE(pa.name, s("b"));
        QCOMPARE(pb.name, s("a"));
        QVERIFY(pa.initiator && !pb.initiator);
        QCOMPARE(pa.epoch, 1u);
        QCOMPARE(pb.epoch, 1u);
        QCOMPARE(pa.fingerprint, pb.fingerprint); // one K_AB, both sides
        QVERIFY(!pa.fingerprint.isEmpty());
        // Durable: the stores hold it (as a fingerprint in the dump), and a restart keeps it.
        QVERIFY(fed.a->store().dump().contains(s("peer b epoch 1 key %1").arg(pa.fingerprint)));
        fed.a->stop();
        QTRY_VERIFY_WITH_TIMEOUT(!PeeredBrokers::up(*fed.b), 5000);
        QVERIFY(fed.a->start().ok());
        QTRY_VERIFY_WITH_TIMEOUT(fed.linked(), 5000);
        QCOMPARE(fed.a->peers().front().epoch, 1u); // logged in under K_AB, no new handshake
        QCOMPARE(fed.b->peers().front().fingerprint, pa.fingerprint);
    }

    // §8: after the first run the psk is K_AB, never the peering secret again. A broker that
    // lost its store cannot pair again by itself (nor can whoever holds its key and the secret);
    // once the operator of the other side forgets K_AB, it can.
    void peeringSecretIsSpentAfterTheFirstRun()
    {
        PeeredBrokers fed;
        QVERIFY(fed.start());
        QTRY_VERIFY_WITH_TIMEOUT(fed.linked(), 5000);
        const QString first = fed.b->peers().front().fingerprint;
        fed.a->stop();
        QVERIFY(wipeStore(fed.dirA.path()));
        QTRY_VERIFY_WITH_TIMEOUT(!PeeredBrokers::up(*fed.b), 5000);
        const QString before = fed.b->store().dump();
        QSignalSpy log(fed.b.get(), &broker::Broker::logEvent);
        QVERIFY(fed.a->start().ok()); // same static key, no K_AB: it dials under the secret
        auto spent = [&] {
            return std::any_of(log.begin(), log.end(), [](const QList<QVariant> &l) {
                return l.at(0).toString().contains(s("the peering secret has been used"));
            });
        };
        QTRY_VERIFY_WITH_TIMEOUT(spent(), 5000);
        QTest::qWait(300);
        QVERIFY(!fed.linked());
        QCOMPARE(fed.b->store().dump(), before); // K_AB epoch 1 untouched
        QCOMPARE(fed.b->peers().front().fingerprint, first);

        // The operator of b forgets K_AB with a: the next attempt pairs afresh.
        QVERIFY(!fed.b->forgetPeer(s("nobody")).ok());
        QVERIFY(fed.b->forgetPeer(s("a")).ok());
        QCOMPARE(fed.b->peers().front().epoch, 0u);
        QVERIFY(!fed.b->store().dump().contains(s("peer a ")));
        QTRY_VERIFY_WITH_TIMEOUT(fed.linked(), 5000);
        const broker::PeerView pa = fed.a->peers().front(), pb = fed.b->peers().front();
        QCOMPARE(pa.epoch, 1u);
        QCOMPARE(pb.epoch, 1u);
        QCOMPARE(pa.fingerprint, pb.fingerprint);
        QVERIFY(pb.fingerprint != first);
        TestPhone alice(s("alice")), dave(s("dave"));
        QVERIFY(PeeredBrokers::enrol(*fed.a, alice));
        QVERIFY(PeeredBrokers::enrol(*fed.b, dave));
        QVERIFY(seesOnline(alice, s("dave@b")));
        QVERIFY(!callAndAnswer(alice, dave, s("dave@b")).isEmpty());

        // Forgetting under a live link takes it down; the dialling side pairs again at once.
        log.clear();
        QVERIFY(fed.a->forgetPeer(s("b")).ok());
        QTRY_VERIFY_WITH_TIMEOUT(spent(), 5000); // b still holds K_AB: refused
        QVERIFY(!fed.linked());
        QVERIFY(fed.b->forgetPeer(s("a")).ok());
        QTRY_VERIFY_WITH_TIMEOUT(fed.linked() && fed.a->peers().front().fingerprint != pa.fingerprint, 5000);
        QCOMPARE(fed.a->peers().front().fingerprint, fed.b->peers().front().fingerprint);
    }

    void strangersAreRefused_data()
    {
        QTest::addColumn<QString>("name");
        QTest::addColumn<bool>("ownKey");    // the real a's static key, or another
        QTest::addColumn<bool>("rightSecret");
        QTest::newRow("not a configured peer") << s("aa") << false << true;
        QTest::newRow("a's name, another static key") << s("a") << false << true;
        QTest::newRow("a's name and key, wrong secret") << s("a") << true << false;
    }
    void strangersAreRefused()
    {
        QFETCH(QString, name);
        QFETCH(bool, ownKey);
        QFETCH(bool, rightSecret);
        PeeredBrokers fed;
        QVERIFY(fed.b->start().ok()); // only b: the impostor dials it in a's place
        QTemporaryDir dir;
        if (ownKey)
            QVERIFY(QFile::copy(QDir(fed.dirA.path()).filePath(s("broker.key")), QDir(dir.path()).filePath(s("broker.key"))));
        auto other = crypto::randomSecret(32);
        broker::PeerConfig toB{s("b"), s("127.0.0.1"), fed.portB, fed.pubB, rightSecret ? fed.secret : *other, {}};
        broker::BrokerConfig cfg = PeeredBrokers::config(name, dir.path(), freePort(), 24 * 3600, toB);
        broker::Broker impostor(cfg);
        QSignalSpy log(fed.b.get(), &broker::Broker::logEvent);
        const QString before = fed.b->store().dump();
        QVERIFY(impostor.start().ok());
        QTRY_VERIFY_WITH_TIMEOUT(std::any_of(log.begin(), log.end(),
                                             [](const QList<QVariant> &l) { return l.at(0).toString().contains(s("refused")); }),
                                 5000);
        QTest::qWait(300);
        QVERIFY(!PeeredBrokers::up(impostor));
        QCOMPARE(fed.b->peers().front().state, broker::PeerView::State::Down);
        QCOMPARE(fed.b->store().dump(), before); // nothing stored for a refused peer
        QVERIFY(!impostor.peers().front().lastError.isEmpty());
        impostor.stop();
    }

    void callsBothWaysConferenceAndRotation()
    {
        PeeredBrokers fed;
        QVERIFY(fed.start());
        VoicePhone alice(s("alice"), 440), dave(s("dave"), 660), carol(s("carol"), 880);
        QVERIFY(PeeredBrokers::enrol(*fed.a, alice.phone));
        QVERIFY(PeeredBrokers::enrol(*fed.b, dave.phone));
        QVERIFY(PeeredBrokers::enrol(*fed.b, carol.phone));
        QTRY_VERIFY_WITH_TIMEOUT(fed.linked(), 5000);
        QVERIFY(seesOnline(alice.phone, s("dave@b")));  // the peer's accounts, addressed as such
        QVERIFY(seesOnline(dave.phone, s("alice@a")));
        QVERIFY(seesOnline(dave.phone, s("carol")));     // and his own broker's, as before

        // alice@a calls dave@b: b derives SK from K_dave, wraps it under K_AB; a re-wraps it.
        const quint32 daveEpoch = dave.phone.profile().epoch();
        const QByteArray sid = callAndAnswer(alice.phone, dave.phone, s("dave@b"));
        QVERIFY(!sid.isEmpty());
        QCOMPARE(dave.phone.engine().session(sid)->peer, s("alice@a"));
        const QString fp = alice.phone.engine().session(sid)->keyFingerprint;
        QCOMPARE(dave.phone.engine().session(sid)->keyFingerprint, fp);
        // Bound to the home broker a (docs/PROTOCOL.md: a federated call's key).
        const auto expected = skbp::sessionKey(skbp::KeyMode::Derived, dave.phone.profile().key(), sid, s("dave"), daveEpoch, s("a"));
        QCOMPARE(skbp::fingerprint(*expected), fp);
        // Both hops in alice's timeline: {SK}K_AB, then {SK}K_alice.
        const auto events = alice.phone.engine().timeline().eventsFor(sid);
        QVERIFY(events.size() >= 2);
        QCOMPARE(events[0].kind, TimelineEvent::Kind::Relayed);
        QCOMPARE(events[0].notation, s("{SK}K_AB"));
        QCOMPARE(events[1].kind, TimelineEvent::Kind::CallKey);
        QCOMPARE(events[1].notation, s("{SK}K_alice"));

        // They hear each other, through both relays.
        QTRY_VERIFY_WITH_TIMEOUT(alice.media->media(sid) && dave.media->media(sid)
                                     && alice.media->media(sid)->stats().bound && dave.media->media(sid)->stats().bound,
                                 3000);
        QTest::qWait(1500);
        auto daveHeard = dave.keep(), aliceHeard = alice.keep();
        QVERIFY(daveHeard.size() > 1000 * kMs);
        QVERIFY2(toneToTotalDb(daveHeard, 440, 400 * kMs, daveHeard.size()) > -3,
                 qPrintable(QString::number(toneToTotalDb(daveHeard, 440, 400 * kMs, daveHeard.size()))));
        QVERIFY(toneToTotalDb(daveHeard, 660, 400 * kMs, daveHeard.size()) < -20);
        QVERIFY(toneToTotalDb(aliceHeard, 660, 400 * kMs, aliceHeard.size()) > -3);
        QVERIFY(fed.a->relayCounters().trunked > 50);
        QVERIFY(fed.b->relayCounters().trunked > 50);

        // carol@b joins, invited by alice@a: b wraps generation 1 under K_carol itself.
        QObject ctx;
        QObject::connect(&carol.phone.engine(), &ClientEngine::incomingCall, &ctx,
                         [&](const QByteArray &id, const QString &, bool) { carol.phone.engine().answer(id); });
        alice.phone.engine().invite(sid, s("carol@b"));
        QTRY_COMPARE_WITH_TIMEOUT(alice.phone.engine().session(sid)->gen, 1u, 5000);
        QTRY_COMPARE_WITH_TIMEOUT(dave.phone.engine().session(sid)->gen, 1u, 5000);
        QTRY_VERIFY_WITH_TIMEOUT(carol.phone.engine().session(sid) && carol.phone.engine().session(sid)->keyed, 5000);
        QCOMPARE(carol.phone.engine().session(sid)->gen, 1u);
        QCOMPARE(carol.phone.engine().session(sid)->keyFingerprint, alice.phone.engine().session(sid)->keyFingerprint);
        QCOMPARE(dave.phone.engine().session(sid)->keyFingerprint, alice.phone.engine().session(sid)->keyFingerprint);
        const auto carolEvents = carol.phone.engine().timeline().eventsFor(sid);
        QVERIFY(std::any_of(carolEvents.begin(), carolEvents.end(), [](const TimelineEvent &e) {
            return e.kind == TimelineEvent::Kind::Relayed && e.notation == QStringLiteral("{SK_1}K_AB");
        }));
        QVERIFY(std::any_of(carolEvents.begin(), carolEvents.end(), [](const TimelineEvent &e) {
            return e.kind == TimelineEvent::Kind::Joined && e.notation == QStringLiteral("{SK_1}K_carol");
        }));
        QTRY_VERIFY_WITH_TIMEOUT(carol.media->media(sid) && carol.media->media(sid)->stats().bound, 3000);
        const std::size_t mark = carol.keep().size();
        QTest::qWait(1500);
        const auto carolHeard = carol.keep();
        QVERIFY(toneToTotalDb(carolHeard, 440, mark + 400 * kMs, carolHeard.size()) > -9); // alice, across
        QVERIFY(toneToTotalDb(carolHeard, 660, mark + 400 * kMs, carolHeard.size()) > -9); // dave, same broker
        QVERIFY(toneToTotalDb(carolHeard, 880, mark + 400 * kMs, carolHeard.size()) < -20);

        // carol leaves: a re-keys; dave gets generation 2 wrapped by b under K_dave.
        carol.phone.engine().leave(sid);
        QTRY_COMPARE_WITH_TIMEOUT(dave.phone.engine().session(sid)->gen, 2u, 5000);
        QCOMPARE(dave.phone.engine().session(sid)->keyFingerprint, alice.phone.engine().session(sid)->keyFingerprint);

        // alice hangs up: b rotates dave's key (epoch + 1), and a holds nothing of K_dave.
        QSignalSpy rotated(&dave.phone.engine(), &ClientEngine::rotated);
        alice.phone.engine().leave(sid);
        QVERIFY(rotated.wait(5000));
        QCOMPARE(dave.phone.profile().epoch(), daveEpoch + 1);
        QTRY_COMPARE_WITH_TIMEOUT(fed.b->store().account(s("dave"))->epoch, daveEpoch + 1, 5000);
        QVERIFY(fed.a->sessions().empty());
        QTRY_VERIFY(fed.b->sessions().empty());

        // The other way: dave@b calls alice@a, under his new key.
        const QByteArray back = callAndAnswer(dave.phone, alice.phone, s("alice@a"));
        QVERIFY(!back.isEmpty());
        QCOMPARE(dave.phone.engine().session(back)->keyFingerprint, alice.phone.engine().session(back)->keyFingerprint);
        QSignalSpy aliceRotated(&alice.phone.engine(), &ClientEngine::rotated);
        dave.phone.engine().leave(back);
        QVERIFY(aliceRotated.wait(5000)); // a rotates its own callee's key
    }

    void unknownAndOfflineRemoteAccounts()
    {
        PeeredBrokers fed;
        QVERIFY(fed.start());
        TestPhone alice(s("alice"));
        QVERIFY(PeeredBrokers::enrol(*fed.a, alice));
        QTRY_VERIFY_WITH_TIMEOUT(fed.linked(), 5000);
        QSignalSpy failed(&alice.engine(), &ClientEngine::callFailed);
        alice.engine().call(s("nobody@b"));
        alice.engine().call(s("dave@nowhere"));
        QTRY_COMPARE_WITH_TIMEOUT(failed.size(), 2, 5000);
        QCOMPARE(failed.at(0).at(2).value<Error>().code, ErrorCode::UnknownAccount);
        QCOMPARE(failed.at(1).at(2).value<Error>().code, ErrorCode::UnknownAccount);
        QVERIFY(fed.a->sessions().empty());
    }

    void linkDroppedAndRestoredMidCall()
    {
        // a reaches b through a proxy that can cut the inter-broker link.
        const quint16 portB = freePort();
        FrameProxy proxy(portB);
        PeeredBrokers fed(24 * 3600, proxy.port());
        // PeeredBrokers drew its own port for b; point b (and the proxy) at one port.
        fed.b = std::make_unique<broker::Broker>(PeeredBrokers::config(s("b"), fed.dirB.path(), portB, 24 * 3600,
                                                                 {s("a"), s("127.0.0.1"), fed.portA, fed.pubA, fed.secret, {}}));
        QVERIFY(fed.start());
        VoicePhone alice(s("alice"), 440), dave(s("dave"), 660);
        QVERIFY(PeeredBrokers::enrol(*fed.a, alice.phone));
        QVERIFY(PeeredBrokers::enrol(*fed.b, dave.phone));
        QTRY_VERIFY_WITH_TIMEOUT(fed.linked(), 5000);
        QVERIFY(seesOnline(alice.phone, s("dave@b")));
        const QString kab = fed.a->peers().front().fingerprint;
        const quint32 daveEpoch = dave.phone.profile().epoch();
        const QByteArray sid = callAndAnswer(alice.phone, dave.phone, s("dave@b"));
        QVERIFY(!sid.isEmpty());

        QSignalSpy aliceEnded(&alice.phone.engine(), &ClientEngine::callEnded);
        QSignalSpy daveEnded(&dave.phone.engine(), &ClientEngine::callEnded);
        QSignalSpy presence(&alice.phone.engine(), &ClientEngine::presenceChanged);
        proxy.cutAll();
        // The call ends cleanly on both sides, and dave's key still rotates (b handed out SK).
        QTRY_COMPARE_WITH_TIMEOUT(aliceEnded.size(), 1, 5000);
        QTRY_COMPARE_WITH_TIMEOUT(daveEnded.size(), 1, 5000);
        QCOMPARE(daveEnded.first().at(1).value<EndReason>(), EndReason::Disconnected);
        QCOMPARE(aliceEnded.first().at(1).value<EndReason>(), EndReason::Disconnected);
        // And the other broker's accounts went offline for alice until the link was back.
        QVERIFY(std::any_of(presence.begin(), presence.end(), [](const QList<QVariant> &p) {
            return p.at(0).toString() == QStringLiteral("dave@b") && !p.at(1).toBool();
        }));
        QTRY_COMPARE_WITH_TIMEOUT(dave.phone.profile().epoch(), daveEpoch + 1, 5000);
        QVERIFY(fed.a->sessions().empty());
        QVERIFY(fed.b->sessions().empty());

        // The link comes back by itself, under the same inter-broker key; calls work again.
        QTRY_VERIFY_WITH_TIMEOUT(fed.linked(), 5000);
        QCOMPARE(fed.a->peers().front().fingerprint, kab);
        QCOMPARE(fed.b->peers().front().fingerprint, kab);
        QVERIFY(seesOnline(alice.phone, s("dave@b")));
        const QByteArray again = callAndAnswer(alice.phone, dave.phone, s("dave@b"));
        QVERIFY(!again.isEmpty());
        QCOMPARE(dave.phone.engine().session(again)->keyFingerprint, alice.phone.engine().session(again)->keyFingerprint);
    }

    // b derived dave's session key and sent it to a as {SK}K_AB, but the call never rings at b
    // (a gave up or failed): b does not keep it forever; it drops the call and rotates K_dave.
    void federatedCallThatNeverRingsRotates()
    {
        const quint16 portB = freePort();
        FrameProxy proxy(portB);
        PeeredBrokers fed(24 * 3600, proxy.port());
        broker::BrokerConfig configB = PeeredBrokers::config(s("b"), fed.dirB.path(), portB, 24 * 3600,
                                                             {s("a"), s("127.0.0.1"), fed.portA, fed.pubA, fed.secret, {}});
        configB.federatedRingDeadlineMs = 600;
        fed.b = std::make_unique<broker::Broker>(configB);
        broker::BrokerConfig configA = PeeredBrokers::config(s("a"), fed.dirA.path(), fed.portA, 24 * 3600,
                                                             {s("b"), s("127.0.0.1"), proxy.port(), fed.pubB, fed.secret, {}});
        configA.federatedRingDeadlineMs = 1500;
        fed.a = std::make_unique<broker::Broker>(configA);
        QVERIFY(fed.start());
        TestPhone alice(s("alice")), dave(s("dave"));
        QVERIFY(PeeredBrokers::enrol(*fed.a, alice));
        QVERIFY(PeeredBrokers::enrol(*fed.b, dave));
        QTRY_VERIFY_WITH_TIMEOUT(fed.linked(), 5000);
        QVERIFY(seesOnline(alice, s("dave@b")));
        const quint32 daveEpoch = dave.profile().epoch();
        QSignalSpy daveRings(&dave.engine(), &ClientEngine::incomingCall);
        QSignalSpy daveRotated(&dave.engine(), &ClientEngine::rotated);
        QSignalSpy logB(fed.b.get(), &broker::Broker::logEvent);
        QSignalSpy aliceFailed(&alice.engine(), &ClientEngine::callFailed);

        // b's answer to a's fcall is held on its way to a.
        proxy.holdNext([](int, FrameProxy::Direction d, int, const QByteArray &) { return d == FrameProxy::Direction::ToClient; });
        alice.engine().call(s("dave@b"));
        QTRY_VERIFY_WITH_TIMEOUT(proxy.held(), 3000);
        QVERIFY(daveRotated.wait(5000));
        QCOMPARE(dave.profile().epoch(), daveEpoch + 1);
        QTRY_COMPARE_WITH_TIMEOUT(fed.b->store().account(s("dave"))->epoch, daveEpoch + 1, 3000);
        QCOMPARE(daveRings.size(), 0);
        QVERIFY(std::any_of(logB.begin(), logB.end(),
                            [](const QList<QVariant> &l) { return l.at(0).toString().contains(s("never rang here")); }));

        // Nor is alice left calling: a gives up on b's answer after its own deadline.
        QTRY_COMPARE_WITH_TIMEOUT(aliceFailed.size(), 1, 5000);
        const Error why = aliceFailed.first().at(2).value<Error>();
        QCOMPARE(why.code, ErrorCode::Offline);
        QVERIFY2(why.message.contains(s("did not answer")), qPrintable(why.message));
        QVERIFY(fed.a->sessions().empty());

        // On TCP a held frame is a lost connection: cut it. The link comes back, and dave takes
        // calls again under his new key.
        QSignalSpy logA(fed.a.get(), &broker::Broker::logEvent);
        proxy.cutAll();
        QTRY_VERIFY_WITH_TIMEOUT(std::any_of(logA.begin(), logA.end(),
                                             [](const QList<QVariant> &l) { return l.at(0).toString().contains(s("peer b down")); }),
                                 5000);
        QTRY_VERIFY_WITH_TIMEOUT(fed.linked(), 5000);
        QVERIFY(seesOnline(alice, s("dave@b")));
        const QByteArray sid = callAndAnswer(alice, dave, s("dave@b"));
        QVERIFY(!sid.isEmpty());
        QCOMPARE(dave.engine().session(sid)->keyFingerprint, alice.engine().session(sid)->keyFingerprint);
    }

    void memberBehindPeerGoesOffline()
    {
        // dave@b's phone vanishes mid-call: b takes him out of the call homed at a (alice's
        // call ends), and b still rotates his key.
        PeeredBrokers fed;
        QVERIFY(fed.start());
        TestPhone alice(s("alice"));
        auto dave = std::make_unique<TestPhone>(s("dave"));
        QVERIFY(PeeredBrokers::enrol(*fed.a, alice));
        QVERIFY(PeeredBrokers::enrol(*fed.b, *dave));
        QTRY_VERIFY_WITH_TIMEOUT(fed.linked(), 5000);
        QVERIFY(seesOnline(alice, s("dave@b")));
        const QByteArray sid = callAndAnswer(alice, *dave, s("dave@b"));
        QVERIFY(!sid.isEmpty());
        const quint32 epoch = fed.b->store().account(s("dave"))->epoch;
        QSignalSpy ended(&alice.engine(), &ClientEngine::callEnded);
        dave.reset(); // gone without a word
        QTRY_COMPARE_WITH_TIMEOUT(ended.size(), 1, 5000);
        QVERIFY(fed.a->sessions().empty());
        QTRY_VERIFY_WITH_TIMEOUT(fed.b->store().account(s("dave"))->pendingEpoch == epoch + 1, 5000); // rotation waits for him
    }

    void trunkEndsWithThePeersLastMember()
    {
        // alice@a and erin@a call dave@b; dave leaves; a's relay stops sending the call to b.
        PeeredBrokers fed;
        QVERIFY(fed.start());
        VoicePhone alice(s("alice"), 440), erin(s("erin"), 550), dave(s("dave"), 660);
        QVERIFY(PeeredBrokers::enrol(*fed.a, alice.phone));
        QVERIFY(PeeredBrokers::enrol(*fed.a, erin.phone));
        QVERIFY(PeeredBrokers::enrol(*fed.b, dave.phone));
        QTRY_VERIFY_WITH_TIMEOUT(fed.linked(), 5000);
        QVERIFY(seesOnline(alice.phone, s("dave@b")));
        const QByteArray sid = callAndAnswer(alice.phone, dave.phone, s("dave@b"));
        QVERIFY(!sid.isEmpty());
        QObject ctx;
        QObject::connect(&erin.phone.engine(), &ClientEngine::incomingCall, &ctx,
                         [&](const QByteArray &id, const QString &, bool) { erin.phone.engine().answer(id); });
        alice.phone.engine().invite(sid, s("erin"));
        QTRY_VERIFY_WITH_TIMEOUT(erin.media->media(sid) && erin.media->media(sid)->stats().bound, 5000);
        QTRY_VERIFY_WITH_TIMEOUT(fed.a->relayCounters().trunked > 100, 5000);
        dave.phone.engine().leave(sid);
        QTRY_COMPARE_WITH_TIMEOUT(alice.phone.engine().session(sid)->members.size(), std::size_t(1), 5000);
        QTest::qWait(300);
        const quint64 after = fed.a->relayCounters().trunked;
        QTest::qWait(600); // alice and erin still talk, locally
        QCOMPARE(fed.a->relayCounters().trunked, after);
        QVERIFY(erin.media->media(sid)->stats().members.front().packets > 0);
    }

    void interBrokerKeyRefreshes()
    {
        PeeredBrokers fed(1); // the refresh is due after a second
        QVERIFY(fed.start());
        QTRY_VERIFY_WITH_TIMEOUT(fed.linked(), 5000);
        const QString first = fed.a->peers().front().fingerprint;
        const quint32 firstEpoch = fed.a->peers().front().epoch; // 1, unless a slow start let a refresh in
        QTRY_VERIFY_WITH_TIMEOUT(fed.a->peers().front().epoch > firstEpoch && fed.b->peers().front().epoch > firstEpoch, 8000);
        QTRY_COMPARE_WITH_TIMEOUT(fed.a->peers().front().fingerprint, fed.b->peers().front().fingerprint, 3000);
        QVERIFY(fed.a->peers().front().fingerprint != first); // a fresh Diffie-Hellman, chain broken
        // Calls still work under it.
        TestPhone alice(s("alice")), dave(s("dave"));
        QVERIFY(PeeredBrokers::enrol(*fed.a, alice));
        QVERIFY(PeeredBrokers::enrol(*fed.b, dave));
        QVERIFY(seesOnline(alice, s("dave@b")));
        QVERIFY(!callAndAnswer(alice, dave, s("dave@b")).isEmpty());
    }
};

QTEST_MAIN(TestFederation)
#include "tst_federation.moc"
