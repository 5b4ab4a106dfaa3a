// Relays of their own (docs/PROTOCOL.md §9.1): `sotto relay` processes that check relay tokens
// without asking anyone, a broker that places sessions on the least loaded of three, and what
// happens when one is killed with SIGKILL: its calls end ("failed"), the others go on, new calls
// go to the relays that are left. Real processes, real UDP and TCP on 127.0.0.1.
#include "audio/rtp.h"
#include "relay/relayserver.h"
#include "core/crypto.h"
#include "core/relayauth.h"
#include "core/privatefile.h"
#include "core/relaywire.h"
#include "core/wire.h"
#include "support/filemodes.h"
#include "support/fixtures.h"
#include "support/peeredbrokers.h"
#include "support/relaymember.h"

#include <QCborMap>
#include <QCborValue>
#include <QDateTime>
#include <QDeadlineTimer>
#include <QDir>
#include <QJsonArray>
#include <QNetworkDatagram>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTcpSocket>
#include <QProcess>
#include <QTest>
#include <QUdpSocket>

#include <algorithm>
#include <array>
#include <map>
#include <set>

using namespace sotto;
using namespace sotto::test;

namespace {

QString s(const char *text)
{
    return QString::fromUtf8(text);
}

quint32 now()
{
    return quint32(QDateTime::currentSecsSinceEpoch());
}

struct Relays
{
    QTemporaryDir dir;
    QString secretFile = dir.filePath(s("relay.secret"));
    SecretBytes secret = writeRelaySecret(secretFile);
    std::vector<std::unique_ptr<RelayProcess>> procs;

    bool start(int n, const QStringList &args = {})
    {
        for (int i = 0; i < n; ++i) {
            procs.push_back(std::make_unique<RelayProcess>(secretFile, freePort(), args));
            if (!procs.back()->start())
                return false;
        }
        return true;
    }
    std::function<void(broker::BrokerConfig &)> config() const
    {
        return [this](broker::BrokerConfig &c) {
            for (const auto &p : procs)
                c.relays.emplace_back(QHostAddress::LocalHost, p->port());
            c.relaySecret = secret;
        };
    }
};

// Binds `m` with a token of relays of their own, proving the grant key the relay derives from
// the secret (as the broker does when it makes the grant).
bool grantBind(RelayMember &m, const QByteArray &secret, const QByteArray &token)
{
    return m.bind(token, relayauth::grantKey(secret, m.sid, m.ssrc, token));
}

int relaysUp(broker::Broker &b)
{
    int up = 0;
    for (const broker::RelayStatus &r : b.status().relays)
        up += r.up ? 1 : 0;
    return up;
}

} // namespace

class TestRelays : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void initTestCase() { QStandardPaths::setTestModeEnabled(true); }
    void aRelayChecksTokensWithoutAskingAnyone();
    void aBindingOutlivesItsTokenWhileItTalks();
    void aBindSeenOnTheWireMovesNothing();
    void whatARelayHoldsIsBounded();
    void severalThreadsShareOnePortAndKeepEachStreamInOrder();
    void theControlChannelWantsTheSecret();
    void sessionsSpreadAndAKilledRelaysCallsEnd();
    void withNoRelayUpACallIsRefusedClearly();
    void theSecretFileIsChecked();
    void aCallOnARelayOfItsOwnOutlivesABrokerKill();
    void anAdoptedConferenceReKeysOnLeaveAndRevoke();
    void removalHoldsAcrossARelayRestart();
    void aFullRevocationTableFailsClosed();
    void revocationsExpireWithTheirTokens();
    void federatedCallsTrunkBetweenRelaysOfTheirOwn_data();
    void federatedCallsTrunkBetweenRelaysOfTheirOwn();
};

void TestRelays::aRelayChecksTokensWithoutAskingAnyone()
{
    Relays relays;
    QVERIFY(relays.start(1));
    const quint16 port = relays.procs[0]->port();
    const QByteArray sid(16, 's'), otherSid(16, 'o');
    const QByteArray secret = relays.secret.view().toByteArray();
    RelayMember a(sid, 11, port), b(sid, 22, port), stranger(sid, 33, port);

    // Refused, each without an answer: a forged token, one for another session, for another
    // SSRC, under another secret, one that has expired, and one that claims to live too long.
    QVERIFY(!grantBind(stranger, secret, QByteArray(16, 'x')));
    QVERIFY(!grantBind(stranger, secret, relayauth::mintToken(secret, otherSid, 33, now() + 60)));
    QVERIFY(!grantBind(stranger, secret, relayauth::mintToken(secret, sid, 34, now() + 60)));
    QVERIFY(!grantBind(stranger, secret, relayauth::mintToken(QByteArray(32, 'k'), sid, 33, now() + 60)));
    QVERIFY(!grantBind(stranger, secret, relayauth::mintToken(secret, sid, 33, now() - 5)));
    QVERIFY(!grantBind(stranger, secret, relayauth::mintToken(secret, sid, 33, now() + 3 * 24 * 3600)));
    // Unbound media goes nowhere.
    QVERIFY(grantBind(a, secret, relayauth::mintToken(secret, sid, 11, now() + 60)));
    stranger.sendRtp(1);
    QCOMPARE(a.drain(), 0);

    // Tokens the secret verifies bind, and the two hear each other.
    QVERIFY(grantBind(b, secret, relayauth::mintToken(secret, sid, 22, now() + 60)));
    QVERIFY(mediaFlows(a, b));
    // Nobody but the session's own: a member of another session hears none of it.
    RelayMember other(otherSid, 11, port);
    QVERIFY(grantBind(other, secret, relayauth::mintToken(secret, otherSid, 11, now() + 60)));
    a.sendRtp(7);
    QCOMPARE(other.drain(), 0);
    QCOMPARE(b.drain(), 1);
}

