#include "mediabench.h"

#include "phone/callmedia.h"
#include "audio/format.h"
#include "audio/jitterbuffer.h"
#include "audio/opuscodec.h"
#include "audio/rtp.h"
#include "audio/srtp.h"
#include "audio/voiceprocessor.h"
#include "broker/broker.h"
#include "relay/relay.h"
#include "core/crypto.h"
#include "core/relayauth.h"
#include "core/invite.h"

#include <QCoreApplication>
#include <QDeadlineTimer>
#include <QElapsedTimer>
#include <QTemporaryDir>
#include <QDateTime>
#include <QUdpSocket>
#include <QtEndian>

#include <cmath>

#ifdef SOTTO_BENCH_WEBRTC
#include <webrtc/modules/audio_processing/include/audio_processing.h>
#include <webrtc/modules/interface/module_common_types.h>
#endif

#ifdef Q_OS_UNIX
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#endif

namespace sotto::bench {

using namespace sotto::audio;
using sotto::phone::CallMedia;

double cpuMicros()
{
#ifdef Q_OS_UNIX
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return double(ts.tv_sec) * 1e6 + double(ts.tv_nsec) / 1e3;
#else
    static QElapsedTimer t = [] { QElapsedTimer e; e.start(); return e; }();
    return double(t.nsecsElapsed()) / 1e3;
#endif
}

namespace {

skbp::SrtpMaterial material(char seed)
{
    return {SecretBytes::copyOf(QByteArray(32, seed)), SecretBytes::copyOf(QByteArray(12, seed))};
}

} // namespace

std::vector<qint16> speechLike(int seconds)
{
    // A voiced signal with a moving pitch and syllable envelope: codec work like speech.
    std::vector<qint16> s(std::size_t(seconds * kSampleRate));
    double phase = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
        const double t = double(i) / kSampleRate;
        const double f0 = 140 + 40 * std::sin(2 * M_PI * 0.7 * t);
        phase += 2 * M_PI * f0 / kSampleRate;
        const double env = 0.5 + 0.5 * std::sin(2 * M_PI * 4 * t);
        double v = 0;
        for (int h = 1; h <= 8; ++h)
            v += std::sin(h * phase) / h;
        s[i] = qint16(6000 * env * v);
    }
    return s;
}

namespace {

bool spin(const std::function<bool()> &done, int ms)
{
    QDeadlineTimer deadline(ms);
    while (!done() && !deadline.hasExpired())
        QCoreApplication::processEvents(QEventLoop::AllEvents, 5);
    return done();
}

} // namespace

// µs of CPU per frame of the send path under `settings`; the packets in *wire when asked.
double timeSendPath(const VoiceProcessor::Settings &settings, const std::vector<qint16> &voice, int frames, std::vector<QByteArray> *wire)
{
    const int available = int(voice.size()) / kFrameSamples;
    auto enc = *OpusEncoderWrapper::create({});
    auto sender = *SrtpSender::create(1, 0, material('a'));
    VoiceProcessor processor(settings);
    std::vector<qint16> frame(kFrameSamples), played(kFrameSamples, 0);
    std::vector<QByteArray> local;
    std::vector<QByteArray> &packets = wire ? *wire : local;
    packets.reserve(std::size_t(frames));
    const double t = cpuMicros();
    for (int f = 0; f < frames; ++f) {
        RtpPacket p;
        p.seq = quint16(f);
        p.timestamp = quint32(f * kFrameSamples);
        p.ssrc = 1;
        std::copy_n(voice.data() + (f % available) * kFrameSamples, kFrameSamples, frame.data());
        processor.process(frame.data(), played.data());
        p.payload = *enc->encode(frame.data());
        packets.push_back(*sender->protect(encodeRtp(p)));
    }
    return (cpuMicros() - t) / frames;
}

