#pragma once

// The answering broker's two exchanges on a peer link (PROTOCOL.md §8), each an object with its
// step and one `finished` signal, emitted exactly once — the other side of peerattempts.h.
//
//   PeerHandshakeResponder (Noise KKpsk0, 0x03 frames):
//     AwaitingMsg1 --msg1 under the peering secret (first run) or the current K_AB: K_AB' pending,
//     durable, then msg2--> AwaitingConfirm --confirm: exactly this exchange's key committed,
//     then enrolled(epoch)--> Done
//   PeerLoginResponder (0x04 frames, the session channel):
//     AwaitingHello --hello: challenge--> AwaitingLogin --login under the key it named (the
//     pending one commits): welcome--> Done; the socket and channel are then taken by the link
//
// Failures all get the same cleartext `auth` answer (not a peer, another static key, a wrong
// secret or key, a replay, a superseded or forgotten key), a bad frame `bad_request`; each is
// logged with its reason. No answer within handshakeTimeoutMs: the socket is aborted. Both live
// as children of their socket (they go with it). Main thread only.

#include "core/channel.h"
#include "core/crypto.h"
#include "core/framedsocket.h"
#include "core/noise.h"
#include "core/secretbytes.h"

#include "broker/config.h"
#include "broker/store.h"

#include <QObject>
#include <QPointer>
#include <QTimer>

#include <functional>
#include <optional>

namespace sotto::broker {

// What a responder uses: the store for K_AB and answered handshakes, who we are, the peers we
// are configured with, and the log.
struct ResponderContext
{
    Store &store;
    const BrokerConfig &config; // config.name is ours, config.peers who may dial us
    const crypto::X25519KeyPair &identity;
    std::function<void(const QString &)> log;
};

class PeerHandshakeResponder : public QObject
{
    Q_OBJECT
public:
    enum class Step { AwaitingMsg1, AwaitingConfirm, Done, Failed };
    // Takes the socket's frames from now on; becomes its child.
    PeerHandshakeResponder(ResponderContext context, FramedSocket *socket);
    // msg1, the socket's first frame.
    void start(const QByteArray &msg1);
    Step step() const { return m_step; }
    QString peer() const { return m_peer; }

Q_SIGNALS:
    // ok: K_AB at `epoch` is committed here (and `enrolled` is on its way). Else `why`.
    void finished(bool ok, quint32 epoch, const QString &why);

private:
    void onFrame(const QByteArray &body);
    void onConfirm(const QByteArray &body);
    // The same answer whatever was wrong; `why` for the log.
    void refuse(const QString &why, ErrorCode code = ErrorCode::Auth);
    void succeed();

    ResponderContext m_ctx;
    FramedSocket *m_socket;
    Step m_step = Step::AwaitingMsg1;
    QString m_peer;
    quint32 m_newEpoch = 0;
    SecretBytes m_ownKey; // the K_AB this exchange made: only it may be committed
    SecureChannel m_channel;
    QTimer m_deadline;
};

class PeerLoginResponder : public QObject
{
    Q_OBJECT
public:
    enum class Step { AwaitingHello, AwaitingLogin, Done, Failed };
    PeerLoginResponder(ResponderContext context, FramedSocket *socket);
    // hello, the socket's first frame.
    void start(const QByteArray &hello);
    Step step() const { return m_step; }
    QString peer() const { return m_peer; }
    // After finished(true): the session channel (welcome sent). The socket is no longer ours.
    SecureChannel takeChannel() { return std::move(m_channel); }
    FramedSocket *socket() const { return m_socket; }

Q_SIGNALS:
    void finished(bool ok, const QString &why);

private:
    void onFrame(const QByteArray &body);
    void refuse(const QString &why, ErrorCode code = ErrorCode::Auth);

    ResponderContext m_ctx;
    FramedSocket *m_socket;
    Step m_step = Step::AwaitingHello;
    QString m_peer;
    quint32 m_epoch = 0;
    bool m_commit = false; // under the pending K_AB: the login commits it
    SecretBytes m_loginKey; // the key the hello named: only it may be committed, or still be current
    SecureChannel m_channel;
    QTimer m_deadline;
};

// The key a peer's handshake at `epoch` runs under (§8): the peering secret for the first run
// (epoch 0, no K_AB held yet), else the current K_AB at that epoch. nullopt with the reason for
// anything else. Pure.
struct PeerHandshakeKey
{
    std::optional<SecretBytes> psk;
    QString refusal;
};
PeerHandshakeKey peerHandshakeKey(const AccountRecord *held, const PeerConfig &peer, quint32 epoch);

} // namespace sotto::broker
