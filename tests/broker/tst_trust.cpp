// Trust boundaries between brokers (PROTOCOL.md §8, "What a peer may say"): a
// peered broker speaks only for its own accounts. Broker b is real, with real phones; "a" is a
// hostile peer that holds the real peering secret and static key — the strongest peer there
// is — and writes whatever it likes on its session channel (the dialler's own PeerHandshake
// and PeerLogin objects open it). Each test shows the attack and that b refuses it.

#include "federation/peerattempts.h"

#include "broker/peers.h"
#include "broker/datadir.h"
#include "broker/store.h"
#include "core/crypto.h"
#include "core/messages.h"
#include "core/skbp.h"
#include "support/fixtures.h"
#include "support/peeredbrokers.h"
#include "support/pgserver.h"

#include <QCborArray>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

using namespace sotto;
using namespace sotto::broker;
using namespace sotto::test;

namespace key = wire::key;

namespace {

QString s(const char *text)
{
    return QString::fromUtf8(text);
}

// The peer "a" of broker b, under a hostile operator: its own store and static key, the link
// opened by the real dialler's attempts, then anything sealed on the channel.
class HostilePeer : public QObject
{
public:
    explicit HostilePeer(PeeredBrokers &fed) : m_fed(fed)
    {
        m_store = std::make_unique<Store>();
        auto location = StoreLocation::parse(testStoreAt(m_dir.filePath(s("a.db"))));
        if (!location || !m_store->open(*location))
            qFatal("hostile peer: no store");
        auto key = datadir::loadOrCreateStaticKey(fed.dirA.path());
        if (!key)
            qFatal("hostile peer: no static key");
        m_static = key->privateKey;
        m_config = PeeredBrokers::config(s("a"), fed.dirA.path(), fed.portA, 24 * 3600, fed.a->config().peers.front());
    }

    bool connect()
    {
        const PeerConfig b = m_config.peers.front();
        PeerHandshake handshake(context(), b);
        QSignalSpy done(&handshake, &PeerHandshake::finished);
        handshake.start();
        if (!done.wait(5000) || !done.at(0).at(0).toBool())
            return false;
        PeerLogin login(context(), b, m_store->peer(s("b"))->epoch, false);
        QSignalSpy in(&login, &PeerLogin::finished);
        // Taken over inside `finished`, as Federation does: frames already in the same read
        // would otherwise go to the finished attempt, and our counter would fall behind.
        QObject::connect(&login, &PeerLogin::finished, this, [this, &login](bool ok) {
            if (ok)
                takeOver(login);
        });
        login.start();
        if (!in.wait(5000) || !in.at(0).at(0).toBool())
            return false;
        return bool(m_socket);
    }

    void takeOver(PeerLogin &login)
    {
        m_socket.reset(login.takeSocket());
        m_socket->setParent(nullptr); // the attempt (its parent) dies before we do
        m_channel = login.takeChannel();
        QObject::connect(m_socket.get(), &FramedSocket::frameReceived, this, [this](const QByteArray &body) {
            auto m = m_channel.open(body);
            if (m)
                m_received.push_back(*m);
            else
                qWarning("hostile peer: cannot read a frame from b: %s", qPrintable(m.error().message));
        });
    }

    void send(const QCborMap &message)
    {
        auto sealed = m_channel.seal(message);
        if (!sealed || !m_socket->send(*sealed))
            qFatal("hostile peer: cannot send");
    }

    // The next message of `type` b sends us (waiting up to timeoutMs).
    std::optional<wire::Message> next(wire::MessageType type, const QByteArray &sid, int timeoutMs = 5000)
    {
        std::optional<wire::Message> found;
        (void)QTest::qWaitFor(
            [&] {
                for (auto it = m_received.begin(); it != m_received.end(); ++it) {
                    if (it->type() == type && it->bytes(key::sid) == sid) {
                        found = *it;
                        m_received.erase(it);
                        return true;
                    }
                }
                return false;
            },
            timeoutMs);
        return found;
    }

    // The session key b handed us in an fcall_key.
    Result<SecretBytes> unwrap(const wire::Message &fcallKey)
    {
        const AccountRecord *kab = m_store->peer(s("b"));
        return skbp::unwrap(kab->key, kab->epoch, fcallKey.bytes(key::wrapped),
                            {skbp::WrapPurpose::Federation, fcallKey.bytes(key::sid), 0, s("b")});
    }