namespace {

// The loudspeaker plays far-end speech; the microphone hears it back 8 ms later at half level
// (a laptop), with the near end silent.
struct EchoScene
{
    std::vector<qint16> far = speechLike(8);
    std::vector<qint16> mic = std::vector<qint16>(far.size(), 0);
    EchoScene()
    {
        const std::size_t delay = 8 * kSampleRate / 1000;
        for (std::size_t i = delay; i < mic.size(); ++i)
            mic[i] = qint16(far[i - delay] / 2);
    }
    // ERLE over the last 4 of 8 s, once a filter has converged: 10·log10(echo in / echo left).
    double erleDb(const std::vector<qint16> &out) const
    {
        double in = 0, left = 0;
        for (std::size_t i = 4 * kSampleRate; i < out.size(); ++i) {
            in += double(mic[i]) * mic[i];
            left += double(out[i]) * out[i];
        }
        return 10 * std::log10(in / std::max(left, 1.0));
    }
};

} // namespace

EchoFigures benchEcho(int processingRate)
{
    const EchoScene scene;
    VoiceProcessor::Settings settings{true, true, false};
    settings.processingRate = processingRate;
    VoiceProcessor p(settings);
    std::vector<qint16> out = scene.mic;
    const double t = cpuMicros();
    int frames = 0;
    for (std::size_t f = 0; f + kFrameSamples <= out.size(); f += kFrameSamples, ++frames)
        p.process(out.data() + f, scene.far.data() + f);
    return {scene.erleDb(out), (cpuMicros() - t) / frames};
}

#ifdef SOTTO_BENCH_WEBRTC
// The same echo through WebRTC's audio processing (Debian's 0.3, what PulseAudio's echo
// canceller uses): AEC at high suppression, noise suppression high, its high-pass filter, on
// its own 10 ms frames at 48 kHz (it splits the bands itself), the delay told.
EchoFigures benchWebRtcEcho()
{
    const EchoScene scene;
    const std::vector<qint16> &far = scene.far, &mic = scene.mic;
    webrtc::Config config;
    config.Set<webrtc::ExtendedFilter>(new webrtc::ExtendedFilter(true));
    std::unique_ptr<webrtc::AudioProcessing> apm(webrtc::AudioProcessing::Create(config));
    apm->echo_cancellation()->Enable(true);
    apm->echo_cancellation()->set_suppression_level(webrtc::EchoCancellation::kHighSuppression);
    apm->noise_suppression()->Enable(true);
    apm->noise_suppression()->set_level(webrtc::NoiseSuppression::kHigh);
    apm->high_pass_filter()->Enable(true);
    constexpr int kChunk = kSampleRate / 100;
    std::vector<qint16> out(mic.size(), 0);
    webrtc::AudioFrame farFrame, nearFrame;
    const double t = cpuMicros();
    int chunks = 0;
    for (std::size_t f = 0; f + kChunk <= mic.size(); f += kChunk, ++chunks) {
        for (webrtc::AudioFrame *fr : {&farFrame, &nearFrame}) {
            fr->sample_rate_hz_ = kSampleRate;
            fr->num_channels_ = 1;
            fr->samples_per_channel_ = kChunk;
        }
        std::copy_n(far.data() + f, kChunk, farFrame.data_);
        std::copy_n(mic.data() + f, kChunk, nearFrame.data_);
        apm->ProcessReverseStream(&farFrame);
        apm->set_stream_delay_ms(8);
        apm->ProcessStream(&nearFrame);
        std::copy_n(nearFrame.data_, kChunk, out.data() + f);
    }
    return {scene.erleDb(out), (cpuMicros() - t) / (chunks / 2.0)}; // per 20 ms, like ours
}
#endif

