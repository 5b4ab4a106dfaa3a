#pragma once

// One client connection: the opening exchange — an EnrolmentResponder (§4) or a LoginResponder
// (§5), under the connection's deadline — then, for a login, the session channel and the
// phone's requests. Private to the broker; main thread only.

#include "routercontext.h"

#include "core/channels.h"
#include "core/channel.h"
#include "core/crypto.h"
#include "core/framedsocket.h"
#include "core/noise.h"

#include "phones/phoneresponders.h"

#include <QElapsedTimer>
#include <QObject>
#include <QPointer>
#include <QTimer>

#include <optional>

namespace sotto::broker {

class CallRouter;
class PhoneConnection;
class Federation;
struct AccountRecord;

// What a connection uses of the broker, named.
struct PhoneConnectionContext
{
    Store &store;
    const BrokerConfig &config;
    const crypto::X25519KeyPair &identity; // the broker's static key (enrolment, Noise NKpsk0)
    CallRouter &router;                    // an online phone's requests
    Federation *federation;                // takes over a peered broker's connection
    Outbox &outbox;                        // the phones' channels, the console's signals
    std::function<void(PhoneConnection *)> online; // logged in: the broker routes the account here
    std::function<void(PhoneConnection *)> subscribed; // asked for the directory: wants presence from now on
    std::function<qint64(const AccountRecord &)> refreshIn;
    std::function<QStringList()> brokers; // the store's instances (welcome's "brokers"; empty: one)
    std::function<void(const QString &)> log;
    // A replacement device's key committed for `account` on `by`: the old device's channel
    // closes and its calls end, now (`by` itself stays).
    std::function<void(const QString &account, PhoneConnection *by)> replaced;
    // False when this instance may no longer act for its store (the active's lease ran out):
    // frames are then dropped unread. Null: always.
    std::function<bool()> mayServe;
};

// The phone's requests once online are a wire::PhoneRequestHandler: one on<Request> each, and
// anything else closes the channel (unexpected).
class PhoneConnection : public QObject, private wire::PhoneRequestHandler<Result<void>>
{
    Q_OBJECT
public:
    enum class Phase { Opening, Enrolling, LoggingIn, Online, Closed };

    PhoneConnection(PhoneConnectionContext context, QTcpSocket *socket, QObject *parent);

    Phase phase() const { return m_phase; }
    QString account() const { return m_account; }
    bool wantsPresence() const { return m_wantsPresence; }
    // Seals and sends a message on the session channel (Online only). A message too large for
    // a frame is never sealed: it is dropped with a warning, and a request's answer becomes an
    // `internal` error with its id. False when nothing was sent.
    bool sendMessage(const QCborMap &message);
    void sendError(ErrorCode code, const QString &msg, std::optional<quint32> id = {});
    // Sends an error (sealed if the channel is open, cleartext before) and closes.
    void fail(ErrorCode code, const QString &msg);
    void close();

Q_SIGNALS:
    void closed(PhoneConnection *self);

private:
    PhoneResponderContext responderContext();
    void onFrame(const QByteArray &body);
    void onOpening(const QByteArray &body);
    void startEnrolment(const QByteArray &body);
    void startLogin(const QByteArray &body);
    // The login finished: the channel is ours; the welcome goes out.
    void goOnline();
    void onMessage(const QByteArray &body);
    void handle(const wire::Message &m);
    // The requests (§6.2), each answered with an error when it fails.
    Result<void> onDirectory(const wire::Message &m) override;
    Result<void> onCall(const wire::Message &m) override;
    Result<void> onAnswer(const wire::Message &m) override;
    Result<void> onDecline(const wire::Message &m) override;
    Result<void> onInvite(const wire::Message &m) override;
    Result<void> onLeave(const wire::Message &m) override;
    Result<void> onMute(const wire::Message &m) override;
    Result<void> onResume(const wire::Message &m) override;
    Result<void> onRotateAck(const wire::Message &m) override;
    Result<void> onPing(const wire::Message &m) override;
    // What a phone never sends once it is online: the channel is not to be trusted any more.
    Result<void> unexpected(const wire::Message &m) override;
    // `ok {id}` for a request with an id (one always gets an answer, also when nothing changed).
    void sendOk(const wire::Message &m);
    bool takeToken();
    void onIdle();

    PhoneConnectionContext m_ctx;
    FramedSocket *m_socket;
    Phase m_phase = Phase::Opening;
    QString m_account;
    // The opening exchange under way (children; each goes once it finished).
    QPointer<EnrolmentResponder> m_enrolment;
    QPointer<LoginResponder> m_login;
    bool m_wantsPresence = false;
    bool m_pings = false; // the phone pings: the idle timeout applies
    SecureChannel m_channel;
    QTimer m_deadline;
    QTimer m_idle; // online: closes a channel silent for the idle timeout
    // token bucket against floods
    double m_tokens = 0;
    QElapsedTimer m_tokenClock;
};

} // namespace sotto::broker