    QCborMap fcall(const QByteArray &sid, const QString &to, const QString &relayAt = {})
    {
        QCborMap m = wire::message(wire::MessageType::FedCall);
        m.insert(key::sid, sid);
        m.insert(key::from, s("mallory"));
        m.insert(key::to, to);
        m.insert(key::trunk, crypto::randomBytes(skbp::kTokenSize).value());
        if (!relayAt.isEmpty())
            m.insert(key::relay_at, relayAt);
        return m;
    }

    // An invitation into a call of ours, "from" whoever we say, with `peers` as its members.
    static QCborMap deliverIncoming(const QString &to, const QByteArray &sid, const QString &from,
                                    const QStringList &peers)
    {
        QCborArray members;
        quint32 ssrc = 100;
        for (const QString &p : peers)
            members.append(QCborMap{{key::account, p}, {key::ssrc, qint64(ssrc++)}});
        QCborMap incoming = wire::message(wire::MessageType::Incoming);
        incoming.insert(key::sid, sid);
        incoming.insert(key::from, from);
        incoming.insert(key::gen, 1);
        incoming.insert(key::ssrc, qint64(ssrc));
        incoming.insert(key::peers, members);
        incoming.insert(key::relay, QCborMap{{key::port, 1}, {key::token, QByteArray(skbp::kTokenSize, 't')}});
        QCborMap deliver = wire::message(wire::MessageType::Deliver);
        deliver.insert(key::to, to);
        deliver.insert(key::msg, incoming);
        deliver.insert(key::trunk, QByteArray(skbp::kTokenSize, 'k'));
        return deliver;
    }

private:
    AttemptContext context()
    {
        return {*m_store, s("a"), m_static, m_config, [](const QString &) {}};
    }

    PeeredBrokers &m_fed;
    QTemporaryDir m_dir;
    std::unique_ptr<Store> m_store;
    SecretBytes m_static;
    BrokerConfig m_config;
    std::unique_ptr<FramedSocket> m_socket;
    SecureChannel m_channel;
    std::vector<wire::Message> m_received;
};

QByteArray newSid()
{
    return crypto::randomBytes(skbp::kSidSize).value();
}

// Broker b's log lines from now on.
struct BrokerLog
{
    explicit BrokerLog(Broker &b)
    {
        QObject::connect(&b, &Broker::logEvent, &context, [this](const QString &l) { lines << l; });
    }
    bool has(const QString &needle) const
    {
        return std::any_of(lines.begin(), lines.end(), [&](const QString &l) { return l.contains(needle); });
    }
    QObject context;
    QStringList lines;
};

} // namespace

class TestTrust : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void peerCannotPoseAsALocalColleague();
    void federatedKeyIsNoLocalCallsKey();
    void relayAtOnlyWhereThePeerIs();
};