MediaCpu benchMediaCpu(int runs, int frames)
{
    MediaCpu out;
    const auto voice = speechLike(2);
    const int available = int(voice.size()) / kFrameSamples;
    for (int r = 0; r < runs; ++r) {
        // Bare Opus.
        auto enc = *OpusEncoderWrapper::create({});
        double t = cpuMicros();
        for (int f = 0; f < frames; ++f)
            (void)enc->encode(voice.data() + (f % available) * kFrameSamples);
        out.opusEncodeUs.push_back((cpuMicros() - t) / frames);

        // The phone's send path with a live microphone: AEC + noise suppression + AGC + VAD,
        // encode, RTP, SRTP (what MediaSession::tick does per frame) — and with processing off
        // (file audio, or the user's choice): voice activity only.
        std::vector<QByteArray> wire;
        out.sendUs.push_back(timeSendPath(VoiceProcessor::Settings{}, voice, frames, &wire));
        out.plainSendUs.push_back(timeSendPath(VoiceProcessor::Settings{false, false, false}, voice, frames, nullptr));

        // Receive path for one 20 ms period with two members: unprotect, jitter, decode, mix.
        std::vector<QByteArray> wire2;
        // Two members sending real Opus: reuse member one's stream for member two's key.
        auto enc3 = *OpusEncoderWrapper::create({});
        auto sender3 = *SrtpSender::create(2, 0, material('b'));
        for (int f = 0; f < frames; ++f) {
            RtpPacket p;
            p.seq = quint16(f);
            p.timestamp = quint32(f * kFrameSamples);
            p.ssrc = 2;
            p.payload = *enc3->encode(voice.data() + ((f + 7) % available) * kFrameSamples);
            wire2.push_back(*sender3->protect(encodeRtp(p)));
        }
        SrtpReceiver rx1(1), rx2(2);
        (void)rx1.addGeneration(0, material('a'));
        (void)rx2.addGeneration(0, material('b'));
        JitterBuffer jb1, jb2;
        auto dec1 = *OpusDecoderWrapper::create();
        auto dec2 = *OpusDecoderWrapper::create();
        std::vector<qint32> mix(kFrameSamples);
        qint16 pcm[kFrameSamples], outPcm[kFrameSamples];
        t = cpuMicros();
        for (int f = 0; f < frames; ++f) {
            for (auto [rx, jb, w] : {std::tuple{&rx1, &jb1, &wire}, std::tuple{&rx2, &jb2, &wire2}}) {
                auto plain = rx->unprotect((*w)[std::size_t(f)]);
                auto rtp = decodeRtp(std::get<SrtpReceiver::Unprotected>(plain).rtp);
                jb->put(rtp->seq, rtp->timestamp, rtp->payload, qint64(f) * kFrameMs);
            }
            std::fill(mix.begin(), mix.end(), 0);
            for (auto [jb, dec] : {std::pair{&jb1, dec1.get()}, std::pair{&jb2, dec2.get()}}) {
                const auto slot = jb->pop();
                if (slot.kind == JitterBuffer::Slot::Kind::Packet)
                    (void)dec->decode(slot.payload, pcm);
                else
                    std::fill(std::begin(pcm), std::end(pcm), qint16(0));
                for (int i = 0; i < kFrameSamples; ++i)
                    mix[std::size_t(i)] += pcm[i];
            }
            for (int i = 0; i < kFrameSamples; ++i)
                outPcm[i] = qint16(std::clamp<qint32>(mix[std::size_t(i)], -32768, 32767));
        }
        out.recvUs.push_back((cpuMicros() - t) / frames);
        volatile qint16 sink = outPcm[kFrameSamples / 2]; // keep the mix from being optimised away
        (void)sink;
    }
    return out;
}

