// The broker console driven as an admin would: a real broker on loopback, real phone engines,
// the real window (offscreen). Invites are made by typing and clicking; the tables must follow
// enrolment, a call, its hang-up with the callee's key rotation, and a phone going away.
#include "brokerpanels.h"
#include "brokerwindow.h"

#include "core/invite.h"
#include "core/skbp.h"
#include "support/fixtures.h"
#include "support/peeredbrokers.h"

#include <QApplication>
#include <QClipboard>
#include <QComboBox>
#include <QDateTime>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QRegularExpression>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTabWidget>
#include <QTableWidget>
#include <QTest>
#include <QTimer>
#include <QUdpSocket>

#include <optional>

using namespace sotto;
using namespace sotto::test;

namespace {

QString s(const char *text)
{
    return QString::fromUtf8(text);
}

template <typename T> T *child(QWidget &window, const char *name)
{
    return window.findChild<T *>(s(name));
}

int column(const QTableWidget *table, const QString &header)
{
    for (int c = 0; c < table->columnCount(); ++c) {
        if (table->horizontalHeaderItem(c) && table->horizontalHeaderItem(c)->text() == header)
            return c;
    }
    return -1;
}

// The text under `header` in the row whose first column reads `key`; a marker when there is no
// such row or column, so that QCOMPARE shows what is missing.
QString cellText(const QTableWidget *table, const QString &key, const QString &header)
{
    const int c = column(table, header);
    if (c < 0)
        return s("<no column ") + header + s(">");
    for (int row = 0; row < table->rowCount(); ++row) {
        const QTableWidgetItem *first = table->item(row, 0);
        if (first && first->text() == key) {
            const QTableWidgetItem *item = table->item(row, c);
            return item ? item->text() : s("<empty>");
        }
    }
    return s("<no row ") + key + s(">");
}

// Brings the tab holding `widget` to the front, as a user would before typing into it.
void showTabOf(QWidget &window, QWidget *widget)
{
    auto *tabs = child<QTabWidget>(window, "tabs");
    QVERIFY(tabs);
    for (int i = 0; i < tabs->count(); ++i) {
        if (tabs->widget(i)->isAncestorOf(widget)) {
            tabs->setCurrentIndex(i);
            return;
        }
    }
    QFAIL("widget is in no tab");
}

// Clicks `button` of the next question box that comes up (they are modal: set this up first).
void answerNextQuestion(QMessageBox::StandardButton button)
{
    auto *poll = new QTimer;
    QObject::connect(poll, &QTimer::timeout, poll, [poll, button] {
        if (auto *box = qobject_cast<QMessageBox *>(QApplication::activeModalWidget())) {
            box->button(button)->click();
            poll->deleteLater();
        }
    });
    poll->start(20);
}

} // namespace

class TestBrokerConsole : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void initTestCase() { QStandardPaths::setTestModeEnabled(true); }
    void titleAndSummary();
    void invites();
    void accountsSessionsAndLog();
    void relayCountersRefresh();
    void relaysOfTheirOwnAreShown();
    void peersShowLinkAndInterBrokerKey();
    void revokeAndInviteAgainFromTheAccountsTab();
    void closingWithLiveCallsAsks();
};

void TestBrokerConsole::titleAndSummary()
{
    TestBroker broker;
    app::BrokerWindow window(broker.broker());
    QCOMPARE(window.windowTitle(), s("Sotto broker — test"));

    auto *fingerprint = child<QLabel>(window, "brokerFingerprint");
    QVERIFY(fingerprint);
    QCOMPARE(fingerprint->text(), broker.broker().fingerprint());
    QVERIFY(fingerprint->textInteractionFlags() & Qt::TextSelectableByMouse);
    auto *port = child<QLabel>(window, "brokerPort");
    QVERIFY(port);
    QVERIFY2(port->text().contains(QString::number(broker.port())), qPrintable(port->text()));
    auto *mode = child<QLabel>(window, "keyMode");
    QVERIFY(mode);
    QVERIFY2(mode->text().contains(s("derived")), qPrintable(mode->text()));
    auto *name = child<QLabel>(window, "brokerName");
    QVERIFY(name);
    QCOMPARE(name->text(), s("test"));
    // The role, as `sotto broker status` has it: a broker alone on its SQLite store is active.
    auto *role = child<QLabel>(window, "role");
    QVERIFY(role);
    QCOMPARE(role->text(), s("Active"));
    QVERIFY2(role->toolTip().contains(broker.broker().store().path()), qPrintable(role->toolTip()));
    broker.broker().stop();
    QTRY_COMPARE(role->text(), s("Stopped"));
}

