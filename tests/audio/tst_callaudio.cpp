// Voice end to end in one process: a real broker and its UDP relay on loopback, real phone
// engines, Opus and SRTP, with file devices at the edges (tones in, memory out).
//
// The metric: the share of a recording's power that sits at one speaker's tone frequency
// (Goertzel), in dB. A clean tone through Opus keeps nearly all of it (about 0 dB); we ask for
// more than half (-3 dB) where one person is heard, and for less than 1% (-20 dB) where someone
// must not be heard. With two equal speakers each holds about half (-3 dB); we ask for -9 dB.
#include "phone/callmedia.h"
#include "core/relayauth.h"
#include "core/relaywire.h"
#include "support/audiotools.h"
#include "support/fixtures.h"
#include "support/voicephone.h"

#include <QSet>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QUdpSocket>
#include <QtEndian>
#include <QStandardPaths>
#include <QTest>
#include <QFileInfo>

#include <map>

#ifdef Q_OS_UNIX
#include <sys/stat.h>
#include <unistd.h>
#endif

using namespace sotto;
using namespace sotto::audio;
using sotto::phone::CallMedia;
using namespace sotto::test;

namespace {

constexpr std::size_t kMs = 48; // samples per millisecond

void talk(int ms)
{
    QTest::qWait(ms);
}

} // namespace

class TestCallAudio : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void initTestCase() { QStandardPaths::setTestModeEnabled(true); }
    void twoPartyCall();
    void conferenceAndLeave();
    void tenPercentLoss();
    void keyLog();
    void keyLogRefusesFilesOpenToOthers();
};

void TestCallAudio::twoPartyCall()
{
    TestBroker broker;
    VoicePhone alice(QStringLiteral("alice"), 440), bob(QStringLiteral("bob"), 660);
    QVERIFY(enrolAndLogin(broker, alice.phone));
    QVERIFY(enrolAndLogin(broker, bob.phone));
    QSignalSpy aliceMedia(alice.media.get(), &CallMedia::mediaStarted);
    QSignalSpy bobMedia(bob.media.get(), &CallMedia::mediaStarted);
    const QByteArray sid = establishCall(alice.phone, bob.phone);
    QVERIFY(!sid.isEmpty());
    QTRY_VERIFY(!aliceMedia.isEmpty() && !bobMedia.isEmpty());
    QTRY_VERIFY_WITH_TIMEOUT(alice.media->media(sid)->stats().bound && bob.media->media(sid)->stats().bound, 2000);
    talk(2000);
    const auto bobHeard = bob.keep();
    const auto aliceHeard = alice.keep();
    QVERIFY(bobHeard.size() > 1500 * kMs);
    // bob hears alice's 440 Hz, not his own 660 Hz; and the other way round.
    const double aliceInBob = toneToTotalDb(bobHeard, 440, 500 * kMs, bobHeard.size());
    const double ownInBob = toneToTotalDb(bobHeard, 660, 500 * kMs, bobHeard.size());
    QVERIFY2(aliceInBob > -3, qPrintable(QString::number(aliceInBob)));
    QVERIFY2(ownInBob < -20, qPrintable(QString::number(ownInBob)));
    QVERIFY(toneToTotalDb(aliceHeard, 660, 500 * kMs, aliceHeard.size()) > -3);
    QVERIFY(levelDb(bobHeard, 500 * kMs, bobHeard.size()) > -30); // audible, not a whisper

    const MediaStats stats = bob.media->media(sid)->stats();
    QCOMPARE(int(stats.members.size()), 1);
    QVERIFY(stats.members.front().packets > 60);
    QCOMPARE(stats.members.front().authFailures, 0u);
    QCOMPARE(stats.members.front().replays, 0u);
    QVERIFY(broker.broker().relayCounters().forwarded > 120);

    // Mute: from now on (after what the jitter buffer still holds, up to 200 ms) bob hears
    // silence from alice; the call and its packets go on, and her talking indicator goes off.
    alice.media->setMuted(true);
    const std::size_t muteMark = bob.keep().size();
    talk(800);
    const auto afterMute = bob.keep();
    QVERIFY2(levelDb(afterMute, muteMark + 300 * kMs, afterMute.size()) < -50,
             qPrintable(QString::number(levelDb(afterMute, muteMark + 300 * kMs, afterMute.size()))));
    QVERIFY(bob.media->media(sid)->stats().members.front().packets > stats.members.front().packets + 20);
    QVERIFY(!alice.media->media(sid)->stats().talking);

    QSignalSpy stopped(bob.media.get(), &CallMedia::mediaStopped);
    alice.phone.engine().leave(sid);
    QVERIFY(stopped.wait(3000));
    QVERIFY(!bob.media->media(sid));
}

