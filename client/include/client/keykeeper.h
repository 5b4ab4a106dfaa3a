#pragma once

// The keys a phone holds for its calls (PROTOCOL.md §6.1, §6.2), apart from what the calls do:
// for each call the current generation's SK, the previous generation kept for late packets and
// wiped `previousKeyMs` after a switch, the SRTP keys derived from each (made at first use, wiped
// with their key) and the relay grant's key; and the unwrapping of what the broker sends under
// this device's key (its AES-GCM schedules cached). Never shown, never logged: the media layer
// reads keys through the engine, everything else sees fingerprints.
//
// Lives on the thread that made it (the wipe timers are its). No method fails but unwrap() and
// srtpMaterial(), whose errors say why.

#include "client/profile.h"
#include "core/result.h"
#include "core/secretbytes.h"
#include "core/skbp.h"

#include <QByteArray>
#include <QString>
#include <QTimer>

#include <map>
#include <memory>
#include <optional>

namespace sotto {

class KeyKeeper
{
public:
    KeyKeeper(const Profile &profile, int previousKeyMs) : m_profile(profile), m_previousKeyMs(previousKeyMs) {}

    // {secret}K_me as the broker wrapped it, under the epoch it names (Auth when this device
    // does not hold that epoch; Crypto for anything tampered with or wrapped for another context).
    Result<SecretBytes> unwrap(const QByteArray &wrapped, skbp::WrapContext ctx) const;

    // The call's key at `gen`. The first makes the call keyed; a later one makes the one before
    // it the previous generation, kept for previousKeyMs.
    void install(const QByteArray &sid, quint32 gen, SecretBytes key);
    // The relay grant's key (proven in every bind, never sent).
    void setRelayKey(const QByteArray &sid, SecretBytes key);
    // The call is over: every key of it is wiped now.
    void forget(const QByteArray &sid) { m_calls.erase(sid); }

    bool keyed(const QByteArray &sid) const;
    // The current generation's key (for the ratchet of a join); null when not keyed.
    const SecretBytes *current(const QByteArray &sid) const;
    QString fingerprint(const QByteArray &sid) const;
    // The key of a generation still held: the current one, or the previous within its grace.
    std::optional<SecretBytes> sessionKey(const QByteArray &sid, quint32 gen) const;
    // SRTP master key and salt for one sender at a generation still held (NotInSession otherwise).
    Result<skbp::SrtpMaterial> srtpMaterial(const QByteArray &sid, quint32 gen, quint32 ssrc) const;
    SecretBytes relayKey(const QByteArray &sid) const;

private:
    struct Call
    {
        quint32 gen = 0;
        SecretBytes key;
        quint32 previousGen = 0;
        SecretBytes previousKey;
        SecretBytes relayKey;
        // The SRTP keys' shared HKDF extract for key and previousKey, made at the first
        // srtpMaterial() of the generation and wiped with its key.
        mutable std::optional<skbp::SrtpKeys> srtp;
        mutable std::optional<skbp::SrtpKeys> previousSrtp;
        std::unique_ptr<QTimer> wipe;
    };
    const Call *find(const QByteArray &sid) const;

    const Profile &m_profile;
    int m_previousKeyMs;
    std::map<QByteArray, Call> m_calls;
    mutable skbp::WrapKeyCache m_wrapKeys;
};

} // namespace sotto
