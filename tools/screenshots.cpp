// sotto-screenshots OUTDIR — the windowed demo, clicked through as a person would (alice calls
// bob, bob answers, alice adds carol, carol answers, carol leaves, alice hangs up), with a
// picture of the phone in the three-member call, of the broker's console during it, and of
// bob's key timeline at the end (down to the rotation of his key).

#include "callpanel.h"
#include "contactspanel.h"
#include "guidemo.h"
#include "phone/phone.h"
#include "phonewindow.h"
#include "timelinepanel.h"

#include "brokerwindow.h"

#include <QAbstractButton>
#include <QApplication>
#include <QElapsedTimer>
#include <QDir>
#include <QLabel>
#include <QMenu>
#include <QPushButton>
#include <QTabWidget>
#include <QTimer>
#include <QThread>
#include <QToolButton>

#include <cstdio>
#include <functional>

using namespace sotto;
using namespace sotto::app;

namespace {

// Waits (running the event loop) until `done` holds or `ms` pass.
bool waitFor(const std::function<bool()> &done, int ms)
{
    QElapsedTimer t;
    t.start();
    while (!done()) {
        if (t.elapsed() > ms)
            return false;
        QCoreApplication::processEvents(QEventLoop::AllEvents, 20);
        QThread::msleep(5);
    }
    return true;
}

void pause(int ms)
{
    waitFor([] { return false; }, ms);
}

QString title(PhoneWindow &w)
{
    auto *l = w.findChild<QLabel *>(QStringLiteral("callTitle"));
    return l ? l->text() : QString();
}

bool click(QWidget &w, const char *name)
{
    auto *b = w.findChild<QAbstractButton *>(QString::fromLatin1(name));
    if (!b || !b->isVisible() || !b->isEnabled())
        return false;
    b->click();
    return true;
}

bool save(QWidget &w, const QDir &dir, const char *file)
{
    const QString path = dir.filePath(QString::fromLatin1(file));
    if (!w.grab().save(path)) {
        std::fprintf(stderr, "cannot write %s\n", qPrintable(path));
        return false;
    }
    std::printf("%s\n", qPrintable(path));
    return true;
}

int fail(const char *what)
{
    std::fprintf(stderr, "sotto-screenshots: %s\n", what);
    return 1;
}

} // namespace

// Plays the story (alice calls bob, bob answers, alice adds carol, carol answers, ...) on one
// broker, or across two peered ones, and saves its pictures.
int play(bool federated, const QDir &out)
{
    const QString bobAt = federated ? QStringLiteral("bob@b") : QStringLiteral("bob");
    const QString carolAt = federated ? QStringLiteral("carol@b") : QStringLiteral("carol");
    const QString aliceAt = federated ? QStringLiteral("alice@a") : QStringLiteral("alice");
    GuiDemo demo(federated);
    if (auto r = demo.start(false); !r)
        return fail(qPrintable(r.error().message));
    bool ready = false;
    QObject::connect(&demo, &GuiDemo::ready, &demo, [&ready] { ready = true; });
    if (!waitFor([&] { return ready; }, 60000))
        return fail("the phones did not come online");
    PhoneWindow &alice = demo.window(QStringLiteral("alice"));
    PhoneWindow &bob = demo.window(QStringLiteral("bob"));
    PhoneWindow &carol = demo.window(QStringLiteral("carol"));
    for (PhoneWindow *w : {&alice, &bob, &carol})
        w->resize(1000, 700);
    demo.console().resize(1000, 560);

    // Once alice's directory shows bob online, she selects him and clicks Call.
    if (!waitFor([&] {
            alice.contacts()->select(bobAt);
            return alice.contacts()->selected() == bobAt && click(alice, "call");
        }, 10000))
        return fail("alice cannot call bob");
    if (!waitFor([&] { return title(bob) == QStringLiteral("%1 is calling").arg(aliceAt); }, 5000) || !click(bob, "answer"))
        return fail("bob's phone did not ring");
    if (!waitFor([&] { return title(alice) == QStringLiteral("In a call with %1").arg(bobAt); }, 5000))
        return fail("the call was not answered");
    pause(1500);
    const QByteArray sid = demo.phone(QStringLiteral("alice")).currentCall();
    auto *add = alice.findChild<QToolButton *>(QStringLiteral("addParticipant"));
    Q_EMIT add->menu()->aboutToShow();
    auto *inviteCarol = add->menu()->findChild<QAction *>(QStringLiteral("invite-%1").arg(carolAt));
    if (!inviteCarol)
        return fail("carol is not offered");
    inviteCarol->trigger();
    if (!waitFor([&] { return title(carol) == QStringLiteral("%1 invites you into a call").arg(aliceAt); }, 5000)
        || !click(carol, "answer"))
        return fail("carol's phone did not ring");
    if (!waitFor([&] { return title(alice) == QStringLiteral("In a call with %1, %2").arg(bobAt, carolAt); }, 5000))
        return fail("carol did not join");
    pause(1800); // meters and talking indicators under way

    alice.tabs()->setCurrentIndex(0);
    alice.timeline()->showSession(sid);
    if (federated) // alice's timeline: {SK}K_AB from broker b, then {SK}K_alice
        return save(alice, out, "federated-call.png") ? 0 : 1;
    if (!save(alice, out, "phone-conference.png"))
        return 1;
    if (auto *tabs = demo.console().findChild<QTabWidget *>(QStringLiteral("tabs")))
        tabs->setCurrentIndex(1); // live sessions
    if (!save(demo.console(), out, "broker-console.png"))
        return 1;

    carol.findChild<CallPanel *>()->hangUp();
    if (!waitFor([&] { return title(alice) == QStringLiteral("In a call with %1").arg(bobAt); }, 5000))
        return fail("carol did not leave");
    pause(1500);
    alice.findChild<CallPanel *>()->hangUp();
    const quint32 before = demo.phone(QStringLiteral("bob")).profile().epoch();
    if (!waitFor([&] { return demo.phone(QStringLiteral("bob")).profile().epoch() > before; }, 10000))
        return fail("bob's key did not rotate");
    pause(300);
    bob.tabs()->setCurrentIndex(0);
    bob.timeline()->showSession(sid);
    if (!save(bob, out, "key-timeline.png"))
        return 1;
    return 0;
}

int main(int argc, char **argv)
{
    QApplication app(argc, argv);
    QApplication::setApplicationName(QStringLiteral("sotto-screenshots"));
    if (argc != 2)
        return fail("usage: sotto-screenshots OUTDIR");
    const QDir out(QString::fromLocal8Bit(argv[1]));
    if (!QDir().mkpath(out.path()))
        return fail("cannot create the output directory");

    if (int r = play(false, out); r != 0)
        return r;
    return play(true, out);
}