void TestBrokerConsole::invites()
{
    TestBroker broker;
    broker::Store &store = broker.broker().store();
    app::BrokerWindow window(broker.broker());
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));

    auto *account = child<QLineEdit>(window, "inviteAccount");
    auto *create = child<QPushButton>(window, "createInvite");
    auto *link = child<QLineEdit>(window, "inviteLink");
    auto *copy = child<QPushButton>(window, "copyInvite");
    auto *error = child<QLabel>(window, "inviteError");
    auto *expiry = child<QComboBox>(window, "inviteExpiry");
    QVERIFY(account && create && link && copy && error && expiry);
    QVERIFY(link->isReadOnly());
    QVERIFY(!create->toolTip().isEmpty());
    QVERIFY(!copy->toolTip().isEmpty());
    QCOMPARE(expiry->currentText(), s("7 days"));
    showTabOf(window, account);
    QTRY_VERIFY(account->isVisible());

    QTest::keyClicks(account, s("dave"));
    QTest::mouseClick(create, Qt::LeftButton);
    QTRY_VERIFY_WITH_TIMEOUT(!link->text().isEmpty(), 2000);
    QVERIFY(!error->isVisible());
    auto parsed = InviteLink::parse(link->text());
    QVERIFY2(parsed.ok(), qPrintable(parsed.ok() ? QString() : parsed.error().message));
    QVERIFY(link->text().startsWith(s("sotto://")));
    QCOMPARE(parsed->account, s("dave"));
    QCOMPARE(parsed->port, broker.port());
    QCOMPARE(parsed->brokerPublicKey, broker.broker().publicKey());
    const qint64 now = QDateTime::currentSecsSinceEpoch();
    const auto daveInvites = store.openInvites(s("dave"), now);
    QCOMPARE(int(daveInvites.size()), 1);
    QVERIFY(daveInvites.front().secret.equals(parsed->secret));
    // The default expiry, 7 days (a minute of slack for a slow machine).
    QVERIFY(qAbs(daveInvites.front().expiresAt - (now + 7 * 24 * 3600)) < 60);

    QVERIFY(copy->isEnabled());
    QGuiApplication::clipboard()->clear();
    QTest::mouseClick(copy, Qt::LeftButton);
    QTRY_COMPARE(QGuiApplication::clipboard()->text(), link->text());

    // An invalid name, submitted with Enter: an inline error and nothing created.
    QTest::keyClick(account, Qt::Key_A, Qt::ControlModifier);
    QTest::keyClicks(account, s("Bad Name!"));
    QCOMPARE(account->text(), s("Bad Name!"));
    QTest::keyClick(account, Qt::Key_Return);
    QTRY_VERIFY(error->isVisible());
    QVERIFY(!error->text().isEmpty());
    QVERIFY2(error->text().contains(s("Bad Name!")), qPrintable(error->text()));
    QVERIFY(link->text().isEmpty()); // dave's link is not left next to another name
    QVERIFY(!copy->isEnabled());
    QVERIFY(!store.account(s("Bad Name!")));
    QVERIFY(store.openInvites(s("Bad Name!"), now).empty());
    QCOMPARE(int(store.openInvites(s("dave"), now).size()), 1);

    // Editing the name clears the error; an empty name is an error, not an invite.
    QTest::keyClick(account, Qt::Key_A, Qt::ControlModifier);
    QTest::keyClick(account, Qt::Key_Delete);
    QTRY_VERIFY(!error->isVisible());
    QTest::mouseClick(create, Qt::LeftButton);
    QTRY_VERIFY(error->isVisible());
    QVERIFY(link->text().isEmpty());

    // A shorter expiry is honoured.
    expiry->setCurrentIndex(expiry->findText(s("1 hour")));
    QTest::keyClicks(account, s("erin"));
    QTest::mouseClick(create, Qt::LeftButton);
    QTRY_VERIFY(!link->text().isEmpty());
    const auto erinInvites = store.openInvites(s("erin"), now);
    QCOMPARE(int(erinInvites.size()), 1);
    QVERIFY(qAbs(erinInvites.front().expiresAt - (now + 3600)) < 60);
}

