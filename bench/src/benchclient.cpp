#include "benchclient.h"

#include "core/crypto.h"
#include "core/skbp.h"

#include <QCborMap>
#include <QTcpSocket>

namespace sotto::bench {

namespace key = wire::key;

BenchClient::BenchClient(QString account, SecretBytes key, quint32 epoch, quint16 port, QObject *parent)
    : QObject(parent), m_account(std::move(account)), m_key(std::move(key)), m_epoch(epoch), m_port(port)
{
}

void BenchClient::connectToBroker()
{
    auto *tcp = new QTcpSocket;
    m_socket = new FramedSocket(tcp, this);
    connect(m_socket, &FramedSocket::connected, this, [this] {
        m_nonce = *crypto::randomBytes(skbp::kNonceSize);
        m_socket->send(wire::encodeHello({m_account, m_epoch, m_nonce}));
    });
    connect(m_socket, &FramedSocket::frameReceived, this, &BenchClient::onFrame);
    connect(m_socket, &FramedSocket::disconnected, this, [this] {
        Q_EMIT failed(QStringLiteral("%1 disconnected%2").arg(m_account, m_online ? QString() : QStringLiteral(" before logging in")));
        m_online = false;
    });
    tcp->connectToHost(QHostAddress::LocalHost, m_port);
}

void BenchClient::send(const QCborMap &m)
{
    if (auto sealed = m_channel.seal(m))
        m_socket->send(*sealed);
}

void BenchClient::call(const QString &to)
{
    QCborMap m = wire::message(wire::MessageType::Call);
    m.insert(key::id, qint64(m_nextId++));
    m.insert(key::to, to);
    send(m);
}

void BenchClient::leave(const QByteArray &sid)
{
    send(wire::aboutSession(wire::MessageType::Leave, sid));
}

void BenchClient::onFrame(const QByteArray &body)
{
    if (!m_channel.isOpen()) {
        auto nb = wire::decodeChallenge(body);
        if (!nb) {
            Q_EMIT failed(QStringLiteral("%1: no challenge").arg(m_account));
            return;
        }
        auto keys = skbp::channelKeys(m_key, m_account, m_epoch, m_nonce, *nb);
        m_channel = SecureChannel(noise::CipherState(keys->clientToBroker), noise::CipherState(keys->brokerToClient));
        QCborMap login = wire::message(wire::MessageType::Login);
        login.insert(key::client, QStringLiteral("sotto-bench"));
        send(login);
        return;
    }
    auto m = m_channel.open(body);
    if (!m) {
        Q_EMIT failed(QStringLiteral("%1: %2").arg(m_account, m.error().message));
        return;
    }
    const wire::MessageType t = m->type();
    if (t == wire::MessageType::Welcome) {
        m_online = true;
        Q_EMIT online();
    } else if (t == wire::MessageType::CallKey) {
        const QByteArray sid = m->bytes(key::sid);
        const QByteArray wrapped = m->bytes(key::wrapped);
        auto sk = skbp::unwrap(m_key, m_epoch, wrapped, {skbp::WrapPurpose::Call, sid, 0, m_account});
        if (!sk) {
            Q_EMIT failed(QStringLiteral("%1: unwrap failed").arg(m_account));
            return;
        }
        Q_EMIT callKey(sid);
    } else if (t == wire::MessageType::Incoming) {
        const QByteArray sid = m->bytes(key::sid);
        auto sk = skbp::sessionKey(skbp::KeyMode::Derived, m_key, sid, m_account, m->u32(key::epoch));
        Q_UNUSED(sk);
        Q_EMIT incoming(sid);
        if (autoAnswer) {
            send(wire::aboutSession(wire::MessageType::Answer, sid));
        }
    } else if (t == wire::MessageType::Answered) {
        Q_EMIT answered(m->bytes(key::sid));
    } else if (t == wire::MessageType::Ended) {
        Q_EMIT ended(m->bytes(key::sid));
    } else if (t == wire::MessageType::Rotate) {
        const quint32 next = m->u32(key::epoch);
        auto key = skbp::unwrap(m_key, m_epoch, m->bytes(key::wrapped),
                                {skbp::WrapPurpose::Rotate, QByteArray(16, '\0'), 0, m_account});
        if (!key) {
            Q_EMIT failed(QStringLiteral("%1: rotate unwrap failed").arg(m_account));
            return;
        }
        m_key = std::move(*key);
        m_epoch = next;
        QCborMap ack = wire::message(wire::MessageType::RotateAck);
        ack.insert(key::epoch, qint64(next));
        ack.insert(key::proof, *skbp::rotateProof(m_key, m_account, next));
        send(ack);
        Q_EMIT rotated(next);
    } else if (t == wire::MessageType::Error) {
        Q_EMIT failed(QStringLiteral("%1: error %2 %3").arg(m_account, m->text(key::code), m->text(key::msg)));
    }
}

} // namespace sotto::bench