void TestCallAudio::conferenceAndLeave()
{
    TestBroker broker;
    VoicePhone alice(QStringLiteral("alice"), 440), bob(QStringLiteral("bob"), 660), carol(QStringLiteral("carol"), 880);
    for (VoicePhone *p : {&alice, &bob, &carol})
        QVERIFY(enrolAndLogin(broker, p->phone));
    const QByteArray sid = establishCall(alice.phone, bob.phone);
    QVERIFY(!sid.isEmpty());
    QSignalSpy carolRings(&carol.phone.engine(), &ClientEngine::incomingCall);
    alice.phone.engine().invite(sid, QStringLiteral("carol"));
    QVERIFY(carolRings.wait(3000));
    carol.phone.engine().answer(sid);
    QTRY_VERIFY_WITH_TIMEOUT(carol.media->media(sid) && carol.media->media(sid)->stats().bound, 3000);
    // Measured from when each one decrypts both others' packets (on a loaded machine the join's
    // keys can take longer to reach everyone than a fixed wait allows).
    auto hearsBoth = [&](VoicePhone &p) {
        int streams = 0;
        for (const MemberStats &ms : p.media->media(sid)->stats().members)
            streams += ms.packets > 5 ? 1 : 0;
        return streams >= 2;
    };
    QTRY_VERIFY_WITH_TIMEOUT(hearsBoth(alice) && hearsBoth(bob) && hearsBoth(carol), 5000);
    // Each one's own mark: their recordings began at different times (carol's at her answer).
    const std::map<VoicePhone *, std::size_t> marks{{&alice, alice.keep().size()}, {&bob, bob.keep().size()},
                                                    {&carol, carol.keep().size()}};
    talk(2000);
    // Everyone hears the other two, and not themselves.
    for (VoicePhone *me : {&alice, &bob, &carol}) {
        const auto heard = me->keep();
        const std::size_t from = marks.at(me) + 600 * kMs;
        for (VoicePhone *other : {&alice, &bob, &carol}) {
            // In 100 ms blocks: one frame concealed under load breaks the tone's phase, which
            // a single window over 1.4 s would count as not hearing it.
            const double db = toneToTotalDb(heard, other->hz, from, heard.size());
            if (other == me)
                QVERIFY2(db < -20, qPrintable(QStringLiteral("%1 hears itself: %2 dB").arg(me->phone.account()).arg(db)));
            else {
                QVERIFY2(db > -9, qPrintable(QStringLiteral("%1 does not hear %2: %3 dB")
                                                  .arg(me->phone.account(), other->phone.account()).arg(db)));
            }
        }
    }
    // Statistics arrive as a signal once a second.
    QSignalSpy statsSignal(alice.media->media(sid), &MediaSession::statsUpdated);
    QVERIFY(statsSignal.wait(2000));
    const auto carolInfo = *carol.phone.engine().session(sid);
    const SecretBytes carolKey = carol.phone.engine().relayGrantKey(sid); // hers, kept to try again after she left
    const quint32 bobSsrc = carol.phone.engine().session(sid)->members.at(
        carol.phone.engine().session(sid)->members.front().account == QLatin1StringView("bob") ? 0 : 1).ssrc;
    auto statsFor = [](MediaSession *m, quint32 ssrc) {
        for (const MemberStats &ms : m->stats().members) {
            if (ms.ssrc == ssrc)
                return ms;
        }
        return MemberStats{};
    };
    const MemberStats bobAtAliceBefore = statsFor(alice.media->media(sid), bobSsrc);
    // carol leaves; alice and bob re-key to generation 2 and no longer hear her.
    QSignalSpy carolStopped(carol.media.get(), &CallMedia::mediaStopped);
    carol.phone.engine().leave(sid);
    QTRY_COMPARE_WITH_TIMEOUT(carolStopped.size(), 1, 3000);
    QTRY_VERIFY_WITH_TIMEOUT(alice.phone.engine().session(sid)->gen == 2 && bob.phone.engine().session(sid)->gen == 2, 3000);
    const std::size_t afterLeave = alice.keep().size();
    talk(1500);
    const auto aliceHeard = alice.keep();
    const std::size_t from = afterLeave + 500 * kMs;
    QVERIFY(toneToTotalDb(aliceHeard, 880, from, aliceHeard.size()) < -20);
    QVERIFY(toneToTotalDb(aliceHeard, 660, from, aliceHeard.size()) > -3);
    // The switch to generation 2 had no audible gap: bob's packets kept decrypting at alice (the
    // previous generation is kept for late ones), nothing was concealed, nothing refused.
    const MemberStats bobAtAliceAfter = statsFor(alice.media->media(sid), bobSsrc);
    QVERIFY(bobAtAliceAfter.packets > bobAtAliceBefore.packets + 60);
    QCOMPARE(bobAtAliceAfter.unknownGeneration, bobAtAliceBefore.unknownGeneration);
    QCOMPARE(bobAtAliceAfter.authFailures, 0u);
    QVERIFY2(bobAtAliceAfter.concealed - bobAtAliceBefore.concealed <= 2,
             qPrintable(QString::number(bobAtAliceAfter.concealed - bobAtAliceBefore.concealed)));
    // carol cannot get their packets any more: the relay refuses her binding now.
    QUdpSocket carolSocket;
    QVERIFY(carolSocket.bind(QHostAddress::LocalHost, 0));
    carolSocket.writeDatagram(relayauth::provenBind(sid, carolInfo.ownSsrc, carolInfo.relayToken, carolKey,
                                                    quint64(QDateTime::currentMSecsSinceEpoch())),
                              QHostAddress::LocalHost, carolInfo.relayPort);
    QTest::qWait(400);
    QVERIFY2(!carolSocket.hasPendingDatagrams(), "the relay still serves carol after she left");
    // Generation 2 keys are fresh: carol holds nothing of this call any more, and the packets
    // alice and bob now send carry MKI 2, for which no receiver of hers ever had a key.
    QVERIFY(!carol.phone.engine().session(sid));
    QVERIFY(!carol.media->media(sid));
    const MediaStats bobStats = bob.media->media(sid)->stats();
    for (const MemberStats &m : bobStats.members)
        QCOMPARE(m.authFailures, 0u);
}