void TestBrokerConsole::accountsSessionsAndLog()
{
    TestBroker broker;
    app::BrokerWindow window(broker.broker());
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    auto *accounts = child<QTableWidget>(window, "accounts");
    auto *sessions = child<QTableWidget>(window, "sessions");
    auto *log = child<QPlainTextEdit>(window, "log");
    QVERIFY(accounts && sessions && log);
    QVERIFY(log->isReadOnly());
    QCOMPARE(log->maximumBlockCount(), 5000);
    QCOMPARE(accounts->rowCount(), 0);
    QCOMPARE(sessions->rowCount(), 0);

    TestPhone alice(s("alice"));
    std::optional<TestPhone> bob(std::in_place, s("bob"));
    QVERIFY(enrolAndLogin(broker, alice));
    QVERIFY(enrolAndLogin(broker, *bob));

    QTRY_COMPARE_WITH_TIMEOUT(accounts->rowCount(), 2, 3000);
    QTRY_COMPARE_WITH_TIMEOUT(cellText(accounts, s("alice"), s("Status")), s("Online"), 3000);
    QTRY_COMPARE_WITH_TIMEOUT(cellText(accounts, s("bob"), s("Status")), s("Online"), 3000);
    QCOMPARE(cellText(accounts, s("alice"), s("Epoch")), s("1"));
    QCOMPARE(cellText(accounts, s("bob"), s("Epoch")), s("1"));
    QCOMPARE(cellText(accounts, s("alice"), s("Key fingerprint")),
             skbp::fingerprint(alice.profile().key()));
    QCOMPARE(cellText(accounts, s("bob"), s("Key fingerprint")),
             skbp::fingerprint(bob->profile().key()));
    QCOMPARE(cellText(accounts, s("bob"), s("Rotation pending")), s("—"));

    // An enrolled account gets no second invite; the broker's reason shows inline.
    auto *inviteAccount = child<QLineEdit>(window, "inviteAccount");
    auto *error = child<QLabel>(window, "inviteError");
    auto *link = child<QLineEdit>(window, "inviteLink");
    QVERIFY(inviteAccount && error && link);
    showTabOf(window, inviteAccount);
    QTest::keyClicks(inviteAccount, s("alice"));
    QTest::keyClick(inviteAccount, Qt::Key_Return);
    QTRY_VERIFY(error->isVisible());
    QVERIFY2(error->text().contains(s("already enrolled")), qPrintable(error->text()));
    QVERIFY(link->text().isEmpty());

    const QByteArray sid = establishCall(alice, *bob);
    QVERIFY(!sid.isEmpty());
    const QString shortSid = QString::fromLatin1(sid.toHex().left(8));
    QTRY_COMPARE_WITH_TIMEOUT(sessions->rowCount(), 1, 3000);
    QTRY_COMPARE_WITH_TIMEOUT(cellText(sessions, shortSid, s("Members")).split(s(", ")).size(), 2,
                              3000);
    QCOMPARE(cellText(sessions, shortSid, s("Caller")), s("alice"));
    QCOMPARE(cellText(sessions, shortSid, s("Callee")), s("bob"));
    QCOMPARE(cellText(sessions, shortSid, s("Generation")),
             QString::number(alice.engine().session(sid)->gen));
    QCOMPARE(cellText(sessions, shortSid, s("Generation")), s("0"));
    QStringList members = cellText(sessions, shortSid, s("Members")).split(s(", "));
    members.sort();
    QCOMPARE(members, QStringList({s("alice"), s("bob")}));
    QCOMPARE(cellText(sessions, shortSid, s("Ringing")), s("—"));

    // Hang-up: the row goes and bob's key rotates to epoch 2 (alice, the caller, keeps hers).
    alice.engine().leave(sid);
    QTRY_COMPARE_WITH_TIMEOUT(sessions->rowCount(), 0, 3000);
    QTRY_COMPARE_WITH_TIMEOUT(cellText(accounts, s("bob"), s("Epoch")), s("2"), 5000);
    QTRY_COMPARE_WITH_TIMEOUT(cellText(accounts, s("bob"), s("Rotation pending")), s("—"), 5000);
    QTRY_COMPARE_WITH_TIMEOUT(cellText(accounts, s("bob"), s("Key fingerprint")),
                              skbp::fingerprint(bob->profile().key()), 5000);
    QCOMPARE(cellText(accounts, s("alice"), s("Epoch")), s("1"));

    // bob goes away: his row stays, marked offline.
    bob.reset();
    QTRY_COMPARE_WITH_TIMEOUT(cellText(accounts, s("bob"), s("Status")), s("Offline"), 5000);
    QCOMPARE(cellText(accounts, s("alice"), s("Status")), s("Online"));
    QCOMPARE(accounts->rowCount(), 2);

    // The log: every line timestamped and non-empty, and these events among them.
    const QStringList lines = log->toPlainText().split(QLatin1Char('\n'));
    QVERIFY2(lines.size() >= 5, qPrintable(log->toPlainText()));
    static const QRegularExpression stamped(s("^\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d  \\S"));
    for (const QString &line : lines)
        QVERIFY2(stamped.match(line).hasMatch(), qPrintable(line));
    const QString text = log->toPlainText();
    QVERIFY2(text.contains(s("alice online")), qPrintable(text));
    QVERIFY2(text.contains(s("bob online")), qPrintable(text));
    QVERIFY2(text.contains(s("bob offline")), qPrintable(text));
}

