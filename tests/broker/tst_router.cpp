// The call router alone (PROTOCOL.md §6), on what RouterContext names and nothing more: a real
// store in a SQLite file, a real relay table, no peers, and an outbox that keeps what the router
// sends. No TCP server, no phone: the router's words are read off the outbox and checked as a phone
// would check them (unwrap under its key, derive SK itself).

#include "calls/callrouter.h"
#include "media/inprocessmedia.h"

#include "relay/relay.h"
#include "broker/store.h"
#include "core/crypto.h"
#include "core/skbp.h"
#include "core/wire.h"

#include <QTemporaryDir>
#include <QTest>
#include "support/pgserver.h"
#include "support/routerfakes.h"

using namespace sotto;
using namespace sotto::broker;
namespace key = wire::key;

namespace {

using test::FakeOutbox;
using test::NoPeers;
using Sent = test::SentMessage;

wire::Message request(wire::MessageType type, std::initializer_list<std::pair<QLatin1StringView, QCborValue>> fields)
{
    QCborMap m = wire::message(type);
    for (const auto &[k, v] : fields)
        m.insert(k, v);
    return *wire::validateMessage(m);
}

} // namespace

class TestRouter : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void init();
    void cleanup();
    void callAnswerConferenceAndRotation();
    void refusalsChangeNothing();

private:
    SecretBytes enrol(const QString &account);
    std::unique_ptr<QTemporaryDir> m_dir;
    std::unique_ptr<Store> m_store;
    std::unique_ptr<relay::RelayTable> m_relays;
    std::unique_ptr<InProcessMedia> m_media;
    NoPeers m_peers;
    FakeOutbox m_outbox;
    BrokerConfig m_config;
    QStringList m_log;
    std::unique_ptr<CallRouter> m_router;
    std::map<QString, SecretBytes> m_keys;
};

void TestRouter::init()
{
    m_dir = std::make_unique<QTemporaryDir>();
    m_store = std::make_unique<Store>();
    auto location = StoreLocation::parse(test::testStoreAt(m_dir->filePath(QStringLiteral("broker.db"))));
    QVERIFY(location.ok());
    QVERIFY(m_store->open(*location).ok());
    m_relays = std::make_unique<relay::RelayTable>();
    m_media = std::make_unique<InProcessMedia>(*m_relays, [] { return quint16(7420); });
    m_outbox = FakeOutbox();
    m_config = BrokerConfig();
    m_config.name = QStringLiteral("a");
    m_config.rotationMinIntervalMs = 0;
    m_log.clear();
    m_router = std::make_unique<CallRouter>(RouterContext{
        .store = *m_store,
        .media = *m_media,
        .peers = m_peers,
        .outbox = m_outbox,
        .config = m_config,
        .log = [this](const QString &line) { m_log << line; },
    });
    for (const char *name : {"alice", "bob", "carol"}) {
        const QString account = QString::fromLatin1(name);
        m_keys[account] = enrol(account);
        m_outbox.online.insert(account);
    }
}

void TestRouter::cleanup()
{
    m_router.reset();
    m_store.reset();
}

SecretBytes TestRouter::enrol(const QString &account)
{
    auto k = crypto::randomSecret(skbp::kKeySize);
    if (!k || !m_store->setPending(account, 1, *k, PendingKind::Handshake) || !m_store->commitPending(account))
        return {};
    return *k;
}

