// The broker against a hostile or broken peer (PROTOCOL.md §3, §5, §6.2): bad opening frames,
// refused logins and enrolments, malformed, replayed and tampered session frames, and
// application errors. For each: the error code, whether the connection closes or stays open,
// that nothing stored changed, and that everyone else is still served.
#include "core/crypto.h"
#include "core/noise.h"
#include "core/skbp.h"
#include "core/wire.h"
#include "support/fixtures.h"
#include "support/rawclient.h"

#include <QCborArray>
#include <QCborMap>
#include <QDeadlineTimer>
#include <QElapsedTimer>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTcpSocket>
#include <QTest>

#include <memory>
#include <optional>

using namespace sotto;
using namespace sotto::test;

namespace {

QLatin1StringView k(const char *s)
{
    return QLatin1StringView(s);
}

using Fields = std::initializer_list<std::pair<const char *, QCborValue>>;

QCborMap msg(const char *type, Fields fields = {})
{
    QCborMap m; // by its wire name, as a raw client writes it
    m.insert(k("t"), QString::fromLatin1(type));
    for (const auto &[key, value] : fields)
        m.insert(k(key), value);
    return m;
}

QByteArray cbor(Fields fields)
{
    QCborMap m;
    for (const auto &[key, value] : fields)
        m.insert(k(key), value);
    return wire::encodeMessage(m);
}

QByteArray randomBytes(int n)
{
    auto r = crypto::randomBytes(n);
    return r ? *r : QByteArray(n, '\x5a');
}

SecretBytes randomKey()
{
    return SecretBytes::copyOf(randomBytes(skbp::kKeySize));
}

// A store dump without one account's line (a bystander whose key a call rotated meanwhile).
QString dumpWithout(const QString &dump, const QString &account)
{
    QStringList lines = dump.split(u'\n');
    lines.removeIf([&](const QString &l) { return l.startsWith(QStringLiteral("account %1 ").arg(account)); });
    return lines.join(u'\n');
}

QByteArray flipBit(QByteArray b, qsizetype at)
{
    b[at] = char(b[at] ^ 0x01);
    return b;
}

} // namespace

class TestBadInput : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void init();
    void cleanupTestCase();

    void badOpeningFrame_data();
    void badOpeningFrame();
    void truncatedOpeningFrame();
    void dribbledOpeningFrame();
    void stalledFrameAfterLogin();
    void badMessageAfterLogin_data();
    void badMessageAfterLogin();
    void loginRefused_data();
    void loginRefused();
    void firstFrameNotLogin_data();
    void firstFrameNotLogin();
    void replayedOrTamperedFrame_data();
    void replayedOrTamperedFrame();
    void callErrorsKeepConnection_data();
    void callErrorsKeepConnection();
    void notInSession_data();
    void notInSession();
    void enrolmentRefused_data();
    void enrolmentRefused();
    void malformedEnrolFrame_data();
    void malformedEnrolFrame();
    void inviteSurvivesRefusedEnrolment();

private:
    broker::Broker &broker() { return m_broker->broker(); }
    const SecretBytes &malloryKey() { return m_mallory->profile().key(); }
    quint32 malloryEpoch() { return m_mallory->profile().epoch(); }
    bool waitSettled();
    QString settledDump();
    bool othersServed();
    QByteArray enroll1(const QString &account, quint32 epoch, const SecretBytes &psk,
                       const QByteArray &payload);

    std::unique_ptr<TestBroker> m_broker;
    std::unique_ptr<TestPhone> m_alice;   // online: the bystanders who keep calling
    std::unique_ptr<TestPhone> m_bob;
    std::unique_ptr<TestPhone> m_mallory; // enrolled, engine stopped: its key drives RawClient
    std::unique_ptr<TestPhone> m_carol;   // enrolled, offline
    std::optional<InviteLink> m_ginaInvite; // an open invite nobody uses; "dave" has one too
};

// ---- helpers -----------------------------------------------------------------------------

// No rotation or enrolment left pending (a callWorks() rotation commits on rotate_ack, a moment
// after the phone has adopted it).
bool TestBadInput::waitSettled()
{
    QDeadlineTimer deadline(5000);
    for (;;) {
        bool pending = false;
        for (const broker::AccountRecord *a : broker().store().accounts())
            pending = pending || a->hasPending();
        if (!pending)
            return true;
        if (deadline.hasExpired())
            return false;
        QTest::qWait(10);
    }
}

QString TestBadInput::settledDump()
{
    if (!waitSettled())
        return QStringLiteral("<still pending>");
    return m_broker->storeDump();
}

bool TestBadInput::othersServed()
{
    if (m_alice->engine().state() != ClientEngine::State::Online
        || m_bob->engine().state() != ClientEngine::State::Online) {
        qWarning("a bystander phone went offline");
        return false;
    }
    if (!broker().isOnline(QStringLiteral("alice")) || !broker().isOnline(QStringLiteral("bob"))) {
        qWarning("the broker lost a bystander");
        return false;
    }
    if (!callWorks(*m_alice, *m_bob)) {
        qWarning("alice could not call bob");
        return false;
    }
    return waitSettled();
}

