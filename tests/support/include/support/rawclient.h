#pragma once

// A client that speaks SKBP/1 by hand, for bad-input and fault tests: it sends exactly the bytes
// a test asks for. Waits spin the event loop, so the broker may share the test's thread.

#include "core/crypto.h"
#include "core/noise.h"
#include "core/skbp.h"
#include "core/wire.h"

#include <QCborMap>
#include <QDeadlineTimer>
#include <QElapsedTimer>
#include <QTcpSocket>
#include <QTest>

#include <optional>

namespace sotto::test {

// An error the broker sent, from a cleartext 0xEE frame or a sealed error message.
struct WireError
{
    ErrorCode code = ErrorCode::Internal;
    QString msg;
    std::optional<quint32> id;
    bool sealed = false;
    QByteArray body; // the frame body as received
};

// A client that speaks SKBP/1 by hand. Waits spin the event loop (the broker shares this thread).
class RawClient
{
public:
    explicit RawClient(quint16 port)
    {
        m_clock.start();
        QObject::connect(&m_socket, &QTcpSocket::readyRead, &m_socket,
                         [this] { m_reader.append(m_socket.readAll()); });
        QObject::connect(&m_socket, &QTcpSocket::disconnected, &m_socket, [this] {
            m_reader.append(m_socket.readAll());
            if (m_closedAtMs < 0)
                m_closedAtMs = m_clock.elapsed();
        });
        m_socket.connectToHost(QHostAddress::LocalHost, port);
        m_socket.waitForConnected(2000); // the kernel accepts; no broker event loop needed
    }
    ~RawClient()
    {
        m_socket.disconnect();
        m_socket.abort();
    }
    RawClient(const RawClient &) = delete;
    RawClient &operator=(const RawClient &) = delete;

    bool isConnected() const { return m_closedAtMs < 0 && m_socket.state() == QAbstractSocket::ConnectedState; }
    qint64 elapsedMs() const { return m_clock.elapsed(); }
    qint64 closedAtMs() const { return m_closedAtMs; }

    void write(const QByteArray &bytes)
    {
        m_socket.write(bytes);
        m_socket.flush();
    }
    void sendFrame(QByteArrayView body) { write(wire::frame(body)); }

    // The next frame body from the broker; nullopt after the timeout or once closed and drained.
    std::optional<QByteArray> nextFrame(int timeoutMs = 2000)
    {
        QDeadlineTimer deadline(timeoutMs);
        for (;;) {
            if (auto n = m_reader.next())
                return n->ok() ? std::optional<QByteArray>(n->value()) : std::nullopt;
            if (m_closedAtMs >= 0 || deadline.hasExpired())
                return std::nullopt;
            QTest::qWait(5);
        }
    }

    // True once the broker has closed the connection (within the timeout).
    bool waitClosed(int timeoutMs = 2000)
    {
        QDeadlineTimer deadline(timeoutMs);
        while (m_closedAtMs < 0 && !deadline.hasExpired())
            QTest::qWait(5);
        return m_closedAtMs >= 0;
    }

    // Sends hello; the challenge nonce n_b, or nullopt (the answer, if any, in lastFrame()).
    std::optional<QByteArray> hello(const QString &account, quint32 epoch)
    {
        m_account = account;
        m_epoch = epoch;
        m_nonce = crypto::randomBytes(skbp::kNonceSize).value();
        sendFrame(wire::encodeHello({account, epoch, m_nonce}));
        auto f = nextFrame();
        m_last = f.value_or(QByteArray());
        if (!f)
            return std::nullopt;
        auto nb = wire::decodeChallenge(*f);
        if (!nb)
            return std::nullopt;
        return *nb;
    }
    QByteArray lastFrame() const { return m_last; }

    bool keyChannel(const SecretBytes &key, const QByteArray &nb)
    {
        auto keys = skbp::channelKeys(key, m_account, m_epoch, m_nonce, nb);
        if (!keys)
            return false;
        m_send = noise::CipherState(std::move(keys->clientToBroker));
        m_receive = noise::CipherState(std::move(keys->brokerToClient));
        return true;
    }

    QByteArray sealRaw(QByteArrayView plaintext)
    {
        auto s = m_send.encryptWithAd({}, plaintext);
        return s ? *s : QByteArray();
    }
    QByteArray seal(const QCborMap &m) { return sealRaw(wire::encodeMessage(m)); }
    // Seals and sends; returns the sealed body (for replays).
    QByteArray send(const QCborMap &m)
    {
        const QByteArray sealed = seal(m);
        sendFrame(sealed);
        return sealed;
    }

    // Opens one sealed frame under the channel.
    Result<wire::Message> open(const QByteArray &frame)
    {
        auto plain = m_receive.decryptWithAd({}, frame);
        if (!plain)
            return plain.error();
        return wire::decodeMessage(*plain);
    }

    // The next sealed message, skipping presence updates.
    Result<wire::Message> nextMessage(int timeoutMs = 2000)
    {
        for (;;) {
            auto f = nextFrame(timeoutMs);
            if (!f)
                return makeError(ErrorCode::Timeout, QStringLiteral("no frame"));
            auto plain = m_receive.decryptWithAd({}, *f);
            if (!plain)
                return plain.error();
            auto m = wire::decodeMessage(*plain);
            if (!m || m->typeName() != QLatin1StringView("presence"))
                return m;
        }
    }