void TestRouter::callAnswerConferenceAndRotation()
{
    using T = wire::MessageType;
    const QString alice = QStringLiteral("alice"), bob = QStringLiteral("bob"), carol = QStringLiteral("carol");

    // alice calls bob: {SK}K_alice to alice, and bob derives the same SK from K_bob himself.
    QVERIFY(m_router->call(alice, request(T::Call, {{key::id, 7}, {key::to, bob}})).ok());
    const auto callKey = m_outbox.take(alice, T::CallKey);
    const auto incoming = m_outbox.take(bob, T::Incoming);
    QCOMPARE(int(callKey.size()), 1);
    QCOMPARE(int(incoming.size()), 1);
    const QByteArray sid = callKey[0].bytes(key::sid);
    QCOMPARE(callKey[0].id(), std::optional<quint32>(7));
    QCOMPARE(incoming[0].bytes(key::sid), sid);
    QCOMPARE(callKey[0].map().value(key::relay).toMap().value(key::port).toInteger(), 7420);
    auto skAlice = skbp::unwrap(m_keys[alice], 1, callKey[0].bytes(key::wrapped), {skbp::WrapPurpose::Call, sid, 0, alice});
    auto skBob = skbp::sessionKey(skbp::KeyMode::Derived, m_keys[bob], sid, bob, incoming[0].u32(key::epoch));
    QVERIFY(skAlice && skBob);
    QVERIFY(skAlice->equals(*skBob));
    QCOMPARE(m_store->account(bob)->rotateDue, 1u); // durable: a broker killed mid-call still rotates

    // bob answers; alice hears it. carol is invited: she rings, the others see it.
    QVERIFY(m_router->answer(bob, sid).ok());
    QCOMPARE(int(m_outbox.take(alice, T::Answered).size()), 1);
    QVERIFY(m_router->invite(alice, sid, carol).ok());
    QCOMPARE(int(m_outbox.take(carol, T::Incoming).size()), 1);
    QCOMPARE(m_outbox.take(bob, T::Ringing).at(0).text(key::who), carol);

    // carol answers: generation 1, ratcheted from SK_0, wrapped under K_carol; the others are told.
    QVERIFY(m_router->answer(carol, sid).ok());
    const auto sessionKey = m_outbox.take(carol, T::SessionKey);
    QCOMPARE(int(sessionKey.size()), 1);
    QCOMPARE(sessionKey[0].u32(key::gen), 1u);
    auto sk1 = skbp::unwrap(m_keys[carol], 1, sessionKey[0].bytes(key::wrapped), {skbp::WrapPurpose::Join, sid, 1, carol});
    QVERIFY(sk1);
    QVERIFY(sk1->equals(*skbp::ratchet(*skAlice, sid, 1)));
    QCOMPARE(m_outbox.take(alice, T::Joined).at(0).u32(key::gen), 1u);
    QCOMPARE(m_outbox.take(bob, T::Joined).at(0).u32(key::gen), 1u);

    // carol leaves: a fresh generation 2 for alice and bob, which carol never sees.
    QVERIFY(m_router->leave(carol, sid).ok());
    for (const QString &who : {alice, bob}) {
        QCOMPARE(m_outbox.take(who, T::Left).at(0).u32(key::gen), 2u);
        const auto rekey = m_outbox.take(who, T::Rekey);
        QCOMPARE(int(rekey.size()), 1);
        QVERIFY(skbp::unwrap(m_keys[who], 1, rekey[0].bytes(key::wrapped), {skbp::WrapPurpose::Rekey, sid, 2, who}));
    }
    QVERIFY(m_outbox.take(carol, T::Rekey).empty());

    // bob hangs up: alice's call ends, and bob's key (which keyed the call) rotates, pending
    // durably before `rotate` may leave.
    QVERIFY(m_router->leave(bob, sid).ok());
    QCOMPARE(m_outbox.take(alice, T::Ended).at(0).text(key::reason), QStringLiteral("hangup"));
    QVERIFY(m_router->sessions().empty());
    const AccountRecord *b = m_store->account(bob);
    QCOMPARE(b->pendingKind, PendingKind::Rotate);
    QCOMPARE(b->pendingEpoch, 2u);
    const auto rotate = std::find_if(m_outbox.sent.begin(), m_outbox.sent.end(),
                                     [&](const Sent &s) { return s.to == bob && s.message.type() == T::Rotate; });
    QVERIFY(rotate != m_outbox.sent.end());
    QCOMPARE(rotate->delivery, Outbox::Delivery::AfterCommit);
    auto next = skbp::unwrap(m_keys[bob], 1, rotate->message.bytes(key::wrapped),
                             {skbp::WrapPurpose::Rotate, QByteArray(skbp::kSidSize, '\0'), 0, bob});
    QVERIFY(next && next->equals(b->pendingKey));
    // bob proves he holds K_bob': committed, and the record of what was due goes.
    QVERIFY(m_router->rotation().rotateAck(bob, 2, *skbp::rotateProof(*next, bob, 2)).ok());
    QCOMPARE(m_store->account(bob)->epoch, 2u);
    QCOMPARE(m_store->account(bob)->rotateDue, 0u);
    QVERIFY(!m_log.isEmpty());
}

void TestRouter::refusalsChangeNothing()
{
    using T = wire::MessageType;
    const QString alice = QStringLiteral("alice"), bob = QStringLiteral("bob");
    m_outbox.online.erase(bob);
    struct Row
    {
        wire::Message call;
        ErrorCode code;
    };
    const Row rows[] = {
        {request(T::Call, {{key::to, alice}}), ErrorCode::BadRequest},                      // yourself
        {request(T::Call, {{key::to, QStringLiteral("nobody")}}), ErrorCode::UnknownAccount},
        {request(T::Call, {{key::to, bob}}), ErrorCode::Offline},
        {request(T::Call, {{key::to, QStringLiteral("dave@b")}}), ErrorCode::UnknownAccount}, // no such peer
    };
    for (const Row &row : rows) {
        auto r = m_router->call(alice, row.call);
        QVERIFY(!r.ok());
        QCOMPARE(r.error().code, row.code);
    }
    QVERIFY(m_outbox.sent.empty());
    QVERIFY(m_router->sessions().empty());
    QCOMPARE(m_store->account(bob)->rotateDue, 0u);
    QCOMPARE(m_router->answer(bob, QByteArray(16, 's')).error().code, ErrorCode::NotInSession);
    QCOMPARE(m_router->rotation().rotateAck(bob, 2, QByteArray(32, 'p')).error().code, ErrorCode::BadRequest);
    QCOMPARE(m_outbox.sessionsChanges, 0);
}

QTEST_GUILESS_MAIN(TestRouter)
#include "tst_router.moc"
