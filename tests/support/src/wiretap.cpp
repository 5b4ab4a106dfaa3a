#include "support/wiretap.h"

#include "support/rawclient.h"

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
    RawClient c(port);
    auto nb = c.hello(account, epoch);
    if (!nb)
        return QStringLiteral("no challenge");
    if (!c.keyChannel(key, *nb))
        return QStringLiteral("no keys");
    QCborMap login = wire::message(wire::MessageType::Login);
    login.insert(QLatin1StringView("client"), QStringLiteral("test"));
    c.send(login);
    auto answer = c.nextFrame(3000);
    if (!answer)
        return QStringLiteral("no answer");
    if (auto e = wire::decodeCleartextError(*answer))
        return errorCodeName(e->code);
    auto m = c.open(*answer);
    if (!m)
        return QStringLiteral("undecryptable");
    return m->typeName() == QLatin1StringView("error") ? m->text(QLatin1StringView("code")) : QString(m->typeName());
}

} // namespace sotto::test
