// The phone's calls alone (PROTOCOL.md §6.2): a CallBook fed the broker's call events, one
// script per row, each event checked against the schema as the phone's decoder would check it.
// Each row says what the book holds afterwards — each call's role, whether it is keyed, its
// members, who rings, who is muted — and which signals it gave, in order: a call to us is keyed
// at once from our own key; a call that came through a peered broker from a name of our own is
// declined; an invitation waits for its key; a member who rings and never joins leaves the list;
// an ended call wipes its keys; a lost broker keeps only the answered calls on a relay of their
// own.

#include "client/brokersession.h"
#include "client/callbook.h"
#include "client/keykeeper.h"
#include "client/profile.h"
#include "client/timeline.h"

#include "support/profiles.h"
#include "core/wire.h"

#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

using namespace sotto;
namespace key = wire::key;

namespace {

const QByteArray kSid(16, 's');

QCborMap relay(bool ofItsOwn)
{
    return wire::relayGrant(7420, QByteArray(16, 't'), ofItsOwn ? QStringLiteral("127.0.0.7") : QString());
}

// One event of a script, by a short name.
QCborMap brokerEvent(const QString &step)
{
    const QStringList w = step.split(u' ');
    const QString &what = w.at(0);
    if (what == u"call-from") // call-from NAME [via BROKER] [own-relay]
    {
        QCborMap m = wire::incoming({.sid = kSid,
                                     .from = w.at(1),
                                     .epoch = 1u,
                                     .gen = 0,
                                     .ssrc = 11,
                                     .peers = QCborArray{wire::peerEntry(w.at(1), 22)},
                                     .relay = relay(w.contains(QStringLiteral("own-relay")))});
        if (const qsizetype via = w.indexOf(QStringLiteral("via")); via > 0)
            m.insert(key::via, w.at(via + 1));
        return m;
    }
    if (what == u"invite-from") // invite-from NAME: into a call with NAME
        return wire::incoming({.sid = kSid,
                               .from = w.at(1),
                               .epoch = std::nullopt,
                               .gen = 3,
                               .ssrc = 11,
                               .peers = QCborArray{wire::peerEntry(w.at(1), 22)},
                               .relay = relay(false)});
    if (what == u"ringing")
        return wire::ringing(kSid, w.at(1));
    if (what == u"muted")
        return wire::muted(kSid, w.at(1), true);
    if (what == u"left")
        return wire::left(kSid, w.at(1));
    if (what == u"ended")
        return wire::ended(kSid, *endReasonFromName(w.at(1)));
    return {};
}

QString describe(const CallBook &book)
{
    QStringList out;
    for (const SessionInfo &s : book.sessions()) {
        static const char *const roles[] = {"caller", "callee", "invitee"};
        QStringList members;
        for (const MemberInfo &m : s.members)
            members << m.account;
        out << QStringLiteral("%1 %2%3 gen %4 members [%5] ringing [%6] muted [%7]")
                   .arg(QString::fromLatin1(roles[int(s.role)]), s.keyed ? QStringLiteral("keyed") : QStringLiteral("unkeyed"),
                        s.answered ? QStringLiteral(" answered") : QString())
                   .arg(s.gen)
                   .arg(members.join(u','), s.ringing.join(u','), s.muted.join(u','));
    }
    return out.join(QStringLiteral("; "));
}

} // namespace

class TestCallBook : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void events_data();
    void events();
};

