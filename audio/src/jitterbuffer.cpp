#include "audio/jitterbuffer.h"

#include "audio/format.h"

#include <algorithm>
#include <cmath>

namespace sotto::audio {

JitterBuffer::JitterBuffer(Config config) : m_config(config), m_targetMs(config.minDelayMs) {}

qint64 JitterBuffer::extend(quint16 seq)
{
    if (!m_highest)
        return seq;
    // The extended number closest to the highest seen (handles wrap in both directions).
    const qint64 base = *m_highest & ~qint64(0xffff);
    qint64 best = base + seq;
    for (qint64 cand : {base - 0x10000 + seq, base + 0x10000 + seq}) {
        if (std::llabs(cand - *m_highest) < std::llabs(best - *m_highest))
            best = cand;
    }
    return best;
}

JitterBuffer::PutResult JitterBuffer::put(quint16 seq, quint32 timestamp, QByteArray payload, qint64 arrivalMs)
{
    const qint64 ext = extend(seq);
    if (m_next && ext < *m_next) {
        ++m_stats.late;
        return PutResult::Late;
    }
    if (m_packets.contains(ext)) {
        ++m_stats.duplicates;
        return PutResult::Duplicate;
    }
    ++m_stats.received;
    // RFC 3550 §6.4.1 interarrival jitter, in timestamp units.
    const double transit = double(arrivalMs) * (kSampleRate / 1000.0) - double(timestamp);
    if (m_lastTransit) {
        double d = std::fabs(transit - *m_lastTransit);
        if (d > kSampleRate) // a new talk spurt or a clock jump: not jitter
            d = 0;
        m_jitter += (d - m_jitter) / 16.0;
    }
    m_lastTransit = transit;
    m_packets.emplace(ext, std::move(payload));
    if (!m_highest || ext > *m_highest)
        m_highest = ext;
    adapt();
    // Too deep (a burst, or we fell behind): skip ahead so the delay stays bounded.
    if (m_next && !m_packets.empty()) {
        const qint64 depth = (m_packets.rbegin()->first - *m_next + 1) * kFrameMs;
        if (depth > m_config.maxDelayMs + kFrameMs) {
            const qint64 keep = std::max<qint64>(1, m_targetMs / kFrameMs);
            const qint64 newNext = m_packets.rbegin()->first - keep + 1;
            m_packets.erase(m_packets.begin(), m_packets.lower_bound(newNext));
            m_next = newNext;
        }
    }
    return PutResult::Accepted;
}

void JitterBuffer::adapt()
{
    const double jitterMs = m_jitter * 1000.0 / kSampleRate;
    // Room for about three times the jitter on top of one frame, in whole frames; and while
    // packets are being lost, one frame more, so the packet after a loss is here for its FEC.
    int want = int(std::ceil((kFrameMs + 3.0 * jitterMs) / kFrameMs)) * kFrameMs;
    if (m_lossEwma > 0.005)
        want = std::max(want, 2 * kFrameMs);
    m_targetMs = std::clamp(want, m_config.minDelayMs, m_config.maxDelayMs);
}

JitterBuffer::Slot JitterBuffer::pop()
{
    if (!m_next) {
        // Buffering: start once the target delay's worth of packets is here.
        if (m_packets.empty() || qint64(m_packets.size()) * kFrameMs < m_targetMs)
            return {};
        m_next = m_packets.begin()->first;
    }
    // Deeper than the target by two frames: drop the oldest so the delay comes back down.
    if (qint64(m_packets.size()) * kFrameMs > m_targetMs + 2 * kFrameMs && m_packets.begin()->first == *m_next) {
        m_packets.erase(m_packets.begin());
        ++*m_next;
        ++m_stats.skipped;
    }
    Slot slot;
    auto it = m_packets.find(*m_next);
    if (it != m_packets.end()) {
        slot.kind = Slot::Kind::Packet;
        slot.payload = std::move(it->second);
        m_packets.erase(it);
        m_underruns = 0;
        ++*m_next;
        m_lossEwma *= 0.99;
        return slot;
    }
    if (m_packets.empty()) {
        // Underrun: the next packet is late, not (yet) lost. Conceal without moving on, so it
        // plays when it comes and the delay grows by a frame; after 100 ms it is a pause.
        if (++m_underruns >= 5) {
            m_next.reset();
            m_underruns = 0;
            return {};
        }
        slot.kind = Slot::Kind::Lost;
        ++m_stats.underruns;
        return slot;
    }
    // A gap with later packets waiting: that packet is lost. Recover it from the next one's
    // FEC if the next one is here, else conceal.
    m_underruns = 0;
    auto after = m_packets.find(*m_next + 1);
    if (after != m_packets.end()) {
        slot.kind = Slot::Kind::Fec;
        slot.payload = after->second;
        ++m_stats.recovered;
    } else {
        slot.kind = Slot::Kind::Lost;
    }
    ++m_stats.lost;
    m_lossEwma = m_lossEwma * 0.99 + 0.01;
    adapt();
    ++*m_next;
    return slot;
}

JitterBuffer::Stats JitterBuffer::stats() const
{
    Stats s = m_stats;
    s.jitterMs = m_jitter * 1000.0 / kSampleRate;
    s.targetMs = m_targetMs;
    s.bufferedMs = int(m_packets.size()) * kFrameMs;
    return s;
}

} // namespace sotto::audio
