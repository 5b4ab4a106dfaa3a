#pragma once

// phone_call_cpu_percent (BENCH.md): two headless phones (`sotto phone --headless`, separate
// processes) in a real call through a real broker for a fixed time, microphones from a WAV of
// speech-like sound; each phone's CPU time while the call is up, over the wall time.

#include <QtGlobal>

#include <vector>

namespace sotto::bench {

struct PhoneCallCpu
{
    double callerPercent = 0;
    double calleePercent = 0;
    double seconds = 0; // of the call, as measured
};
// Fails (qFatal) if the call does not happen. Main thread.
PhoneCallCpu benchPhoneCallCpu(int seconds);

// utime + stime of a process, in seconds (/proc/PID/stat); -1 when it cannot be read.
double processCpuSeconds(qint64 pid);

} // namespace sotto::bench
