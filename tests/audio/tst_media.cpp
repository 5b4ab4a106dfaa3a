// Opus + RTP + SRTP + jitter buffer + WAV, each against real libopus and libsrtp2.
#include "audio/format.h"
#include "audio/jitterbuffer.h"
#include "audio/opuscodec.h"
#include "audio/rtp.h"
#include "audio/srtp.h"
#include "audio/wav.h"
#include "core/crypto.h"
#include "support/audiotools.h"

#include <QTemporaryDir>
#include <QTest>
#include <QtEndian>

using namespace sotto;
using namespace sotto::audio;
using namespace sotto::test;

namespace {
skbp::SrtpMaterial material(char seed)
{
    return {SecretBytes::copyOf(QByteArray(32, seed)), SecretBytes::copyOf(QByteArray(12, char(seed + 1)))};
}
} // namespace

class TestMedia : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void opusSrtpRoundTrip();
    void srtpRejects_data();
    void srtpRejects();
    void srtpReplayIsRejected();
    void rtpRejectsMalformed_data();
    void rtpRejectsMalformed();
    void jitterReordersAndDropsLateAndDuplicates();
    void jitterGivesFecThenPlc();
    void jitterTargetAdapts();
    void wavRoundTripAndResample();
    void wavRefusesWhatItCannotRead_data();
    void wavRefusesWhatItCannotRead();
    void toneMeasureSurvivesPhaseBreaks();
};

void TestMedia::opusSrtpRoundTrip()
{
    auto enc = OpusEncoderWrapper::create({});
    auto dec = OpusDecoderWrapper::create();
    QVERIFY(enc.ok() && dec.ok());
    auto sender = SrtpSender::create(0x11223344, 7, material('k'));
    QVERIFY(sender.ok());
    SrtpReceiver receiver(0x11223344);
    QVERIFY(receiver.addGeneration(7, material('k')).ok());
    const auto in = tone(1000, 1.0);
    std::vector<qint16> out;
    for (int f = 0; f < 50; ++f) {
        auto packet = (*enc)->encode(in.data() + f * kFrameSamples);
        QVERIFY(packet.ok());
        RtpPacket rtp;
        rtp.seq = quint16(1000 + f);
        rtp.timestamp = quint32(f * kFrameSamples);
        rtp.ssrc = 0x11223344;
        rtp.payload = *packet;
        auto srtp = (*sender)->protect(encodeRtp(rtp));
        QVERIFY(srtp.ok());
        QCOMPARE(srtpPacketGeneration(*srtp), 7);                 // MKI = u32(g), last 4 bytes
        QCOMPARE(srtp->size(), encodeRtp(rtp).size() + 16 + kMkiSize); // GCM tag + MKI
        QVERIFY(!srtp->contains(*packet));                         // payload is encrypted
        auto plain = receiver.unprotect(*srtp);
        QVERIFY(std::holds_alternative<SrtpReceiver::Unprotected>(plain));
        auto back = decodeRtp(std::get<SrtpReceiver::Unprotected>(plain).rtp);
        QVERIFY(back.ok());
        QCOMPARE(back->seq, rtp.seq);
        QCOMPARE(back->payload, *packet);
        qint16 pcm[kFrameSamples];
        QVERIFY((*dec)->decode(back->payload, pcm).ok());
        out.insert(out.end(), pcm, pcm + kFrameSamples);
    }
    // After the codec's start-up, the 1 kHz tone dominates what comes out.
    QVERIFY2(toneToTotalDb(out, 1000, 4800, out.size()) > -1.0, "decoded audio is not the tone");
}

void TestMedia::srtpRejects_data()
{
    QTest::addColumn<int>("kind"); // 0 tamper, 1 wrong key, 2 wrong MKI, 3 truncated, 4 wrong ssrc
    QTest::newRow("tampered payload") << 0;
    QTest::newRow("wrong key") << 1;
    QTest::newRow("wrong generation (MKI)") << 2;
    QTest::newRow("truncated") << 3;
    QTest::newRow("other sender") << 4;
}

