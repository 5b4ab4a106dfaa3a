// Which key a phone's handshake is checked against (PROTOCOL.md §4, §5), as the store's state
// decides it: one row per state the commit rule, replacement devices and rotations can leave an
// account in. A key the broker cannot name is None (the caller then answers under a decoy).

#include "phones/keychoice.h"

#include <QTest>

using namespace sotto;
using namespace sotto::broker;

Q_DECLARE_METATYPE(sotto::broker::EnrolmentKey::Source)
Q_DECLARE_METATYPE(sotto::broker::LoginKey::Source)

namespace {

SecretBytes keyOf(char fill)
{
    return SecretBytes::copyOf(QByteArray(32, fill));
}

// An account from a compact description: "enrolled@3", "pending-rotate@4", "pending-handshake@4",
// "replacing@5", "revoked" (words joined by spaces); "" for an unknown account.
std::optional<AccountRecord> account(const QString &text)
{
    if (text.isEmpty())
        return std::nullopt;
    AccountRecord a;
    a.name = QStringLiteral("alice");
    for (const QString &word : text.split(u' ', Qt::SkipEmptyParts)) {
        const auto parts = word.split(u'@');
        const quint32 epoch = parts.value(1).toUInt();
        if (parts[0] == u"enrolled") {
            a.epoch = epoch;
            a.key = keyOf('k');
        } else if (parts[0] == u"pending-rotate" || parts[0] == u"pending-handshake") {
            a.pendingEpoch = epoch;
            a.pendingKey = keyOf('p');
            a.pendingKind = parts[0] == u"pending-rotate" ? PendingKind::Rotate : PendingKind::Handshake;
        } else if (parts[0] == u"replacing") {
            a.replaceEpoch = epoch;
            a.replaceKey = keyOf('r');
        } else if (parts[0] == u"revoked") {
            a.revoked = true;
        }
    }
    return a;
}

char fillOf(const SecretBytes &k)
{
    return k.isEmpty() ? '-' : k.view().at(0);
}

} // namespace

class TestKeyChoice : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void enrolment_data();
    void enrolment();
    void login_data();
    void login();
};

void TestKeyChoice::enrolment_data()
{
    QTest::addColumn<QString>("state");
    QTest::addColumn<bool>("openInvite");
    QTest::addColumn<int>("epoch");
    QTest::addColumn<EnrolmentKey::Source>("source");
    QTest::addColumn<char>("psk"); // the key's fill byte: k current, p pending, i invite, - none
    using S = EnrolmentKey::Source;
    QTest::newRow("first enrolment, invite open") << QString() << true << 0 << S::Invite << 'i';
    QTest::newRow("first enrolment, no invite") << QString() << false << 0 << S::None << '-';
    QTest::newRow("replacement device, invite open") << "enrolled@3" << true << 0 << S::Invite << 'i';
    QTest::newRow("re-enrolment after revocation") << "revoked" << true << 0 << S::Invite << 'i';
    QTest::newRow("refresh at the current epoch") << "enrolled@3" << false << 3 << S::CurrentKey << 'k';
    QTest::newRow("refresh beside a pending handshake") << "enrolled@3 pending-handshake@4" << false << 3 << S::CurrentKey << 'k';
    QTest::newRow("refresh under K_e while rotating") << "enrolled@3 pending-rotate@4" << false << 3 << S::None << '-';
    QTest::newRow("refresh under K_next while rotating") << "enrolled@3 pending-rotate@4" << false << 4 << S::PendingRotation
                                                         << 'p';
    QTest::newRow("refresh while a replacement enrols") << "enrolled@3 replacing@5" << false << 3 << S::None << '-';
    QTest::newRow("refresh at another epoch") << "enrolled@3" << false << 2 << S::None << '-';
    QTest::newRow("refresh of an unknown account") << QString() << false << 3 << S::None << '-';
    QTest::newRow("refresh of a revoked account") << "revoked" << false << 3 << S::None << '-';
    QTest::newRow("an invite does not refresh") << "enrolled@3" << true << 3 << S::CurrentKey << 'k';
}

void TestKeyChoice::enrolment()
{
    QFETCH(QString, state);
    QFETCH(bool, openInvite);
    QFETCH(int, epoch);
    QFETCH(EnrolmentKey::Source, source);
    QFETCH(char, psk);
    const auto a = account(state);
    std::vector<Invite> invites;
    if (openInvite)
        invites.push_back({42, QStringLiteral("alice"), keyOf('i'), 0});
    const EnrolmentKey k = enrolmentKey(a ? &*a : nullptr, invites, quint32(epoch));
    QCOMPARE(k.source, source);
    QCOMPARE(fillOf(k.psk), psk);
    QCOMPARE(k.invite, source == EnrolmentKey::Source::Invite ? qint64(42) : qint64(0));
}

void TestKeyChoice::login_data()
{
    QTest::addColumn<QString>("state");
    QTest::addColumn<int>("epoch");
    QTest::addColumn<LoginKey::Source>("source");
    QTest::addColumn<char>("key");
    using S = LoginKey::Source;
    QTest::newRow("current") << "enrolled@3" << 3 << S::Current << 'k';
    QTest::newRow("pending handshake: commits") << "enrolled@3 pending-handshake@4" << 4 << S::Pending << 'p';
    QTest::newRow("pending rotation: commits") << "enrolled@3 pending-rotate@4" << 4 << S::Pending << 'p';
    QTest::newRow("current while rotating") << "enrolled@3 pending-rotate@4" << 3 << S::Current << 'k';
    QTest::newRow("first enrolment's pending key") << "pending-handshake@1" << 1 << S::Pending << 'p';
    QTest::newRow("a replacement whose enrolled was lost") << "enrolled@3 replacing@5" << 5 << S::Replacement << 'r';
    QTest::newRow("the old device beside it") << "enrolled@3 replacing@5" << 3 << S::Current << 'k';
    QTest::newRow("an epoch never held") << "enrolled@3" << 7 << S::None << '-';
    QTest::newRow("an epoch left behind") << "enrolled@3" << 2 << S::None << '-';
    QTest::newRow("revoked") << "revoked" << 3 << S::None << '-';
    QTest::newRow("unknown account") << QString() << 1 << S::None << '-';
    QTest::newRow("epoch 0 is never a key") << "pending-handshake@1" << 0 << S::None << '-';
}

void TestKeyChoice::login()
{
    QFETCH(QString, state);
    QFETCH(int, epoch);
    QFETCH(LoginKey::Source, source);
    QFETCH(char, key);
    const auto a = account(state);
    const LoginKey k = loginKey(a ? &*a : nullptr, quint32(epoch));
    QCOMPARE(k.source, source);
    QCOMPARE(fillOf(k.key), key);
}

QTEST_GUILESS_MAIN(TestKeyChoice)
#include "tst_keychoice.moc"
