// One login, the phone's side (PROTOCOL.md §5), against a broker played here frame by frame:
// which key it proves (the commit rule, §4: a pending key first, the current one once the
// broker refused the pending), and how each answer ends it — online (committing or discarding
// the pending key), fall back to the current key, refused for good, or try again later.

#include "client/brokerlogin.h"
#include "client/profile.h"

#include "core/skbp.h"
#include "core/wire.h"
#include "support/profiles.h"

#include <QTemporaryDir>
#include <QTest>

using namespace sotto;
namespace key = wire::key;

namespace {

QString s(const char *text)
{
    return QString::fromLatin1(text);
}

const char *outcomeName(const BrokerLogin::Progress &p)
{
    static const char *const names[] = {"send", "welcome", "pending-refused", "refused", "failed"};
    return names[p.index()];
}

} // namespace

class TestBrokerLogin : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void outcomes_data();
    void outcomes();
};

void TestBrokerLogin::outcomes_data()
{
    QTest::addColumn<int>("current");    // the profile's committed epoch (0: not enrolled)
    QTest::addColumn<int>("pending");    // its pending epoch (0: none)
    QTest::addColumn<bool>("pendingRefused");
    QTest::addColumn<QString>("answer"); // what the broker does after the hello
    QTest::addColumn<int>("proves");     // the epoch the hello names
    QTest::addColumn<QString>("outcome");
    QTest::addColumn<int>("pendingAfter"); // Welcome: what it did to the pending key

    using P = BrokerLogin::Pending;
    const auto row = [](const char *name, int current, int pending, bool refusedBefore, const char *answer, int proves,
                        const char *outcome, P after = P::None) {
        QTest::newRow(name) << current << pending << refusedBefore << s(answer) << proves << s(outcome) << int(after);
    };
    row("current key: online", 1, 0, false, "welcome", 1, "welcome");
    row("a pending key first: the welcome commits it", 1, 2, false, "welcome", 2, "welcome", P::Proven);
    row("a first enrolment's pending key: committed", 0, 1, false, "welcome", 1, "welcome", P::Proven);
    row("pending refused before: the current key, the pending discarded", 1, 2, true, "welcome", 1, "welcome",
        P::Refused);
    row("cleartext auth to a pending key: fall back to the current", 1, 2, false, "clear-auth", 2, "pending-refused");
    row("cleartext auth to the current key: refused for good", 1, 0, false, "clear-auth", 1, "refused");
    row("cleartext auth to a first enrolment's key: refused", 0, 1, false, "clear-auth", 1, "refused");
    row("sealed auth error: the broker holds the key and refuses it", 1, 2, false, "sealed-auth", 2, "refused");
    row("a cleartext error that is not auth: try again", 1, 0, false, "clear-busy", 1, "failed");
    row("a sealed error that is not auth: try again", 1, 0, false, "sealed-busy", 1, "failed");
    row("a frame that does not open: try again", 1, 0, false, "garbage", 1, "failed");
    row("another message in place of the welcome: try again", 1, 0, false, "ping", 1, "failed");
    row("an error before the challenge (a standby) judges no key", 1, 2, false, "before-auth", 2, "failed");
    row("a malformed challenge", 1, 0, false, "bad-challenge", 1, "failed");
}