void TestBrokerConsole::relayCountersRefresh()
{
    TestBroker broker;
    app::BrokerWindow window(broker.broker());
    auto *counters = child<QLabel>(window, "relayCounters");
    QVERIFY(counters);
    QVERIFY2(counters->text().contains(s("0 forwarded")), qPrintable(counters->text()));
    QVERIFY2(counters->text().contains(s("0 unbound")), qPrintable(counters->text()));

    // An RTP-shaped packet from an address that never bound: dropped as unbound, and the label
    // catches up on its own within a tick.
    QUdpSocket socket;
    QByteArray packet(12, '\0');
    packet[0] = char(0x80);
    QCOMPARE(socket.writeDatagram(packet, QHostAddress::LocalHost, broker.port()),
             qint64(packet.size()));
    QTRY_VERIFY_WITH_TIMEOUT(counters->text().contains(s("1 unbound")), 3000);
    QVERIFY2(counters->text().contains(s("1 dropped")), qPrintable(counters->text()));
}

void TestBrokerConsole::relaysOfTheirOwnAreShown()
{
    QTemporaryDir dir;
    const QString secretFile = dir.filePath(s("relay.secret"));
    const SecretBytes secret = writeRelaySecret(secretFile);
    RelayProcess relay(secretFile, freePort());
    QVERIFY(relay.start());
    TestBroker broker([&](broker::BrokerConfig &c) {
        c.relays.emplace_back(QHostAddress::LocalHost, relay.port());
        c.relaySecret = secret;
    });
    app::BrokerWindow window(broker.broker());
    auto *counters = child<QLabel>(window, "relayCounters");
    QVERIFY(counters);
    QTRY_VERIFY_WITH_TIMEOUT(counters->text().contains(s("Relays: 1 of 1 up")), 5000);
    QVERIFY2(counters->toolTip().contains(relay.address() + s(" up")), qPrintable(counters->toolTip()));
    relay.kill();
    QTRY_VERIFY_WITH_TIMEOUT(counters->text().contains(s("Relays: 0 of 1 up")), 5000);
    QVERIFY2(counters->toolTip().contains(relay.address() + s(" down")), qPrintable(counters->toolTip()));
}