QByteArray TestBadInput::enroll1(const QString &account, quint32 epoch, const SecretBytes &psk,
                                 const QByteArray &payload)
{
    noise::HandshakeConfig cfg;
    cfg.pattern = noise::Pattern::NKpsk0;
    cfg.initiator = true;
    cfg.prologue = skbp::enrollPrologue(account, epoch);
    cfg.remoteStatic = broker().publicKey();
    cfg.psk = psk;
    auto hs = noise::HandshakeState::create(std::move(cfg));
    if (!hs)
        return {};
    auto msg1 = hs->writeMessage(payload);
    if (!msg1)
        return {};
    return wire::encodeEnroll1({account, epoch, *msg1});
}

// ---- fixture -----------------------------------------------------------------------------

void TestBadInput::initTestCase()
{
    QStandardPaths::setTestModeEnabled(true);
    // A short handshake deadline, so that the deadline tests below do not wait long.
    m_broker = std::make_unique<TestBroker>(skbp::KeyMode::Derived, 24 * 3600, 1500);
    m_alice = std::make_unique<TestPhone>(QStringLiteral("alice"));
    m_bob = std::make_unique<TestPhone>(QStringLiteral("bob"));
    m_mallory = std::make_unique<TestPhone>(QStringLiteral("mallory"));
    m_carol = std::make_unique<TestPhone>(QStringLiteral("carol"));
    for (TestPhone *p : {m_alice.get(), m_bob.get(), m_mallory.get(), m_carol.get()})
        QVERIFY2(enrolAndLogin(*m_broker, *p), qPrintable(p->account()));
    m_mallory->engine().stop();
    m_carol->engine().stop();
    QTRY_VERIFY(!broker().isOnline(QStringLiteral("mallory")));
    QTRY_VERIFY(!broker().isOnline(QStringLiteral("carol")));
    // RawClient logs in as mallory with the phone's key: both sides must agree on it.
    QCOMPARE(m_mallory->profile().pendingEpoch(), 0u);
    const broker::AccountRecord *m = broker().store().account(QStringLiteral("mallory"));
    QVERIFY(m);
    QCOMPARE(m->epoch, malloryEpoch());
    QVERIFY(m->key.equals(malloryKey()));
    (void)m_broker->invite(QStringLiteral("dave"));
    m_ginaInvite = m_broker->invite(QStringLiteral("gina"));
    QVERIFY(waitSettled());
    // The helper itself works: a good login is welcomed and can ask for the directory.
    RawClient c(m_broker->port());
    QVERIFY(c.login(QStringLiteral("mallory"), malloryEpoch(), malloryKey()));
    QVERIFY(c.answersDirectory(1));
}

void TestBadInput::init()
{
    // Every bad peer of the previous test is gone: only alice's and bob's connections remain.
    QTRY_VERIFY(!broker().isOnline(QStringLiteral("mallory")));
    QTRY_COMPARE_WITH_TIMEOUT(broker().connectionCount(), 2, 3000);
    QCOMPARE(m_alice->engine().state(), ClientEngine::State::Online);
    QCOMPARE(m_bob->engine().state(), ClientEngine::State::Online);
    QVERIFY(waitSettled());
}

void TestBadInput::cleanupTestCase()
{
    m_carol.reset();
    m_mallory.reset();
    m_bob.reset();
    m_alice.reset();
    m_broker.reset();
}

// ---- 1. opening frames -------------------------------------------------------------------

void TestBadInput::badOpeningFrame_data()
{
    QTest::addColumn<QByteArray>("bytes"); // as sent on the wire (not framed for us)
    const QByteArray mallory = skbp::lp(QStringLiteral("mallory"));
    const QByteArray nonce(skbp::kNonceSize, '\x11');
    const QByteArray goodHello = wire::frame(wire::encodeHello({QStringLiteral("mallory"), 1, nonce}));
    QTest::newRow("zero-length frame") << QByteArray::fromHex("0000");
    QTest::newRow("unknown first byte") << wire::frame(QByteArray("\x7f", 1) + QByteArray(20, 'j'));
    QTest::newRow("error tag as opening")
        << wire::frame(wire::encodeCleartextError(ErrorCode::Auth, QStringLiteral("hi")));
    QTest::newRow("oversized junk") << QByteArray::fromHex("ffff") + QByteArray(65535, '\xab');
    QTest::newRow("oversized hello")
        << wire::frame(QByteArray("\x02", 1) + mallory + skbp::u32(1) + QByteArray(65000, '\x11'));
    QTest::newRow("hello, short nonce") << wire::frame(QByteArray("\x02", 1) + mallory + skbp::u32(1) + nonce.left(8));
    QTest::newRow("hello, no epoch") << wire::frame(QByteArray("\x02", 1) + mallory);
    QTest::newRow("hello, tag only") << wire::frame(QByteArray("\x02", 1));
    QTest::newRow("hello, account length past end") << wire::frame(QByteArray("\x02\x40", 2) + "mallory");
    QTest::newRow("hello, uppercase account")
        << wire::frame(QByteArray("\x02", 1) + skbp::lp(QStringLiteral("Mallory")) + skbp::u32(1) + nonce);
    QTest::newRow("hello, empty account") << wire::frame(QByteArray("\x02\x00", 2) + skbp::u32(1) + nonce);
    QTest::newRow("challenge as opening") << wire::frame(wire::encodeChallenge(nonce));
    // The broker must not go on to read the good hello after the bad frame.
    QTest::newRow("bad frame, then a good hello") << wire::frame(QByteArray("\x7f", 1)) + goodHello;
}