void TestRelays::severalThreadsShareOnePortAndKeepEachStreamInOrder()
{
#ifndef Q_OS_LINUX
    QSKIP("several relay threads on one port are Linux's fast path (SO_REUSEPORT, recvmmsg); "
          "elsewhere a relay runs one thread");
#endif
    Relays relays;
    QVERIFY(relays.start(1, {s("--threads"), s("3")}));
    const quint16 port = relays.procs[0]->port();
    QVERIFY(relays.procs[0]->outputSoFar().contains("3 threads"));
    const QByteArray secret = relays.secret.view().toByteArray();
    // 10 three-member sessions: 30 source addresses, spread by the kernel over the 3 sockets.
    std::vector<std::unique_ptr<RelayMember>> members;
    for (int c = 0; c < 10; ++c) {
        const QByteArray sid = QByteArray(15, 's') + char(c);
        for (quint32 m = 1; m <= 3; ++m) {
            members.push_back(std::make_unique<RelayMember>(sid, quint32(c) * 10 + m, port));
            QVERIFY(grantBind(*members.back(), secret, relayauth::mintToken(secret, sid, quint32(c) * 10 + m, now() + 60)));
        }
    }
    // Every member sends 40 numbered packets; each hears the other two's, all of them, each
    // stream in the order it was sent, and nothing from another session.
    for (quint16 seq = 0; seq < 40; ++seq) {
        for (auto &m : members)
            m->sendRtp(seq);
    }
    for (std::size_t i = 0; i < members.size(); ++i) {
        RelayMember &me = *members[i];
        std::map<quint32, std::vector<quint16>> heard;
        QDeadlineTimer deadline(5000);
        auto total = [&] { std::size_t n = 0; for (const auto &[k, v] : heard) n += v.size(); return n; };
        while (total() < 80 && !deadline.hasExpired()) {
            while (me.socket.hasPendingDatagrams()) {
                const auto rtp = audio::decodeRtp(me.socket.receiveDatagram().data());
                if (rtp)
                    heard[rtp->ssrc].push_back(rtp->seq);
            }
            QTest::qWait(5);
        }
        QCOMPARE(heard.size(), std::size_t(2));
        for (const auto &[ssrc, seqs] : heard) {
            QCOMPARE(ssrc / 10, me.ssrc / 10); // its own session's
            QVERIFY(ssrc != me.ssrc);
            QCOMPARE(seqs.size(), std::size_t(40));
            QVERIFY2(std::is_sorted(seqs.begin(), seqs.end()), qPrintable(QStringLiteral("member %1 heard %2 out of order").arg(me.ssrc).arg(ssrc)));
        }
    }
    // One thread or three, the same checks: a stranger's media goes nowhere.
    RelayMember stranger(QByteArray(16, 'x'), 99, port);
    stranger.sendRtp(1);
    QCOMPARE(members[0]->drain(), 0);
    // And the option is checked.
    QProcess bad;
    bad.start(s(SOTTO_BINARY), {s("relay"), s("--listen"), s("127.0.0.1:1"), s("--secret-file"), relays.secretFile, s("--threads"), s("0")});
    QVERIFY(bad.waitForFinished(10000));
    QCOMPARE(bad.exitCode(), 2);
    QVERIFY(bad.readAllStandardError().contains("--threads"));
}

void TestRelays::aBindingOutlivesItsTokenWhileItTalks()
{
    Relays relays;
    QVERIFY(relays.start(1));
    const quint16 port = relays.procs[0]->port();
    const QByteArray sid(16, 'k');
    const QByteArray secret = relays.secret.view().toByteArray();
    const QByteArray shortLived = relayauth::mintToken(secret, sid, 1, now() + 1);
    RelayMember a(sid, 1, port), b(sid, 2, port);
    QVERIFY(grantBind(a, secret, shortLived));
    QVERIFY(grantBind(b, secret, relayauth::mintToken(secret, sid, 2, now() + 60)));
    QTest::qWait(2500); // the token has expired
    // The bound address's keep-alive still holds, and media flows…
    QVERIFY(grantBind(a, secret, shortLived));
    QVERIFY(mediaFlows(a, b));
    // …but the token makes no binding anywhere else.
    RelayMember thief(sid, 1, port);
    QVERIFY(!grantBind(thief, secret, shortLived));
}