void TestCallAudio::tenPercentLoss()
{
    TestBroker broker;
    VoicePhone alice(QStringLiteral("alice"), 440), bob(QStringLiteral("bob"), 660);
    bob.media->setLossPercent(10);
    QVERIFY(enrolAndLogin(broker, alice.phone));
    QVERIFY(enrolAndLogin(broker, bob.phone));
    const QByteArray sid = establishCall(alice.phone, bob.phone);
    QVERIFY(!sid.isEmpty());
    QTRY_VERIFY_WITH_TIMEOUT(bob.media->media(sid) && bob.media->media(sid)->stats().bound, 3000);
    talk(4000);
    const auto heard = bob.keep();
    // Still clearly alice: FEC rebuilds single losses, PLC covers the rest. Each concealed frame
    // can break the tone's phase, so the measure is taken in 100 ms blocks (toneToTotalDb): runs
    // keep -0.4 to -0.6 dB with both cores busy. We ask for what a clean call gets (-3 dB); a
    // broken pipeline is far below it (a lost stream gives silence or noise: < -20 dB).
    const double db = toneToTotalDb(heard, 440, 500 * kMs, heard.size());
    QVERIFY2(db > -3, qPrintable(QString::number(db)));
    QVERIFY(levelDb(heard, 500 * kMs, heard.size()) > -30);
    const MemberStats m = bob.media->media(sid)->stats().members.front();
    QVERIFY(m.droppedForTest > 5);
    QVERIFY(m.lost > 0);
    QVERIFY2(m.recovered > 0, "no FEC recovery happened");
}

void TestCallAudio::keyLog()
{
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("keys.log"));
    qputenv("SOTTO_KEYLOGFILE", path.toLocal8Bit());
    TestBroker broker;
    VoicePhone alice(QStringLiteral("alice"), 440);
    qunsetenv("SOTTO_KEYLOGFILE");
    VoicePhone bob(QStringLiteral("bob"), 660);
    QVERIFY(alice.media->keyLogActive());
    QVERIFY(enrolAndLogin(broker, alice.phone));
    QVERIFY(enrolAndLogin(broker, bob.phone));
    const QByteArray sid = establishCall(alice.phone, bob.phone);
    QVERIFY(!sid.isEmpty());
    QTRY_VERIFY(alice.media->media(sid));
    QFile f(path);
    QVERIFY(f.open(QIODevice::ReadOnly));
#ifndef Q_OS_WIN
    QCOMPARE(f.permissions() & (QFileDevice::ReadGroup | QFileDevice::ReadOther), QFileDevice::Permissions());
