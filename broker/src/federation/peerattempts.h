#pragma once

// The dialling broker's two attempts on a peer link (PROTOCOL.md §8), each an object with its
// step and one `finished` signal, emitted exactly once unless abort() came first — as core's
// Enroller is on the phone's side. Federation owns them (one at a time per link) and decides
// what follows: a login after a handshake, a reconnect after a failure.
//
//   PeerHandshake (Noise KKpsk0, 0x03 frames):
//     Connecting --connected/msg1--> AwaitingMsg2 --msg2: K_AB pending, durable, then confirm-->
//     AwaitingEnrolled --enrolled(epoch): exactly our K_AB committed--> Done
//   PeerLogin (0x04 frames, the session channel):
//     Connecting --hello--> AwaitingChallenge --login--> AwaitingWelcome --welcome(epoch)--> Done
//     (a login under the pending K_AB commits it; one under the current key while a pending one
//      is held proves the peer never committed it, and it is discarded)
//
// Failures: the socket drops, a cleartext or sealed error, a frame that does not authenticate or
// is not the next step's, a store failure, or no answer within 2 × handshakeTimeoutMs (the
// responder's own deadline, plus the connect and its group commit). Main thread only.

#include "core/channel.h"
#include "core/framedsocket.h"
#include "core/noise.h"
#include "core/secretbytes.h"

#include "broker/config.h"

#include <QObject>
#include <QPointer>
#include <QTimer>

#include <functional>
#include <optional>

namespace sotto::broker {

class Store;

// What an attempt uses: the store for K_AB, who we are, and the link's limits.
struct AttemptContext
{
    Store &store;
    QString self;           // our broker name
    SecretBytes staticKey;  // our static private key
    const BrokerConfig &config;
    std::function<void(const QString &)> log;
};

class PeerHandshake : public QObject
{
    Q_OBJECT
public:
    enum class Step { Connecting, AwaitingMsg2, AwaitingEnrolled, Done };
    PeerHandshake(AttemptContext context, PeerConfig peer, QObject *parent = nullptr);
    // Dials. A handshake under the current K_AB (a refresh) or, with none yet, the peering secret.
    void start();
    // Stops without `finished` (the link was forgotten or the broker stops).
    void abort();
    Step step() const { return m_step; }

Q_SIGNALS:
    // ok: K_AB at `epoch` is committed here and at the peer. Else `why`.
    void finished(bool ok, quint32 epoch, const QString &why);

private:
    void onConnected();
    void onFrame(const QByteArray &body);
    void onMsg2(const QByteArray &body);
    void onEnrolled(const QByteArray &body);
    void finish(bool ok, const QString &why);

    AttemptContext m_ctx;
    PeerConfig m_peer;
    Step m_step = Step::Connecting;
    FramedSocket *m_socket = nullptr;
    std::optional<noise::HandshakeState> m_state;
    SecureChannel m_channel;
    quint32 m_epoch = 0;    // of the key the handshake runs under (0: the peering secret)
    quint32 m_newEpoch = 0; // of the K_AB it makes
    SecretBytes m_ourKey;   // that K_AB: only it may be committed
    QTimer m_deadline;
};

class PeerLogin : public QObject
{
    Q_OBJECT
public:
    enum class Step { Connecting, AwaitingChallenge, AwaitingWelcome, Done };
    // `pending`: under the pending K_AB at `epoch` (its login commits it), else the current one.
    PeerLogin(AttemptContext context, PeerConfig peer, quint32 epoch, bool pending, QObject *parent = nullptr);
    void start();
    void abort();
    Step step() const { return m_step; }
    bool pending() const { return m_pending; }
    // After finished(true): the session channel, handed over once.
    FramedSocket *takeSocket();
    SecureChannel takeChannel() { return std::move(m_channel); }

Q_SIGNALS:
    // `refused`: the peer said auth (try the other key next time; nothing is forgotten for it).
    void finished(bool ok, const QString &why, bool refused);

private:
    void onFrame(const QByteArray &body);
    void onChallenge(const QByteArray &body);
    void onWelcome(const QByteArray &body);
    void finish(bool ok, const QString &why, bool refused = false);

    AttemptContext m_ctx;
    PeerConfig m_peer;
    quint32 m_epoch;
    bool m_pending;
    Step m_step = Step::Connecting;
    QPointer<FramedSocket> m_socket;
    SecretBytes m_key;
    QByteArray m_nonce;
    SecureChannel m_channel;
    QTimer m_deadline;
};

} // namespace sotto::broker