void TestBadInput::badOpeningFrame()
{
    QFETCH(QByteArray, bytes);
    const QString before = settledDump();
    {
        RawClient c(m_broker->port());
        QVERIFY(c.isConnected());
        c.write(bytes);
        auto e = c.nextError();
        QVERIFY2(e, "no cleartext error frame");
        QVERIFY(!e->sealed);
        QCOMPARE(errorCodeName(e->code), QStringLiteral("bad_request"));
        QVERIFY(c.waitClosed());
        QVERIFY2(!c.nextFrame(0), "a frame followed the error");
    }
    QCOMPARE(m_broker->storeDump(), before);
    QVERIFY(!broker().isOnline(QStringLiteral("mallory")));
    QVERIFY(othersServed());
}

// Length says 100, ten bytes come, then nothing: closed by the handshake deadline (1.5 s here).
void TestBadInput::truncatedOpeningFrame()
{
    const QString before = settledDump();
    RawClient c(m_broker->port());
    QVERIFY(c.isConnected());
    c.write(QByteArray::fromHex("0064") + QByteArray("\x02\x07mallory\x00", 10));
    // The half frame blocks nobody: a call goes through while it hangs.
    QVERIFY(othersServed());
    QVERIFY(c.waitClosed(8000));
    QVERIFY2(c.closedAtMs() >= 1000, "closed before the deadline: the broker did not wait for the frame");
    QVERIFY2(c.closedAtMs() <= 7000, qPrintable(QString::number(c.closedAtMs())));
    // Where it still can, the broker says why; never a challenge.
    if (auto f = c.nextFrame(0))
        QVERIFY2(wire::decodeCleartextError(*f).has_value(), f->toHex().constData());
    // bob's key rotated after the bystander call; nothing else changed.
    QCOMPARE(dumpWithout(settledDump(), QStringLiteral("bob")), dumpWithout(before, QStringLiteral("bob")));
    QTRY_COMPARE(broker().connectionCount(), 2);
}

// A hello dribbled one byte every 100 ms keeps the stall timer happy, but the handshake deadline
// still cuts it: a slow peer must not hold broker resources.
void TestBadInput::dribbledOpeningFrame()
{
    const QByteArray hello = wire::frame(
        wire::encodeHello({QStringLiteral("mallory"), malloryEpoch(), randomBytes(skbp::kNonceSize)}));
    RawClient c(m_broker->port());
    QVERIFY(c.isConnected());
    int sent = 0;
    while (sent < hello.size() - 1 && c.isConnected()) {
        c.write(hello.mid(sent++, 1));
        QTest::qWait(100);
    }
    QVERIFY(c.waitClosed(4000));
    QVERIFY2(sent < hello.size() - 1, "the whole dribble was accepted");
    QVERIFY2(c.closedAtMs() <= 6000, qPrintable(QString::number(c.closedAtMs())));
    if (auto f = c.nextFrame(0))
        QVERIFY2(wire::decodeCleartextError(*f).has_value(), f->toHex().constData());
    QVERIFY(!broker().isOnline(QStringLiteral("mallory")));
}

// After login the §3 stall rule applies: a frame that stops arriving is cut after 5 s.
void TestBadInput::stalledFrameAfterLogin()
{
    const QString before = settledDump();
    RawClient c(m_broker->port());
    QVERIFY(c.login(QStringLiteral("mallory"), malloryEpoch(), malloryKey()));
    QVERIFY(broker().isOnline(QStringLiteral("mallory")));
    const qint64 stalledAt = c.elapsedMs();
    c.write(QByteArray::fromHex("0064") + QByteArray(10, '\x33'));
    QVERIFY(othersServed()); // meanwhile everyone else is served
    QVERIFY(c.waitClosed(12000));
    const qint64 after = c.closedAtMs() - stalledAt;
    QVERIFY2(after >= 4000 && after <= 11000, qPrintable(QString::number(after)));
    QTRY_VERIFY(!broker().isOnline(QStringLiteral("mallory")));
    QCOMPARE(dumpWithout(settledDump(), QStringLiteral("bob")), dumpWithout(before, QStringLiteral("bob")));
}

// ---- 2. bad messages after login ---------------------------------------------------------

