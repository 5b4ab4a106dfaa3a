#pragma once

// The phone's side of a call set-up (BENCH.md client_setup_us), the floor it is held to
// (client_setup_floor_us) and the Noise handshake it is compared with
// (client_noise_handshake_us): each as one unit of work, so that the same code is timed by the
// CPU clock and counted by callgrind (--callgrind). Main thread only.

#include <QJsonObject>
#include <QString>

#include <memory>

namespace sotto::bench {

// One call set-up at a time, over the same wrapped key and session.
class SetupWork
{
public:
    SetupWork();
    ~SetupWork();
    // As ClientEngine does it: unwrap {SK}K under the epoch's wrap cipher (keyed once per
    // epoch, WrapKeyCache), then our SRTP material and the peer's from the generation's one
    // HKDF extract (SrtpKeys).
    void setup();
    // The same work the leanest way found: the GCM context keyed in advance (only its nonce
    // set), the AAD built in advance, nothing allocated; one extract and two expands on
    // pre-keyed HMAC pad states.
    void floor();

private:
    struct Data;
    std::unique_ptr<Data> d;
};

// The client's half of an NKpsk0 handshake and the broker-key derivation, in two steps around
// the broker's half (which is not the client's cost).
class HandshakeWork
{
public:
    HandshakeWork();
    ~HandshakeWork();
    void clientFirst();  // create, write message 1
    void respond();      // the broker: read 1, write 2
    void clientSecond(); // read message 2, split, derive the broker key

private:
    struct Data;
    std::unique_ptr<Data> d;
};

// --callgrind: runs this binary again under `valgrind --tool=callgrind` once per figure, with
// collection on only inside the measured calls, and returns instructions per call:
// {"client_setup": …, "client_setup_floor": …, "client_noise_handshake": …,
//  "setup_vs_handshake": …}. Empty with *error set when valgrind is missing or fails.
QJsonObject countInstructions(const QString &self, int iterations, QString *error);

// The child side of countInstructions (`sotto-bench --callgrind-probe NAME --iterations N`):
// one warm-up, then N measured calls. Returns the process exit code.
int runProbe(const QString &name, int iterations);

} // namespace sotto::bench