// Issue 22 §7: binds were bearer tokens in clear — anyone who saw a member's bind could send it
// from their own address and take the binding (and the media). Now a bind proves the grant's key
// (which never crosses the wire) over a stamp that only grows; moving a binding needs that proof.
void TestRelays::aBindSeenOnTheWireMovesNothing()
{
    Relays relays;
    QVERIFY(relays.start(1));
    const quint16 port = relays.procs[0]->port();
    const QByteArray sid(16, 'w');
    const QByteArray secret = relays.secret.view().toByteArray();
    const QByteArray token = relayauth::mintToken(secret, sid, 1, now() + 60);
    const SecretBytes key = relayauth::grantKey(secret, sid, 1, token);
    RelayMember a(sid, 1, port), b(sid, 2, port), thief(sid, 1, port);
    QVERIFY(grantBind(b, secret, relayauth::mintToken(secret, sid, 2, now() + 60)));
    // What an eavesdropper sees: a's bind, whole.
    const QByteArray seen = relayauth::provenBind(sid, 1, token, key, quint64(QDateTime::currentMSecsSinceEpoch()));
    QVERIFY(a.sendAndWaitForAck(seen));
    QVERIFY(mediaFlows(a, b));

    // Replayed from elsewhere: refused (its stamp is no newer than the binding's), nothing moves.
    QVERIFY(!thief.sendAndWaitForAck(seen));
    // A fresh stamp without the key, the token in a plain bind, a stamp outside the window: refused.
    QVERIFY(!thief.bind(token, SecretBytes::copyOf(QByteArray(32, 'g'))));
    QVERIFY(!thief.sendAndWaitForAck(relaywire::encodeBind({sid, 1, token})));
    QVERIFY(!thief.bind(token, key, quint64(QDateTime::currentMSecsSinceEpoch()) - 2 * relayauth::kBindWindowMs));
    QVERIFY(mediaFlows(a, b)); // a still has its media; the thief heard nothing
    QCOMPARE(thief.drain(), 0);
    // The member itself moves its binding (a new address, as after a NAT change): with the proof.
    RelayMember moved(sid, 1, port);
    moved.stamp = a.stamp;
    QVERIFY(moved.bind(token, key));
    QVERIFY(mediaFlows(moved, b));
    QCOMPARE(a.drain(), 0);

    // The same holds at the broker's own relay (in process, keys it drew) — tst_relay checks its
    // members bind with their grants — and for trunks, whose binds prove the trunk token
    // instead of carrying it (federatedCallsTrunkBetweenRelaysOfTheirOwn runs on them).
    const QByteArray trunkSid(16, 't'), trunkToken(16, 'k');
    const quint64 stamp = quint64(QDateTime::currentMSecsSinceEpoch());
    const QByteArray trunkBind = relaywire::encodeProvenTrunkBind({trunkSid, stamp, relayauth::trunkProof(trunkToken, trunkSid, stamp, true)});
    QCOMPARE(trunkBind.size(), relaywire::kProvenTrunkBindSize);
    QVERIFY(!trunkBind.contains(trunkToken)); // the token is not on the wire
    // Each side proves its direction: a relay's own bind, reflected back to it, is not the
    // other side's (the two relays hold the same token).
    QVERIFY(relayauth::trunkProof(trunkToken, trunkSid, stamp, true) != relayauth::trunkProof(trunkToken, trunkSid, stamp, false));
}

void TestRelays::whatARelayHoldsIsBounded()
{
    // The relay itself (the same code as `sotto relay`), with a member limit of three: valid
    // tokens past it make nothing and are counted.
    auto secret = crypto::randomSecret(32);
    QVERIFY(secret.ok());
    relay::RelayTable::Limits limits;
    limits.maxMembers = 3;
    relay::RelayServer relay(*secret, limits);
    QVERIFY(relay.start(QHostAddress::LocalHost, 0).ok());
    const QByteArray key = secret->view().toByteArray();
    const QByteArray sid(16, 'b');
    std::vector<std::unique_ptr<RelayMember>> members;
    for (quint32 ssrc = 1; ssrc <= 5; ++ssrc) {
        members.push_back(std::make_unique<RelayMember>(sid, ssrc, relay.port()));
        QCOMPARE(grantBind(*members.back(), key, relayauth::mintToken(key, sid, ssrc, now() + 60)), ssrc <= 3);
    }
    QCOMPARE(relay.load().members, std::size_t(3));
    QCOMPARE(relay.counters().droppedFull, quint64(2));
    // A bound member's keep-alive is not a new member: it still binds at the limit.
    QVERIFY(grantBind(*members[0], key, relayauth::mintToken(key, sid, 1, now() + 60)));
}

void TestRelays::theControlChannelWantsTheSecret()
{
    Relays relays;
    QVERIFY(relays.start(1));
    QTcpSocket c;
    c.connectToHost(QHostAddress::LocalHost, relays.procs[0]->port());
    QVERIFY(c.waitForConnected(3000));
    QTRY_VERIFY(c.bytesAvailable() > 2 || c.waitForReadyRead(100)); // hello
    QCborMap auth;
    auth.insert(s("t"), s("auth"));
    auth.insert(s("nonce"), QByteArray(32, 'n'));
    auth.insert(s("proof"), QByteArray(32, 'p'));
    const QByteArray body = auth.toCborValue().toCbor();
    c.write(wire::frame(body));
    QTRY_COMPARE_WITH_TIMEOUT(c.state(), QAbstractSocket::UnconnectedState, 5000);
    QTRY_VERIFY(relays.procs[0]->outputSoFar().contains("wrong secret"));

    // A broker with another secret is refused too, and says so.
    TestBroker broker([&](broker::BrokerConfig &cfg) {
        cfg.relays.emplace_back(QHostAddress::LocalHost, relays.procs[0]->port());
        auto other = crypto::randomSecret(32);
        cfg.relaySecret = *other;
    });
    QTRY_VERIFY_WITH_TIMEOUT(!broker.broker().status().relays.empty()
                                 && broker.broker().status().relays[0].why.contains(s("does not share our relay secret")),
                             5000);
    QCOMPARE(relaysUp(broker.broker()), 0);

    // Strangers holding many connections open (and never proving anything) do not keep a
    // broker that knows the secret out.
    std::vector<std::unique_ptr<QTcpSocket>> strangers;
    for (int i = 0; i < 40; ++i) {
        strangers.push_back(std::make_unique<QTcpSocket>());
        strangers.back()->connectToHost(QHostAddress::LocalHost, relays.procs[0]->port());
    }
    for (auto &st : strangers)
        QVERIFY(st->waitForConnected(3000));
    TestBroker good(relays.config());
    QTRY_COMPARE_WITH_TIMEOUT(relaysUp(good.broker()), 1, 5000);
}

