#pragma once

// A lean SKBP client for load: logs in with a key it holds in memory and speaks just enough of
// §6 to drive call cycles (call, answer, leave, rotate + ack). No disk, no timeline: it measures
// the broker, not the phone engine.

#include "core/channel.h"
#include "core/framedsocket.h"
#include "core/secretbytes.h"

#include <QObject>

#include <functional>

namespace sotto::bench {

class BenchClient : public QObject
{
    Q_OBJECT
public:
    BenchClient(QString account, SecretBytes key, quint32 epoch, quint16 port, QObject *parent = nullptr);

    void connectToBroker();
    bool isOnline() const { return m_online; }
    QString account() const { return m_account; }
    quint32 epoch() const { return m_epoch; }

    void call(const QString &to);
    void leave(const QByteArray &sid);
    bool autoAnswer = false;

Q_SIGNALS:
    void online();
    void callKey(const QByteArray &sid);  // caller holds the unwrapped key
    void incoming(const QByteArray &sid); // callee derived the key
    void answered(const QByteArray &sid);
    void ended(const QByteArray &sid);
    void rotated(quint32 epoch);
    void failed(const QString &why);

private:
    void onFrame(const QByteArray &body);
    void send(const QCborMap &m);

    QString m_account;
    SecretBytes m_key;
    quint32 m_epoch;
    quint16 m_port;
    FramedSocket *m_socket = nullptr;
    SecureChannel m_channel;
    QByteArray m_nonce;
    bool m_online = false;
    quint32 m_nextId = 1;
};

} // namespace sotto::bench
