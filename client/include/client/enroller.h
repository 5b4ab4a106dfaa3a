#pragma once

// The client side of one enrolment or refresh (PROTOCOL.md §4) over its own TCP connection.
// Follows the commit rule: K_new is stored pending (durably) before `confirm` is sent, and made
// current only on `enrolled`. If anything fails after that, the pending key stays and the next
// login settles it. Emits finished() exactly once.

#include "core/channel.h"
#include "core/framedsocket.h"
#include "core/noise.h"
#include "client/profile.h"

#include <QObject>
#include <QTimer>

#include <optional>

namespace sotto {

class Enroller : public QObject
{
    Q_OBJECT
public:
    // Uses the invite secret (epoch 0) or the current key (refresh) of the profile as psk.
    Enroller(Profile &profile, QString device, QObject *parent = nullptr);

    void start(int timeoutMs = 10000);
    quint32 startEpoch() const { return m_epoch; }

Q_SIGNALS:
    // On success: the new epoch, committed in the profile, and the new key's fingerprint.
    void finished(bool ok, quint32 epoch, const QString &fingerprint, const sotto::Error &error);

private:
    void onConnected();
    void onFrame(const QByteArray &body);
    void finish(bool ok, const Error &error = {});

    Profile &m_profile;
    QString m_device;
    FramedSocket *m_socket = nullptr;
    std::optional<noise::HandshakeState> m_hs;
    SecureChannel m_channel;
    quint32 m_epoch = 0;
    quint32 m_newEpoch = 0;
    QString m_fp;
    enum class Step { Connecting, AwaitMsg2, AwaitEnrolled, Done } m_step = Step::Connecting;
    QTimer m_timeout;
};

} // namespace sotto