void TestRelays::sessionsSpreadAndAKilledRelaysCallsEnd()
{
    Relays relays;
    QVERIFY(relays.start(3));
    TestBroker broker(relays.config());
    QTRY_COMPARE_WITH_TIMEOUT(relaysUp(broker.broker()), 3, 5000);
    std::vector<std::unique_ptr<TestPhone>> phones;
    for (int i = 0; i < 12; ++i) {
        phones.push_back(std::make_unique<TestPhone>(s("p%1").arg(i)));
        QVERIFY(enrolAndLogin(broker, *phones.back()));
    }
    // Six calls: two on each relay (the least loaded takes the next).
    std::vector<RelayCall> calls;
    for (int i = 0; i < 6; ++i) {
        const QByteArray sid = establishCall(*phones[2 * i], *phones[2 * i + 1]);
        QVERIFY(!sid.isEmpty());
        auto call = bindRelayCall(*phones[2 * i], *phones[2 * i + 1], sid);
        QVERIFY(call);
        QVERIFY(mediaFlows(*call->a, *call->b));
        calls.push_back(std::move(*call));
    }
    std::map<quint16, int> perRelay;
    for (const RelayCall &c : calls)
        ++perRelay[c.relayPort];
    QCOMPARE(int(perRelay.size()), 3);
    for (const auto &[port, n] : perRelay)
        QCOMPARE(n, 2);
    for (const broker::RelayStatus &r : broker.broker().status().relays)
        QCOMPARE(r.sessions, 2);
    QTRY_VERIFY(broker.broker().status().relays[0].members >= 4); // as the relay reports it

    // kill -9 of one relay: its two calls end, "failed", at both ends; the others go on.
    const quint16 dead = relays.procs[0]->port();
    std::vector<std::unique_ptr<QSignalSpy>> ended;
    for (auto &p : phones)
        ended.push_back(std::make_unique<QSignalSpy>(&p->engine(), &ClientEngine::callEnded));
    relays.procs[0]->kill();
    for (int i = 0; i < 6; ++i) {
        if (calls[i].relayPort != dead)
            continue;
        for (int side : {2 * i, 2 * i + 1}) {
            QTRY_COMPARE_WITH_TIMEOUT(ended[side]->size(), 1, 5000);
            QCOMPARE(ended[side]->first().at(0).toByteArray(), calls[i].sid);
            QCOMPARE(ended[side]->first().at(1).value<EndReason>(), EndReason::Failed);
        }
    }
    const auto status = broker.broker().status().relays;
    QVERIFY(!status[0].up);
    QCOMPARE(status[0].sessions, 0);
    for (int i = 0; i < 6; ++i) {
        if (calls[i].relayPort == dead)
            continue;
        QCOMPARE(ended[2 * i]->size(), 0);
        QVERIFY(phones[2 * i]->engine().session(calls[i].sid));
        QVERIFY(mediaFlows(*calls[i].a, *calls[i].b));
    }

    // New calls go to the two that are left, and work.
    for (int i = 0; i < 6; ++i) {
        if (calls[i].relayPort != dead)
            continue;
        const QByteArray sid = establishCall(*phones[2 * i], *phones[2 * i + 1]);
        QVERIFY(!sid.isEmpty());
        auto call = bindRelayCall(*phones[2 * i], *phones[2 * i + 1], sid);
        QVERIFY(call);
        QVERIFY(call->relayPort != dead);
        QVERIFY(mediaFlows(*call->a, *call->b));
    }
    QTRY_VERIFY(broker.broker().status().relays[0].why.contains(s("cannot connect"))
                || broker.broker().status().relays[0].why.contains(s("closed")));

    // The relay comes back on its port: the broker reconnects and places on it again.
    RelayProcess again(relays.secretFile, dead);
    QVERIFY(again.start());
    QTRY_COMPARE_WITH_TIMEOUT(relaysUp(broker.broker()), 3, 5000);
}

