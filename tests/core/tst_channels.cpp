// Which messages each channel takes (PROTOCOL.md §6.2, §8), as core/channels.h generates its
// handlers and dispatchers. Each recorder below names, one by one, the messages its channel
// takes: it compiles only if that is exactly the channel's list (a missing on<Message> leaves it
// abstract; an extra one overrides nothing). Then every one of the 34 message types is dispatched
// to each: the channel's own reach their handler, everything else reaches `unexpected`, nothing
// reaches two.

#include "core/channels.h"

#include <QTest>

#include <set>

using namespace sotto;
using namespace sotto::wire;

namespace {

#define RECORD(name)                                                                              \
    void on##name(const Message &) override { got = QStringLiteral(#name); }

class PhoneRequests final : public PhoneRequestHandler<void>
{
public:
    QString got;

private:
    RECORD(Directory) RECORD(Call) RECORD(Answer) RECORD(Decline) RECORD(Invite) RECORD(Leave) RECORD(Mute)
    RECORD(Resume) RECORD(RotateAck) RECORD(Ping)
    void unexpected(const Message &) override { got = QStringLiteral("unexpected"); }
};

class BrokerEvents final : public BrokerEventHandler<void>
{
public:
    QString got;

private:
    RECORD(Directory) RECORD(Presence) RECORD(CallKey) RECORD(Incoming) RECORD(Answered) RECORD(SessionKey)
    RECORD(Joined) RECORD(Ringing) RECORD(Muted) RECORD(Left) RECORD(Rekey) RECORD(Ended) RECORD(Rotate)
    RECORD(RefreshDue) RECORD(Error) RECORD(Ok) RECORD(Ping)
    void unexpected(const Message &) override { got = QStringLiteral("unexpected"); }
};

class PeerRequests final : public PeerRequestHandler<void>
{
public:
    QString got;

private:
    RECORD(Answer) RECORD(Decline) RECORD(Leave) RECORD(Invite) RECORD(Mute)
    void unexpected(const Message &) override { got = QStringLiteral("unexpected"); }
};
#undef RECORD

// The two peer channels carry the link (a name here) before the message.
#define RECORD(name)                                                                              \
    void on##name(const QString &peer, const Message &) override { got = peer + u':' + QStringLiteral(#name); }

class PeerLink final : public PeerLinkHandler<void, const QString &>
{
public:
    QString got;

private:
    RECORD(Directory) RECORD(Presence) RECORD(Welcome) RECORD(Ping)
    void unexpected(const QString &peer, const Message &) override { got = peer + QStringLiteral(":unexpected"); }
};

class PeerCalls final : public PeerCallHandler<void, const QString &>
{
public:
    QString got;

private:
    RECORD(FedCall) RECORD(FedCallKey) RECORD(FedError) RECORD(Deliver) RECORD(Request)
    void unexpected(const QString &peer, const Message &) override { got = peer + QStringLiteral(":unexpected"); }
};
#undef RECORD

// Every message type, by its enumerator's name.
std::vector<std::pair<MessageType, QString>> allTypes()
{
    std::vector<std::pair<MessageType, QString>> all;
#define SOTTO_X(name, text) all.emplace_back(MessageType::name, QStringLiteral(#name));
    SOTTO_SKBP_MESSAGES(SOTTO_X)
#undef SOTTO_X
    return all;
}

std::set<QString> names(std::initializer_list<const char *> list)
{
    std::set<QString> out;
    for (const char *n : list)
        out.insert(QString::fromLatin1(n));
    return out;
}

} // namespace

class TestChannels : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void everyTypeReachesOneHandler();
    void deliverableIsTheHomesWordsAboutACall();
};

void TestChannels::everyTypeReachesOneHandler()
{
    const auto all = allTypes();
    QCOMPARE(int(all.size()), kMessageTypeCount);
    const auto phone = names({"Directory", "Call", "Answer", "Decline", "Invite", "Leave", "Mute", "Resume", "RotateAck", "Ping"});
    const auto broker = names({"Directory", "Presence", "CallKey", "Incoming", "Answered", "SessionKey", "Joined", "Ringing",
                               "Muted", "Left", "Rekey", "Ended", "Rotate", "RefreshDue", "Error", "Ok", "Ping"});
    const auto link = names({"Directory", "Presence", "Welcome", "Ping"});
    const auto calls = names({"FedCall", "FedCallKey", "FedError", "Deliver", "Request"});
    const auto requests = names({"Answer", "Decline", "Leave", "Invite", "Mute"});
    PhoneRequests p;
    BrokerEvents b;
    PeerLink l;
    PeerCalls c;
    PeerRequests r;
    for (const auto &[type, name] : all) {
        const Message m(type, message(type));
        p.dispatch(m);
        b.dispatch(m);
        l.dispatch(QStringLiteral("b"), m);
        c.dispatch(QStringLiteral("b"), m);
        r.dispatch(m);
        QCOMPARE(p.got, phone.contains(name) ? name : QStringLiteral("unexpected"));
        QCOMPARE(b.got, broker.contains(name) ? name : QStringLiteral("unexpected"));
        QCOMPARE(l.got, QStringLiteral("b:") + (link.contains(name) ? name : QStringLiteral("unexpected")));
        QCOMPARE(c.got, QStringLiteral("b:") + (calls.contains(name) ? name : QStringLiteral("unexpected")));
        QCOMPARE(r.got, requests.contains(name) ? name : QStringLiteral("unexpected"));
    }
    // What a phone asks is never what a broker tells it, but for the two that go both ways.
    std::set<QString> both;
    std::set_intersection(phone.begin(), phone.end(), broker.begin(), broker.end(), std::inserter(both, both.end()));
    QCOMPARE(both, names({"Directory", "Ping"}));
}

void TestChannels::deliverableIsTheHomesWordsAboutACall()
{
    const auto deliverable = names({"Incoming", "Answered", "Joined", "Left", "Ended", "SessionKey", "Rekey", "Error"});
    for (const auto &[type, name] : allTypes())
        QVERIFY2(isPeerDeliverable(type) == deliverable.contains(name), qPrintable(name));
}

QTEST_GUILESS_MAIN(TestChannels)
#include "tst_channels.moc"