void TestBrokerConsole::peersShowLinkAndInterBrokerKey()
{
    PeeredBrokers fed;
    app::BrokerWindow window(*fed.a);
    auto *peers = child<QTableWidget>(window, "peers");
    QVERIFY(peers);
    QCOMPARE(cellText(peers, s("b"), s("Link")), s("Down"));
    QCOMPARE(cellText(peers, s("b"), s("K_AB epoch")), s("—"));
    QVERIFY(fed.start());
    QTRY_COMPARE_WITH_TIMEOUT(cellText(peers, s("b"), s("Link")), s("Up"), 5000);
    QCOMPARE(cellText(peers, s("b"), s("K_AB epoch")), s("1"));
    // The same fingerprint as the other broker holds: one inter-broker key.
    QCOMPARE(cellText(peers, s("b"), s("K_AB fingerprint")), fed.b->peers().front().fingerprint);
    QCOMPARE(cellText(peers, s("b"), s("Address")), s("127.0.0.1:%1").arg(fed.portB));

    // Forget key…: asks first; Cancel changes nothing, Yes drops K_AB and the link.
    auto *forget = child<QPushButton>(window, "forgetPeerKey");
    QVERIFY(forget);
    peers->clearSelection();
    QVERIFY(!forget->isEnabled());
    peers->selectRow(0);
    QVERIFY(forget->isEnabled());
    answerNextQuestion(QMessageBox::Cancel);
    QTest::mouseClick(forget, Qt::LeftButton);
    QCOMPARE(fed.a->peers().front().epoch, 1u);
    QCOMPARE(cellText(peers, s("b"), s("Link")), s("Up"));
    QSignalSpy logB(fed.b.get(), &broker::Broker::logEvent);
    answerNextQuestion(QMessageBox::Yes);
    QTest::mouseClick(forget, Qt::LeftButton);
    QCOMPARE(fed.a->peers().front().epoch, 0u);
    QTRY_COMPARE_WITH_TIMEOUT(cellText(peers, s("b"), s("K_AB epoch")), s("—"), 3000);
    QVERIFY(!forget->isEnabled());
    // b still holds K_AB and refuses the peering secret; once b forgets too, they pair afresh.
    QTRY_VERIFY_WITH_TIMEOUT(std::any_of(logB.begin(), logB.end(),
                                         [](const QList<QVariant> &l) {
                                             return l.at(0).toString().contains(s("the peering secret has been used"));
                                         }),
                             5000);
    QVERIFY(!fed.linked());
    QVERIFY(fed.b->forgetPeer(s("a")).ok());
    QTRY_COMPARE_WITH_TIMEOUT(cellText(peers, s("b"), s("Link")), s("Up"), 5000);
    QCOMPARE(cellText(peers, s("b"), s("K_AB fingerprint")), fed.b->peers().front().fingerprint);

    fed.b->stop();
    QTRY_VERIFY_WITH_TIMEOUT(cellText(peers, s("b"), s("Link")) != s("Up"), 5000);
}