void TestRelays::withNoRelayUpACallIsRefusedClearly()
{
    Relays relays;
    QVERIFY(relays.start(1));
    TestBroker broker(relays.config());
    QTRY_COMPARE_WITH_TIMEOUT(relaysUp(broker.broker()), 1, 5000);
    TestPhone alice(s("alice")), bob(s("bob"));
    QVERIFY(enrolAndLogin(broker, alice));
    QVERIFY(enrolAndLogin(broker, bob));
    relays.procs[0]->kill();
    QTRY_COMPARE_WITH_TIMEOUT(relaysUp(broker.broker()), 0, 5000);
    QSignalSpy failed(&alice.engine(), &ClientEngine::callFailed);
    QSignalSpy incoming(&bob.engine(), &ClientEngine::incomingCall);
    alice.engine().call(s("bob"));
    QTRY_COMPARE(failed.size(), 1);
    const auto error = failed.first().at(2).value<Error>();
    QVERIFY2(error.message.contains(s("no relay is up")), qPrintable(error.message));
    QTest::qWait(200);
    QCOMPARE(incoming.size(), 0);
    QVERIFY(broker.broker().sessions().empty());
}

void TestRelays::theSecretFileIsChecked()
{
    QTemporaryDir dir;
    const QString path = dir.filePath(s("secret"));
    writeRelaySecret(path);
    auto run = [](const QStringList &args) {
        QProcess p;
        p.start(s(SOTTO_BINARY), args);
        p.waitForFinished(10000);
        return std::pair{p.exitCode(), QString::fromUtf8(p.readAllStandardError())};
    };
    QVERIFY(openToEveryone(path));
    auto [code, err] = run({s("relay"), s("--listen"), s("127.0.0.1:%1").arg(freePort()), s("--secret-file"), path});
    QCOMPARE(code, 2);
    QVERIFY2(err.contains(s("readable by others")), qPrintable(err));
    const QString shortSecret = dir.filePath(s("short"));
    QVERIFY(writePrivateFile(shortSecret, "too short").ok());
    std::tie(code, err) = run({s("relay"), s("--listen"), s("127.0.0.1:%1").arg(freePort()), s("--secret-file"), shortSecret});
    QCOMPARE(code, 2);
    QVERIFY2(err.contains(s("32 bytes")), qPrintable(err));
    std::tie(code, err) = run({s("relay"), s("--listen"), s("localhost:7"), s("--secret-file"), path});
    QCOMPARE(code, 2);
    QVERIFY2(err.contains(s("IP address")), qPrintable(err));
    std::tie(code, err) = run({s("broker"), s("--headless"), s("--relay"), s("127.0.0.1:9")});
    QCOMPARE(code, 2);
    QVERIFY2(err.contains(s("--relay-secret-file")), qPrintable(err));
}

void TestRelays::aCallOnARelayOfItsOwnOutlivesABrokerKill()
{
    Relays relays;
    QVERIFY(relays.start(1));
    QTemporaryDir dir;
    BrokerProcess broker(dir.path(), freePort(),
                         {s("--relay"), relays.procs[0]->address(), s("--relay-secret-file"), relays.secretFile});
    QVERIFY(broker.start());
    auto relayUp = [&] {
        return broker.status().value(s("relays")).toArray().at(0).toObject().value(s("up")).toBool();
    };
    QTRY_VERIFY_WITH_TIMEOUT(relayUp(), 5000);
    TestPhone alice(s("alice")), bob(s("bob"));
    for (TestPhone *p : {&alice, &bob}) {
        auto link = InviteLink::parse(broker.invite(p->account()));
        QVERIFY(link);
        QVERIFY(p->enrol(*link));
        QVERIFY(p->goOnline());
    }
    const QByteArray sid = establishCall(alice, bob);
    QVERIFY(!sid.isEmpty());
    auto call = bindRelayCall(alice, bob, sid);
    QVERIFY(call);
    QVERIFY(mediaFlows(*call->a, *call->b));
    QSignalSpy endedA(&alice.engine(), &ClientEngine::callEnded), endedB(&bob.engine(), &ClientEngine::callEnded);

    // kill -9 of the broker: the relay needs none, the phones keep the call.
    broker.kill();
    QTRY_VERIFY(alice.engine().state() != ClientEngine::State::Online);
    QVERIFY(mediaFlows(*call->a, *call->b));
    QVERIFY(alice.engine().session(sid) && bob.engine().session(sid));

    // The broker comes back (the same data dir: a restart after a crash; a standby's take-over
    // is the same path): both phones log in again and resume the call it recorded.
    QVERIFY(broker.start());
    QTRY_VERIFY_WITH_TIMEOUT(alice.engine().state() == ClientEngine::State::Online
                                 && bob.engine().state() == ClientEngine::State::Online, 10000);
    QTRY_VERIFY_WITH_TIMEOUT(broker.outputSoFar().contains("resumed session"), 5000);
    QTRY_COMPARE_WITH_TIMEOUT(broker.status().value(s("sessions")).toInt(), 1, 5000);
    QVERIFY(mediaFlows(*call->a, *call->b));
    QCOMPARE(endedA.size(), 0);
    QCOMPARE(endedB.size(), 0);

    // It can be hung up through the new instance: bob hears it, and the relay lets it go.
    alice.engine().leave(sid);
    QTRY_COMPARE_WITH_TIMEOUT(endedB.size(), 1, 5000);
    QCOMPARE(endedB.first().at(1).value<EndReason>(), EndReason::Hangup);
    QTRY_COMPARE_WITH_TIMEOUT(broker.status().value(s("sessions")).toInt(), 0, 5000);
    QTest::qWait(300); // the relay's `end` order
    call->a->sendRtp(99);
    QCOMPARE(call->b->drain(), 0);
    // And new calls work as ever.
    QVERIFY(!establishCall(alice, bob).isEmpty());
}