void TestMedia::srtpRejects()
{
    QFETCH(int, kind);
    auto sender = SrtpSender::create(42, 1, material('a'));
    QVERIFY(sender.ok());
    RtpPacket rtp;
    rtp.ssrc = 42;
    rtp.seq = 5;
    rtp.payload = QByteArray(60, 'p');
    QByteArray srtp = *(*sender)->protect(encodeRtp(rtp));
    SrtpReceiver receiver(kind == 4 ? 43 : 42);
    QVERIFY(receiver.addGeneration(1, kind == 1 ? material('b') : material('a')).ok());
    if (kind == 0)
        srtp[20] = char(srtp[20] ^ 0x10);
    if (kind == 2)
        qToBigEndian<quint32>(2, srtp.data() + srtp.size() - 4);
    if (kind == 3)
        srtp.truncate(20);
    auto r = receiver.unprotect(srtp);
    QVERIFY(std::holds_alternative<SrtpError>(r));
    const SrtpFailure f = std::get<SrtpError>(r).kind;
    switch (kind) {
    case 0:
    case 1:
        QCOMPARE(f, SrtpFailure::Authentication);
        break;
    case 2:
        QCOMPARE(f, SrtpFailure::UnknownGeneration);
        break;
    case 3:
        QCOMPARE(f, SrtpFailure::Malformed);
        break;
    default:
        QVERIFY(f != SrtpFailure::Replay);
    }
    // The receiver still works for the genuine packet afterwards (unless it was for another ssrc).
    if (kind != 4 && kind != 1) {
        RtpPacket next = rtp;
        next.seq = 6;
        QVERIFY(std::holds_alternative<SrtpReceiver::Unprotected>(receiver.unprotect(*(*sender)->protect(encodeRtp(next)))));
    }
}

void TestMedia::srtpReplayIsRejected()
{
    auto sender = SrtpSender::create(9, 0, material('r'));
    SrtpReceiver receiver(9);
    QVERIFY(receiver.addGeneration(0, material('r')).ok());
    RtpPacket rtp;
    rtp.ssrc = 9;
    rtp.payload = "x";
    const QByteArray srtp = *(*sender)->protect(encodeRtp(rtp));
    QVERIFY(std::holds_alternative<SrtpReceiver::Unprotected>(receiver.unprotect(srtp)));
    auto again = receiver.unprotect(srtp);
    QVERIFY(std::holds_alternative<SrtpError>(again));
    QCOMPARE(std::get<SrtpError>(again).kind, SrtpFailure::Replay);
    // A key switch: the previous generation is dropped and no longer accepted.
    receiver.dropGeneration(0);
    rtp.seq = 1;
    auto old = receiver.unprotect(*(*sender)->protect(encodeRtp(rtp)));
    QCOMPARE(std::get<SrtpError>(old).kind, SrtpFailure::UnknownGeneration);
}

void TestMedia::rtpRejectsMalformed_data()
{
    QTest::addColumn<QByteArray>("bytes");
    QTest::newRow("empty") << QByteArray();
    QTest::newRow("short") << QByteArray::fromHex("80");
    QTest::newRow("version 1") << QByteArray::fromHex("40" "6f0001000000000000000001");
    QTest::newRow("csrc overrun") << QByteArray::fromHex("8f" "6f0001000000000000000001");
    QTest::newRow("extension overrun") << QByteArray::fromHex("90" "6f0001000000000000000001" "bede00ff");
    QTest::newRow("padding overrun") << QByteArray::fromHex("a0" "6f0001000000000000000001" "ff");
    QTest::newRow("zero padding") << QByteArray::fromHex("a0" "6f0001000000000000000001" "00");
}

void TestMedia::rtpRejectsMalformed()
{
    QFETCH(QByteArray, bytes);
    auto r = decodeRtp(bytes);
    QVERIFY(!r.ok());
    QCOMPARE(r.error().code, ErrorCode::BadRequest);
}

