// A login end to end between the two objects that carry it (PROTOCOL.md §5): the phone's
// BrokerLogin and the broker's LoginResponder, over a real loopback socket and a real store
// (a SQLite file, or PostgreSQL). Each row is a state of the account on both sides; each says
// how the exchange ends on each side and what the commit rule left in the store — a pending key
// the phone names commits, one it never stored is dropped, one a later handshake replaced is
// refused (and the phone falls back), a wrong key and an unknown account look the same.

#include "phones/phoneresponders.h"

#include "client/brokerlogin.h"
#include "client/profile.h"

#include "broker/store.h"
#include "core/crypto.h"
#include "core/skbp.h"
#include "support/pgserver.h"
#include "support/profiles.h"

#include <QSignalSpy>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTemporaryDir>
#include <QTest>

using namespace sotto;
using namespace sotto::broker;

namespace {

const char *phoneOutcome(const BrokerLogin::Progress &p)
{
    static const char *const names[] = {"send", "welcome", "pending-refused", "refused", "failed"};
    return names[p.index()];
}

} // namespace

class TestPhoneResponders : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void login_data();
    void login();
};

void TestPhoneResponders::login_data()
{
    // Keys are named by a letter: the same letter on both sides is the same key.
    QTest::addColumn<QString>("broker"); // "epoch:key[/pending epoch:key]", or "" (no account)
    QTest::addColumn<QString>("phone");  // "epoch:key[/pending epoch:key]"
    QTest::addColumn<bool>("brokerOk");
    QTest::addColumn<QString>("phoneSays");
    QTest::addColumn<QString>("storeAfter"); // the broker's account afterwards
    QTest::addColumn<int>("keyMoves");       // keyCommitted() calls

    const auto row = [](const char *name, const char *broker, const char *phone, bool ok, const char *says,
                        const char *after, int moves) {
        QTest::newRow(name) << QString::fromLatin1(broker) << QString::fromLatin1(phone) << ok << QString::fromLatin1(says)
                            << QString::fromLatin1(after) << moves;
    };
    row("the current key", "1:a", "1:a", true, "welcome", "1:a", 0);
    row("a pending key the phone names commits", "1:a/2:b", "1:a/2:b", true, "welcome", "2:b", 1);
    row("a pending key the phone never stored is dropped", "1:a/2:b", "1:a", true, "welcome", "1:a", 1);
    row("a pending key a later handshake replaced: the phone falls back", "1:a/2:c", "1:a/2:b", false,
        "pending-refused", "1:a/2:c", 0);
    row("a wrong key", "1:a", "1:z", false, "refused", "1:a", 0);
    row("an epoch the broker never had", "1:a", "7:a", false, "refused", "1:a", 0);
    row("an unknown account looks the same", "", "1:a", false, "refused", "", 0);
}