void TestBadInput::badMessageAfterLogin_data()
{
    QTest::addColumn<QByteArray>("payload"); // plaintext to seal, or the wire bytes when raw
    QTest::addColumn<bool>("raw");
    QTest::addColumn<bool>("mustBeSealed");
    const QByteArray sid(skbp::kSidSize, 's');
    auto row = [](const char *name, const QByteArray &plain) {
        QTest::newRow(name) << plain << false << true;
    };
    auto typed = [&](const char *name, const QCborMap &m) { row(name, wire::encodeMessage(m)); };

    row("garbage cbor", QByteArray("\xff\xfe\x00garbage", 10));
    row("empty plaintext", QByteArray());
    row("truncated cbor map", cbor({{"t", QStringLiteral("call")}, {"to", QStringLiteral("bob")}}).chopped(2));
    row("trailing bytes", cbor({{"t", QStringLiteral("directory")}}) + QByteArray("\x01", 1));
    row("array, not map", QCborValue(QCborArray{1, 2}).toCbor());
    row("no t", cbor({{"to", QStringLiteral("bob")}}));
    row("t not text", cbor({{"t", 5}}));
    typed("unknown t", msg("teleport", {{"to", QStringLiteral("bob")}}));
    typed("call, to is int", msg("call", {{"id", 3}, {"to", 5}}));
    typed("call, to missing", msg("call", {{"id", 3}}));
    typed("call, to not an account", msg("call", {{"to", QStringLiteral("Bob!")}}));
    typed("call, negative id", msg("call", {{"id", -1}, {"to", QStringLiteral("bob")}}));
    typed("call, id over u32", msg("call", {{"id", qint64(1) << 32}, {"to", QStringLiteral("bob")}}));
    typed("leave, short sid", msg("leave", {{"sid", QByteArray(15, 's')}}));
    typed("leave, sid as text", msg("leave", {{"sid", QStringLiteral("0123456789abcdef")}}));
    typed("invite, who is int", msg("invite", {{"sid", sid}, {"who", 7}}));
    typed("rotate_ack, short proof", msg("rotate_ack", {{"epoch", 2}, {"proof", QByteArray(31, 'p')}}));
    // Well-formed messages only the broker sends, or that belong to another phase.
    typed("welcome", msg("welcome", {{"epoch", 1}, {"broker", QStringLiteral("evil")}, {"fp", QStringLiteral("x")}}));
    typed("enrolled", msg("enrolled", {{"epoch", 9}}));
    typed("rotate", msg("rotate", {{"epoch", 9}, {"wrapped", QByteArray(skbp::kWrappedSize, 'w')}}));
    typed("ended", msg("ended", {{"sid", sid}, {"reason", QStringLiteral("hangup")}}));
    typed("presence", msg("presence", {{"account", QStringLiteral("bob")}, {"online", false}}));
    typed("error", msg("error", {{"code", QStringLiteral("auth")}, {"msg", QStringLiteral("no")}}));
    typed("refresh_due", msg("refresh_due"));
    typed("second login", msg("login", {{"client", QStringLiteral("again")}}));
    typed("confirm", msg("confirm"));
    // Frames that are not sealed under the channel.
    QTest::newRow("unsealed message") << wire::frame(cbor({{"t", QStringLiteral("directory")}})) << true << true;
    QTest::newRow("oversized junk") << QByteArray::fromHex("ffff") + QByteArray(65535, '\xab') << true << true;
    // The frame layer answers this one itself, so in clear (§3: "where it still can").
    QTest::newRow("zero-length frame") << QByteArray::fromHex("0000") << true << false;
}

void TestBadInput::badMessageAfterLogin()
{
    QFETCH(QByteArray, payload);
    QFETCH(bool, raw);
    QFETCH(bool, mustBeSealed);
    const QString before = settledDump();
    {
        RawClient c(m_broker->port());
        QVERIFY(c.login(QStringLiteral("mallory"), malloryEpoch(), malloryKey()));
        QVERIFY(c.answersDirectory(1));
        if (raw)
            c.write(payload);
        else
            c.sendFrame(c.sealRaw(payload));
        auto e = c.nextError();
        QVERIFY2(e, "no error");
        if (mustBeSealed)
            QVERIFY2(e->sealed, "the channel works, so the error must be sealed");
        QCOMPARE(errorCodeName(e->code), QStringLiteral("bad_request"));
        QVERIFY(c.waitClosed());
    }
    QTRY_VERIFY(!broker().isOnline(QStringLiteral("mallory")));
    QCOMPARE(m_broker->storeDump(), before);
    QVERIFY(othersServed());
}

// ---- 3. refused logins -------------------------------------------------------------------

void TestBadInput::loginRefused_data()
{
    QTest::addColumn<QString>("account");
    QTest::addColumn<int>("epochOffset"); // added to mallory's epoch; -1000: epoch 0
    QTest::addColumn<bool>("realKey");    // mallory's key, else a random one
    QTest::addColumn<QString>("mangle");  // what happens to the sealed login frame
    const QString mallory = QStringLiteral("mallory");
    const QString none;
    QTest::newRow("wrong key") << mallory << 0 << false << none;
    QTest::newRow("unknown account") << QStringLiteral("nobody") << 0 << false << none;
    QTest::newRow("unknown account, mallory's key") << QStringLiteral("nobody") << 0 << true << none;
    QTest::newRow("another account with mallory's key") << QStringLiteral("carol") << 0 << true << none;
    QTest::newRow("invited, not enrolled") << QStringLiteral("dave") << 0 << false << none;
    QTest::newRow("next epoch") << mallory << 1 << true << none;
    QTest::newRow("far epoch") << mallory << 1000 << true << none;
    QTest::newRow("epoch zero") << mallory << -1000 << true << none;
    QTest::newRow("tampered login frame") << mallory << 0 << true << QStringLiteral("flip");
    QTest::newRow("login frame in clear") << mallory << 0 << true << QStringLiteral("clear");
}