void TestMedia::jitterReordersAndDropsLateAndDuplicates()
{
    JitterBuffer jb;
    qint64 t = 0;
    // 100, 102, 101 (reordered), 101 again (duplicate)
    QCOMPARE(jb.put(100, 0, "a", t), JitterBuffer::PutResult::Accepted);
    QCOMPARE(jb.put(102, 1920, "c", t += 20), JitterBuffer::PutResult::Accepted);
    QCOMPARE(jb.put(101, 960, "b", t += 1), JitterBuffer::PutResult::Accepted);
    QCOMPARE(jb.put(101, 960, "b", t += 1), JitterBuffer::PutResult::Duplicate);
    QByteArray played;
    for (int i = 0; i < 3; ++i) {
        auto s = jb.pop();
        QCOMPARE(s.kind, JitterBuffer::Slot::Kind::Packet);
        played += s.payload;
    }
    QCOMPARE(played, QByteArray("abc"));
    QCOMPARE(jb.put(100, 0, "a", t += 20), JitterBuffer::PutResult::Late); // already played
    const auto st = jb.stats();
    QCOMPARE(st.late, 1u);
    QCOMPARE(st.duplicates, 1u);
    // Sequence numbers wrap.
    JitterBuffer wrap;
    QCOMPARE(wrap.put(65535, 0, "y", 0), JitterBuffer::PutResult::Accepted);
    QCOMPARE(wrap.put(0, 960, "z", 20), JitterBuffer::PutResult::Accepted);
    const QByteArray first = wrap.pop().payload;
    const QByteArray second = wrap.pop().payload;
    QCOMPARE(first + second, QByteArray("yz"));
}

void TestMedia::jitterGivesFecThenPlc()
{
    JitterBuffer jb;
    jb.put(10, 0, "p10", 0);
    jb.put(12, 1920, "p12", 40);
    jb.put(15, 4800, "p15", 100);
    QCOMPARE(jb.pop().payload, QByteArray("p10"));
    auto s11 = jb.pop(); // missing, and 12 is here: recover 11 from 12's FEC
    QCOMPARE(s11.kind, JitterBuffer::Slot::Kind::Fec);
    QCOMPARE(s11.payload, QByteArray("p12"));
    QCOMPARE(jb.pop().payload, QByteArray("p12"));
    QCOMPARE(jb.pop().kind, JitterBuffer::Slot::Kind::Lost); // 13: nothing to recover from
    QCOMPARE(jb.pop().kind, JitterBuffer::Slot::Kind::Fec);  // 14 from 15
    QCOMPARE(jb.pop().payload, QByteArray("p15"));
    QCOMPARE(jb.stats().lost, 3u);
    QCOMPARE(jb.stats().recovered, 2u);
}

void TestMedia::jitterTargetAdapts()
{
    JitterBuffer steady, jittery;
    for (int i = 0; i < 200; ++i) {
        steady.put(quint16(i), quint32(i * 960), "x", i * 20);
        const qint64 wobble = (i % 2) ? 45 : 0; // every other packet 45 ms late
        jittery.put(quint16(i), quint32(i * 960), "x", i * 20 + wobble);
        steady.pop();
        jittery.pop();
    }
    QCOMPARE(steady.targetMs(), 20);
    QVERIFY2(jittery.targetMs() >= 60, qPrintable(QString::number(jittery.targetMs())));
    QVERIFY(jittery.targetMs() <= 200);
    QVERIFY(jittery.stats().jitterMs > 10);
}