// Issue 22 §5: a conference the new instance adopted after a take-over was never re-keyed — a
// member who left, or was revoked, kept the live key (`left` came without a generation). Now a
// fresh key is drawn (no old key needed) for whoever is back, and the rest get it as they resume.
void TestRelays::anAdoptedConferenceReKeysOnLeaveAndRevoke()
{
    Relays relays;
    QVERIFY(relays.start(1));
    QTemporaryDir dir;
    BrokerProcess broker(dir.path(), freePort(),
                         {s("--relay"), relays.procs[0]->address(), s("--relay-secret-file"), relays.secretFile});
    QVERIFY(broker.start());
    QTRY_VERIFY_WITH_TIMEOUT(broker.status().value(s("relays")).toArray().at(0).toObject().value(s("up")).toBool(), 5000);
    TestPhone alice(s("alice")), bob(s("bob")), carol(s("carol")), dave(s("dave"));
    for (TestPhone *p : {&alice, &bob, &carol, &dave}) {
        auto link = InviteLink::parse(broker.invite(p->account()));
        QVERIFY(link);
        QVERIFY(p->enrol(*link));
        QVERIFY(p->goOnline());
    }
    const QByteArray sid = establishCall(alice, bob);
    QVERIFY(!sid.isEmpty());
    for (TestPhone *joiner : {&carol, &dave}) {
        QSignalSpy rings(&joiner->engine(), &ClientEngine::incomingCall);
        alice.engine().invite(sid, joiner->account());
        QVERIFY(rings.wait(5000));
        joiner->engine().answer(sid);
        QTRY_VERIFY_WITH_TIMEOUT(joiner->engine().session(sid) && joiner->engine().session(sid)->keyed, 5000);
    }
    QTRY_COMPARE_WITH_TIMEOUT(alice.engine().session(sid)->gen, 2u, 5000);
    QTRY_COMPARE_WITH_TIMEOUT(bob.engine().session(sid)->gen, 2u, 5000);

    // The broker is killed mid-conference; the phones keep it on the relay.
    broker.kill();
    QTRY_VERIFY(alice.engine().state() != ClientEngine::State::Online);
    QVERIFY(alice.engine().session(sid) && dave.engine().session(sid));
    QVERIFY(broker.start());
    const std::array<TestPhone *, 4> all{&alice, &bob, &carol, &dave};
    QTRY_VERIFY_WITH_TIMEOUT(std::all_of(all.begin(), all.end(),
                                         [](TestPhone *p) { return p->engine().state() == ClientEngine::State::Online; }),
                             10000);
    QTRY_VERIFY_WITH_TIMEOUT(broker.outputSoFar().count("resumed session") >= 4, 5000);

    // dave leaves: the three who stay get generation 3, a key dave never had.
    const QString before = alice.engine().session(sid)->keyFingerprint;
    dave.engine().leave(sid);
    for (TestPhone *p : {&alice, &bob, &carol})
        QTRY_COMPARE_WITH_TIMEOUT(p->engine().session(sid)->gen, 3u, 5000);
    const QString afterLeave = alice.engine().session(sid)->keyFingerprint;
    QVERIFY(afterLeave != before);
    QCOMPARE(bob.engine().session(sid)->keyFingerprint, afterLeave);
    QCOMPARE(carol.engine().session(sid)->keyFingerprint, afterLeave);

    // carol is revoked by the operator: alice and bob re-key again, without her.
    QSignalSpy carolEnded(&carol.engine(), &ClientEngine::callEnded);
    QProcess revoke;
    revoke.start(QStringLiteral(SOTTO_BINARY), {s("broker"), s("revoke"), s("carol"), s("--data"), dir.path()});
    QVERIFY(revoke.waitForFinished(10000) && revoke.exitCode() == 0);
    for (TestPhone *p : {&alice, &bob})
        QTRY_COMPARE_WITH_TIMEOUT(p->engine().session(sid)->gen, 4u, 5000);
    QCOMPARE(alice.engine().session(sid)->keyFingerprint, bob.engine().session(sid)->keyFingerprint);
    QVERIFY(alice.engine().session(sid)->keyFingerprint != afterLeave);
    QTRY_VERIFY_WITH_TIMEOUT(!carol.engine().session(sid), 5000);
}

