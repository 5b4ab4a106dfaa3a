// The jitter buffer (audio/jitterbuffer.h) driven by an op stream: packets arrive with sequence
// numbers, timestamps and arrival times from the input, and playout pops at will.
//
//   input = u8(config) op*                          ; config % 4 picks min/max delay
//   op    = 0bxxxxxx00 i8(dseq) i8(dts) u8(late)   ; put seq+dseq, 960 per seq + 48*dts, now+late
//   ms
//         / 0bxxxxxx01                              ; pop
//         / 0bxxxxxx10 u8(ms)                       ; the clock runs ms, popping every 20 ms
//         / 0bxxxxxx11 u16(seq) u32(ts)             ; put at an absolute seq and timestamp (jumps)
//   (at most 1024 ops)
//
// Each payload names its put, so that what plays can be traced: a Packet slot plays an accepted
// put that has not played before, an Fec slot carries one that has not played yet; the counters
// match the put results; the target delay stays within the configured range.

#include "fuzzsupport.h"

#include "audio/jitterbuffer.h"

#include <set>

using namespace sotto;
using namespace sotto::audio;
using namespace sotto::fuzz;

namespace {

constexpr int kMaxOps = 1024;
constexpr int kFrameMs = 20;
constexpr JitterBuffer::Config kConfigs[] = {{20, 200}, {20, 60}, {40, 400}, {20, 20}};

class Harness
{
public:
    explicit Harness(JitterBuffer::Config config) : m_config(config), m_buffer(config) {}

    void put(quint16 seq, quint32 ts, qint64 arrivalMs)
    {
        const quint32 id = m_puts++;
        const auto r = m_buffer.put(seq, ts, be32(id), arrivalMs);
        switch (r) {
        case JitterBuffer::PutResult::Accepted:
            ++m_accepted;
            m_unplayed.insert(id);
            break;
        case JitterBuffer::PutResult::Late:
            ++m_late;
            break;
        case JitterBuffer::PutResult::Duplicate:
            ++m_duplicates;
            break;
        }
        m_lastSeq = seq;
        check();
    }

    void pop()
    {
        const JitterBuffer::Slot slot = m_buffer.pop();
        switch (slot.kind) {
        case JitterBuffer::Slot::Kind::Packet: {
            FUZZ_CHECK(slot.payload.size() == 4);
            const auto it = m_unplayed.find(idOf(slot.payload));
            FUZZ_CHECK(it != m_unplayed.end()); // accepted, and not played before
            m_unplayed.erase(it);
            ++m_played;
            break;
        }
        case JitterBuffer::Slot::Kind::Fec:
            FUZZ_CHECK(slot.payload.size() == 4);
            FUZZ_CHECK(m_unplayed.contains(idOf(slot.payload)));
            break;
        case JitterBuffer::Slot::Kind::Lost:
        case JitterBuffer::Slot::Kind::Idle:
            FUZZ_CHECK(slot.payload.isEmpty());
            break;
        }
        check();
    }

    void run(int ms)
    {
        for (m_sincePop += ms; m_sincePop >= kFrameMs; m_sincePop -= kFrameMs)
            pop();
        m_nowMs += ms;
    }

    qint64 now() const { return m_nowMs; }
    quint16 lastSeq() const { return m_lastSeq; }

private:
    static quint32 idOf(const QByteArray &payload)
    {
        return quint32(quint8(payload[0])) << 24 | quint32(quint8(payload[1])) << 16 |
               quint32(quint8(payload[2])) << 8 | quint32(quint8(payload[3]));
    }

    void check() const
    {
        const JitterBuffer::Stats s = m_buffer.stats();
        FUZZ_CHECK(s.received == m_accepted);
        FUZZ_CHECK(s.late == m_late);
        FUZZ_CHECK(s.duplicates == m_duplicates);
        FUZZ_CHECK(s.recovered <= s.lost);
        FUZZ_CHECK(m_played + s.skipped <= s.received);
        FUZZ_CHECK(s.targetMs >= m_config.minDelayMs && s.targetMs <= m_config.maxDelayMs);
        FUZZ_CHECK(s.targetMs == m_buffer.targetMs());
        FUZZ_CHECK(s.bufferedMs >= 0 && quint64(s.bufferedMs / kFrameMs) <= m_unplayed.size());
        FUZZ_CHECK(s.jitterMs >= 0);
    }

    JitterBuffer::Config m_config;
    JitterBuffer m_buffer;
    std::set<quint32> m_unplayed; // accepted puts not yet played as a Packet
    quint32 m_puts = 0;
    quint64 m_accepted = 0, m_late = 0, m_duplicates = 0, m_played = 0;
    qint64 m_nowMs = 1000;
    int m_sincePop = 0;
    quint16 m_lastSeq = 0;
};

fuzz::Seeds seeds()
{
    auto put = [](qint8 dseq, qint8 dts, quint8 late) {
        return bytesOf({'\0', char(dseq), char(dts), char(late)});
    };
    const QByteArray tick = bytesOf({'\x02', char(kFrameMs)});
    QByteArray steady(1, '\0'), reordered(1, '\0'), lossy(1, '\x01'), wrap(1, '\x02');
    for (int i = 0; i < 40; ++i) {
        steady += put(1, 0, 2) + tick;
        reordered += (i % 4 == 1 ? put(2, 0, 5) + put(-1, 0, 30)
                                 : put(i % 4 == 2 ? 2 : 1, qint8(i % 3), 1)) +
                     tick;
        lossy +=
            (i % 5 == 3 ? QByteArray() : put(i % 5 == 4 ? 2 : 1, 0, quint8(i * 7 % 50))) + tick;
    }
    wrap += bytesOf({'\x03', '\xff', '\xf0'}) + be32(0xfffff000);
    for (int i = 0; i < 30; ++i)
        wrap += put(1, 0, 0) + (i % 3 ? QByteArray(1, '\x01') : tick);
    wrap += put(0, 0, 0) + put(-40, 0, 0) + bytesOf({'\x02', '\xff'});
    return {{"steady", steady}, {"reordered", reordered}, {"lossy", lossy}, {"wrap", wrap}};
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    writeSeedsIfAsked(argc, argv, seeds);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Cursor in(inputView(data, size));
    Harness h(kConfigs[in.u8() % 4]);
    const quint32 tsBase = 0x10000;
    for (int ops = 0; ops < kMaxOps && !in.atEnd(); ++ops) {
        const quint8 op = in.u8();
        switch (op & 3) {
        case 0: {
            const quint16 seq = quint16(h.lastSeq() + qint8(in.u8()));
            const qint8 dts = qint8(in.u8());
            const quint8 late = in.u8();
            h.put(seq, tsBase + quint32(seq) * 960 + quint32(qint32(dts) * 48), h.now() + late);
            break;
        }
        case 1:
            h.pop();
            break;
        case 2:
            h.run(in.u8());
            break;
        case 3: {
            const quint16 seq = in.u16();
            const quint32 ts = in.u32();
            h.put(seq, ts, h.now());
            break;
        }
        }
    }
    return 0;
}
