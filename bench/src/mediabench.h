#pragma once

// The voice figures of BENCH.md: media CPU per 20 ms frame, relay forwarding rate, and
// mouth-to-ear latency through the whole pipeline.

#include <QtGlobal>

#include <vector>

namespace sotto::bench {

struct MediaCpu
{
    std::vector<double> opusEncodeUs;
    std::vector<double> sendUs;      // processing on (AEC, NS, AGC at 16 kHz)
    std::vector<double> plainSendUs; // processing off: voice activity only
    std::vector<double> recvUs; // two members
};
MediaCpu benchMediaCpu(int runs, int frames);

// The echo canceller (with noise suppression and its residual echo suppression) at one
// processing rate: echo return loss enhancement on a converged synthetic echo, and its CPU.
struct EchoFigures
{
    double erleDb = 0;
    double processUs = 0; // per 20 ms frame
};
EchoFigures benchEcho(int processingRate);
#ifdef SOTTO_BENCH_WEBRTC
// The same through WebRTC's audio processing library, when the bench was built with it.
EchoFigures benchWebRtcEcho();
#endif

struct RelayRate
{
    std::vector<double> windows; // forwarded packets a second
    int sessions = 0;
    int threads = 1;
    double perCpuSecond = 0; // forwarded packets over the relay threads' CPU seconds
};
struct RelayLoad
{
    int members = 3; // per session: each packet goes to members - 1 others
    int threads = 1; // relay threads (SO_REUSEPORT)
    int batch = 64;  // recvmmsg/sendmmsg size
};
RelayRate benchRelay(int sessions, int seconds, const RelayLoad &load = {});

struct MouthToEar
{
    double ms = 0;
    double jitterBufferMs = 0;
    int clicks = 0;
};
MouthToEar benchMouthToEar(int clicks);

// A voiced signal with a moving pitch and a syllable envelope, 48 kHz: codec work like speech.
std::vector<qint16> speechLike(int seconds);

// CPU time of this thread in µs (wall time where the platform has no thread clock).
double cpuMicros();

} // namespace sotto::bench