void TestBadInput::loginRefused()
{
    QFETCH(QString, account);
    QFETCH(int, epochOffset);
    QFETCH(bool, realKey);
    QFETCH(QString, mangle);
    const quint32 epoch = epochOffset == -1000 ? 0 : malloryEpoch() + quint32(epochOffset);
    const QString before = settledDump();
    const QCborMap login = msg("login", {{"client", QStringLiteral("tst_badinput")}});

    // Reference: the plain wrong-key refusal.
    QByteArray reference;
    {
        RawClient c(m_broker->port());
        auto nb = c.hello(QStringLiteral("mallory"), malloryEpoch());
        QVERIFY(nb);
        QVERIFY(c.keyChannel(randomKey(), *nb));
        c.send(login);
        auto e = c.nextError();
        QVERIFY(e);
        reference = e->body;
        QVERIFY(c.waitClosed());
    }

    RawClient c(m_broker->port());
    auto nb = c.hello(account, epoch);
    // Unknown accounts and epochs get a challenge like any other.
    QVERIFY2(nb, c.lastFrame().toHex().constData());
    QCOMPARE(nb->size(), skbp::kNonceSize);
    QVERIFY(c.keyChannel(realKey ? malloryKey() : randomKey(), *nb));
    if (mangle == QLatin1StringView("flip"))
        c.sendFrame(flipBit(c.seal(login), 5));
    else if (mangle == QLatin1StringView("clear"))
        c.sendFrame(wire::encodeMessage(login));
    else
        c.send(login);
    auto e = c.nextError();
    QVERIFY2(e, "no error");
    QVERIFY(!e->sealed);
    QCOMPARE(errorCodeName(e->code), QStringLiteral("auth"));
    // Same bytes as a wrong key: nothing tells which part was wrong.
    QCOMPARE(e->body, reference);
    QVERIFY(c.waitClosed());
    QVERIFY(!broker().isOnline(account));
    QCOMPARE(m_broker->storeDump(), before);
    QVERIFY(othersServed());
}

// The right key, but the first sealed frame is not a valid login: nothing is acted on, the
// account never comes online.
void TestBadInput::firstFrameNotLogin_data()
{
    QTest::addColumn<QByteArray>("plain");
    QTest::newRow("directory") << wire::encodeMessage(msg("directory", {{"id", 1}}));
    QTest::newRow("call bob") << wire::encodeMessage(msg("call", {{"id", 1}, {"to", QStringLiteral("bob")}}));
    QTest::newRow("welcome") << wire::encodeMessage(msg("welcome", {{"epoch", 1}, {"broker", QStringLiteral("x")}, {"fp", QStringLiteral("y")}}));
    QTest::newRow("login, client is int") << wire::encodeMessage(msg("login", {{"client", 5}}));
    QTest::newRow("garbage cbor") << QByteArray("\xff\xfe\x00garbage", 10);
}

void TestBadInput::firstFrameNotLogin()
{
    QFETCH(QByteArray, plain);
    const QString before = settledDump();
    QSignalSpy presence(&m_alice->engine(), &ClientEngine::presenceChanged);
    QSignalSpy incoming(&m_bob->engine(), &ClientEngine::incomingCall);
    {
        RawClient c(m_broker->port());
        auto nb = c.hello(QStringLiteral("mallory"), malloryEpoch());
        QVERIFY(nb);
        QVERIFY(c.keyChannel(malloryKey(), *nb));
        c.sendFrame(c.sealRaw(plain));
        auto e = c.nextError(); // nullopt as well if anything but an error came first
        QVERIFY2(e, "no error");
        QCOMPARE(errorCodeName(e->code), QStringLiteral("bad_request"));
        QVERIFY(c.waitClosed());
        QVERIFY2(!c.nextFrame(0), "a frame followed the error");
    }
    QVERIFY(!broker().isOnline(QStringLiteral("mallory")));
    QVERIFY(broker().sessions().empty());
    QTest::qWait(50);
    QVERIFY(incoming.isEmpty());
    for (const QList<QVariant> &p : presence)
        QVERIFY2(p.at(0).toString() != QLatin1StringView("mallory"), "mallory was announced online");
    QCOMPARE(m_broker->storeDump(), before);
    QVERIFY(othersServed());
}

// ---- 4. replayed and tampered frames -----------------------------------------------------

void TestBadInput::replayedOrTamperedFrame_data()
{
    QTest::addColumn<QString>("how");
    for (const char *how : {"replay", "replay login", "flip ciphertext bit", "flip tag bit", "drop last byte",
                            "reorder", "skip a counter"})
        QTest::newRow(how) << QString::fromLatin1(how);
}

