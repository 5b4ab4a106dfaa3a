#include "core/channel.h"

namespace sotto {

Result<QByteArray> SecureChannel::seal(const QCborMap &message)
{
    if (!m_send.hasKey())
        return makeError(ErrorCode::Internal, QStringLiteral("channel not open"));
    return m_send.encryptWithAd({}, wire::encodeMessage(message));
}

Result<QByteArray> SecureChannel::openRaw(QByteArrayView body)
{
    if (!m_receive.hasKey())
        return makeError(ErrorCode::Internal, QStringLiteral("channel not open"));
    return m_receive.decryptWithAd({}, body);
}

Result<wire::Message> SecureChannel::open(QByteArrayView body)
{
    auto plain = openRaw(body);
    if (!plain)
        return plain.error();
    return wire::decodeMessage(*plain);
}

} // namespace sotto