RelayRate benchRelay(int sessions, int seconds, const RelayLoad &load)
{
    RelayRate out;
    out.sessions = sessions;
    // Capacity, not policy: the per-sender rate limit is lifted for this measurement.
    relay::RelayTable::Limits limits{1e9, 1e9};
    limits.batch = load.batch;
    relay::RelayTable table(limits);
    relay::Relay relay(table);
    QUdpSocket probe;
    probe.bind(QHostAddress::LocalHost, 0);
    const quint16 port = probe.localPort();
    probe.close();
    if (!relay.start(QHostAddress::LocalHost, port, nullptr, load.threads))
        qFatal("relay did not start");
    out.threads = relay.threads();
    struct Member
    {
        std::unique_ptr<QUdpSocket> socket;
        int fd = -1;
        QByteArray packet;
    };
    std::vector<Member> members;
    for (int s = 0; s < sessions; ++s) {
        const QByteArray sid = *crypto::randomBytes(16);
        for (int m = 0; m < load.members; ++m) {
            const quint32 ssrc = quint32(s * load.members + m + 1);
            const QByteArray token = *crypto::randomBytes(16);
            const SecretBytes key = *crypto::randomSecret(32);
            table.addMember(sid, ssrc, token, key);
            Member mem;
            mem.socket = std::make_unique<QUdpSocket>();
            mem.socket->bind(QHostAddress::LocalHost, 0);
            mem.socket->setSocketOption(QAbstractSocket::ReceiveBufferSizeSocketOption, QVariant(1 << 20));
            mem.fd = int(mem.socket->socketDescriptor());
            mem.socket->writeDatagram(relayauth::provenBind(sid, ssrc, token, key, quint64(QDateTime::currentMSecsSinceEpoch())),
                                      QHostAddress::LocalHost, port);
            RtpPacket p;
            p.ssrc = ssrc;
            p.payload = QByteArray(100, 'v'); // an Opus frame at 32 kbit/s is ~80 bytes, + SRTP
            mem.packet = encodeRtp(p);
            members.push_back(std::move(mem));
        }
    }
    spin([&] { return relay.counters().binds == quint64(members.size()); }, 5000);
    // Send round-robin as fast as we can, reading as we go: plain system calls on the members'
    // own sockets (QUdpSocket's bookkeeping would make this thread the bottleneck sooner).
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    char buf[2048];
    auto drain = [&] {
        for (auto &m : members) {
            while (::recv(m.fd, buf, sizeof buf, MSG_DONTWAIT) > 0) {
            }
        }
    };
    drain();
    QElapsedTimer clock;
    clock.start();
    quint64 last = relay.counters().forwarded, first = 0;
    double cpuFirst = 0;
    qint64 windowStart = 0;
    std::size_t next = 0;
    while (clock.elapsed() < qint64(seconds) * 1000 + 500) {
        for (int burst = 0; burst < 64; ++burst) {
            Member &m = members[next];
            next = (next + 1) % members.size();
            ::sendto(m.fd, m.packet.constData(), std::size_t(m.packet.size()), MSG_DONTWAIT, reinterpret_cast<const sockaddr *>(&to), sizeof to);
        }
        drain();
        const qint64 now = clock.elapsed();
        if (now - windowStart >= 1000 || (windowStart == 0 && now >= 500)) {
            const quint64 fwd = relay.counters().forwarded;
            if (windowStart >= 500) // the first half second warms up
                out.windows.push_back(double(fwd - last) * 1000.0 / double(now - windowStart));
            else {
                first = fwd;
                cpuFirst = relay.cpuSeconds();
            }
            last = fwd;
            windowStart = now;
        }
    }
    const double cpu = relay.cpuSeconds() - cpuFirst;
    if (cpuFirst >= 0 && cpu > 0)
        out.perCpuSecond = double(relay.counters().forwarded - first) / cpu;
    relay.stop();
    return out;
}