// Before the fix b localized every name a peer wrote: `from:"carol@b"` reached dave as "carol",
// his own colleague calling — with the peer holding the key.
void TestTrust::peerCannotPoseAsALocalColleague()
{
    PeeredBrokers fed;
    QVERIFY(fed.b->start().ok());
    TestPhone carol(s("carol")), dave(s("dave"));
    QVERIFY(PeeredBrokers::enrol(*fed.b, carol));
    QVERIFY(PeeredBrokers::enrol(*fed.b, dave));
    HostilePeer a(fed);
    QVERIFY(a.connect());
    BrokerLog log(*fed.b);
    QSignalSpy daveRings(&dave.engine(), &ClientEngine::incomingCall);
    QSignalSpy carolRings(&carol.engine(), &ClientEngine::incomingCall);

    // 1. "carol@b" (ours, not in any call of a's) invites dave; and "mallory" invites dave into a
    //    call whose members it says include carol@b. Neither rings; b logs each.
    a.send(HostilePeer::deliverIncoming(s("dave"), newSid(), s("carol@b"), {s("mallory")}));
    a.send(HostilePeer::deliverIncoming(s("dave"), newSid(), s("mallory"), {s("mallory"), s("carol@b")}));
    //    A third broker's account is not a's to name either.
    a.send(HostilePeer::deliverIncoming(s("dave"), newSid(), s("eve@c"), {s("mallory")}));
    QTRY_COMPARE_WITH_TIMEOUT(int(std::count_if(log.lines.begin(), log.lines.end(),
                                                 [](const QString &l) { return l.contains(s("broker a refused")); })),
                              3, 5000);
    QVERIFY(log.has(s("the name \"carol@b\"")));
    QVERIFY(log.has(s("the name \"eve@c\"")));
    QTest::qWait(300);
    QCOMPARE(daveRings.size(), 0);
    QVERIFY(fed.b->sessions().empty()); // nothing of theirs was mirrored either

    // A keyed call (an epoch: dave would derive SK_0 himself) that no fcall asked for.
    QCborMap keyed = HostilePeer::deliverIncoming(s("dave"), newSid(), s("mallory"), {s("mallory")});
    QCborMap inner = keyed.value(key::msg).toMap();
    inner.insert(key::epoch, qint64(dave.profile().epoch()));
    keyed.insert(key::msg, inner);
    a.send(keyed);
    QTRY_VERIFY_WITH_TIMEOUT(log.has(s("a key nobody asked for")), 5000);
    QVERIFY(!daveRings.wait(300));

    // 2. Its own account, written bare or in full: dave rings, and sees where it came from.
    const QByteArray sid = newSid();
    a.send(HostilePeer::deliverIncoming(s("dave"), sid, s("mallory"), {s("mallory@a")}));
    QVERIFY(daveRings.wait(5000));
    QCOMPARE(daveRings.at(0).at(1).toString(), s("mallory@a"));
    QCOMPARE(dave.engine().session(sid)->members.front().account, s("mallory@a"));

    // 3. Carol really in a's call: then a may name her to dave (she invited him), as carol.
    const QByteArray conf = newSid();
    a.send(HostilePeer::deliverIncoming(s("carol"), conf, s("mallory"), {s("mallory")}));
    QVERIFY(carolRings.wait(5000));
    a.send(HostilePeer::deliverIncoming(s("dave"), conf, s("carol@b"), {s("mallory"), s("carol@b")}));
    QVERIFY(daveRings.wait(5000));
    QCOMPARE(daveRings.at(1).at(1).toString(), s("carol"));
    // carol leaves: the home's `left` about her still reaches dave (she was in it until now).
    carol.engine().leave(conf);
    const int refusedBefore = int(log.lines.filter(s("refused")).size());
    QCborMap left = wire::left(conf, s("carol@b"));
    QCborMap deliver = wire::message(wire::MessageType::Deliver);
    deliver.insert(key::to, s("dave"));
    deliver.insert(key::msg, left);
    QSignalSpy daveHears(&dave.engine(), &ClientEngine::memberLeft);
    QSignalSpy daveMembers(&dave.engine(), &ClientEngine::membersChanged);
    a.send(deliver);
    QTRY_VERIFY_WITH_TIMEOUT(!daveHears.isEmpty() || !daveMembers.isEmpty(), 5000);
    QCOMPARE(int(log.lines.filter(s("refused")).size()), refusedBefore);
}