// Issue 22 §6: a relay kept its revocations in memory only, and orders made while the control
// link was down were dropped — after a relay restart a removed member's token (under 5 minutes
// old) bound again. The broker now keeps every revocation whose tokens may still live and sends
// them again each time the link comes up.
void TestRelays::removalHoldsAcrossARelayRestart()
{
    Relays relays;
    QVERIFY(relays.start(1));
    TestBroker broker(relays.config());
    QTRY_COMPARE_WITH_TIMEOUT(relaysUp(broker.broker()), 1, 5000);
    TestPhone alice(s("alice")), bob(s("bob")), carol(s("carol"));
    for (TestPhone *p : {&alice, &bob, &carol})
        QVERIFY(enrolAndLogin(broker, *p));
    const QByteArray sid = establishCall(alice, bob);
    QVERIFY(!sid.isEmpty());
    QSignalSpy rings(&carol.engine(), &ClientEngine::incomingCall);
    alice.engine().invite(sid, s("carol"));
    QVERIFY(rings.wait(5000));
    carol.engine().answer(sid);
    QTRY_VERIFY_WITH_TIMEOUT(carol.engine().session(sid) && carol.engine().session(sid)->keyed, 5000);
    auto grantOf = [&](TestPhone &p) { return *p.engine().session(sid); };
    const SessionInfo carolsGrant = grantOf(carol), alicesGrant = grantOf(alice);
    const std::map<quint32, SecretBytes> keys{{carolsGrant.ownSsrc, carol.engine().relayGrantKey(sid)},
                                              {alicesGrant.ownSsrc, alice.engine().relayGrantKey(sid)}};
    const quint16 port = relays.procs[0]->port();
    auto bindsWith = [&](const SessionInfo &grant) {
        RelayMember m(sid, grant.ownSsrc, port);
        return m.bind(grant.relayToken, keys.at(grant.ownSsrc));
    };
    QVERIFY(bindsWith(carolsGrant)); // a live member's grant binds

    // carol leaves: her grant is refused at once.
    carol.engine().leave(sid);
    QTRY_VERIFY_WITH_TIMEOUT(!bindsWith(carolsGrant), 3000);

    // The relay restarts (memory gone) while the call is up: the broker's link drops (the
    // call ends, failed) and comes back; the revocations come back with it.
    relays.procs[0]->kill();
    QTRY_COMPARE_WITH_TIMEOUT(relaysUp(broker.broker()), 0, 5000);
    QTRY_VERIFY_WITH_TIMEOUT(!alice.engine().session(sid), 5000);
    QVERIFY(relays.procs[0]->start());
    QTRY_COMPARE_WITH_TIMEOUT(relaysUp(broker.broker()), 1, 10000);
    QTest::qWait(300);
    QVERIFY2(!bindsWith(carolsGrant), "a removed member's token bound again after a relay restart");
    QVERIFY2(!bindsWith(alicesGrant), "an ended session's token bound again after a relay restart");
    // The relay is otherwise as good as new.
    const QByteArray next = establishCall(alice, bob);
    QVERIFY(!next.isEmpty());
    auto call = bindRelayCall(alice, bob, next);
    QVERIFY(call);
    QVERIFY(mediaFlows(*call->a, *call->b));
}

// A revocation that finds the relay's table full is never silently dropped: the relay fails
// closed (no new binding until it would have expired; bindings that exist go on) and counts it.
void TestRelays::aFullRevocationTableFailsClosed()
{
    auto secret = crypto::randomSecret(32);
    QVERIFY(secret.ok());
    relay::RelayTable::Limits limits;
    limits.maxRevocations = 2;
    relay::RelayServer relay(*secret, limits);
    QVERIFY(relay.start(QHostAddress::LocalHost, 0).ok());
    TestBroker broker([&](broker::BrokerConfig &cfg) {
        cfg.relays.emplace_back(QHostAddress::LocalHost, relay.port());
        cfg.relaySecret = *secret;
    });
    QTRY_COMPARE_WITH_TIMEOUT(relaysUp(broker.broker()), 1, 5000);
    TestPhone alice(s("alice")), bob(s("bob")), carol(s("carol")), dave(s("dave"));
    for (TestPhone *p : {&alice, &bob, &carol, &dave})
        QVERIFY(enrolAndLogin(broker, *p));
    // carol and dave talk on; alice and bob call and hang up three times (three revocations).
    const QByteArray live = establishCall(carol, dave);
    QVERIFY(!live.isEmpty());
    auto talking = bindRelayCall(carol, dave, live);
    QVERIFY(talking);
    for (int i = 0; i < 3; ++i) {
        const QByteArray sid = establishCall(alice, bob);
        QVERIFY(!sid.isEmpty());
        QSignalSpy ended(&bob.engine(), &ClientEngine::callEnded);
        alice.engine().leave(sid);
        QVERIFY(ended.wait(5000));
    }
    QTRY_VERIFY_WITH_TIMEOUT(relay.load().revocationOverflows >= 1, 5000);
    QCOMPARE(relay.load().revocations, std::size_t(2));
    // No new binding, even with a valid token of a live call…
    const QByteArray sid = establishCall(alice, bob);
    QVERIFY(!sid.isEmpty());
    const SessionInfo grant = *alice.engine().session(sid);
    RelayMember newcomer(sid, grant.ownSsrc, relay.port());
    QVERIFY(!newcomer.bind(grant.relayToken, alice.engine().relayGrantKey(sid)));
    // …while the bindings that exist keep talking.
    QVERIFY(mediaFlows(*talking->a, *talking->b));
}