#endif
    // SKBP_SRTP <sid hex> <g> <ssrc as 8 hex digits> <base64(master key || master salt)>
    const auto info = *alice.phone.engine().session(sid);
    QSet<quint32> seen;
    for (const QByteArray &line : f.readAll().split('\n')) {
        if (line.isEmpty())
            continue;
        const QList<QByteArray> parts = line.split(' ');
        QCOMPARE(parts.size(), 5);
        QCOMPARE(parts[0], QByteArray("SKBP_SRTP"));
        QCOMPARE(parts[1], sid.toHex());
        QCOMPARE(parts[2], QByteArray("0"));
        QCOMPARE(parts[3].size(), 8);
        const quint32 ssrc = parts[3].toUInt(nullptr, 16);
        const QByteArray keySalt = QByteArray::fromBase64(parts[4]);
        QCOMPARE(keySalt.size(), 44);
        auto m = alice.phone.engine().srtpMaterial(sid, 0, ssrc);
        QVERIFY(m.ok());
        QCOMPARE(keySalt, (m->masterKey + m->masterSalt).view().toByteArray());
        QVERIFY2(!seen.contains(ssrc), "a key was logged twice");
        seen.insert(ssrc);
    }
    QVERIFY(seen.contains(info.ownSsrc));
    QVERIFY(seen.contains(info.members.front().ssrc));
    QVERIFY(!bob.media->keyLogActive()); // only while the variable is set
    alice.phone.engine().leave(sid);
}

// SOTTO_KEYLOGFILE: created 0600 in one step (whatever the umask); a file open to others, not
// the user's own, or a symbolic link is refused with a line saying why, and nothing is written.
void TestCallAudio::keyLogRefusesFilesOpenToOthers()
{
#ifndef Q_OS_UNIX
    QSKIP("file modes and owners are POSIX; the key log's refusals by ACL on Windows are tst_core_privatefile's");
#else
    QTemporaryDir dir;
    auto phoneWith = [](const QString &path) {
        qputenv("SOTTO_KEYLOGFILE", path.toLocal8Bit());
        auto p = std::make_unique<VoicePhone>(QStringLiteral("alice"), 440);
        qunsetenv("SOTTO_KEYLOGFILE");
        return p;
    };
    // New: 0600 even under umask 000.
    const QString fresh = dir.filePath(QStringLiteral("fresh.log"));
    const mode_t old = ::umask(0);
    auto a = phoneWith(fresh);
    ::umask(old);
    QVERIFY(a->media->keyLogActive());
    QVERIFY(a->media->keyLogError().isEmpty());
    QCOMPARE(QFileInfo(fresh).permissions() & (QFileDevice::ReadGroup | QFileDevice::WriteGroup | QFileDevice::ReadOther | QFileDevice::WriteOther),
             QFileDevice::Permissions());

    const QByteArray before = "someone else's text\n";
    auto writeFile = [&](const QString &path, QFileDevice::Permissions perms) {
        QFile f(path);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write(before);
        f.close();
        QVERIFY(f.setPermissions(perms));
    };
    // Readable by others.
    const QString open = dir.filePath(QStringLiteral("open.log"));
    writeFile(open, QFileDevice::ReadOwner | QFileDevice::WriteOwner | QFileDevice::ReadOther);
    auto b = phoneWith(open);
    QVERIFY(!b->media->keyLogActive());
    QVERIFY2(b->media->keyLogError().contains(QStringLiteral("open to other users")), qPrintable(b->media->keyLogError()));
    // A symbolic link to the user's own private file.
    const QString target = dir.filePath(QStringLiteral("target.log"));
    writeFile(target, QFileDevice::ReadOwner | QFileDevice::WriteOwner);
    const QString link = dir.filePath(QStringLiteral("link.log"));
    QVERIFY(QFile::link(target, link));
    auto c = phoneWith(link);
    QVERIFY(!c->media->keyLogActive());
    QVERIFY2(c->media->keyLogError().contains(QStringLiteral("symbolic link")), qPrintable(c->media->keyLogError()));
    // Another user's (only root can make one here).
    QString others;
    if (::geteuid() == 0) {
        others = dir.filePath(QStringLiteral("others.log"));
        writeFile(others, QFileDevice::ReadOwner | QFileDevice::WriteOwner);
        QVERIFY(::chown(QFile::encodeName(others).constData(), 65534, 65534) == 0);
        auto d = phoneWith(others);
        QVERIFY(!d->media->keyLogActive());
        QVERIFY2(d->media->keyLogError().contains(QStringLiteral("another user")), qPrintable(d->media->keyLogError()));
    }
    for (const QString &path : {open, target, others}) {
        if (path.isEmpty())
            continue;
        QFile f(path);
        QVERIFY(f.open(QIODevice::ReadOnly));
        QCOMPARE(f.readAll(), before); // nothing was written, nothing changed
    }
#endif
}

QTEST_GUILESS_MAIN(TestCallAudio)
#include "tst_callaudio.moc"