void TestCallBook::events_data()
{
    QTest::addColumn<QStringList>("script"); // events, and "answer" (we answer) or "lost" (the broker)
    QTest::addColumn<QString>("holds");
    QTest::addColumn<QStringList>("signals");

    const auto row = [](const char *name, QStringList script, const char *holds, QStringList signals) {
        QTest::newRow(name) << script << QString::fromLatin1(holds) << signals;
    };
    row("a call to us is keyed at once from our own key", {QStringLiteral("call-from bob")},
        "callee keyed gen 0 members [bob] ringing [] muted []", {QStringLiteral("incoming bob"), QStringLiteral("key 0")});
    row("through a peer, a name of that peer's: keyed apart", {QStringLiteral("call-from dave@b via b")},
        "callee keyed gen 0 members [dave@b] ringing [] muted []", {QStringLiteral("incoming dave@b"), QStringLiteral("key 0")});
    row("through a peer, a colleague's name: declined", {QStringLiteral("call-from bob via b")}, "",
        {QStringLiteral("failed incoming call")});
    row("an invitation waits for its key", {QStringLiteral("invite-from carol")},
        "invitee unkeyed gen 3 members [carol] ringing [] muted []", {QStringLiteral("invited carol")});
    row("who rings and who is muted",
        {QStringLiteral("call-from bob"), QStringLiteral("answer"), QStringLiteral("ringing carol"), QStringLiteral("muted bob"),
         QStringLiteral("ringing carol"), QStringLiteral("muted zed")},
        "callee keyed answered gen 0 members [bob] ringing [carol] muted [bob]",
        {QStringLiteral("incoming bob"), QStringLiteral("key 0"), QStringLiteral("answered"), QStringLiteral("members"),
         QStringLiteral("members")});
    row("one who rang and never joined leaves the list",
        {QStringLiteral("call-from bob"), QStringLiteral("answer"), QStringLiteral("ringing carol"), QStringLiteral("left carol")},
        "callee keyed answered gen 0 members [bob] ringing [] muted []",
        {QStringLiteral("incoming bob"), QStringLiteral("key 0"), QStringLiteral("answered"), QStringLiteral("members"),
         QStringLiteral("members")});
    row("a member who leaves", {QStringLiteral("call-from bob"), QStringLiteral("answer"), QStringLiteral("left bob")},
        "callee keyed answered gen 0 members [] ringing [] muted []",
        {QStringLiteral("incoming bob"), QStringLiteral("key 0"), QStringLiteral("answered"), QStringLiteral("left bob")});
    row("ended: gone, keys wiped", {QStringLiteral("call-from bob"), QStringLiteral("ended declined")}, "",
        {QStringLiteral("incoming bob"), QStringLiteral("key 0"), QStringLiteral("ended declined")});
    row("a lost broker ends a call on the broker's relay", {QStringLiteral("call-from bob"), QStringLiteral("answer"), QStringLiteral("lost")},
        "", {QStringLiteral("incoming bob"), QStringLiteral("key 0"), QStringLiteral("answered"), QStringLiteral("ended disconnected")});
    row("a lost broker keeps an answered call on a relay of its own",
        {QStringLiteral("call-from bob own-relay"), QStringLiteral("answer"), QStringLiteral("lost")},
        "callee keyed answered gen 0 members [bob] ringing [] muted []",
        {QStringLiteral("incoming bob"), QStringLiteral("key 0"), QStringLiteral("answered")});
    row("but not one still ringing", {QStringLiteral("call-from bob own-relay"), QStringLiteral("lost")}, "",
        {QStringLiteral("incoming bob"), QStringLiteral("key 0"), QStringLiteral("ended disconnected")});
}

void TestCallBook::events()
{
    QFETCH(QStringList, script);
    QFETCH(QString, holds);
    QFETCH(QStringList, signals);

    QTemporaryDir dir;
    auto profile = test::profileWithKeys(dir.path(), QStringLiteral("alice"), {{1, '1'}});
    QVERIFY(profile.ok());
    QVERIFY(profile->setBrokerName(QStringLiteral("a")).ok());

    KeyKeeper keys(*profile, 2000);
    Timeline timeline;
    BrokerSession link_(*profile, {.device = QStringLiteral("sotto/test")}); // never started: sends nothing
    CallBook book(*profile, keys, timeline, link_);
    QStringList seen;
    connect(&book, &CallBook::incomingCall, this, [&](const QByteArray &, const QString &from, bool conference) {
        seen << (conference ? QStringLiteral("invited %1") : QStringLiteral("incoming %1")).arg(from);
    });
    connect(&book, &CallBook::sessionKeyChanged, this, [&](const QByteArray &, quint32 gen) { seen << QStringLiteral("key %1").arg(gen); });
    connect(&book, &CallBook::callAnswered, this, [&] { seen << QStringLiteral("answered"); });
    connect(&book, &CallBook::membersChanged, this, [&] { seen << QStringLiteral("members"); });
    connect(&book, &CallBook::memberLeft, this, [&](const QByteArray &, const QString &who) { seen << QStringLiteral("left %1").arg(who); });
    connect(&book, &CallBook::callEnded, this, [&](const QByteArray &, EndReason r) { seen << QStringLiteral("ended %1").arg(endReasonName(r)); });
    connect(&book, &CallBook::requestFailed, this, [&](const QString &what) { seen << QStringLiteral("failed %1").arg(what); });

    for (const QString &step : script) {
        if (step == u"answer") {
            book.answer(kSid);
            continue;
        }
        if (step == u"lost") {
            book.connectionLost(true);
            continue;
        }
        auto m = wire::validateMessage(brokerEvent(step));
        QVERIFY2(m.ok(), qPrintable(step + QStringLiteral(": ") + (m.ok() ? QString() : m.error().message)));
        switch (m->type()) {
        case wire::MessageType::Incoming: book.takeIncoming(*m); break;
        case wire::MessageType::Ringing: book.takeRinging(*m); break;
        case wire::MessageType::Muted: book.takeMuted(*m); break;
        case wire::MessageType::Left: book.takeLeft(*m); break;
        case wire::MessageType::Ended: book.takeEnded(*m); break;
        default: QFAIL("no such step");
        }
    }
    QCOMPARE(describe(book), holds);
    QCOMPARE(seen, signals);
    // A call that is gone holds no key any more; one that is kept still does.
    QCOMPARE(keys.sessionKey(kSid, 0).has_value(), holds.contains(QStringLiteral("keyed")) && !holds.contains(QStringLiteral("unkeyed")));
}

QTEST_GUILESS_MAIN(TestCallBook)
#include "tst_callbook.moc"