// A revocation is kept exactly as long as the order says (when the last token minted for it
// expires), then forgotten: the relay's memory follows what can still bind, not its history.
void TestRelays::revocationsExpireWithTheirTokens()
{
    auto secret = crypto::randomSecret(32);
    QVERIFY(secret.ok());
    relay::RelayServer relay(*secret, {});
    QVERIFY(relay.start(QHostAddress::LocalHost, 0).ok());
    const QByteArray key = secret->view().toByteArray();
    // A broker's side of the control channel, by hand (PROTOCOL.md: relays of their own).
    QTcpSocket control;
    control.connectToHost(QHostAddress::LocalHost, relay.port());
    QVERIFY(control.waitForConnected(3000));
    wire::FrameReader reader;
    auto nextFrame = [&]() -> QByteArray {
        QDeadlineTimer deadline(3000);
        while (!deadline.hasExpired()) {
            if (auto f = reader.next(); f && *f)
                return f->value();
            if (!control.waitForReadyRead(100))
                QTest::qWait(10);
            reader.append(control.readAll());
        }
        return {};
    };
    const QCborMap hello = QCborValue::fromCbor(nextFrame()).toMap();
    const QByteArray nr = hello.value(s("nonce")).toByteArray(), nb(relayauth::kNonceSize, 'b');
    QCborMap auth{{s("t"), s("auth")}, {s("nonce"), nb}, {s("proof"), relayauth::controlProof(key, "broker", nr, nb)}};
    control.write(wire::frame(auth.toCborValue().toCbor()));
    QCOMPARE(QCborValue::fromCbor(nextFrame()).toMap().value(s("t")).toString(), s("ok"));
    const relayauth::ControlKeys keys = relayauth::controlKeys(key, nr, nb);
    const QByteArray sid(16, 'e');
    const QCborMap leave{{s("t"), s("leave")}, {s("sid"), sid}, {s("ssrc"), 5}, {s("until"), qint64(now()) + 2}};
    control.write(wire::frame(relayauth::sealFrame(keys.brokerToRelay, 0, leave)));
    QTRY_COMPARE_WITH_TIMEOUT(relay.load().revocations, std::size_t(1), 3000);
    RelayMember m(sid, 5, relay.port());
    QVERIFY(!grantBind(m, key, relayauth::mintToken(key, sid, 5, now() + 60))); // revoked
    QTRY_COMPARE_WITH_TIMEOUT(relay.load().revocations, std::size_t(0), 6000); // gone at `until`
    QCOMPARE(relay.load().revocationOverflows, quint64(0));
}

void TestRelays::federatedCallsTrunkBetweenRelaysOfTheirOwn_data()
{
    QTest::addColumn<bool>("relaysAtA");
    QTest::addColumn<bool>("relaysAtB");
    QTest::newRow("both brokers with relays of their own") << true << true;
    QTest::newRow("the home broker's own relay, the peer's of its own") << false << true;
    QTest::newRow("the home broker's of its own, the peer's own relay") << true << false;
}

void TestRelays::federatedCallsTrunkBetweenRelaysOfTheirOwn()
{
    QFETCH(bool, relaysAtA);
    QFETCH(bool, relaysAtB);
    Relays atA, atB; // each broker its own relay and secret
    QVERIFY(atA.start(1));
    QVERIFY(atB.start(1));
    PeeredBrokers fed(24 * 3600, 0, relaysAtA ? atA.config() : PeeredBrokers::Adjust{},
                      relaysAtB ? atB.config() : PeeredBrokers::Adjust{});
    QVERIFY(fed.start());
    TestPhone alice(s("alice")), dave(s("dave"));
    QVERIFY(PeeredBrokers::enrol(*fed.a, alice));
    QVERIFY(PeeredBrokers::enrol(*fed.b, dave));
    QTRY_VERIFY_WITH_TIMEOUT(fed.linked(), 5000);
    if (relaysAtA)
        QTRY_COMPARE_WITH_TIMEOUT(relaysUp(*fed.a), 1, 5000);
    if (relaysAtB)
        QTRY_COMPARE_WITH_TIMEOUT(relaysUp(*fed.b), 1, 5000);
    QVERIFY(QTest::qWaitFor([&] {
        for (const ContactInfo &c : alice.engine().contacts()) {
            if (c.account == s("dave@b") && c.online)
                return true;
        }
        return false;
    }, 5000));

    // alice@a calls dave@b; each binds at its own broker's relay.
    QSignalSpy started(&alice.engine(), &ClientEngine::callStarted);
    QSignalSpy incoming(&dave.engine(), &ClientEngine::incomingCall);
    QSignalSpy answered(&alice.engine(), &ClientEngine::callAnswered);
    alice.engine().call(s("dave@b"));
    QTRY_COMPARE_WITH_TIMEOUT(started.size(), 1, 5000);
    QTRY_COMPARE_WITH_TIMEOUT(incoming.size(), 1, 5000);
    const QByteArray sid = started.first().at(0).toByteArray();
    dave.engine().answer(sid);
    QTRY_COMPARE_WITH_TIMEOUT(answered.size(), 1, 5000);
    const auto ia = alice.engine().session(sid);
    const auto id = dave.engine().session(sid);
    QVERIFY(ia && id);
    QCOMPARE(ia->relayPort, relaysAtA ? atA.procs[0]->port() : fed.portA);
    QCOMPARE(id->relayPort, relaysAtB ? atB.procs[0]->port() : fed.portB);
    RelayMember a(sid, ia->ownSsrc, ia->relayPort), d(sid, id->ownSsrc, id->relayPort);
    QVERIFY(a.bind(ia->relayToken, alice.engine().relayGrantKey(sid)));
    QVERIFY(d.bind(id->relayToken, dave.engine().relayGrantKey(sid)));
    // Media crosses the trunk both ways once the relays have bound to each other.
    QTRY_VERIFY_WITH_TIMEOUT(mediaFlows(a, d), 5000);
}

QTEST_MAIN(TestRelays)
#include "tst_relays.moc"