void TestBadInput::replayedOrTamperedFrame()
{
    QFETCH(QString, how);
    const QString before = settledDump();
    {
        RawClient c(m_broker->port());
        auto nb = c.hello(QStringLiteral("mallory"), malloryEpoch());
        QVERIFY(nb);
        QVERIFY(c.keyChannel(malloryKey(), *nb));
        const QByteArray sealedLogin = c.send(msg("login", {{"client", QStringLiteral("tst_badinput")}}));
        auto w = c.nextMessage();
        QVERIFY(w && w->typeName() == QLatin1StringView("welcome"));
        const QByteArray first = c.send(msg("directory", {{"id", 1}}));
        auto d = c.nextMessage();
        QVERIFY(d && d->typeName() == QLatin1StringView("directory"));

        const QCborMap next = msg("directory", {{"id", 2}});
        if (how == QLatin1StringView("replay")) {
            c.sendFrame(first);
        } else if (how == QLatin1StringView("replay login")) {
            c.sendFrame(sealedLogin);
        } else if (how == QLatin1StringView("flip ciphertext bit")) {
            c.sendFrame(flipBit(c.seal(next), 2));
        } else if (how == QLatin1StringView("flip tag bit")) {
            const QByteArray s = c.seal(next);
            c.sendFrame(flipBit(s, s.size() - 1));
        } else if (how == QLatin1StringView("drop last byte")) {
            c.sendFrame(c.seal(next).chopped(1));
        } else if (how == QLatin1StringView("reorder")) {
            const QByteArray a = c.seal(next);
            const QByteArray b = c.seal(msg("directory", {{"id", 3}}));
            c.sendFrame(b);
            c.sendFrame(a);
        } else { // skip a counter
            (void)c.seal(next);
            c.sendFrame(c.seal(msg("directory", {{"id", 3}})));
        }
        auto e = c.nextError();
        QVERIFY2(e, "no error");
        QVERIFY2(e->sealed, "the broker's sending side still works, so the error must be sealed");
        QCOMPARE(errorCodeName(e->code), QStringLiteral("bad_request"));
        QVERIFY(c.waitClosed());
        QVERIFY2(!c.nextFrame(0), "a frame followed the error");
    }
    QTRY_VERIFY(!broker().isOnline(QStringLiteral("mallory")));
    QCOMPARE(m_broker->storeDump(), before);
    QVERIFY(othersServed());
}

// ---- 5. application errors keep the connection -------------------------------------------

void TestBadInput::callErrorsKeepConnection_data()
{
    QTest::addColumn<QString>("to");
    QTest::addColumn<qint64>("id"); // -1: no id
    QTest::addColumn<QString>("code");
    QTest::newRow("unknown account") << QStringLiteral("nobody") << qint64(7) << QStringLiteral("unknown_account");
    QTest::newRow("invited, not enrolled") << QStringLiteral("dave") << qint64(8) << QStringLiteral("unknown_account");
    QTest::newRow("unknown account, no id") << QStringLiteral("nobody") << qint64(-1) << QStringLiteral("unknown_account");
    QTest::newRow("offline") << QStringLiteral("carol") << qint64(9) << QStringLiteral("offline");
    QTest::newRow("offline, id 0") << QStringLiteral("carol") << qint64(0) << QStringLiteral("offline");
    QTest::newRow("offline, id u32 max") << QStringLiteral("carol") << qint64(0xffffffff) << QStringLiteral("offline");
}

void TestBadInput::callErrorsKeepConnection()
{
    QFETCH(QString, to);
    QFETCH(qint64, id);
    QFETCH(QString, code);
    const QString before = settledDump();
    RawClient c(m_broker->port());
    QVERIFY(c.login(QStringLiteral("mallory"), malloryEpoch(), malloryKey()));
    QCborMap call = msg("call", {{"to", to}});
    if (id >= 0)
        call.insert(k("id"), id);
    // Twice: the first error leaves the channel fully usable.
    for (int round = 0; round < 2; ++round) {
        c.send(call);
        auto e = c.nextError();
        QVERIFY2(e, "no error");
        QVERIFY(e->sealed);
        QCOMPARE(errorCodeName(e->code), code);
        if (id >= 0) {
            QVERIFY2(e->id, "the request id was not echoed");
            QCOMPARE(qint64(*e->id), id);
        } else {
            QVERIFY(!e->id);
        }
        QVERIFY(c.answersDirectory(100 + round));
    }
    QVERIFY(c.isConnected());
    QVERIFY(broker().isOnline(QStringLiteral("mallory")));
    QVERIFY(broker().sessions().empty());
    QVERIFY(!broker().isOnline(QStringLiteral("carol")));
    QCOMPARE(m_broker->storeDump(), before);
    QVERIFY(othersServed());
    QVERIFY(c.answersDirectory(200)); // still there after the others' call
}

// ---- 6. requests about sessions one is not in --------------------------------------------

void TestBadInput::notInSession_data()
{
    QTest::addColumn<QString>("op");
    QTest::addColumn<QString>("target"); // random sid, an answered call, a ringing call
    for (const char *op : {"invite", "leave", "answer", "decline"}) {
        for (const char *target : {"random", "answered", "ringing"})
            QTest::addRow("%s, %s sid", op, target) << QString::fromLatin1(op) << QString::fromLatin1(target);
    }
}

