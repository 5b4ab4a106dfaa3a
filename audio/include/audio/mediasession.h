#pragma once

// The media of one call on one phone (PROTOCOL.md §7): every 20 ms it takes a frame from the
// microphone, encodes it with Opus, packs it in RTP, protects it with SRTP under the current
// generation and sends it to the broker's relay; it receives the other members' packets,
// unprotects them by their MKI, de-jitters, decodes (FEC, PLC), mixes and plays them.
// Keys come from outside (CallMedia), so this class knows nothing of the key broker.
// Lives on the thread that created it.

#include "audio/devices.h"
#include "audio/jitterbuffer.h"
#include "audio/opuscodec.h"
#include "audio/srtp.h"
#include "audio/voiceprocessor.h"
#include "core/secretbytes.h"

#include <QElapsedTimer>
#include <QHostAddress>
#include <QObject>
#include <QTimer>
#include <QUdpSocket>

#include <map>
#include <memory>
#include <random>
#include <vector>

namespace sotto::audio {

struct MemberStats
{
    quint32 ssrc = 0;
    quint64 packets = 0; // authenticated and accepted
    quint64 bytes = 0;   // of those packets, as received (SRTP), for the bitrate
    quint64 late = 0;
    quint64 duplicates = 0;
    quint64 lost = 0;
    quint64 recovered = 0;
    quint64 concealed = 0;
    quint64 authFailures = 0;
    quint64 replays = 0;
    quint64 unknownGeneration = 0;
    quint64 malformed = 0;
    quint64 droppedForTest = 0; // --loss
    double jitterMs = 0;
    int bufferMs = 0;
    int targetMs = 0;
    float level = 0; // RMS of the last frame, 0..1
};

struct MediaStats
{
    quint64 framesSent = 0;
    quint64 bytesSent = 0;
    quint64 unknownSender = 0;
    bool bound = false;
    int relayRttMs = -1; // bind → bind ack at the relay, the latest (every rebind); -1: not yet
    bool talking = false;
    float inputLevel = 0;
    std::vector<MemberStats> members;
};

class MediaSession : public QObject
{
    Q_OBJECT
public:
    struct Config
    {
        QHostAddress relayAddress;
        quint16 relayPort = 0;
        QByteArray sid;
        quint32 ownSsrc = 0;
        QByteArray token;
        SecretBytes grantKey; // proven in every bind (relayauth::bindProof); never sent
        double lossPercent = 0; // drop this share of received packets (testing)
        OpusEncoderWrapper::Settings opus;
        VoiceProcessor::Settings processing;
        int rebindMs = 5000;
    };

    MediaSession(Config config, IAudioInput &input, IAudioOutput &output, QObject *parent = nullptr);
    ~MediaSession() override;

    Result<void> start();
    void stop();

    // Send under this generation from now on.
    Result<void> setSendKey(quint32 gen, const skbp::SrtpMaterial &key);
    // Accept this member's packets under this generation.
    Result<void> addReceiveKey(quint32 ssrc, quint32 gen, const skbp::SrtpMaterial &key);
    void dropGeneration(quint32 gen);
    void removeMember(quint32 ssrc);
    void setMuted(bool muted) { m_muted = muted; }

    MediaStats stats() const;

Q_SIGNALS:
    void bound();
    void levels(float input, const std::vector<std::pair<quint32, float>> &members);
    void talkingChanged(bool talking); // voice activity on our microphone (muted: never)
    void statsUpdated(const sotto::audio::MediaStats &stats); // once a second
    void failed(const QString &why);

private:
    struct Member
    {
        explicit Member(quint32 ssrc) : srtp(ssrc) {}
        SrtpReceiver srtp;
        JitterBuffer jitter;
        std::unique_ptr<OpusDecoderWrapper> decoder;
        MemberStats stats;
    };

    // Every frame (kFrameMs): what was captured goes out, and the members' next frames play.
    void tick();
    void captureAndSend();
    void sendFrame(const qint16 *frame);
    std::vector<std::pair<quint32, float>> mixAndPlay();
    static void decodeNext(Member &m, qint16 *pcm);
    void sendBind();
    void onDatagrams();
    void onPacket(const QByteArray &datagram);
    Member *member(quint32 ssrc);

    Config m_config;
    IAudioInput &m_input;
    IAudioOutput &m_output;
    QUdpSocket m_socket;
    QTimer m_tick;
    QTimer m_rebind;
    QTimer m_statsTimer;
    QElapsedTimer m_clock;
    std::unique_ptr<OpusEncoderWrapper> m_encoder;
    std::unique_ptr<VoiceProcessor> m_processor;
    std::vector<qint16> m_lastPlayed; // the echo reference: what the loudspeaker just got
    bool m_talking = false;
    std::unique_ptr<SrtpSender> m_sender;
    std::map<quint32, std::unique_ptr<Member>> m_members;
    std::vector<qint16> m_captured;
    quint16 m_seq;
    quint32 m_timestamp;
    bool m_muted = false;
    bool m_running = false;
    bool m_deviceFailed = false;
    std::mt19937 m_lossRng;
    MediaStats m_stats;
    qint64 m_bindSentMs = -1; // on m_clock
    quint64 m_bindStamp = 0; // of the last bind sent (ms since the epoch, strictly growing)
};

} // namespace sotto::audio