void TestMedia::wavRoundTripAndResample()
{
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("t.wav"));
    const auto in = tone(500, 0.5);
    {
        WavWriter w;
        QVERIFY(w.open(path).ok());
        QVERIFY(w.write(in.data(), qsizetype(in.size())).ok());
    }
    auto back = readWav(path);
    QVERIFY(back.ok());
    QCOMPARE(*back, in);
    // A 16 kHz stereo file comes back as 48 kHz mono.
    QByteArray pcm;
    for (int i = 0; i < 16000; ++i) {
        const qint16 v = qint16(10000 * std::sin(2 * M_PI * 500 * i / 16000.0));
        char le[2];
        qToLittleEndian(v, le);
        pcm.append(le, 2).append(le, 2);
    }
    QByteArray h("RIFF....WAVEfmt ", 16);
    char b[4];
    qToLittleEndian<quint32>(16, b); h.append(b, 4);
    qToLittleEndian<quint16>(1, b); h.append(b, 2);
    qToLittleEndian<quint16>(2, b); h.append(b, 2);
    qToLittleEndian<quint32>(16000, b); h.append(b, 4);
    qToLittleEndian<quint32>(64000, b); h.append(b, 4);
    qToLittleEndian<quint16>(4, b); h.append(b, 2);
    qToLittleEndian<quint16>(16, b); h.append(b, 2);
    h.append("data", 4);
    qToLittleEndian<quint32>(quint32(pcm.size()), b); h.append(b, 4);
    QFile f(dir.filePath(QStringLiteral("s16k.wav")));
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write(h + pcm);
    f.close();
    auto up = readWav(f.fileName());
    QVERIFY(up.ok());
    QVERIFY(std::abs(int(up->size()) - 48000) < 100);
    QVERIFY(toneToTotalDb(*up, 500, 2000, up->size() - 2000) > -1.0);
}

void TestMedia::wavRefusesWhatItCannotRead_data()
{
    QTest::addColumn<QByteArray>("content");
    QTest::newRow("not wav") << QByteArray("hello, this is plainly text and not a RIFF file");
    QTest::newRow("empty") << QByteArray();
    QByteArray float32("RIFF\x24\0\0\0WAVEfmt \x10\0\0\0\x03\0\x01\0\x80\xbb\0\0\0\xee\x02\0\x04\0\x20\0data\0\0\0\0", 44);
    QTest::newRow("float samples") << float32;
    QTest::newRow("truncated header") << QByteArray("RIFF\x24\0\0\0WAVEfmt \x10\0\0\0\x01\0", 22);
}

void TestMedia::wavRefusesWhatItCannotRead()
{
    QFETCH(QByteArray, content);
    QTemporaryDir dir;
    QFile f(dir.filePath(QStringLiteral("x.wav")));
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write(content);
    f.close();
    auto r = readWav(f.fileName());
    QVERIFY(!r.ok());
    QVERIFY(r.error().message.contains(f.fileName()));
}

// The measure the call tests judge hearing by: a tone that breaks its phase every 0.3 s (what
// concealment and jitter-buffer re-timing do to a heard stream) is still all tone; a tone at
// another frequency, or noise, is not. One window over all 4 s reads the first as -9 dB.
void TestMedia::toneMeasureSurvivesPhaseBreaks()
{
    std::vector<qint16> broken;
    for (int piece = 0; piece < 13; ++piece) {
        const auto part = tone(440, 0.3 + 0.0013 * piece); // each piece restarts at phase 0
        broken.insert(broken.end(), part.begin(), part.end());
    }
    QVERIFY2(toneToTotalDb(broken, 440, 0, broken.size()) > -1.5,
             qPrintable(QString::number(toneToTotalDb(broken, 440, 0, broken.size()))));
    QVERIFY(toneToTotalDb(broken, 660, 0, broken.size()) < -20);
    std::vector<qint16> noise(broken.size());
    quint32 x = 12345;
    for (qint16 &v : noise)
        v = qint16((x = x * 1664525u + 1013904223u) >> 20) - 2048;
    QVERIFY(toneToTotalDb(noise, 440, 0, noise.size()) < -20);
    // A range shorter than one block is measured as one block.
    QVERIFY(toneToTotalDb(broken, 440, 0, 960) > -1.5);
}

QTEST_GUILESS_MAIN(TestMedia)
#include "tst_media.moc"
