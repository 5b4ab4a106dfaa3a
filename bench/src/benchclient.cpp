#include "benchclient.h"

#include "core/crypto.h"
#include "core/skbp.h"

#include <QCborMap>
#include <QTcpSocket>

namespace sotto::bench {

namespace {
QLatin1StringView k(const char *s)
{
    return QLatin1StringView(s);
}
} // namespace

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
        if (m_online)
            Q_EMIT failed(QStringLiteral("%1 disconnected").arg(m_account));
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
    QCborMap m = wire::message(k("call"));
    m.insert(k("id"), qint64(m_nextId++));
    m.insert(k("to"), to);
    send(m);
}

void BenchClient::leave(const QByteArray &sid)
{
    QCborMap m = wire::message(k("leave"));
    m.insert(k("sid"), sid);
    send(m);
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
        QCborMap login = wire::message(k("login"));
        login.insert(k("client"), QStringLiteral("sotto-bench"));
        send(login);
        return;
    }
    auto m = m_channel.open(body);
    if (!m) {
        Q_EMIT failed(QStringLiteral("%1: %2").arg(m_account, m.error().message));
        return;
    }
    const QString t = m->type();
    if (t == k("welcome")) {
        m_online = true;
        Q_EMIT online();
    } else if (t == k("call_key")) {
        const QByteArray sid = m->bytes(k("sid"));
        const QByteArray wrapped = m->bytes(k("wrapped"));
        auto sk = skbp::unwrap(m_key, m_epoch, wrapped, {skbp::WrapPurpose::Call, sid, 0, m_account});
        if (!sk) {
            Q_EMIT failed(QStringLiteral("%1: unwrap failed").arg(m_account));
            return;
        }
        Q_EMIT callKey(sid);
    } else if (t == k("incoming")) {
        const QByteArray sid = m->bytes(k("sid"));
        auto sk = skbp::sessionKey(skbp::KeyMode::Derived, m_key, sid, m_account, m->u32(k("epoch")));
        Q_UNUSED(sk);
        Q_EMIT incoming(sid);
        if (autoAnswer) {
            QCborMap a = wire::message(k("answer"));
            a.insert(k("sid"), sid);
            send(a);
        }
    } else if (t == k("answered")) {
        Q_EMIT answered(m->bytes(k("sid")));
    } else if (t == k("ended")) {
        Q_EMIT ended(m->bytes(k("sid")));
    } else if (t == k("rotate")) {
        const quint32 next = m->u32(k("epoch"));
        auto key = skbp::unwrap(m_key, m_epoch, m->bytes(k("wrapped")),
                                {skbp::WrapPurpose::Rotate, QByteArray(16, '\0'), 0, m_account});
        if (!key) {
            Q_EMIT failed(QStringLiteral("%1: rotate unwrap failed").arg(m_account));
            return;
        }
        m_key = std::move(*key);
        m_epoch = next;
        QCborMap ack = wire::message(k("rotate_ack"));
        ack.insert(k("epoch"), qint64(next));
        ack.insert(k("proof"), *skbp::rotateProof(m_key, m_account, next));
        send(ack);
        Q_EMIT rotated(next);
    } else if (t == k("error")) {
        Q_EMIT failed(QStringLiteral("%1: error %2 %3").arg(m_account, m->text(k("code")), m->text(k("msg"))));
    }
}

} // namespace sotto::bench
