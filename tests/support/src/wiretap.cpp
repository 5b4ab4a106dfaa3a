#include "support/wiretap.h"

#include "core/channel.h"
#include "core/crypto.h"
#include "core/skbp.h"

#include <QDeadlineTimer>
#include <QTcpSocket>
#include <QTest>

namespace sotto::test {

std::vector<int> loginConnections(const std::vector<FrameProxy::Frame> &frames, const QString &account)
{
    std::vector<int> out;
    for (const auto &f : frames) {
        if (f.direction != FrameProxy::Direction::ToBroker)
            continue;
        auto hello = wire::decodeHello(f.body);
        if (hello && hello->account == account
            && std::find(out.begin(), out.end(), f.connection) == out.end())
            out.push_back(f.connection);
    }
    return out;
}

TapResult tapLogin(const std::vector<FrameProxy::Frame> &frames, int connection, const SecretBytes &key)
{
    TapResult r;
    std::optional<wire::Hello> hello;
    QByteArray nb;
    std::optional<SecureChannel> channel;
    for (const auto &f : frames) {
        if (f.connection != connection)
            continue;
        if (!hello) {
            if (f.direction == FrameProxy::Direction::ToBroker) {
                auto h = wire::decodeHello(f.body);
                if (!h)
                    return r;
                hello = *h;
                r.account = h->account;
                r.epoch = h->epoch;
            }
            continue;
        }
        if (nb.isEmpty()) {
            if (f.direction == FrameProxy::Direction::ToClient) {
                auto c = wire::decodeChallenge(f.body);
                if (!c)
                    return r;
                nb = *c;
                auto keys = skbp::channelKeys(key, hello->account, hello->epoch, hello->nonce, nb);
                if (!keys)
                    return r;
                // We only read the broker's direction; the eavesdropper's receive side.
                channel.emplace(noise::CipherState(keys->clientToBroker), noise::CipherState(keys->brokerToClient));
            }
            continue;
        }
        if (f.direction != FrameProxy::Direction::ToClient)
            continue;
        auto m = channel->open(f.body);
        if (!m)
            return r;
        r.decrypted = true;
        r.toClient.push_back(*m);
    }
    return r;
}

QString rawLogin(quint16 port, const QString &account, quint32 epoch, const SecretBytes &key)
{
    // Waits spin the event loop: the broker may live in this very thread.
    QTcpSocket s;
    s.connectToHost(QHostAddress::LocalHost, port);
    QDeadlineTimer connectDeadline(3000);
    while (s.state() != QAbstractSocket::ConnectedState && !connectDeadline.hasExpired())
        QTest::qWait(5);
    if (s.state() != QAbstractSocket::ConnectedState)
        return QStringLiteral("no connection");
    wire::FrameReader reader;
    auto readFrame = [&]() -> std::optional<QByteArray> {
        QDeadlineTimer deadline(3000);
        while (!deadline.hasExpired()) {
            reader.append(s.readAll());
            if (auto f = reader.next(); f && f->ok())
                return f->value();
            QTest::qWait(5);
        }
        return std::nullopt;
    };
    const QByteArray nc = *crypto::randomBytes(16);
    s.write(wire::frame(wire::encodeHello({account, epoch, nc})));
    auto challenge = readFrame();
    if (!challenge)
        return QStringLiteral("no challenge");
    auto nb = wire::decodeChallenge(*challenge);
    if (!nb)
        return QStringLiteral("bad challenge");
    auto keys = skbp::channelKeys(key, account, epoch, nc, *nb);
    SecureChannel channel(noise::CipherState(keys->clientToBroker), noise::CipherState(keys->brokerToClient));
    QCborMap login = wire::message(QLatin1StringView("login"));
    login.insert(QLatin1StringView("client"), QStringLiteral("test"));
    s.write(wire::frame(*channel.seal(login)));
    auto answer = readFrame();
    if (!answer)
        return QStringLiteral("no answer");
    if (auto e = wire::decodeCleartextError(*answer))
        return errorCodeName(e->code);
    auto m = channel.open(*answer);
    if (!m)
        return QStringLiteral("undecryptable");
    return m->type() == QLatin1StringView("error") ? m->text(QLatin1StringView("code")) : m->type();
}

} // namespace sotto::test