void TestBadInput::notInSession()
{
    QFETCH(QString, op);
    QFETCH(QString, target);
    ClientEngine &alice = m_alice->engine();
    ClientEngine &bob = m_bob->engine();

    QByteArray sid;
    if (target == QLatin1StringView("random")) {
        sid = randomBytes(skbp::kSidSize);
    } else if (target == QLatin1StringView("answered")) {
        sid = establishCall(*m_alice, *m_bob);
    } else {
        QSignalSpy started(&alice, &ClientEngine::callStarted);
        QSignalSpy incoming(&bob, &ClientEngine::incomingCall);
        alice.call(QStringLiteral("bob"));
        QTRY_VERIFY(!started.isEmpty() && !incoming.isEmpty());
        sid = started.first().at(0).toByteArray();
    }
    QCOMPARE(sid.size(), skbp::kSidSize);
    const auto sessionsBefore = broker().sessions();
    const auto keyBefore = alice.sessionKey(sid, 0);
    const QString before = settledDump();

    QSignalSpy aliceEnded(&alice, &ClientEngine::callEnded);
    QSignalSpy bobEnded(&bob, &ClientEngine::callEnded);
    QSignalSpy joined(&alice, &ClientEngine::memberJoined);
    QSignalSpy left(&alice, &ClientEngine::memberLeft);
    QSignalSpy aliceKey(&alice, &ClientEngine::sessionKeyChanged);
    QSignalSpy bobKey(&bob, &ClientEngine::sessionKeyChanged);
    {
        RawClient c(m_broker->port());
        QVERIFY(c.login(QStringLiteral("mallory"), malloryEpoch(), malloryKey()));
        QCborMap request = msg(op.toLatin1().constData(), {{"id", 42}, {"sid", sid}});
        if (op == QLatin1StringView("invite"))
            request.insert(k("who"), QStringLiteral("mallory")); // invite oneself into their call
        c.send(request);
        auto e = c.nextError();
        QVERIFY2(e, "no error");
        QVERIFY(e->sealed);
        QCOMPARE(errorCodeName(e->code), QStringLiteral("not_in_session"));
        QVERIFY(e->id);
        QCOMPARE(*e->id, 42u);
        // Still open, and nothing else arrived before the answer (no incoming, no session_key).
        QVERIFY(c.answersDirectory(43));
        QVERIFY(c.isConnected());
    }
    QTRY_VERIFY(!broker().isOnline(QStringLiteral("mallory")));

    // The real call is untouched: same members, same generation, same keys, no events.
    const auto sessionsAfter = broker().sessions();
    QCOMPARE(sessionsAfter.size(), sessionsBefore.size());
    for (size_t i = 0; i < sessionsAfter.size(); ++i) {
        QCOMPARE(sessionsAfter[i].sid, sessionsBefore[i].sid);
        QCOMPARE(sessionsAfter[i].members, sessionsBefore[i].members);
        QCOMPARE(sessionsAfter[i].ringing, sessionsBefore[i].ringing);
        QCOMPARE(sessionsAfter[i].gen, sessionsBefore[i].gen);
    }
    QVERIFY(aliceEnded.isEmpty() && bobEnded.isEmpty() && joined.isEmpty() && left.isEmpty());
    QVERIFY(aliceKey.isEmpty() && bobKey.isEmpty());
    QCOMPARE(m_broker->storeDump(), before);
    if (target == QLatin1StringView("random")) {
        QVERIFY(othersServed());
        return;
    }

    QVERIFY(keyBefore);
    if (target == QLatin1StringView("ringing")) { // bob can still answer it
        QSignalSpy answered(&alice, &ClientEngine::callAnswered);
        bob.answer(sid);
        QTRY_VERIFY(!answered.isEmpty());
    }
    auto a = alice.sessionKey(sid, 0);
    auto b = bob.sessionKey(sid, 0);
    QVERIFY(a && b && a->equals(*keyBefore) && b->equals(*keyBefore));
    QSignalSpy rotated(&bob, &ClientEngine::rotated);
    alice.leave(sid);
    QTRY_VERIFY(!bobEnded.isEmpty());
    QTRY_VERIFY(!rotated.isEmpty());
    QVERIFY(waitSettled());
    QVERIFY(broker().sessions().empty());
    QVERIFY(othersServed());
}

// ---- 7. enrolment ------------------------------------------------------------------------

void TestBadInput::enrolmentRefused_data()
{
    QTest::addColumn<QString>("account");
    QTest::addColumn<int>("epochOffset"); // added to mallory's epoch; -1000: epoch 0
    QTest::addColumn<QString>("psk");     // "random", "mallory" (its broker key), "gina" (its invite)
    QTest::addColumn<bool>("cutLastByte");
    const QString mallory = QStringLiteral("mallory");
    const QString random = QStringLiteral("random");
    QTest::newRow("open invite, wrong secret") << QStringLiteral("dave") << -1000 << random << false;
    QTest::newRow("no invite") << QStringLiteral("nobody") << -1000 << random << false;
    QTest::newRow("invite secret of another account") << QStringLiteral("dave") << -1000 << QStringLiteral("gina") << false;
    QTest::newRow("enrolled account, epoch 0") << mallory << -1000 << random << false;
    QTest::newRow("enrolled account, epoch 0, its key") << mallory << -1000 << mallory << false;
    QTest::newRow("refresh, wrong key") << mallory << 0 << random << false;
    QTest::newRow("refresh, wrong epoch") << mallory << 1 << mallory << false;
    QTest::newRow("refresh, unknown account") << QStringLiteral("nobody") << 0 << random << false;
    QTest::newRow("right secret, msg1 cut short") << QStringLiteral("gina") << -1000 << QStringLiteral("gina") << true;
}

