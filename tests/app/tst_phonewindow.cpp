// The phone window driven as a person would: real phones (engines, media over the relay, file
// audio) and a real broker on loopback, every step a click or a key press on the real widgets
// (offscreen). Joining by pasting an invite, calling, answering, adding carol, the key timeline's
// rows, hanging up with Esc, and the history kept in the profile.
#include "brokerwindow.h"
#include "callpanel.h"
#include "guidemo.h"
#include "contactspanel.h"
#include "historypanel.h"
#include "joinpage.h"
#include "phone/phone.h"
#include "phonewindow.h"
#include "settingsdialog.h"
#include "timelinepanel.h"

#include "core/skbp.h"
#include "resources/icons.h"
#include "support/audiotools.h"
#include "support/fixtures.h"

#include <QApplication>
#include <QCheckBox>
#include <QSettings>
#include <QSignalSpy>
#include <QSpinBox>
#include <QComboBox>
#include <QDir>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QMenu>
#include <QProgressBar>
#include <QPushButton>
#include <QStandardPaths>
#include <QTabWidget>
#include <QTemporaryDir>
#include <QTest>
#include <QToolButton>
#include <QTreeWidget>
#include <QMessageBox>
#include <QStatusBar>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTimer>
#include <QAction>
#include <QLayout>

#include <memory>

using namespace sotto;
using namespace sotto::app;
using namespace sotto::test;

namespace {

QString s(const char *text)
{
    return QString::fromUtf8(text);
}

template <typename T> T *child(QWidget &w, const char *name)
{
    T *found = w.findChild<T *>(s(name));
    if (!found)
        qWarning("no widget named %s", name);
    return found;
}

// One person: a profile directory, a phone whose microphone is a tone of their own, and its window.
struct Person
{
    explicit Person(const QString &name, double hz, ClientOptions options = fastClientOptions()) : name(name)
    {
        phone::PhoneAudio audio;
        audio.callDevices = [hz]() -> Result<phone::CallMedia::Devices> {
            return phone::CallMedia::Devices{std::make_unique<audio::FileAudioInput>(tone(hz, 1.0), true),
                                             std::make_unique<MemoryAudioOutput>()};
        };
        this->audio = audio;
        this->options = options;
        auto p = phone::Phone::open(dir.path(), std::move(audio), options);
        if (!p)
            qFatal("phone: %s", qPrintable(p.error().message));
        phone = std::move(*p);
        window = std::make_unique<PhoneWindow>(*phone, PhoneSettings{});
        window->show();
    }
    // Closes the window and the phone and opens them again from the profile, as a restart does.
    void reopen()
    {
        window.reset();
        phone.reset();
        auto p = phone::Phone::open(dir.path(), audio, options);
        if (!p)
            qFatal("phone: %s", qPrintable(p.error().message));
        phone = std::move(*p);
        window = std::make_unique<PhoneWindow>(*phone, PhoneSettings{});
        window->show();
    }
    phone::PhoneAudio audio;
    ClientOptions options;
    QString name;
    QTemporaryDir dir;
    std::unique_ptr<phone::Phone> phone;
    std::unique_ptr<PhoneWindow> window;
};

// Pastes the invite into the join page and clicks Join; true once online.
bool joinByClicks(Person &p, const InviteLink &link)
{
    JoinPage *page = p.window->joinPage();
    if (!page)
        return false;
    auto *edit = page->findChild<QLineEdit *>(s("inviteLink"));
    auto *join = page->findChild<QPushButton *>(s("join"));
    edit->setText(link.toString()); // pasted
    if (!join->isEnabled())
        return false;
    QTest::mouseClick(join, Qt::LeftButton);
    return QTest::qWaitFor([&] { return p.phone->engine().state() == ClientEngine::State::Online; }, 10000);
}

// Keys go to the window a person is looking at: shortcuts only fire in the active one.
void pressIn(Person &p, Qt::Key key)
{
    p.window->activateWindow();
    QVERIFY(QTest::qWaitForWindowActive(p.window.get()));
    QTest::keyClick(p.window.get(), key);
}

bool sees(Person &p, const QString &contact)
{
    auto *list = child<QListWidget>(*p.window, "contacts");
    for (int i = 0; list && i < list->count(); ++i) {
        if (list->item(i)->text() == contact)
            return true; // shown plain only while online
    }
    return false;
}

QString title(Person &p)
{
    return child<QLabel>(*p.window, "callTitle")->text();
}

struct Row
{
    QString step, gen, epoch, text, notation;
};

std::vector<Row> rows(Person &p)
{
    std::vector<Row> out;
    auto *tree = child<QTreeWidget>(*p.window, "timeline");
    for (int i = 0; i < tree->topLevelItemCount(); ++i) {
        const QTreeWidgetItem *it = tree->topLevelItem(i);
        out.push_back({it->text(TimelinePanel::StepColumn), it->text(TimelinePanel::GenColumn),
                       it->text(TimelinePanel::EpochColumn), it->text(TimelinePanel::TextColumn),
                       it->text(TimelinePanel::NotationColumn)});
    }
    return out;
}

QStringList steps(Person &p)
{
    QStringList out;
    for (const Row &r : rows(p))
        out.append(r.step);
    return out;
}

} // namespace