    // The next error frame: sealed when it opens under the channel, else cleartext.
    std::optional<WireError> nextError(int timeoutMs = 2000)
    {
        for (;;) {
            auto f = nextFrame(timeoutMs);
            if (!f)
                return std::nullopt;
            if (m_receive.hasKey()) {
                if (auto plain = m_receive.decryptWithAd({}, *f)) {
                    auto m = wire::decodeMessage(*plain);
                    if (!m)
                        return std::nullopt;
                    if (m->typeName() == QLatin1StringView("presence"))
                        continue;
                    if (m->typeName() != QLatin1StringView("error"))
                        return std::nullopt;
                    return WireError{errorCodeFromName(m->text(QLatin1StringView("code"))), m->text(QLatin1StringView("msg")), m->id(),
                                     true, *f};
                }
            }
            auto e = wire::decodeCleartextError(*f);
            if (!e)
                return std::nullopt;
            return WireError{e->code, e->message, std::nullopt, false, *f};
        }
    }

    // Full login; true once `welcome` has arrived.
    bool login(const QString &account, quint32 epoch, const SecretBytes &key)
    {
        auto nb = hello(account, epoch);
        if (!nb || !keyChannel(key, *nb))
            return false;
        QCborMap login = wire::message(wire::MessageType::Login);
        login.insert(QLatin1StringView("client"), QStringLiteral("sotto-test"));
        send(login);
        auto w = nextMessage();
        return w && w->typeName() == QLatin1StringView("welcome");
    }

    // The connection still answers: a directory request gets its directory.
    bool answersDirectory(quint32 id)
    {
        QCborMap directory = wire::message(wire::MessageType::Directory);
        directory.insert(QLatin1StringView("id"), qint64(id));
        send(directory);
        auto m = nextMessage();
        return m && m->typeName() == QLatin1StringView("directory") && m->id() == id;
    }

private:
    QElapsedTimer m_clock;
    qint64 m_closedAtMs = -1;
    wire::FrameReader m_reader;
    QString m_account;
    quint32 m_epoch = 0;
    QByteArray m_nonce;
    QByteArray m_last;
    noise::CipherState m_send;
    noise::CipherState m_receive;
    QTcpSocket m_socket; // last: destroyed first, while the members its slots touch still live

public:
    // Stops reading: what the broker sends stays in the kernel, the TCP window closes, and the
    // broker's output for us piles up (a phone behind a zero window).
    void stopReading()
    {
        m_socket.disconnect(&m_socket);
        m_socket.setReadBufferSize(1);
        m_socket.setSocketOption(QAbstractSocket::ReceiveBufferSizeSocketOption, 4096);
    }
    QTcpSocket &socket() { return m_socket; }
};

// A §4 initiator by hand, one step at a time, so that tests can replay, interleave and
// interrupt handshakes: msg1 → msg2 (K_new) → confirm → enrolled.
class RawHandshake
{
public:
    RawHandshake(quint16 port, const QByteArray &brokerPublicKey, const QString &account, quint32 epoch,
                 const SecretBytes &psk)
        : m_client(port), m_account(account), m_epoch(epoch)
    {
        noise::HandshakeConfig cfg;
        cfg.pattern = noise::Pattern::NKpsk0;
        cfg.initiator = true;
        cfg.prologue = skbp::enrollPrologue(account, epoch);
        cfg.remoteStatic = brokerPublicKey;
        cfg.psk = psk;
        m_hs.emplace(noise::HandshakeState::create(std::move(cfg)).value());
        QCborMap payload;
        payload.insert(QLatin1StringView("device"), QStringLiteral("sotto-test"));
        m_msg1 = wire::encodeEnroll1({account, epoch, m_hs->writeMessage(wire::encodeMessage(payload)).value()});
    }
    // The first frame, to replay from elsewhere.
    QByteArray msg1() const { return m_msg1; }
    RawClient &client() { return m_client; }
    const SecretBytes &newKey() const { return m_newKey; }
    // The epoch msg2 named (a refresh: epoch + 1; an invite: 1, or above every epoch the
    // account has had — epochs only grow); before start(), epoch + 1.
    quint32 newEpoch() const { return m_newEpoch ? m_newEpoch : m_epoch + 1; }

    // Sends msg1 and reads msg2: K_new is then known (and, by the commit rule, "pending" here).
    bool start()
    {
        m_client.sendFrame(m_msg1);
        auto f = m_client.nextFrame(5000);
        if (!f)
            return false;
        auto body = wire::decodeEnroll2(*f);
        auto payload = body ? m_hs->readMessage(*body) : Result<QByteArray>(body.error());
        if (!payload)
            return false;
        if (auto map = wire::decodeMap(*payload))
            m_newEpoch = quint32(map->value(QLatin1StringView("epoch")).toInteger());
        auto [i2r, r2i] = m_hs->split();
        auto key = skbp::brokerKey(m_hs->handshakeHash(), i2r.key(), r2i.key());
        if (!key)
            return false;
        m_newKey = std::move(*key);
        m_send = std::move(i2r);
        m_receive = std::move(r2i);
        return true;
    }
    // Sends confirm; true when `enrolled` for the new epoch comes back.
    bool confirm()
    {
        m_client.sendFrame(m_send.encryptWithAd({}, wire::encodeMessage(wire::message(wire::MessageType::Confirm))).value());
        auto f = m_client.nextFrame(5000);
        if (!f)
            return false;
        auto plain = m_receive.decryptWithAd({}, *f);
        if (!plain)
            return false;
        auto m = wire::decodeMessage(*plain);
        return m && m->typeName() == QLatin1StringView("enrolled") && m->u32(QLatin1StringView("epoch")) == newEpoch();
    }

private:
    RawClient m_client;
    QString m_account;
    quint32 m_epoch;
    quint32 m_newEpoch = 0;
    std::optional<noise::HandshakeState> m_hs;
    QByteArray m_msg1;
    SecretBytes m_newKey;
    noise::CipherState m_send, m_receive;
};

} // namespace sotto::test
