#pragma once

// The broker's side of a phone's opening exchange (PROTOCOL.md §4, §5), each an object with its
// step and one `finished`, emitted exactly once — the other side of the phone's Enroller and
// BrokerLogin.
//
//   EnrolmentResponder (Noise NKpsk0, 0x01 frames):
//     AwaitingMsg1 --msg1 under an open invite (epoch 0) or the current key (a refresh): K_new
//     pending — a replacement device's beside the old device's key — durable, then msg2-->
//     AwaitingConfirm --confirm: exactly this exchange's key committed, `enrolled` once durable-->
//     Done
//   LoginResponder (0x02 frames):
//     AwaitingHello --hello: a challenge (under a decoy key for an unknown account or epoch, so
//     that the answer never tells which)--> AwaitingLogin --login under the key the hello named:
//     a pending or replacement key it names commits, a stale unconfirmed one is dropped--> Done;
//     the channel is then the connection's (takeChannel), which sends the welcome
//
// Failures: each sends its answer (cleartext before the channel is open, sealed after) and then
// finished(false): a wrong invite, key or account, a replayed msg1 and a superseded key all get
// the same `auth`; a malformed frame `bad_request`; a store that fails `internal`. Keys are only
// ever committed for the key this exchange negotiated or named (the commit rule, written once
// in AccountRecord::holds*). Neither owns the socket or a deadline: the PhoneConnection keeps
// both and closes after a failure. Main thread only.

#include "core/channel.h"
#include "core/crypto.h"
#include "core/framedsocket.h"
#include "core/secretbytes.h"

#include "broker/config.h"
#include "broker/store.h"

#include <QObject>

#include <functional>

namespace sotto::broker {

// What a phone's responder uses of the broker, named.
struct PhoneResponderContext
{
    Store &store;
    const BrokerConfig &config;
    const crypto::X25519KeyPair &identity; // the broker's static key (Noise NKpsk0)
    std::function<void(const QString &)> log;
    // An account's key moved (committed, or a stale pending one dropped): rotation may go on.
    std::function<void(const QString &account)> keyCommitted;
    // A replacement device's key committed: the old device's channel and calls go, now.
    std::function<void(const QString &account)> replaced;
};

class EnrolmentResponder : public QObject
{
    Q_OBJECT
public:
    enum class Step { AwaitingMsg1, AwaitingConfirm, Done, Failed };
    EnrolmentResponder(PhoneResponderContext context, FramedSocket *socket, QObject *parent = nullptr);
    // msg1, the connection's first frame.
    void start(const QByteArray &msg1);
    // The connection's next frame (confirm).
    void take(const QByteArray &body);
    // Ends the exchange with this answer (the connection's deadline).
    void abort(ErrorCode code, const QString &why);
    // The connection closed: nothing more is sent or committed, and nothing emitted.
    void drop();
    Step step() const { return m_step; }
    QString account() const { return m_account; }

Q_SIGNALS:
    // ok: the key at `epoch` is committed and `enrolled` sent. Else the answer was sent.
    void finished(bool ok, quint32 epoch);

private:
    void refuse(ErrorCode code, const QString &why);
    // The refusal that names this broker's public key (the same for every wrong psk).
    void refuseAuth();

    PhoneResponderContext m_ctx;
    FramedSocket *m_socket;
    Step m_step = Step::AwaitingMsg1;
    QString m_account;
    quint32 m_newEpoch = 0;
    bool m_replacing = false; // a replacement device's enrolment (invite --replace)
    SecretBytes m_ownKey;     // the key this exchange negotiated: only it may be committed
    SecureChannel m_channel;
};

class LoginResponder : public QObject
{
    Q_OBJECT
public:
    enum class Step { AwaitingHello, AwaitingLogin, Done, Failed };
    LoginResponder(PhoneResponderContext context, FramedSocket *socket, QObject *parent = nullptr);
    // hello, the connection's first frame.
    void start(const QByteArray &hello);
    // The connection's next frame (login).
    void take(const QByteArray &body);
    void abort(ErrorCode code, const QString &why);
    void drop();
    Step step() const { return m_step; }
    QString account() const { return m_account; }
    quint32 epoch() const { return m_epoch; }
    // After finished(true): the session channel, the connection's from now on.
    SecureChannel takeChannel() { return std::move(m_channel); }

Q_SIGNALS:
    void finished(bool ok);

private:
    void refuse(ErrorCode code, const QString &why, bool sealed = false);
    // The key the hello named moved as the commit rule says; false (answered) on a failure.
    bool settleKeys();

    PhoneResponderContext m_ctx;
    FramedSocket *m_socket;
    Step m_step = Step::AwaitingHello;
    QString m_account;
    quint32 m_epoch = 0;
    bool m_commitOnLogin = false;
    bool m_replacing = false;
    SecretBytes m_ownKey; // a pending or replacement key the hello named: only it may commit
    SecureChannel m_channel;
};

} // namespace sotto::broker
