#include "client/brokerlogin.h"

#include "client/profile.h"
#include "core/crypto.h"
#include "core/skbp.h"

namespace sotto {

namespace key = wire::key;

BrokerFrame openBrokerFrame(SecureChannel &channel, QByteArrayView body)
{
    auto plain = channel.openRaw(body);
    if (!plain) {
        // Not sealed under our channel: the broker's cleartext error, or a bad frame.
        if (auto e = wire::decodeCleartextError(body))
            return {.kind = BrokerFrame::Kind::BrokerError, .message = std::nullopt, .error = *e};
        return {.kind = BrokerFrame::Kind::Bad, .message = std::nullopt, .error = plain.error()};
    }
    auto m = wire::decodeMessage(*plain);
    if (m)
        return {.kind = BrokerFrame::Kind::Message, .message = std::move(*m), .error = {}};
    if (wire::isUnknownType(*plain))
        return {.kind = BrokerFrame::Kind::Unknown, .message = std::nullopt, .error = {}};
    return {.kind = BrokerFrame::Kind::Bad, .message = std::nullopt, .error = m.error()};
}

BrokerLogin::BrokerLogin(const Profile &profile, QString device, bool pendingRefused)
    : m_profile(profile), m_device(std::move(device)), m_pendingRefused(pendingRefused)
{
    m_epoch = m_profile.pendingEpoch() != 0 && !m_pendingRefused ? m_profile.pendingEpoch() : m_profile.epoch();
}

BrokerLogin::Progress BrokerLogin::fail(QString reason)
{
    m_step = Step::Done;
    return Failed{std::move(reason)};
}

bool BrokerLogin::provesPending() const
{
    return m_profile.pendingEpoch() != 0 && m_epoch == m_profile.pendingEpoch();
}

BrokerLogin::Progress BrokerLogin::hello()
{
    auto nonce = crypto::randomBytes(skbp::kNonceSize);
    if (!nonce || m_epoch == 0)
        return fail(QStringLiteral("no randomness"));
    m_nonce = *nonce;
    return Send{wire::encodeHello({m_profile.account(), m_epoch, m_nonce})};
}

BrokerLogin::Progress BrokerLogin::take(const QByteArray &body)
{
    switch (m_step) {
    case Step::Hello:
        return onChallenge(body);
    case Step::Challenged:
        return onAnswer(body);
    case Step::Done:
        break;
    }
    return fail(QStringLiteral("the login is over"));
}

BrokerLogin::Progress BrokerLogin::onChallenge(const QByteArray &body)
{
    if (auto e = wire::decodeCleartextError(body)) {
        // Before the challenge no broker has judged our key (it answers a wrong one only after
        // our first sealed frame): a standby, a broker that cannot serve now, or a stranger's
        // frame.
        return fail(e->message);
    }
    auto nb = wire::decodeChallenge(body);
    const SecretBytes *key = m_profile.keyForEpoch(m_epoch);
    if (!nb || !key)
        return fail(QStringLiteral("the broker's challenge is malformed"));
    auto keys = skbp::channelKeys(*key, m_profile.account(), m_epoch, m_nonce, *nb);
    if (!keys)
        return fail(keys.error().message);
    m_channel = SecureChannel(noise::CipherState(std::move(keys->clientToBroker)),
                              noise::CipherState(std::move(keys->brokerToClient)));
    QCborMap login = wire::message(wire::MessageType::Login);
    login.insert(key::client, m_device);
    auto sealed = m_channel.seal(login);
    if (!sealed)
        return fail(sealed.error().message);
    m_step = Step::Challenged;
    return Send{*sealed};
}

BrokerLogin::Progress BrokerLogin::onAnswer(const QByteArray &body)
{
    BrokerFrame f = openBrokerFrame(m_channel, body);
    switch (f.kind) {
    case BrokerFrame::Kind::Unknown:
        return Send{}; // a newer broker's message before the welcome: nothing to answer
    case BrokerFrame::Kind::Bad:
        return fail(QStringLiteral("the broker sent a bad frame"));
    case BrokerFrame::Kind::BrokerError:
        break;
    case BrokerFrame::Kind::Message:
        if (f.message->type() == wire::MessageType::Welcome) {
            m_step = Step::Done;
            const Pending pending = provesPending() ? Pending::Proven
                                    : m_pendingRefused && m_profile.pendingEpoch() != 0 ? Pending::Refused
                                                                                        : Pending::None;
            return Welcome{std::move(m_channel), std::move(*f.message), m_epoch, pending};
        }
        if (f.message->type() != wire::MessageType::Error)
            return fail(QStringLiteral("the broker answered the login with \"%1\"").arg(f.message->typeName()));
        // Sealed under our key, so the broker holds it: an auth error here refuses the device.
        m_step = Step::Done;
        if (errorCodeFromName(f.message->text(key::code)) == ErrorCode::Auth)
            return Refused{Error{ErrorCode::Auth, f.message->text(key::msg)}};
        return Failed{f.message->text(key::msg)};
    }
    m_step = Step::Done;
    if (f.error.code != ErrorCode::Auth)
        return Failed{f.error.message};
    // A cleartext auth error to a pending key of an enrolled profile: the broker never committed
    // it, and the current key is still good. To any other key: refused for good.
    if (provesPending() && m_profile.isEnrolled())
        return PendingRefused{};
    return Refused{f.error};
}

} // namespace sotto