void TestBrokerConsole::revokeAndInviteAgainFromTheAccountsTab()
{
    TestBroker broker;
    app::BrokerWindow window(broker.broker());
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    QCOMPARE(window.windowIcon().isNull(), false);
    auto *accounts = child<QTableWidget>(window, "accounts");
    auto *revoke = child<QPushButton>(window, "revokeAccount");
    auto *again = child<QPushButton>(window, "inviteAgain");
    QVERIFY(accounts && revoke && again);
    TestPhone alice(s("alice")), bob(s("bob"));
    QVERIFY(enrolAndLogin(broker, alice));
    QVERIFY(enrolAndLogin(broker, bob));
    QTRY_COMPARE_WITH_TIMEOUT(accounts->rowCount(), 2, 3000);
    QVERIFY(cellText(accounts, s("alice"), s("Last login")) != s("—"));
    QVERIFY(!revoke->isEnabled()); // nothing selected
    const QByteArray sid = establishCall(alice, bob);
    QVERIFY(!sid.isEmpty());
    auto *sessions = child<QTableWidget>(window, "sessions");
    const QString shortSid = QString::fromLatin1(sid.toHex().left(8));
    QCOMPARE(cellText(sessions, shortSid, s("Duration")), s("0:00"));
    QTRY_VERIFY_WITH_TIMEOUT(cellText(sessions, shortSid, s("Duration")) != s("0:00"), 4000); // it counts

    // Revoke bob: asked first; Cancel changes nothing.
    for (int row = 0; row < accounts->rowCount(); ++row) {
        if (accounts->item(row, 0)->text() == s("bob"))
            accounts->selectRow(row);
    }
    QVERIFY(revoke->isEnabled());
    answerNextQuestion(QMessageBox::Cancel);
    QTest::mouseClick(revoke, Qt::LeftButton);
    QVERIFY(alice.engine().session(sid));
    QCOMPARE(bob.engine().state(), ClientEngine::State::Online);
    QSignalSpy ended(&alice.engine(), &ClientEngine::callEnded);
    answerNextQuestion(QMessageBox::Yes);
    QTest::mouseClick(revoke, Qt::LeftButton);
    QVERIFY(ended.wait(3000));
    QCOMPARE(ended.first().at(1).value<EndReason>(), EndReason::Revoked);
    QTRY_COMPARE_WITH_TIMEOUT(cellText(accounts, s("bob"), s("Status")), s("Revoked"), 3000);
    QTRY_VERIFY_WITH_TIMEOUT(bob.engine().state() != ClientEngine::State::Online, 3000);
    QVERIFY(!revoke->isEnabled()); // already revoked

    // Invite again: a replacing invite shows in the Invite tab, and a new device of bob's enrols with it.
    QVERIFY(again->isEnabled());
    answerNextQuestion(QMessageBox::Yes);
    QTest::mouseClick(again, Qt::LeftButton);
    auto *link = child<QLineEdit>(window, "inviteLink");
    QTRY_VERIFY_WITH_TIMEOUT(!link->text().isEmpty(), 3000);
    QVERIFY(link->isVisible()); // its tab is in front
    auto parsed = InviteLink::parse(link->text());
    QVERIFY(parsed.ok());
    QCOMPARE(parsed->account, s("bob"));
    bob.engine().stop();
    TestPhone newBob(s("bob"));
    QVERIFY(newBob.enrol(*parsed));
    QVERIFY(newBob.goOnline());
    QTRY_COMPARE_WITH_TIMEOUT(cellText(accounts, s("bob"), s("Status")), s("Online"), 3000);

    // The same from the context menu: alice, revoked after a confirmation.
    for (int row = 0; row < accounts->rowCount(); ++row) {
        if (accounts->item(row, 0)->text() == s("alice"))
            accounts->selectRow(row);
    }
    auto *panel = static_cast<app::AccountsPanel *>(accounts->parentWidget());
    // An enrolled device replaced: the invite comes at once, and the old key works until it is used.
    const QString bobsLink = link->text();
    answerNextQuestion(QMessageBox::Yes);
    panel->inviteAgainSelected();
    QTRY_VERIFY_WITH_TIMEOUT(link->text() != bobsLink && InviteLink::parse(link->text()).ok(), 3000);
    QCOMPARE(InviteLink::parse(link->text())->account, s("alice"));
    QCOMPARE(alice.engine().state(), ClientEngine::State::Online);
    answerNextQuestion(QMessageBox::Yes);
    panel->revokeSelected();
    QTRY_COMPARE_WITH_TIMEOUT(cellText(accounts, s("alice"), s("Status")), s("Revoked"), 3000);
}

void TestBrokerConsole::closingWithLiveCallsAsks()
{
    TestBroker broker;
    app::BrokerWindow window(broker.broker());
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    // No live call: it closes without a question.
    QVERIFY(window.close());
    window.show();
    TestPhone alice(s("alice")), bob(s("bob"));
    QVERIFY(enrolAndLogin(broker, alice));
    QVERIFY(enrolAndLogin(broker, bob));
    const QByteArray sid = establishCall(alice, bob);
    QVERIFY(!sid.isEmpty());
    QString question;
    answerNextQuestion(QMessageBox::Cancel);
    QVERIFY(!window.close()); // asked, and kept open
    QVERIFY(window.isVisible());
    answerNextQuestion(QMessageBox::Yes);
    QVERIFY(window.close());
    // In the demo the console only hides (a phone's menu reopens it): no question.
    window.setClosingStopsBroker(false);
    window.show();
    QVERIFY(window.close());
}

QTEST_MAIN(TestBrokerConsole)
#include "tst_brokerconsole.moc"