class TestPhoneWindow : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() { QStandardPaths::setTestModeEnabled(true); }

    // Every icon draws at the sizes the window uses, at scale 1 and 2, whether compiled in as SVG
    // or (a Qt without the SVG icon engine: SOTTO_PNG_ICONS) as PNG renders.
    void everyIconDraws()
    {
        const QStringList names = iconNames();
        for (const char *name : {"sotto", "call", "hangup", "mute", "add", "online", "offline", "key", "history",
                                 "incoming", "outgoing", "missed", "join", "settings", "refresh", "speaker", "talking"})
            QVERIFY2(names.contains(QString::fromLatin1(name)), name);
        for (const QString &name : names) {
            const QIcon i = icon(name);
            QVERIFY2(!i.isNull(), qPrintable(name));
            for (int size : {16, 24, 32}) {
                for (qreal scale : {1.0, 2.0}) {
                    const QImage image = i.pixmap(QSize(size, size), scale).toImage();
                    QVERIFY2(!image.isNull() && image.width() == int(size * scale), qPrintable(name));
                    int drawn = 0;
                    for (int y = 0; y < image.height(); ++y) {
                        for (int x = 0; x < image.width(); ++x)
                            drawn += qAlpha(image.pixel(x, y)) > 0 ? 1 : 0;
                    }
                    QVERIFY2(drawn > image.width(), qPrintable(QStringLiteral("%1 at %2 px x%3 is blank").arg(name).arg(size).arg(scale)));
                }
            }
        }
        QVERIFY(icon(u"no-such-icon").isNull());
    }

    void badInviteShowsErrorAndChangesNothing_data()
    {
        QTest::addColumn<QString>("link");
        QTest::newRow("not a link") << s("hello");
        QTest::newRow("other scheme") << s("https://example.org/join?account=a&broker=AA&secret=AA");
        QTest::newRow("no secret") << s("sotto://127.0.0.1:7420/join?account=zoe&broker=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
        QTest::newRow("bad account") << s("sotto://127.0.0.1:7420/join?account=Zoe!&broker=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
                                          "&secret=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    }
    void badInviteShowsErrorAndChangesNothing()
    {
        QFETCH(QString, link);
        Person zoe(s("zoe"), 440);
        QCOMPARE(zoe.window->windowTitle(), s("Sotto — join a broker"));
        JoinPage *page = zoe.window->joinPage();
        QVERIFY(page);
        auto *edit = child<QLineEdit>(*page, "inviteLink");
        auto *join = child<QPushButton>(*page, "join");
        auto *error = child<QLabel>(*page, "inviteError");
        QTest::keyClicks(edit, link);
        QVERIFY2(!error->text().isEmpty(), "a bad link must say why");
        QVERIFY(!join->isEnabled());
        QTest::keyClick(edit, Qt::Key_Return); // Enter does nothing either
        QTest::qWait(50);
        QCOMPARE(zoe.phone->engine().state(), ClientEngine::State::Offline);
        QVERIFY(!zoe.phone->profile().hasIdentity());
        QVERIFY(!QFile::exists(QDir(zoe.dir.path()).filePath(s("profile.json"))));
        QVERIFY(!QFile::exists(QDir(zoe.dir.path()).filePath(s("keys.cbor"))));
        QVERIFY(zoe.window->joinPage()); // still asking
    }

    void refusedInviteShowsError_data()
    {
        QTest::addColumn<QString>("what");
        QTest::newRow("wrong secret") << s("secret");
        QTest::newRow("no such account") << s("account");
        QTest::newRow("another broker's key") << s("broker");
    }

    void refusedInviteShowsError()
    {
        // A well-formed link the broker refuses: the page says why (a bad invite, or a broker with
        // another key than the invite names) and stays usable, and no key is stored. Whether the
        // account exists is not told: a wrong secret and an unknown account read the same.
        QFETCH(QString, what);
        TestBroker broker;
        Person zoe(s("zoe"), 440);
        InviteLink link = broker.invite(s("zoe"));
        auto other = crypto::randomSecret(32);
        QVERIFY(other.ok());
        if (what == s("secret"))
            link.secret = std::move(*other);
        else if (what == s("account"))
            link.account = s("nobody");
        else
            link.brokerPublicKey = other->view().toByteArray();
        auto *edit = child<QLineEdit>(*zoe.window->joinPage(), "inviteLink");
        edit->setText(link.toString());
        auto *details = child<QLabel>(*zoe.window->joinPage(), "inviteDetails");
        QVERIFY(details->text().contains(skbp::fingerprint(link.brokerPublicKey))); // whom we are about to trust
        QTest::keyClick(edit, Qt::Key_Return);
        auto *error = child<QLabel>(*zoe.window->joinPage(), "inviteError");
        QTRY_VERIFY_WITH_TIMEOUT(!error->text().isEmpty(), 10000);
        if (what == s("broker")) {
            const QString want = QStringLiteral("the broker at 127.0.0.1:%1 holds another key (fingerprint %2) than this "
                                                "invite names (%3): do not join")
                                     .arg(broker.port())
                                     .arg(broker.broker().fingerprint(), skbp::fingerprint(link.brokerPublicKey));
            QVERIFY2(error->text().contains(want), qPrintable(error->text()));
        } else {
            QVERIFY2(error->text().contains(s("the invite is not valid (used, expired or wrong)")), qPrintable(error->text()));
        }
        QVERIFY(edit->isEnabled());
        QVERIFY(!zoe.phone->profile().isEnrolled());
        QCOMPARE(zoe.phone->profile().pendingEpoch(), 0u);
        QVERIFY(zoe.window->joinPage());
    }

    void callAnswerConferenceAndTimelineByClicks()
    {
        TestBroker broker;
        Person alice(s("alice"), 440), bob(s("bob"), 660), carol(s("carol"), 880);
        QVERIFY(joinByClicks(alice, broker.invite(s("alice"))));
        QVERIFY(joinByClicks(bob, broker.invite(s("bob"))));
        QVERIFY(joinByClicks(carol, broker.invite(s("carol"))));
        QVERIFY(!alice.window->joinPage()); // the page, and the secret in it, are gone
        QCOMPARE(alice.window->windowTitle(), s("Sotto — alice"));
        QCOMPARE(bob.window->windowTitle(), s("Sotto — bob"));

        // The status bar: online, and our own epoch and fingerprint (never a key).
        auto *keyStatus = child<QLabel>(*alice.window, "keyStatus");
        QVERIFY(keyStatus->text().contains(skbp::fingerprint(alice.phone->profile().key())));
        QVERIFY(keyStatus->text().contains(s("epoch 1")));
        QVERIFY(child<QLabel>(*alice.window, "connectionStatus")->text().contains(s("Online")));
        QVERIFY(!child<QLabel>(*alice.window, "refreshStatus")->text().isEmpty());

        // alice selects bob and presses Enter.
        QTRY_VERIFY_WITH_TIMEOUT(sees(alice, s("bob")) && sees(alice, s("carol")), 5000);
        alice.window->contacts()->select(s("bob"));
        auto *list = child<QListWidget>(*alice.window, "contacts");
        list->setFocus();
        QTest::keyClick(list, Qt::Key_Return);
        QTRY_COMPARE_WITH_TIMEOUT(title(alice), s("Calling bob…"), 5000);

        // bob's phone rings; he clicks Answer.
        QTRY_COMPARE_WITH_TIMEOUT(title(bob), s("alice is calling"), 5000);
        QVERIFY(bob.phone->ringer().isRinging());
        auto *answer = child<QPushButton>(*bob.window, "answer");
        QVERIFY(answer->isVisible());
        QTest::mouseClick(answer, Qt::LeftButton);
        QVERIFY(!bob.phone->ringer().isRinging());
        QTRY_COMPARE_WITH_TIMEOUT(title(alice), s("In a call with bob"), 5000);
        QTRY_COMPARE_WITH_TIMEOUT(title(bob), s("In a call with alice"), 5000);
        const QByteArray sid = alice.phone->currentCall();
        QVERIFY(!sid.isEmpty());
        QCOMPARE(bob.phone->currentCall(), sid);
        const QString fp0 = alice.phone->engine().session(sid)->keyFingerprint;
        QCOMPARE(bob.phone->engine().session(sid)->keyFingerprint, fp0); // one key, both ends

        // Media flows: alice's meter for bob moves (his tone, decrypted and decoded).
        auto *bobMeter = child<QProgressBar>(*alice.window, "meter-bob");
        QVERIFY(bobMeter);
        QTRY_VERIFY_WITH_TIMEOUT(bobMeter->value() > 30, 5000);
        QTRY_VERIFY_WITH_TIMEOUT(child<QProgressBar>(*alice.window, "meter-self")->value() > 30, 5000); // her own microphone

        // Mute by click: the button says so and the media stops sending.
        auto *mute = child<QPushButton>(*alice.window, "mute");
        QTest::mouseClick(mute, Qt::LeftButton);
        QVERIFY(alice.phone->isMuted());
        QVERIFY(child<QLabel>(*alice.window, "callState")->text().contains(s("muted")));
        QTest::mouseClick(mute, Qt::LeftButton);
        QVERIFY(!alice.phone->isMuted());

        // alice adds carol from the "Add participant" menu; carol answers by click.
        auto *add = child<QToolButton>(*alice.window, "addParticipant");
        QVERIFY(add->isEnabled());
        Q_EMIT add->menu()->aboutToShow();
        QAction *inviteCarol = add->menu()->findChild<QAction *>(s("invite-carol"));
        QVERIFY(inviteCarol);
        QVERIFY(!add->menu()->findChild<QAction *>(s("invite-bob"))); // already in the call
        inviteCarol->trigger();
        QTRY_COMPARE_WITH_TIMEOUT(title(carol), s("alice invites you into a call"), 5000);
        QTest::mouseClick(child<QPushButton>(*carol.window, "answer"), Qt::LeftButton);
        QTRY_COMPARE_WITH_TIMEOUT(title(alice), s("In a call with bob, carol"), 5000);
        QTRY_COMPARE_WITH_TIMEOUT(title(carol), s("In a call with alice, bob"), 5000);
        QTRY_VERIFY_WITH_TIMEOUT(child<QProgressBar>(*carol.window, "meter-alice")
                                     && child<QProgressBar>(*carol.window, "meter-alice")->value() > 30,
                                 5000);

        // carol hangs up (Esc): the others re-key.
        pressIn(carol, Qt::Key_Escape);
        QTRY_COMPARE_WITH_TIMEOUT(title(alice), s("In a call with bob"), 5000);
        QTRY_COMPARE_WITH_TIMEOUT(alice.phone->engine().session(sid)->gen, 2u, 5000);

        // alice's timeline for this call, in order, with generations and epochs.
        QCOMPARE(alice.window->timeline()->shownSession(), sid);
        QTRY_COMPARE_WITH_TIMEOUT(steps(alice),
                                  (QStringList{s("Key delivered"), s("Answered"), s("Joined · ratchet"), s("Left"),
                                               s("Re-key")}),
                                  5000);
        const auto a = rows(alice);
        QCOMPARE(a[0].gen, s("0"));
        QCOMPARE(a[0].epoch, s("1")); // bob's key epoch the session key came from
        QCOMPARE(a[0].notation, s("{SK}K_alice"));
        QVERIFY(a[0].text.contains(fp0));
        QCOMPARE(a[2].gen, s("1"));
        QVERIFY(a[2].text.contains(s("carol joined")));
        QCOMPARE(a[2].notation, s("SK_1 = KDF(SK_0)"));
        QCOMPARE(a[4].gen, s("2"));
        QCOMPARE(a[4].notation, s("{SK_2}K_alice"));

        // alice hangs up with Esc; bob's key rotates and his timeline shows it with the call.
        pressIn(alice, Qt::Key_Escape);
        QTRY_COMPARE_WITH_TIMEOUT(title(alice), s("No call"), 5000);
        QTRY_COMPARE_WITH_TIMEOUT(bob.phone->profile().epoch(), 2u, 5000);
        bob.window->timeline()->showSession(sid);
        QTRY_COMPARE_WITH_TIMEOUT(steps(bob).last(), s("Rotated"), 5000);
        const auto b = rows(bob);
        QCOMPARE(b.front().step, s("Ringing"));
        QCOMPARE(b[1].step, s("Key derived"));
        QCOMPARE(b[1].epoch, s("1"));
        QCOMPARE(b.back().epoch, s("2"));
        QVERIFY(b.back().text.contains(s("epoch 1 → 2")));
        QTRY_VERIFY_WITH_TIMEOUT(child<QLabel>(*bob.window, "keyStatus")->text().contains(s("epoch 2")), 15000);

        // The whole-account view has the enrolment first.
        alice.window->timeline()->showSession({});
        QCOMPARE(rows(alice).front().step, s("Enrolled"));

        // History: one call each, kept in the profile.
        auto *history = child<QTreeWidget>(*alice.window, "history");
        QTRY_COMPARE_WITH_TIMEOUT(history->topLevelItemCount(), 1, 5000);
        QCOMPARE(history->topLevelItem(0)->text(2), s("bob + carol"));
        QVERIFY(QFile::exists(QDir(alice.dir.path()).filePath(s("history.json"))));
        auto reread = std::make_unique<CallHistory>(alice.phone->engine(), QDir(alice.dir.path()).filePath(s("history.json")));
        QVERIFY(reread->load().ok());
        QCOMPARE(int(reread->records().size()), 1);
        QCOMPARE(reread->records().front().peer, s("bob"));
        QVERIFY(reread->records().front().answered);
    }

    void enterAnswersWhereverTheFocusIs()
    {
        TestBroker broker;
        Person alice(s("alice"), 440), bob(s("bob"), 660);
        QVERIFY(joinByClicks(alice, broker.invite(s("alice"))));
        QVERIFY(joinByClicks(bob, broker.invite(s("bob"))));
        QTRY_VERIFY_WITH_TIMEOUT(sees(alice, s("bob")) && sees(bob, s("alice")), 5000);
        alice.window->activateWindow();
        QVERIFY(QTest::qWaitForWindowActive(alice.window.get()));
        // The focus where the contact list would take Enter for "call bob", the key timeline, the history.
        for (const char *focus : {"contacts", "timeline", "history", "timelineSession"}) {
            alice.window->contacts()->select(s("bob"));
            QWidget *w = child<QWidget>(*alice.window, focus);
            if (QString::fromLatin1(focus) != s("contacts"))
                alice.window->tabs()->setCurrentIndex(QString::fromLatin1(focus) == s("history") ? 1 : 0);
            w->setFocus();
            bob.phone->engine().call(s("alice"));
            QTRY_COMPARE_WITH_TIMEOUT(title(alice), s("bob is calling"), 5000);
            QTest::keyClick(w, Qt::Key_Return);
            QTRY_VERIFY2_WITH_TIMEOUT(title(alice).startsWith(s("In a call with bob")), focus, 5000);
            QCOMPARE(int(alice.phone->engine().sessions().size()), 1); // answered; no second call placed
            pressIn(alice, Qt::Key_Escape);
            QTRY_COMPARE_WITH_TIMEOUT(title(alice), s("No call"), 5000);
            QTRY_COMPARE_WITH_TIMEOUT(title(bob), s("No call"), 5000);
            QTest::qWait(100);
        }
        // Not ringing, Enter in the contact list calls as before.
        alice.window->contacts()->select(s("bob"));
        auto *list = child<QListWidget>(*alice.window, "contacts");
        list->setFocus();
        QTest::keyClick(list, Qt::Key_Return);
        QTRY_COMPARE_WITH_TIMEOUT(title(alice), s("Calling bob…"), 5000);
    }

    void conferenceShowsRingingMuteAndTheTimeSinceTheAnswer()
    {
        TestBroker broker;
        Person alice(s("alice"), 440), bob(s("bob"), 660), carol(s("carol"), 880);
        QVERIFY(joinByClicks(alice, broker.invite(s("alice"))));
        QVERIFY(joinByClicks(bob, broker.invite(s("bob"))));
        QVERIFY(joinByClicks(carol, broker.invite(s("carol"))));
        QTRY_VERIFY_WITH_TIMEOUT(sees(alice, s("bob")) && sees(alice, s("carol")), 5000);
        const QSize aliceSize = alice.window->size(), bobSize = bob.window->size();

        alice.phone->engine().call(s("bob"));
        QTRY_COMPARE_WITH_TIMEOUT(title(bob), s("alice is calling"), 5000);
        QTest::qWait(2200); // it rings for two seconds: the call's time does not count them
        QCOMPARE(bob.window->size(), bobSize); // a call coming in keeps the window's size
        QTest::mouseClick(child<QPushButton>(*bob.window, "answer"), Qt::LeftButton);
        QTRY_VERIFY_WITH_TIMEOUT(title(alice).startsWith(s("In a call with bob")), 5000);
        auto *state = child<QLabel>(*alice.window, "callState");
        QVERIFY2(state->text().startsWith(s("0:00")) || state->text().startsWith(s("0:01")), qPrintable(state->text()));

        // alice invites carol: bob, not only alice, sees her ring.
        const QByteArray sid = alice.phone->currentCall();
        alice.phone->engine().invite(sid, s("carol"));
        QTRY_VERIFY_WITH_TIMEOUT(child<QLabel>(*bob.window, "callState")->text().contains(s("ringing carol…")), 5000);
        QTRY_VERIFY_WITH_TIMEOUT(bob.window->findChild<QLabel *>(s("member-carol"))
                                     && bob.window->findChild<QLabel *>(s("member-carol"))->text() == s("carol — ringing…"),
                                 5000);
        QTRY_COMPARE_WITH_TIMEOUT(title(carol), s("alice invites you into a call"), 5000);
        QTest::mouseClick(child<QPushButton>(*carol.window, "answer"), Qt::LeftButton);
        QTRY_VERIFY_WITH_TIMEOUT(!child<QLabel>(*bob.window, "callState")->text().contains(s("ringing")), 5000);
        QTRY_VERIFY_WITH_TIMEOUT(bob.window->findChild<QLabel *>(s("member-carol"))
                                     && bob.window->findChild<QLabel *>(s("member-carol"))->text() == s("carol"),
                                 5000);

        // The call's statistics per member, from the media pipeline, once a second.
        auto *stats = child<QTreeWidget>(*alice.window, "callStats");
        const auto statsOf = [&](const QString &who) -> QTreeWidgetItem * {
            for (int i = 0; i < stats->topLevelItemCount(); ++i) {
                if (stats->topLevelItem(i)->text(0) == who)
                    return stats->topLevelItem(i);
            }
            return nullptr;
        };
        QTRY_VERIFY_WITH_TIMEOUT(statsOf(s("bob")) && statsOf(s("carol")) && statsOf(s("carol"))->text(1).toInt() > 10
                                     && statsOf(s("carol"))->text(5).endsWith(s("kbit/s")),
                                 8000);
        QVERIFY(!stats->isHidden());
        for (const char *who : {"bob", "carol"}) {
            const QTreeWidgetItem *row = statsOf(s(who));
            QVERIFY2(row->text(4).endsWith(s(" ms")), qPrintable(row->text(4))); // round trip to the relay
            QVERIFY2(row->text(2).endsWith(s("%")), qPrintable(row->text(2)));
            QCOMPARE(row->text(7), s("1")); // generation 1 after carol joined
        }
        const double kbps = statsOf(s("carol"))->text(5).section(u' ', 0, 0).toDouble();
        QVERIFY2(kbps > 4 && kbps < 200, qPrintable(statsOf(s("carol"))->text(5))); // Opus voice, 20 ms frames

        // bob mutes: alice and carol see his badge; unmuted, it goes.
        QTest::mouseClick(child<QPushButton>(*bob.window, "mute"), Qt::LeftButton);
        QTRY_VERIFY_WITH_TIMEOUT(alice.window->findChild<QLabel *>(s("muted-bob"))
                                     && !alice.window->findChild<QLabel *>(s("muted-bob"))->isHidden(),
                                 5000);
        QTRY_VERIFY_WITH_TIMEOUT(carol.window->findChild<QLabel *>(s("muted-bob"))
                                     && !carol.window->findChild<QLabel *>(s("muted-bob"))->isHidden(),
                                 5000);
        QVERIFY(!child<QLabel>(*bob.window, "muted-self")->isHidden());
        QVERIFY(alice.window->findChild<QLabel *>(s("muted-carol"))->isHidden());
        QTest::mouseClick(child<QPushButton>(*bob.window, "mute"), Qt::LeftButton);
        QTRY_VERIFY_WITH_TIMEOUT(alice.window->findChild<QLabel *>(s("muted-bob"))
                                     && alice.window->findChild<QLabel *>(s("muted-bob"))->isHidden(),
                                 5000);
        // The contacts pane has the margins of the rest of the window.
        QCOMPARE(alice.window->contacts()->layout()->contentsMargins(), alice.window->callPanel()->layout()->contentsMargins());
        // Through all of it, no window changed its size.
        QCOMPARE(alice.window->size(), aliceSize);
        QCOMPARE(bob.window->size(), bobSize);
    }

    void offlineSaysWhyAndReconnectsNow()
    {
        TestBroker broker;
        ClientOptions slow = fastClientOptions();
        slow.minBackoffMs = 4000; // long enough to read, and for "Reconnect now" to matter
        slow.maxBackoffMs = 8000;
        Person alice(s("alice"), 440, slow);
        QVERIFY(joinByClicks(alice, broker.invite(s("alice"))));
        auto *connection = child<QLabel>(*alice.window, "connectionStatus");
        auto *reconnect = child<QPushButton>(*alice.window, "reconnectNow");
        QVERIFY(reconnect->isHidden());
        const QString address = QStringLiteral("127.0.0.1:%1").arg(broker.port());

        broker.broker().stop();
        QTRY_VERIFY2_WITH_TIMEOUT(connection->text().contains(s("lost the broker at ") + address), qPrintable(connection->text()), 5000);
        QVERIFY2(connection->text().contains(s("retrying in 4 s")) || connection->text().contains(s("retrying in 3 s")),
                 qPrintable(connection->text()));
        QVERIFY(!reconnect->isHidden());
        QTest::mouseClick(reconnect, Qt::LeftButton); // still down: now it says why it cannot connect
        QTRY_VERIFY2_WITH_TIMEOUT(connection->text().contains(s("cannot reach %1 (connection refused)").arg(address)),
                                  qPrintable(connection->text()), 5000);
        alice.window->statusBar()->showMessage(s("Joining 127.0.0.1…")); // stale text from before
        broker.restart();
        QTest::mouseClick(reconnect, Qt::LeftButton);
        QTRY_VERIFY_WITH_TIMEOUT(alice.phone->engine().state() == ClientEngine::State::Online, 2000); // not after 4 s
        QVERIFY(connection->text().contains(s("Online")));
        QVERIFY(alice.window->statusBar()->currentMessage().isEmpty());
        QVERIFY(reconnect->isHidden());
    }

    // A device the broker removed (revoked, or replaced by another device) is told so once,
    // stops retrying, and joins again with a new invite from the window.
    void refusedDeviceSaysSoAndJoinsAgain_data()
    {
        QTest::addColumn<bool>("replace");
        QTest::newRow("revoked") << false;
        QTest::newRow("replaced") << true;
    }
    void refusedDeviceSaysSoAndJoinsAgain()
    {
        QFETCH(bool, replace);
        TestBroker broker;
        Person alice(s("alice"), 440);
        QVERIFY(joinByClicks(alice, broker.invite(s("alice"))));
        const quint32 before = alice.phone->profile().epoch();
        auto *connection = child<QLabel>(*alice.window, "connectionStatus");
        auto *rejoin = child<QPushButton>(*alice.window, "rejoin");
        auto *rejoinAction = alice.window->findChild<QAction *>(s("actionRejoin"));
        QVERIFY(rejoin && rejoinAction);
        QVERIFY(rejoin->isHidden());
        QVERIFY(!rejoinAction->isEnabled());

        QSignalSpy refused(&alice.phone->engine(), &ClientEngine::loginFailed);
        if (replace) {
            // The new device enrols; the old one's channel closes at that commit.
            auto link = broker.broker().createInvite({s("alice"), 3600, true});
            QVERIFY2(link.ok(), link ? "" : qPrintable(link.error().message));
            TestPhone laptop(s("alice"));
            QVERIFY(laptop.enrol(InviteLink::parse(*link).value()));
            QVERIFY(laptop.goOnline());
        } else {
            QVERIFY(broker.broker().revoke(s("alice")).ok());
        }
        QVERIFY(refused.wait(10000));
        QCOMPARE(alice.phone->engine().state(), ClientEngine::State::Offline);
        QVERIFY(alice.phone->engine().refused());
        QVERIFY2(connection->text().contains(s("removed or replaced")), qPrintable(connection->text()));
        QVERIFY2(alice.window->statusBar()->currentMessage().contains(s("new invite")),
                 qPrintable(alice.window->statusBar()->currentMessage()));
        QVERIFY(!rejoin->isHidden());
        QVERIFY(rejoinAction->isEnabled());
        // It does not retry: nothing is scheduled, and nothing more is refused a while later.
        QVERIFY(!alice.phone->engine().nextRetry().isValid());
        QTest::qWait(1500);
        QCOMPARE(refused.size(), 1);
        QCOMPARE(alice.phone->engine().state(), ClientEngine::State::Offline);

        // Join with a new invite: the join page, with why; the pasted link brings the account back.
        QTest::mouseClick(rejoin, Qt::LeftButton);
        JoinPage *page = alice.window->joinPage();
        QVERIFY(page && page->isVisible());
        QVERIFY2(child<QLabel>(*page, "inviteError")->text().contains(s("no longer accepts")),
                 qPrintable(child<QLabel>(*page, "inviteError")->text()));
        QVERIFY(rejoin->isHidden());
        if (replace)
            QVERIFY(broker.broker().revoke(s("alice")).ok()); // the laptop goes; a new invite for this one
        QVERIFY(joinByClicks(alice, broker.invite(s("alice"))));
        QTRY_VERIFY_WITH_TIMEOUT(!alice.window->joinPage(), 3000);
        QVERIFY(alice.window->contacts()->isVisible()); // the same main page, not a second one
        QVERIFY(!alice.phone->engine().refused());
        QVERIFY(rejoin->isHidden());
        QVERIFY2(alice.phone->profile().epoch() > before, "epochs only grow, across a re-join too");
        QVERIFY2(connection->text().contains(s("Online")), qPrintable(connection->text()));
    }

    // Every other refusal and loss, in the window: a message, never a crash (the sanitizer run
    // is their memory check): a wrong key, an invite already used, another broker's key, a
    // broker that hangs up mid-handshake, and the broker killed mid-call.
    void everyRefusalIsAMessage()
    {
        TestBroker broker;
        // A wrong key: refused for good, said so, no retry.
        {
            Person eve(s("eve"), 440);
            QVERIFY(joinByClicks(eve, broker.invite(s("eve"))));
            eve.phone->engine().stop();
            QVERIFY(eve.phone->profile().adoptRotation(eve.phone->profile().epoch(), SecretBytes::copyOf(QByteArray(32, 'w'))).ok());
            eve.reopen();
            QTRY_VERIFY_WITH_TIMEOUT(eve.phone->engine().refused(), 5000);
            QTRY_VERIFY(child<QLabel>(*eve.window, "connectionStatus")->text().contains(s("removed or replaced")));
            QVERIFY(!child<QPushButton>(*eve.window, "rejoin")->isHidden());
        }
        // An invite already used, and one that names another broker's key: the join page says why.
        const InviteLink used = broker.invite(s("ivy"));
        {
            Person first(s("ivy"), 440);
            QVERIFY(joinByClicks(first, used));
        }
        InviteLink otherKey = broker.invite(s("oli"));
        otherKey.brokerPublicKey = QByteArray(32, 'o');
        for (const InviteLink &link : {used, otherKey}) {
            Person p(s("p"), 440);
            auto *edit = p.window->joinPage()->findChild<QLineEdit *>(s("inviteLink"));
            edit->setText(link.toString());
            QTest::mouseClick(p.window->joinPage()->findChild<QPushButton *>(s("join")), Qt::LeftButton);
            auto *error = child<QLabel>(*p.window->joinPage(), "inviteError");
            QTRY_VERIFY_WITH_TIMEOUT(error->text().startsWith(s("Could not join")), 10000);
            QVERIFY(p.window->joinPage()->isVisible());
        }
        // A broker that hangs up in the middle of the handshake.
        {
            QTcpServer hangUp;
            QVERIFY(hangUp.listen(QHostAddress::LocalHost, 0));
            QObject::connect(&hangUp, &QTcpServer::newConnection, &hangUp, [&] {
                while (QTcpSocket *c = hangUp.nextPendingConnection())
                    QObject::connect(c, &QTcpSocket::readyRead, c, [c] { c->abort(); c->deleteLater(); });
            });
            InviteLink link = broker.invite(s("hal"));
            link.port = hangUp.serverPort();
            Person p(s("hal"), 440);
            p.window->joinPage()->findChild<QLineEdit *>(s("inviteLink"))->setText(link.toString());
            QTest::mouseClick(p.window->joinPage()->findChild<QPushButton *>(s("join")), Qt::LeftButton);
            QTRY_VERIFY_WITH_TIMEOUT(child<QLabel>(*p.window->joinPage(), "inviteError")->text().startsWith(s("Could not join")), 15000);
        }
        // The broker killed mid-call: the call ends with a word, the phone tries again.
        Person alice(s("alice"), 440), bob(s("bob"), 660);
        QVERIFY(joinByClicks(alice, broker.invite(s("alice"))));
        QVERIFY(joinByClicks(bob, broker.invite(s("bob"))));
        QSignalSpy rings(&bob.phone->engine(), &ClientEngine::incomingCall);
        alice.phone->engine().call(s("bob"));
        QVERIFY(rings.wait(5000));
        bob.phone->engine().answer(rings.first().at(0).toByteArray());
        QTRY_VERIFY_WITH_TIMEOUT(!alice.phone->engine().sessions().empty() && alice.phone->engine().sessions().front().answered, 5000);
        broker.broker().stop();
        QTRY_VERIFY_WITH_TIMEOUT(alice.window->statusBar()->currentMessage().contains(s("Call ended: disconnected")), 5000);
        QTRY_VERIFY_WITH_TIMEOUT(child<QLabel>(*alice.window, "connectionStatus")->text().contains(s("retrying")), 5000);
        QVERIFY(!alice.phone->engine().refused()); // a lost broker is no refusal
    }

    void menusTrayAndAbout()
    {
        TestBroker broker;
        Person alice(s("alice"), 440);
        QVERIFY(joinByClicks(alice, broker.invite(s("alice"))));
        // Settings: a shortcut that works on plain X11, where QKeySequence::Preferences is empty.
        auto *settings = alice.window->findChild<QAction *>(s("actionSettings"));
        QVERIFY(settings);
        QCOMPARE(settings->shortcut(), QKeySequence(Qt::CTRL | Qt::Key_Comma));
        alice.window->activateWindow();
        QVERIFY(QTest::qWaitForWindowActive(alice.window.get()));
        QTest::keyClick(alice.window.get(), Qt::Key_Comma, Qt::ControlModifier);
        SettingsDialog *dialog = nullptr;
        QTRY_VERIFY_WITH_TIMEOUT((dialog = alice.window->findChild<SettingsDialog *>()) && dialog->isVisible(), 3000);
        // Every label of the audio form names its field ("&Loudspeaker:" was shown as typed).
        auto *output = dialog->findChild<QComboBox *>(s("outputDevice"));
        bool labelled = false;
        for (QLabel *l : dialog->findChildren<QLabel *>()) {
            if (l->text().contains(s("Loudspeaker")))
                labelled = l->buddy() == output;
        }
        QVERIFY(labelled);
        dialog->reject();

        // The tray's menu: show, mute (only in a call), quit.
        auto *tray = alice.window->findChild<QMenu *>(s("trayMenu"));
        QVERIFY(tray);
        QVERIFY(tray->findChild<QAction *>(s("trayShow")) || alice.window->findChild<QAction *>(s("trayShow")));
        QAction *mute = alice.window->findChild<QAction *>(s("trayMute"));
        QVERIFY(mute && !mute->isEnabled());
        QVERIFY(alice.window->findChild<QAction *>(s("trayQuit")));

        // About: version, build, licence, homepage; and About Qt.
        QVERIFY(alice.window->findChild<QAction *>(s("actionAboutQt")));
        QString about;
        QTimer::singleShot(200, this, [&] {
            if (auto *box = qobject_cast<QMessageBox *>(QApplication::activeModalWidget())) {
                about = box->text();
                box->accept();
            }
        });
        alice.window->findChild<QAction *>(s("actionAbout"))->trigger();
        QVERIFY2(about.contains(s(SOTTO_VERSION)) && about.contains(s("Build:")) && about.contains(s("Licence"))
                     && about.contains(s("http")),
                 qPrintable(about));
    }

    void everyCallIsItsOwnRowAndTheTimelineIsKept()
    {
        TestBroker broker;
        Person alice(s("alice"), 440), bob(s("bob"), 660);
        QVERIFY(joinByClicks(alice, broker.invite(s("alice"))));
        QVERIFY(joinByClicks(bob, broker.invite(s("bob"))));
        QTRY_VERIFY_WITH_TIMEOUT(sees(alice, s("bob")), 5000);
        auto *history = child<QTreeWidget>(*alice.window, "history");
        struct Expect { QString who, reason; bool answered; };
        std::vector<Expect> made;
        const auto check = [&] {
            QTRY_COMPARE_WITH_TIMEOUT(history->topLevelItemCount(), int(made.size()), 5000);
            for (int i = 0; i < int(made.size()); ++i) { // newest first, each with its own outcome
                const QTreeWidgetItem *row = history->topLevelItem(i);
                const Expect &e = made[made.size() - 1 - std::size_t(i)];
                QCOMPARE(row->text(2), e.who);
                QCOMPARE(row->text(4), e.reason);
                QCOMPARE(row->text(3) != s("—"), e.answered);
                if (i > 0)
                    QVERIFY(row->data(0, Qt::UserRole).toDateTime() <= history->topLevelItem(i - 1)->data(0, Qt::UserRole).toDateTime());
            }
        };
        // 1. bob calls, alice answers, bob hangs up.
        bob.phone->engine().call(s("alice"));
        QTRY_COMPARE_WITH_TIMEOUT(title(alice), s("bob is calling"), 5000);
        QTest::mouseClick(child<QPushButton>(*alice.window, "answer"), Qt::LeftButton);
        QTRY_VERIFY_WITH_TIMEOUT(title(bob).startsWith(s("In a call")), 5000);
        pressIn(bob, Qt::Key_Escape);
        made.push_back({s("bob"), s("hangup"), true});
        check();
        // 2. bob calls, alice declines.
        QTest::qWait(300);
        bob.phone->engine().call(s("alice"));
        QTRY_COMPARE_WITH_TIMEOUT(title(alice), s("bob is calling"), 5000);
        pressIn(alice, Qt::Key_Escape);
        made.push_back({s("bob"), s("declined"), false});
        check();
        // 3. alice calls, bob answers, alice hangs up.
        QTest::qWait(300);
        alice.phone->engine().call(s("bob"));
        QTRY_COMPARE_WITH_TIMEOUT(title(bob), s("alice is calling"), 5000);
        QTest::mouseClick(child<QPushButton>(*bob.window, "answer"), Qt::LeftButton);
        QTRY_VERIFY_WITH_TIMEOUT(title(alice).startsWith(s("In a call")), 5000);
        pressIn(alice, Qt::Key_Escape);
        made.push_back({s("bob"), s("hangup"), true});
        check();

        // Reopened, the window shows what happened before: the same rows, and the key timeline.
        alice.window->timeline()->showSession({});
        const QStringList before = steps(alice);
        QVERIFY(before.contains(s("Key delivered")) && before.contains(s("Key derived")));
        alice.reopen();
        history = child<QTreeWidget>(*alice.window, "history");
        check();
        alice.window->timeline()->showSession({});
        QCOMPARE(steps(alice).mid(0, before.size()), before);
        // The full line of a step is readable at the default width, wrapped below the rows.
        auto *detail = child<QLabel>(*alice.window, "timelineDetail");
        auto *tree = child<QTreeWidget>(*alice.window, "timeline");
        tree->setCurrentItem(tree->topLevelItem(0));
        QVERIFY(detail->wordWrap());
        QVERIFY2(detail->text().contains(tree->topLevelItem(0)->text(TimelinePanel::TextColumn)), qPrintable(detail->text()));
    }

    void demoConsoleComesBackFromThePhonesMenu()
    {
        GuiDemo demo;
        QSignalSpy ready(&demo, &GuiDemo::ready);
        QVERIFY(demo.start(false).ok());
        QVERIFY(ready.wait(20000));
        BrokerWindow &console = demo.console();
        QVERIFY(console.isVisible());
        QVERIFY(!console.windowIcon().isNull());
        // Closing the demo's console asks nothing (the broker goes on) and only hides it...
        QVERIFY(console.close());
        QVERIFY(!console.isVisible());
        QVERIFY(demo.broker().port() != 0); // the broker goes on
        // ... and any phone's menu brings it back.
        QAction *reopen = demo.window(s("bob")).findChild<QAction *>(s("actionConsole"));
        QVERIFY(reopen && reopen->isVisible());
        reopen->trigger();
        QTRY_VERIFY_WITH_TIMEOUT(console.isVisible(), 3000);
    }

    void declineByEscape()
    {
        TestBroker broker;
        Person alice(s("alice"), 440), bob(s("bob"), 660);
        QVERIFY(joinByClicks(alice, broker.invite(s("alice"))));
        QVERIFY(joinByClicks(bob, broker.invite(s("bob"))));
        QTRY_VERIFY_WITH_TIMEOUT(sees(alice, s("bob")), 5000);
        alice.window->contacts()->select(s("bob"));
        QTest::mouseClick(child<QPushButton>(*alice.window, "call"), Qt::LeftButton);
        QTRY_COMPARE_WITH_TIMEOUT(title(bob), s("alice is calling"), 5000);
        pressIn(bob, Qt::Key_Escape);
        QTRY_COMPARE_WITH_TIMEOUT(title(alice), s("No call"), 5000);
        QTRY_COMPARE_WITH_TIMEOUT(title(bob), s("No call"), 5000);
        QVERIFY(!bob.phone->ringer().isRinging());
        auto *history = child<QTreeWidget>(*bob.window, "history");
        QTRY_COMPARE_WITH_TIMEOUT(history->topLevelItemCount(), 1, 5000);
        QCOMPARE(history->topLevelItem(0)->text(3), s("—")); // never answered
    }

    void settingsApplyAndPersist()
    {
        TestBroker broker; // refresh every 24 h
        Person alice(s("alice"), 440);
        QTemporaryDir dir;
        QSettings store(QDir(dir.path()).filePath(s("sotto.ini")), QSettings::IniFormat);
        alice.window = std::make_unique<PhoneWindow>(*alice.phone, PhoneSettings{}, &store);
        alice.window->show();
        QVERIFY(joinByClicks(alice, broker.invite(s("alice"))));
        const QDateTime brokerDue = alice.phone->engine().nextRefresh();
        QVERIFY(brokerDue.isValid());
        QVERIFY(brokerDue > QDateTime::currentDateTimeUtc().addSecs(23 * 3600));

        alice.window->openSettings();
        auto *dialog = alice.window->findChild<SettingsDialog *>();
        QVERIFY(dialog);
        QTRY_VERIFY(dialog->isVisible());
        auto *hours = child<QSpinBox>(*dialog, "refreshHours");
        hours->setValue(2);
        auto *echo = child<QCheckBox>(*dialog, "echoCancellation");
        QVERIFY(echo && echo->isChecked());
        echo->setChecked(false);
        dialog->accept();

        // Our own ceiling wins over the broker's 24 h, and the status bar says when.
        const QDateTime due = alice.phone->engine().nextRefresh();
        QVERIFY(due < QDateTime::currentDateTimeUtc().addSecs(2 * 3600 + 60));
        QVERIFY(due > QDateTime::currentDateTimeUtc().addSecs(2 * 3600 - 120));
        QVERIFY(child<QLabel>(*alice.window, "refreshStatus")->text().contains(
            QLocale().toString(due.toLocalTime(), s("d MMM HH:mm"))));
        // Kept, and read back the same.
        store.sync();
        QSettings again(store.fileName(), QSettings::IniFormat);
        const PhoneSettings reread = PhoneSettings::load(again);
        QCOMPARE(reread.refreshHours, 2);
        QCOMPARE(reread.echoCancellation, false);
        QCOMPARE(reread.noiseSuppression, true);
    }

    // The device list is read off the GUI thread; meanwhile, and when the chosen microphone is
    // not plugged in, the choice stands: OK never quietly swaps it for the default.
    void settingsKeepAnUnpluggedDevice()
    {
        TestBroker broker;
        Person alice(s("alice"), 440);
        QTemporaryDir dir;
        QSettings store(QDir(dir.path()).filePath(s("sotto.ini")), QSettings::IniFormat);
        PhoneSettings chosen;
        chosen.inputDevice = s("Sotto Test Headset 9000");
        alice.window = std::make_unique<PhoneWindow>(*alice.phone, chosen, &store);
        alice.window->show();
        QVERIFY(joinByClicks(alice, broker.invite(s("alice"))));

        alice.window->openSettings();
        auto *dialog = alice.window->findChild<SettingsDialog *>();
        QVERIFY(dialog);
        auto *input = child<QComboBox>(*dialog, "inputDevice");
        QCOMPARE(input->currentData().toString(), chosen.inputDevice); // listing or not
        QTRY_VERIFY_WITH_TIMEOUT(!dialog->isListingDevices(), 10000);
        QVERIFY(input->isEnabled());
        QCOMPARE(input->currentData().toString(), chosen.inputDevice);
        QVERIFY2(input->currentText().contains(s("not connected")), qPrintable(input->currentText()));
        QCOMPARE(child<QComboBox>(*dialog, "outputDevice")->currentData().toString(), QString());

        // A rescan disables the controls until the new list is in, and keeps the choice too.
        QSignalSpy listed(dialog, &SettingsDialog::devicesListed);
        QTest::mouseClick(child<QPushButton>(*dialog, "rescanDevices"), Qt::LeftButton);
        QVERIFY(dialog->isListingDevices() || listed.size() == 1);
        QTRY_COMPARE_WITH_TIMEOUT(listed.size(), 1, 10000);
        QCOMPARE(input->currentData().toString(), chosen.inputDevice);
        dialog->accept();

        store.sync();
        QSettings again(store.fileName(), QSettings::IniFormat);
        QCOMPARE(PhoneSettings::load(again).inputDevice, chosen.inputDevice);
    }

    void damagedHistoryIsLeftAlone()
    {
        QTemporaryDir dir;
        const QString path = QDir(dir.path()).filePath(s("history.json"));
        QFile f(path);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write("{\"calls\": [ {\"direction\": \"sideways\"");
        f.close();
        auto profile = Profile::open(dir.path());
        QVERIFY(profile.ok());
        ClientEngine engine(*profile);
        CallHistory history(engine, path);
        auto r = history.load();
        QVERIFY(!r.ok());
        QCOMPARE(r.error().code, ErrorCode::Corrupt);
        QVERIFY(history.records().empty());
        QFile again(path);
        QVERIFY(again.open(QIODevice::ReadOnly));
        QCOMPARE(again.readAll(), QByteArray("{\"calls\": [ {\"direction\": \"sideways\""));
    }
};

QTEST_MAIN(TestPhoneWindow)
#include "tst_phonewindow.moc"