void TestBrokerLogin::outcomes()
{
    QFETCH(int, current);
    QFETCH(int, pending);
    QFETCH(bool, pendingRefused);
    QFETCH(QString, answer);
    QFETCH(int, proves);
    QFETCH(QString, outcome);
    QFETCH(int, pendingAfter);

    QTemporaryDir dir;
    std::vector<std::pair<quint32, char>> keys{{quint32(current), char('0' + current)}};
    if (pending > 0)
        keys.emplace_back(quint32(pending), char('0' + pending));
    auto profile = test::profileWithKeys(dir.path(), s("alice"), keys);
    QVERIFY(profile.ok());

    BrokerLogin login(*profile, s("sotto/test"), pendingRefused);
    QCOMPARE(login.step(), BrokerLogin::Step::Hello);
    BrokerLogin::Progress p = login.hello();
    QCOMPARE(outcomeName(p), "send");
    auto hello = wire::decodeHello(std::get<BrokerLogin::Send>(p).frame);
    QVERIFY(hello.ok());
    QCOMPARE(hello->account, s("alice"));
    QCOMPARE(int(hello->epoch), proves);
    QCOMPARE(int(login.epoch()), proves);

    // The broker's side: the challenge, then the channel under K_epoch.
    const QByteArray nb(skbp::kNonceSize, 'n');
    if (answer == s("before-auth")) {
        p = login.take(wire::encodeCleartextError(ErrorCode::Auth, s("this instance is a standby")));
    } else if (answer == s("bad-challenge")) {
        p = login.take(QByteArray("\x01\x02", 2));
    } else {
        p = login.take(wire::encodeChallenge(nb));
        QCOMPARE(outcomeName(p), "send");
        QCOMPARE(login.step(), BrokerLogin::Step::Challenged);
        auto keys = skbp::channelKeys(test::keyOf(char('0' + proves)), s("alice"), quint32(proves), hello->nonce, nb);
        QVERIFY(keys.ok());
        SecureChannel broker(noise::CipherState(std::move(keys->brokerToClient)),
                             noise::CipherState(std::move(keys->clientToBroker)));
        auto loginMessage = broker.open(std::get<BrokerLogin::Send>(p).frame);
        QVERIFY(loginMessage.ok());
        QCOMPARE(loginMessage->type(), wire::MessageType::Login);
        QCOMPARE(loginMessage->text(key::client), s("sotto/test"));
        const auto sealedError = [&](ErrorCode code) {
            QCborMap e = wire::message(wire::MessageType::Error);
            e.insert(key::code, errorCodeName(code));
            e.insert(key::msg, s("no"));
            return *broker.seal(e);
        };
        QByteArray frame;
        if (answer == s("welcome")) {
            QCborMap w = wire::message(wire::MessageType::Welcome);
            w.insert(key::epoch, proves);
            w.insert(key::broker, s("home"));
            w.insert(key::fp, s("0000-0000-0000-0000"));
            frame = *broker.seal(w);
        } else if (answer == s("clear-auth")) {
            frame = wire::encodeCleartextError(ErrorCode::Auth, s("unknown key"));
        } else if (answer == s("clear-busy")) {
            frame = wire::encodeCleartextError(ErrorCode::Busy, s("busy"));
        } else if (answer == s("sealed-auth")) {
            frame = sealedError(ErrorCode::Auth);
        } else if (answer == s("sealed-busy")) {
            frame = sealedError(ErrorCode::Busy);
        } else if (answer == s("garbage")) {
            frame = QByteArray(40, 'g');
        } else if (answer == s("ping")) {
            frame = *broker.seal(wire::message(wire::MessageType::Ping));
        }
        p = login.take(frame);
    }
    QCOMPARE(outcomeName(p), qPrintable(outcome));
    QCOMPARE(login.step(), BrokerLogin::Step::Done);
    if (auto *w = std::get_if<BrokerLogin::Welcome>(&p)) {
        QCOMPARE(int(w->pending), pendingAfter);
        QCOMPARE(int(w->epoch), proves);
        QVERIFY(w->channel.isOpen());
        QCOMPARE(w->welcome.text(key::broker), s("home"));
    }
    if (auto *r = std::get_if<BrokerLogin::Refused>(&p))
        QCOMPARE(r->error.code, ErrorCode::Auth);
    // Finished once: anything after is refused, never a second outcome of another kind.
    QCOMPARE(outcomeName(login.take(QByteArray("late"))), "failed");
}

QTEST_GUILESS_MAIN(TestBrokerLogin)
#include "tst_brokerlogin.moc"
