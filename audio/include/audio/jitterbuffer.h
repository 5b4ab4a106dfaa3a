#pragma once

// An adaptive jitter buffer for 20 ms Opus packets of one sender.
//
// Our own rather than speexdsp's: Opus in-band FEC needs the packet *after* a gap at the moment
// the gap is played out, and speexdsp's JitterBuffer does not let the caller see it. This one
// reorders, drops late and duplicate packets, and sets its target delay from the RFC 3550
// interarrival jitter, between 20 and 200 ms.

#include <QByteArray>

#include <map>
#include <optional>

namespace sotto::audio {

class JitterBuffer
{
public:
    struct Config
    {
        int minDelayMs = 20;
        int maxDelayMs = 200;
    };
    enum class PutResult { Accepted, Late, Duplicate };
    struct Slot
    {
        enum class Kind {
            Packet, // play `payload`
            Fec,    // the packet was lost; recover it from `payload`, the next one
            Lost,   // conceal
            Idle,   // not playing (buffering, or nothing received): silence
        };
        Kind kind = Kind::Idle;
        QByteArray payload;
    };
    struct Stats
    {
        quint64 received = 0;
        quint64 late = 0;
        quint64 duplicates = 0;
        quint64 lost = 0;      // played out as missing (FEC or PLC)
        quint64 recovered = 0; // of those, recovered with FEC
        quint64 underruns = 0; // frames concealed while waiting for a late packet
        quint64 skipped = 0;   // frames dropped to bring the delay back to the target
        double jitterMs = 0;   // RFC 3550 interarrival jitter
        int targetMs = 0;
        int bufferedMs = 0;
    };

    JitterBuffer() : JitterBuffer(Config{}) {}
    explicit JitterBuffer(Config config);

    // arrivalMs: a monotonic clock; timestamp: RTP timestamp (48 kHz).
    PutResult put(quint16 seq, quint32 timestamp, QByteArray payload, qint64 arrivalMs);
    // Called once per 20 ms of playout.
    Slot pop();
    Stats stats() const;
    int targetMs() const { return m_targetMs; }

private:
    qint64 extend(quint16 seq);
    void adapt();

    Config m_config;
    std::map<qint64, QByteArray> m_packets;
    std::optional<qint64> m_highest; // extended sequence numbers
    std::optional<qint64> m_next;    // next to play; empty while buffering
    int m_underruns = 0;
    double m_lossEwma = 0;
    int m_targetMs;
    double m_jitter = 0; // in RTP timestamp units
    std::optional<double> m_lastTransit;
    Stats m_stats;
};

} // namespace sotto::audio