MouthToEar benchMouthToEar(int clicks)
{
    // Real broker, relay, two phone engines and the full media path, with file devices: a click
    // goes into alice's microphone at a known moment and is looked for in bob's loudspeaker.
    QTemporaryDir dir;
    broker::BrokerConfig cfg;
    cfg.address = QHostAddress::LocalHost;
    cfg.port = 0;
    cfg.dataDir = dir.filePath(QStringLiteral("broker"));
    broker::Broker b(cfg);
    if (!b.start())
        qFatal("broker did not start");
    struct Phone
    {
        std::optional<Profile> profile;
        std::unique_ptr<ClientEngine> engine;
        std::unique_ptr<CallMedia> media;
    };
    const int periodMs = 500;
    std::vector<qint16> clickTrack(std::size_t(clicks + 2) * periodMs * 48, 0);
    for (int c = 0; c < clicks; ++c) {
        const std::size_t at = std::size_t(c + 1) * periodMs * 48;
        for (int i = 0; i < 96; ++i) // a 2 ms burst of a 3 kHz tone: a click Opus keeps
            clickTrack[at + std::size_t(i)] = qint16(20000 * std::sin(2 * M_PI * 3000 * i / 48000.0));
    }
    QElapsedTimer wall;
    wall.start();
    qint64 aliceInputStartMs = -1, bobOutputStartMs = -1;
    std::vector<qint16> heard;

    struct TimedInput : FileAudioInput
    {
        TimedInput(std::vector<qint16> s, QElapsedTimer &w, qint64 &startMs) : FileAudioInput(std::move(s)), m_w(w), m_start(startMs) {}
        Result<void> start() override
        {
            m_start = m_w.elapsed();
            return FileAudioInput::start();
        }
        QElapsedTimer &m_w;
        qint64 &m_start;
    };
    struct TimedOutput : IAudioOutput
    {
        TimedOutput(std::vector<qint16> &sink, QElapsedTimer &w, qint64 &startMs) : m_sink(sink), m_w(w), m_start(startMs) {}
        Result<void> start() override
        {
            m_start = m_w.elapsed();
            return {};
        }
        void stop() override {}
        qsizetype write(const qint16 *src, qsizetype n) override
        {
            m_sink.insert(m_sink.end(), src, src + n);
            return n;
        }
        QString name() const override { return QStringLiteral("timed"); }
        std::vector<qint16> &m_sink;
        QElapsedTimer &m_w;
        qint64 &m_start;
    };

    Phone alice, bob;
    int enrolled = 0;
    for (auto [p, name] : {std::pair{&alice, "alice"}, std::pair{&bob, "bob"}}) {
        p->profile.emplace(*Profile::open(dir.filePath(QString::fromLatin1(name))));
        p->engine = std::make_unique<ClientEngine>(*p->profile);
        QObject::connect(p->engine.get(), &ClientEngine::enrolled, [&enrolled] { ++enrolled; });
        p->engine->enrol(*InviteLink::parse(*b.createInvite(QString::fromLatin1(name), 60)));
    }
    alice.media = std::make_unique<CallMedia>(*alice.engine, [&]() -> Result<CallMedia::Devices> {
        return CallMedia::Devices{std::make_unique<TimedInput>(clickTrack, wall, aliceInputStartMs), std::make_unique<NullAudioOutput>()};
    });
    bob.media = std::make_unique<CallMedia>(*bob.engine, [&]() -> Result<CallMedia::Devices> {
        return CallMedia::Devices{makeSilentInput(), std::make_unique<TimedOutput>(heard, wall, bobOutputStartMs)};
    });
    spin([&] { return enrolled == 2; }, 5000);
    alice.engine->start();
    bob.engine->start();
    spin([&] { return alice.engine->state() == ClientEngine::State::Online && bob.engine->state() == ClientEngine::State::Online; }, 5000);
    QObject::connect(bob.engine.get(), &ClientEngine::incomingCall, [&](const QByteArray &sid) { bob.engine->answer(sid); });
    alice.engine->call(QStringLiteral("bob"));
    spin([&] { return aliceInputStartMs >= 0 && bobOutputStartMs >= 0; }, 5000);
    double bufferMs = 0;
    int samples = 0;
    QElapsedTimer run;
    run.start();
    while (run.elapsed() < (clicks + 2) * periodMs + 500) {
        spin([] { return false; }, 50);
        for (const SessionInfo &s : bob.engine->sessions()) {
            if (MediaSession *m = bob.media->media(s.sid)) {
                for (const MemberStats &ms : m->stats().members) {
                    bufferMs += ms.bufferMs;
                    ++samples;
                }
            }
        }
    }
    // Find each click in what bob heard: the first sample above a threshold after each period.
    MouthToEar out;
    std::vector<double> delays;
    std::size_t from = 0;
    for (int c = 0; c < clicks; ++c) {
        const double sentMs = double(aliceInputStartMs) + double(c + 1) * periodMs;
        std::size_t found = heard.size();
        for (std::size_t i = from; i < heard.size(); ++i) {
            if (std::abs(int(heard[i])) > 4000) {
                found = i;
                break;
            }
        }
        if (found == heard.size())
            break;
        const double heardMs = double(bobOutputStartMs) + double(found) / 48.0;
        delays.push_back(heardMs - sentMs);
        from = found + std::size_t(periodMs / 2) * 48;
    }
    if (!delays.empty()) {
        std::sort(delays.begin(), delays.end());
        out.ms = delays[delays.size() / 2];
        out.clicks = int(delays.size());
    }
    out.jitterBufferMs = samples ? bufferMs / samples : 0;
    alice.engine->stop();
    bob.engine->stop();
    spin([] { return false; }, 100);
    b.stop();
    return out;
}

} // namespace sotto::bench
