#include "audio/mediasession.h"

#include "audio/format.h"
#include "audio/rtp.h"
#include "core/crypto.h"
#include "core/relaywire.h"
#include "core/relayauth.h"

#include <QNetworkDatagram>
#include <QtEndian>
#include <QDateTime>

#include <algorithm>
#include <cmath>

namespace sotto::audio {

namespace {

float rms(const qint16 *s, int n)
{
    double sum = 0;
    for (int i = 0; i < n; ++i)
        sum += double(s[i]) * s[i];
    return float(std::sqrt(sum / n) / 32768.0);
}

quint32 randomU32()
{
    auto r = crypto::randomBytes(4);
    return r ? qFromBigEndian<quint32>(r->constData()) : 0x5eed5eedu;
}

} // namespace

MediaSession::MediaSession(Config config, IAudioInput &input, IAudioOutput &output, QObject *parent)
    : QObject(parent), m_config(std::move(config)), m_input(input), m_output(output),
      m_seq(quint16(randomU32())), m_timestamp(randomU32()), m_lossRng(randomU32())
{
    m_tick.setTimerType(Qt::PreciseTimer);
    m_tick.setInterval(kFrameMs);
    connect(&m_tick, &QTimer::timeout, this, &MediaSession::tick);
    connect(&m_rebind, &QTimer::timeout, this, &MediaSession::sendBind);
    connect(&m_socket, &QUdpSocket::readyRead, this, &MediaSession::onDatagrams);
    connect(&m_statsTimer, &QTimer::timeout, this, [this] { Q_EMIT statsUpdated(stats()); });
}

MediaSession::~MediaSession()
{
    stop();
}

Result<void> MediaSession::start()
{
    auto enc = OpusEncoderWrapper::create(m_config.opus);
    if (!enc)
        return enc.error();
    m_encoder = std::move(*enc);
    m_processor = std::make_unique<VoiceProcessor>(m_config.processing);
    const QHostAddress any = m_config.relayAddress.protocol() == QAbstractSocket::IPv6Protocol
        ? QHostAddress(QHostAddress::AnyIPv6) : QHostAddress(QHostAddress::AnyIPv4);
    if (!m_socket.bind(any, 0))
        return makeError(ErrorCode::Network, QStringLiteral("cannot open a UDP socket: %1").arg(m_socket.errorString()));
    if (auto r = m_input.start(); !r)
        return r;
    if (auto r = m_output.start(); !r)
        return r;
    m_running = true;
    m_clock.start();
    sendBind();
    m_rebind.start(200); // until bound; then every rebindMs (NAT keep-alive)
    m_tick.start();
    m_statsTimer.start(1000);
    return {};
}

void MediaSession::stop()
{
    if (!m_running)
        return;
    m_running = false;
    m_tick.stop();
    m_rebind.stop();
    m_statsTimer.stop();
    m_input.stop();
    m_output.stop();
    m_socket.close();
}

Result<void> MediaSession::setSendKey(quint32 gen, const skbp::SrtpMaterial &key)
{
    if (m_sender && m_sender->generation() == gen)
        return {};
    auto s = SrtpSender::create(m_config.ownSsrc, gen, key);
    if (!s)
        return s.error();
    m_sender = std::move(*s);
    return {};
}

MediaSession::Member *MediaSession::member(quint32 ssrc)
{
    auto it = m_members.find(ssrc);
    return it == m_members.end() ? nullptr : it->second.get();
}

Result<void> MediaSession::addReceiveKey(quint32 ssrc, quint32 gen, const skbp::SrtpMaterial &key)
{
    Member *m = member(ssrc);
    if (!m) {
        auto dec = OpusDecoderWrapper::create();
        if (!dec)
            return dec.error();
        auto fresh = std::make_unique<Member>(ssrc);
        fresh->decoder = std::move(*dec);
        fresh->stats.ssrc = ssrc;
        m = fresh.get();
        m_members.emplace(ssrc, std::move(fresh));
    }
    return m->srtp.addGeneration(gen, key);
}

void MediaSession::dropGeneration(quint32 gen)
{
    for (auto &[ssrc, m] : m_members)
        m->srtp.dropGeneration(gen);
}

void MediaSession::removeMember(quint32 ssrc)
{
    m_members.erase(ssrc);
}

void MediaSession::sendBind()
{
    // A proven bind: the grant's key shown by an HMAC over a stamp that only grows, so that a
    // copy seen on the wire moves nothing (PROTOCOL.md, proven binds).
    m_bindStamp = std::max<quint64>(m_bindStamp + 1, quint64(QDateTime::currentMSecsSinceEpoch()));
    const QByteArray bind = relayauth::provenBind(m_config.sid, m_config.ownSsrc, m_config.token, m_config.grantKey, m_bindStamp);
    m_bindSentMs = m_clock.elapsed();
    m_socket.writeDatagram(bind, m_config.relayAddress, m_config.relayPort);
}

void MediaSession::tick()
{
    // A device that has gone is said once; the call goes on (the others still hear each other).
    if (!m_deviceFailed) {
        const QString why = !m_input.error().isEmpty() ? m_input.error() : m_output.error();
        if (!why.isEmpty()) {
            m_deviceFailed = true;
            Q_EMIT failed(why);
        }
    }
    captureAndSend();
    const std::vector<std::pair<quint32, float>> memberLevels = mixAndPlay();
    Q_EMIT levels(m_stats.inputLevel, memberLevels);
}

// Capture: whatever the device has, in 20 ms frames, each processed, encoded, protected and sent.
void MediaSession::captureAndSend()
{
    qint16 buf[kFrameSamples * 4];
    for (;;) {
        const qsizetype n = m_input.read(buf, std::size(buf));
        if (n <= 0)
            break;
        m_captured.insert(m_captured.end(), buf, buf + n);
        if (n < qsizetype(std::size(buf)))
            break;
    }
    while (m_captured.size() >= std::size_t(kFrameSamples)) {
        qint16 *frame = m_captured.data();
        const bool talking = m_processor->process(frame, m_lastPlayed.empty() ? nullptr : m_lastPlayed.data()) && !m_muted;
        if (m_muted)
            std::fill(frame, frame + kFrameSamples, qint16(0));
        if (talking != m_talking) {
            m_talking = talking;
            m_stats.talking = talking;
            Q_EMIT talkingChanged(talking);
        }
        m_stats.inputLevel = rms(frame, kFrameSamples);
        if (m_sender)
            sendFrame(frame);
        m_timestamp += kFrameSamples;
        m_captured.erase(m_captured.begin(), m_captured.begin() + kFrameSamples);
    }
}

void MediaSession::sendFrame(const qint16 *frame)
{
    auto packet = m_encoder->encode(frame);
    if (!packet)
        return;
    RtpPacket rtp;
    rtp.seq = m_seq++;
    rtp.timestamp = m_timestamp;
    rtp.ssrc = m_config.ownSsrc;
    rtp.payload = *packet;
    auto srtp = m_sender->protect(encodeRtp(rtp));
    if (!srtp)
        return;
    m_socket.writeDatagram(*srtp, m_config.relayAddress, m_config.relayPort);
    ++m_stats.framesSent;
    m_stats.bytesSent += quint64(srtp->size());
}

// Playout: one frame from each member's jitter buffer (decoded, recovered by FEC or concealed),
// mixed and played; the loss seen sets the encoder's FEC effort. The members' levels, for the UI.
std::vector<std::pair<quint32, float>> MediaSession::mixAndPlay()
{
    std::vector<qint32> mix(kFrameSamples, 0);
    qint16 pcm[kFrameSamples];
    std::vector<std::pair<quint32, float>> memberLevels;
    quint64 worstLoss = 0, total = 0;
    for (auto &[ssrc, m] : m_members) {
        decodeNext(*m, pcm);
        for (int i = 0; i < kFrameSamples; ++i)
            mix[std::size_t(i)] += pcm[i];
        m->stats.level = rms(pcm, kFrameSamples);
        memberLevels.emplace_back(ssrc, m->stats.level);
        const auto js = m->jitter.stats();
        worstLoss = std::max(worstLoss, js.lost);
        total = std::max(total, js.received + js.lost);
    }
    for (int i = 0; i < kFrameSamples; ++i)
        pcm[i] = qint16(std::clamp<qint32>(mix[std::size_t(i)], -32768, 32767));
    m_output.write(pcm, kFrameSamples);
    m_lastPlayed.assign(pcm, pcm + kFrameSamples);
    if (total > 50)
        m_encoder->setExpectedLoss(int(100 * worstLoss / total));
    return memberLevels;
}

// The member's next 20 ms: its packet, its FEC, a concealment of a loss, or silence when idle.
void MediaSession::decodeNext(Member &m, qint16 *pcm)
{
    const JitterBuffer::Slot slot = m.jitter.pop();
    bool have = true;
    switch (slot.kind) {
    case JitterBuffer::Slot::Kind::Packet:
        have = bool(m.decoder->decode(slot.payload, pcm));
        break;
    case JitterBuffer::Slot::Kind::Fec:
        have = bool(m.decoder->decodeFec(slot.payload, pcm));
        break;
    case JitterBuffer::Slot::Kind::Lost:
        have = bool(m.decoder->conceal(pcm));
        ++m.stats.concealed;
        break;
    case JitterBuffer::Slot::Kind::Idle:
        have = false;
        break;
    }
    if (!have)
        std::fill(pcm, pcm + kFrameSamples, qint16(0));
}

void MediaSession::onDatagrams()
{
    while (m_socket.hasPendingDatagrams()) {
        const QNetworkDatagram d = m_socket.receiveDatagram(2048);
        onPacket(d.data());
    }
}

void MediaSession::onPacket(const QByteArray &datagram)
{
    if (relaywire::classify(datagram) == relaywire::Kind::BindAck) {
        if (relaywire::decodeBindAck(datagram)->sid != m_config.sid)
            return;
        if (m_bindSentMs >= 0) { // the relay's round trip, renewed with every rebind
            m_stats.relayRttMs = int(m_clock.elapsed() - m_bindSentMs);
            m_bindSentMs = -1;
        }
        if (!m_stats.bound) {
            m_stats.bound = true;
            m_rebind.start(m_config.rebindMs);
            Q_EMIT bound();
        }
        return;
    }
    quint32 ssrc = 0;
    if (!peekRtpSsrc(datagram, ssrc)) {
        ++m_stats.unknownSender;
        return;
    }
    Member *m = member(ssrc);
    if (!m) {
        ++m_stats.unknownSender;
        return;
    }
    if (m_config.lossPercent > 0
        && std::uniform_real_distribution<double>(0, 100)(m_lossRng) < m_config.lossPercent) {
        ++m->stats.droppedForTest;
        return;
    }
    auto result = m->srtp.unprotect(datagram);
    if (auto *err = std::get_if<SrtpError>(&result)) {
        switch (err->kind) {
        case SrtpFailure::Authentication:
            ++m->stats.authFailures;
            break;
        case SrtpFailure::Replay:
            ++m->stats.replays;
            break;
        case SrtpFailure::UnknownGeneration:
            ++m->stats.unknownGeneration;
            break;
        default:
            ++m->stats.malformed;
        }
        return;
    }
    auto rtp = decodeRtp(std::get<SrtpReceiver::Unprotected>(result).rtp);
    if (!rtp || rtp->payloadType != kOpusPayloadType || rtp->ssrc != ssrc) {
        ++m->stats.malformed;
        return;
    }
    ++m->stats.packets;
    m->stats.bytes += quint64(datagram.size());
    m->jitter.put(rtp->seq, rtp->timestamp, rtp->payload, m_clock.elapsed());
}

MediaStats MediaSession::stats() const
{
    MediaStats s = m_stats;
    for (const auto &[ssrc, m] : m_members) {
        MemberStats ms = m->stats;
        const auto js = m->jitter.stats();
        ms.late = js.late;
        ms.duplicates = js.duplicates;
        ms.lost = js.lost;
        ms.recovered = js.recovered;
        ms.jitterMs = js.jitterMs;
        ms.bufferMs = js.bufferedMs;
        ms.targetMs = js.targetMs;
        s.members.push_back(ms);
    }
    return s;
}

} // namespace sotto::audio