// SK_0 of a federated call is bound to its home broker: a peer that picks the sid of a local
// call gets another key; and a (key, sid) pair never gives a second key.
void TestTrust::federatedKeyIsNoLocalCallsKey()
{
    // A long rotation interval: after the second call dave's key stays where it was.
    PeeredBrokers fed(24 * 3600, 0, {}, [](BrokerConfig &c) { c.rotationMinIntervalMs = 600000; });
    QVERIFY(fed.b->start().ok());
    TestPhone carol(s("carol")), dave(s("dave"));
    QVERIFY(PeeredBrokers::enrol(*fed.b, carol));
    QVERIFY(PeeredBrokers::enrol(*fed.b, dave));
    HostilePeer a(fed);
    QVERIFY(a.connect());

    auto localCall = [&]() -> QByteArray {
        QSignalSpy started(&carol.engine(), &ClientEngine::callStarted);
        QSignalSpy ringing(&dave.engine(), &ClientEngine::incomingCall);
        carol.engine().call(s("dave"));
        if (!started.wait(5000) || (ringing.isEmpty() && !ringing.wait(5000)))
            return {};
        const QByteArray sid = started.at(0).at(0).toByteArray();
        QSignalSpy ended(&dave.engine(), &ClientEngine::callEnded);
        carol.engine().leave(sid);
        ended.wait(5000);
        return sid;
    };
    QSignalSpy rotated(&dave.engine(), &ClientEngine::rotated);
    QVERIFY(!localCall().isEmpty());
    QTRY_VERIFY_WITH_TIMEOUT(!rotated.isEmpty(), 5000); // the first rotation runs at once
    const quint32 epoch = dave.profile().epoch();
    const SecretBytes kDave = dave.profile().key();
    const QByteArray used = localCall(); // keyed at `epoch`; its rotation waits for the interval
    QVERIFY(!used.isEmpty());
    QTest::qWait(300);
    QCOMPARE(dave.profile().epoch(), epoch);
    const auto localKey = skbp::sessionKey(skbp::KeyMode::Derived, kDave, used, s("dave"), epoch);
    QVERIFY(localKey);

    // The sid of that ended local call, at the same epoch: refused.
    a.send(a.fcall(used, s("dave")));
    auto refused = a.next(wire::MessageType::FedError, used);
    QVERIFY(refused);
    QCOMPARE(refused->text(key::code), s("bad_request"));

    // A fresh sid: a key, bound to a — not what a local call with that sid would have had.
    const QByteArray sid = newSid();
    a.send(a.fcall(sid, s("dave")));
    auto keyed = a.next(wire::MessageType::FedCallKey, sid);
    QVERIFY(keyed);
    QCOMPARE(keyed->u32(key::epoch), epoch);
    auto sk = a.unwrap(*keyed);
    QVERIFY2(sk, sk ? "" : qPrintable(sk.error().message));
    const auto asLocal = skbp::sessionKey(skbp::KeyMode::Derived, kDave, sid, s("dave"), epoch);
    const auto asFederated = skbp::sessionKey(skbp::KeyMode::Derived, kDave, sid, s("dave"), epoch, s("a"));
    QVERIFY(!sk->equals(*asLocal));
    QVERIFY(sk->equals(*asFederated));
    QVERIFY(!sk->equals(*localKey));

    // And the same sid again once that call is gone: refused, never a second key.
    a.send(a.fcall(sid, s("dave")));
    QVERIFY(a.next(wire::MessageType::FedError, sid));
}

// `relay_at` is where our relay sends our members' media: only the peer's own host, or relays
// it is configured with.
void TestTrust::relayAtOnlyWhereThePeerIs()
{
    PeerConfig p;
    p.host = s("127.0.0.1");
    p.relays = {s("127.0.0.9:7430")};
    QVERIFY(p.allowsRelayAt(QHostAddress(s("127.0.0.1")), 9999));
    QVERIFY(p.allowsRelayAt(QHostAddress(s("127.0.0.9")), 7430));
    QVERIFY(!p.allowsRelayAt(QHostAddress(s("127.0.0.9")), 7431));
    QVERIFY(!p.allowsRelayAt(QHostAddress(s("127.0.0.8")), 7430));
    QVERIFY(parsePeerRelayOption(s("b=127.0.0.9:7430")));
    QVERIFY(!parsePeerRelayOption(s("b=relay.example.org:7430"))); // a literal address only
    QVERIFY(!parsePeerRelayOption(s("b")));

    PeeredBrokers fed;
    QVERIFY(fed.b->start().ok());
    TestPhone dave(s("dave"));
    QVERIFY(PeeredBrokers::enrol(*fed.b, dave));
    HostilePeer a(fed);
    QVERIFY(a.connect());
    BrokerLog log(*fed.b);

    const QByteArray elsewhere = newSid();
    a.send(a.fcall(elsewhere, s("dave"), s("127.0.0.8:5555")));
    auto refused = a.next(wire::MessageType::FedError, elsewhere);
    QVERIFY(refused);
    QCOMPARE(refused->text(key::code), s("forbidden"));
    QVERIFY(log.has(s("relay_at 127.0.0.8:5555")));

    QCborMap invite = HostilePeer::deliverIncoming(s("dave"), newSid(), s("mallory"), {s("mallory")});
    invite.insert(key::relay_at, s("127.0.0.8:5555"));
    QSignalSpy rings(&dave.engine(), &ClientEngine::incomingCall);
    a.send(invite);
    QTRY_VERIFY_WITH_TIMEOUT(log.has(s("a incoming for dave")), 5000);
    QVERIFY(!rings.wait(300));

    const QByteArray home = newSid();
    a.send(a.fcall(home, s("dave"), s("127.0.0.1:5555"))); // its own host
    QVERIFY(a.next(wire::MessageType::FedCallKey, home));
}

QTEST_GUILESS_MAIN(TestTrust)
#include "tst_trust.moc"