void TestBadInput::enrolmentRefused()
{
    QFETCH(QString, account);
    QFETCH(int, epochOffset);
    QFETCH(QString, psk);
    QFETCH(bool, cutLastByte);
    const quint32 epoch = epochOffset == -1000 ? 0 : malloryEpoch() + quint32(epochOffset);
    const SecretBytes key = psk == QLatin1StringView("mallory") ? malloryKey()
        : psk == QLatin1StringView("gina")                      ? m_ginaInvite->secret
                                                                : randomKey();
    const QByteArray payload = cbor({{"device", QStringLiteral("tst_badinput")}});
    const QString before = settledDump();

    // Reference: a wrong secret for an open invite.
    QByteArray reference;
    {
        RawClient c(m_broker->port());
        c.sendFrame(enroll1(QStringLiteral("dave"), 0, randomKey(), payload));
        auto e = c.nextError();
        QVERIFY(e);
        reference = e->body;
        QVERIFY(c.waitClosed());
    }

    QByteArray body = enroll1(account, epoch, key, payload);
    QVERIFY(!body.isEmpty());
    if (cutLastByte)
        body.chop(1);
    RawClient c(m_broker->port());
    c.sendFrame(body);
    auto e = c.nextError();
    QVERIFY2(e, "no cleartext error");
    QVERIFY(!e->sealed);
    QCOMPARE(errorCodeName(e->code), QStringLiteral("auth"));
    // Whether the account, the invite or the key was wrong: the same bytes.
    QCOMPARE(e->body, reference);
    QVERIFY(c.waitClosed());
    QVERIFY2(!c.nextFrame(0), "a frame followed the error");
    QCOMPARE(m_broker->storeDump(), before);
    QVERIFY(othersServed());
}

void TestBadInput::malformedEnrolFrame_data()
{
    QTest::addColumn<QByteArray>("body");
    const QByteArray dave = skbp::lp(QStringLiteral("dave"));
    const QByteArray e0 = skbp::u32(0);
    const QByteArray good = enroll1(QStringLiteral("gina"), 0, m_ginaInvite->secret,
                                    cbor({{"device", QStringLiteral("tst_badinput")}}));
    QTest::newRow("tag only") << QByteArray("\x01", 1);
    QTest::newRow("account cut short") << QByteArray("\x01\x04" "da", 4);
    QTest::newRow("no epoch") << QByteArray("\x01", 1) + dave;
    QTest::newRow("no noise message") << QByteArray("\x01", 1) + dave + e0;
    QTest::newRow("noise message one byte short") << QByteArray("\x01", 1) + dave + e0 + QByteArray(47, 'n');
    QTest::newRow("uppercase account") << QByteArray("\x01", 1) + skbp::lp(QStringLiteral("Dave")) + e0 + QByteArray(64, 'n');
    QTest::newRow("valid msg1 truncated to 40 bytes") << good.left(40);
    // The right invite secret, but the handshake payload is not a CBOR map.
    QTest::newRow("right secret, payload not a map")
        << enroll1(QStringLiteral("gina"), 0, m_ginaInvite->secret, QByteArray("\xff\x00junk", 6));
}

void TestBadInput::malformedEnrolFrame()
{
    QFETCH(QByteArray, body);
    QVERIFY(!body.isEmpty());
    const QString before = settledDump();
    {
        RawClient c(m_broker->port());
        c.sendFrame(body);
        auto e = c.nextError();
        QVERIFY2(e, "no cleartext error");
        QVERIFY(!e->sealed);
        QCOMPARE(errorCodeName(e->code), QStringLiteral("bad_request"));
        QVERIFY(c.waitClosed());
        QVERIFY2(!c.nextFrame(0), "a frame followed the error");
    }
    // Neither the invite nor any pending key changed.
    QCOMPARE(m_broker->storeDump(), before);
    QVERIFY(othersServed());
}

// Failed attempts neither consume nor burn an invite: the real holder enrols afterwards.
void TestBadInput::inviteSurvivesRefusedEnrolment()
{
    const InviteLink link = m_broker->invite(QStringLiteral("erin"));
    const QString before = settledDump();
    const QByteArray payload = cbor({{"device", QStringLiteral("tst_badinput")}});
    for (int i = 0; i < 3; ++i) {
        RawClient c(m_broker->port());
        c.sendFrame(enroll1(QStringLiteral("erin"), 0, randomKey(), payload));
        auto e = c.nextError();
        QVERIFY(e);
        QCOMPARE(errorCodeName(e->code), QStringLiteral("auth"));
        QVERIFY(c.waitClosed());
    }
    {
        RawClient c(m_broker->port());
        c.sendFrame(enroll1(QStringLiteral("erin"), 0, link.secret, QByteArray("\xff\x00junk", 6)));
        auto e = c.nextError();
        QVERIFY(e);
        QCOMPARE(errorCodeName(e->code), QStringLiteral("bad_request"));
        QVERIFY(c.waitClosed());
    }
    QCOMPARE(m_broker->storeDump(), before);

    TestPhone erin(QStringLiteral("erin"));
    QVERIFY(erin.enrol(link));
    QVERIFY(erin.goOnline());
    QVERIFY(callWorks(*m_alice, erin));
    QVERIFY(othersServed());
}

QTEST_GUILESS_MAIN(TestBadInput)
#include "tst_badinput.moc"