void TestPhoneResponders::login()
{
    QFETCH(QString, broker);
    QFETCH(QString, phone);
    QFETCH(bool, brokerOk);
    QFETCH(QString, phoneSays);
    QFETCH(QString, storeAfter);
    QFETCH(int, keyMoves);

    const auto parse = [](const QString &spec) {
        std::vector<std::pair<quint32, char>> keys;
        for (const QString &part : spec.split(u'/', Qt::SkipEmptyParts))
            keys.emplace_back(part.section(u':', 0, 0).toUInt(), part.section(u':', 1, 1).at(0).toLatin1());
        return keys;
    };
    const QString alice = QStringLiteral("alice");

    QTemporaryDir dir;
    Store store;
    auto location = StoreLocation::parse(test::testStoreAt(dir.filePath(QStringLiteral("broker.db"))));
    QVERIFY(location.ok());
    QVERIFY(store.open(*location).ok());
    const auto brokerKeys = parse(broker);
    for (std::size_t i = 0; i < brokerKeys.size(); ++i) {
        QVERIFY(store.setPending(alice, brokerKeys[i].first, test::keyOf(brokerKeys[i].second), PendingKind::Handshake).ok());
        if (i == 0)
            QVERIFY(store.commitPending(alice).ok());
    }
    const auto describe = [&] {
        const AccountRecord *a = store.account(alice);
        if (!a)
            return QString();
        const auto letter = [](const SecretBytes &k) { return QChar::fromLatin1(k.view().isEmpty() ? '?' : k.view()[0]); };
        QString out = QStringLiteral("%1:%2").arg(a->epoch).arg(letter(a->key));
        if (a->hasPending())
            out += QStringLiteral("/%1:%2").arg(a->pendingEpoch).arg(letter(a->pendingKey));
        return out;
    };

    QTemporaryDir phoneDir;
    auto profile = test::profileWithKeys(phoneDir.path(), alice, parse(phone));
    QVERIFY(profile.ok());

    // The socket pair.
    QTcpServer server;
    QVERIFY(server.listen(QHostAddress::LocalHost, 0));
    auto *tcp = new QTcpSocket;
    FramedSocket phoneSide(tcp);
    tcp->connectToHost(QHostAddress::LocalHost, server.serverPort());
    QTRY_VERIFY(server.hasPendingConnections());
    FramedSocket brokerSide(server.nextPendingConnection());
    QTRY_COMPARE(tcp->state(), QAbstractSocket::ConnectedState);

    auto identity = crypto::x25519Generate();
    QVERIFY(identity.ok());
    BrokerConfig config;
    config.name = QStringLiteral("home");
    int moves = 0;
    LoginResponder responder({.store = store,
                              .config = config,
                              .identity = *identity,
                              .log = [](const QString &) {},
                              .keyCommitted = [&](const QString &account) {
                                  QCOMPARE(account, alice);
                                  ++moves;
                              },
                              .replaced = [](const QString &) { QFAIL("no replacement here"); }},
                             &brokerSide);
    QSignalSpy finished(&responder, &LoginResponder::finished);
    connect(&brokerSide, &FramedSocket::frameReceived, &responder, [&](const QByteArray &body) {
        if (responder.step() == LoginResponder::Step::AwaitingHello)
            responder.start(body);
        else
            responder.take(body);
    });

    BrokerLogin login(*profile, QStringLiteral("sotto/test"), false);
    std::optional<BrokerLogin::Progress> last;
    const auto onProgress = [&](BrokerLogin::Progress p) {
        if (auto *send = std::get_if<BrokerLogin::Send>(&p); send && !send->frame.isEmpty())
            phoneSide.send(send->frame);
        else
            last = std::move(p);
    };
    connect(&phoneSide, &FramedSocket::frameReceived, &responder, [&](const QByteArray &body) {
        if (!last)
            onProgress(login.take(body));
    });
    onProgress(login.hello());
    QTRY_COMPARE(finished.size(), 1);
    QCOMPARE(finished.at(0).at(0).toBool(), brokerOk);
    if (brokerOk) {
        // The connection's part: the welcome, under the channel the login opened.
        QCOMPARE(responder.step(), LoginResponder::Step::Done);
        SecureChannel channel = responder.takeChannel();
        QCborMap welcome = wire::message(wire::MessageType::Welcome);
        welcome.insert(wire::key::epoch, qint64(responder.epoch()));
        welcome.insert(wire::key::broker, config.name);
        welcome.insert(wire::key::fp, skbp::fingerprint(identity->publicKey));
        brokerSide.send(*channel.seal(welcome));
    } else {
        QCOMPARE(responder.step(), LoginResponder::Step::Failed);
    }
    QTRY_VERIFY(last.has_value());
    QCOMPARE(phoneOutcome(*last), qPrintable(phoneSays));
    QCOMPARE(describe(), storeAfter);
    QCOMPARE(moves, keyMoves);
}

QTEST_GUILESS_MAIN(TestPhoneResponders)
#include "tst_phoneresponders.moc"
