#pragma once

// One login to the broker (PROTOCOL.md §5) over a socket that is already connected:
//   phone → broker   hello(account, epoch, nonce)            cleartext
//   broker → phone   challenge(nonce_b)                      cleartext
//   phone → broker   login(client)                           sealed under keys from K_epoch
//   broker → phone   welcome(…)                              sealed
// A plain state machine: it owns no socket and sends nothing. hello() gives the first frame;
// take() is given each frame that follows and answers with the next frame to send or, once,
// how the attempt finished (Welcome, PendingRefused, Refused or Failed) — its one `finished`.
// Which key it proves is the commit rule's (§4): a pending key first, because only the broker
// can say whether it committed it; the current key when the broker refused the pending one.
// Thread: its owner's.

#include "core/channel.h"
#include "core/result.h"
#include "core/wire.h"

#include <QString>

#include <optional>
#include <variant>

namespace sotto {

class Profile;

// A frame from the broker once the channel is sealed, opened: a message; nothing to act on (a
// type this phone does not know: a newer broker's); the broker's own cleartext error; or a
// frame that ends the connection. Shared by the login and the session after it.
struct BrokerFrame
{
    enum class Kind { Message, Unknown, BrokerError, Bad };
    Kind kind = Kind::Bad;
    std::optional<wire::Message> message; // Message: always
    Error error; // BrokerError: the broker's; Bad: why the frame was refused
};
BrokerFrame openBrokerFrame(SecureChannel &channel, QByteArrayView body);

class BrokerLogin
{
public:
    enum class Step { Hello, Challenged, Done };
    // What the broker's answer did to a pending key (the commit rule: Proven commits it).
    enum class Pending { None, Proven, Refused };

    struct Send // not finished: send this frame
    {
        QByteArray frame;
    };
    struct Welcome // online: the channel and the welcome
    {
        SecureChannel channel;
        wire::Message welcome;
        quint32 epoch = 0;
        Pending pending = Pending::None;
    };
    struct PendingRefused // the broker never committed the pending key: try the current one at once
    {
    };
    struct Refused // the broker refuses this device's key for good (revoked, replaced)
    {
        Error error;
    };
    struct Failed // no broker judged our key: the next address, or the same after the back-off
    {
        QString reason;
    };
    using Progress = std::variant<Send, Welcome, PendingRefused, Refused, Failed>;

    // pendingRefused: the previous attempt's broker refused the pending key (PendingRefused).
    BrokerLogin(const Profile &profile, QString device, bool pendingRefused);

    // The hello (Failed without randomness or a key to prove).
    Progress hello();
    // The broker's next frame.
    Progress take(const QByteArray &body);

    Step step() const { return m_step; }
    quint32 epoch() const { return m_epoch; }

private:
    Progress fail(QString reason);
    Progress onChallenge(const QByteArray &body);
    Progress onAnswer(const QByteArray &body);
    bool provesPending() const;

    const Profile &m_profile;
    QString m_device;
    bool m_pendingRefused = false;
    quint32 m_epoch = 0;
    QByteArray m_nonce;
    SecureChannel m_channel;
    Step m_step = Step::Hello;
};

} // namespace sotto
