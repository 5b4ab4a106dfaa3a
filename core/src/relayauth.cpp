#include "core/relayauth.h"

#include "core/crypto.h"
#include "core/relaywire.h"
#include "core/wire.h"

#include <QCborValue>
#include <QtEndian>

#include <algorithm>
#include <limits>

namespace sotto::relayauth {

namespace {

QByteArray be32(quint32 v)
{
    QByteArray out(4, Qt::Uninitialized);
    qToBigEndian(v, out.data());
    return out;
}

QByteArray be64(quint64 v)
{
    QByteArray out(8, Qt::Uninitialized);
    qToBigEndian(v, out.data());
    return out;
}

QByteArray mac(QByteArrayView key, QByteArrayView data, int size)
{
    auto h = crypto::hmacSha256(key, data);
    return h ? h->view().first(size).toByteArray() : QByteArray();
}

} // namespace

QByteArray mintToken(QByteArrayView secret, QByteArrayView sid, quint32 ssrc, quint32 expiry)
{
    const QByteArray data = QByteArrayLiteral("SKBP/1 relay-token") + sid.toByteArray() + be32(ssrc) + be32(expiry);
    const QByteArray m = mac(secret, data, 12);
    return m.isEmpty() ? QByteArray() : be32(expiry) + m;
}

quint32 tokenExpiry(QByteArrayView token)
{
    return token.size() == 16 ? qFromBigEndian<quint32>(token.data()) : 0;
}

TokenCheck checkToken(QByteArrayView secret, QByteArrayView sid, quint32 ssrc, QByteArrayView token, quint32 now)
{
    if (token.size() != 16)
        return TokenCheck::Forged;
    const quint32 expiry = tokenExpiry(token);
    const QByteArray expected = mintToken(secret, sid, ssrc, expiry);
    if (expected.isEmpty() || !crypto::constantTimeEquals(expected, token))
        return TokenCheck::Forged;
    if (expiry < now)
        return TokenCheck::Expired;
    if (expiry - now > kMaxLifetimeS)
        return TokenCheck::TooLong;
    return TokenCheck::Valid;
}

SecretBytes grantKey(QByteArrayView secret, QByteArrayView sid, quint32 ssrc, QByteArrayView token)
{
    auto k = crypto::hmacSha256(secret, QByteArrayLiteral("SKBP/1 relay-grant-key") + sid.toByteArray() + be32(ssrc)
                                            + token.toByteArray());
    return k ? std::move(*k) : SecretBytes();
}

QByteArray bindProof(const SecretBytes &grantKey, QByteArrayView sid, quint32 ssrc, QByteArrayView token, quint64 stamp)
{
    if (grantKey.isEmpty())
        return {};
    return mac(grantKey.view(), QByteArrayLiteral("SKBP/1 bind") + sid.toByteArray() + be32(ssrc) + token.toByteArray() + be64(stamp),
               16);
}

QByteArray trunkProof(QByteArrayView trunkToken, QByteArrayView sid, quint64 stamp, bool fromHome)
{
    if (trunkToken.isEmpty())
        return {};
    const QByteArray dir = fromHome ? QByteArrayLiteral("home>peer") : QByteArrayLiteral("peer>home");
    return mac(trunkToken, QByteArrayLiteral("SKBP/1 trunk-bind") + dir + sid.toByteArray() + be64(stamp), 16);
}

QByteArray provenBind(QByteArrayView sid, quint32 ssrc, QByteArrayView token, const SecretBytes &grantKey, quint64 stamp)
{
    const relaywire::Bind plain{sid.toByteArray(), ssrc, token.toByteArray()};
    return relaywire::encodeProvenBind({plain, stamp, bindProof(grantKey, sid, ssrc, token, stamp)});
}

bool freshStamp(quint64 stamp, qint64 nowMs)
{
    const qint64 s = qint64(std::min<quint64>(stamp, quint64(std::numeric_limits<qint64>::max())));
    return nowMs >= 0 && (s > nowMs ? s - nowMs : nowMs - s) <= kBindWindowMs;
}

QByteArray controlProof(QByteArrayView secret, QByteArrayView role, QByteArrayView relayNonce, QByteArrayView brokerNonce)
{
    return mac(secret, QByteArrayLiteral("SKBP/1 relay-control ") + role.toByteArray() + relayNonce.toByteArray() + brokerNonce.toByteArray(), kProofSize);
}

ControlKeys controlKeys(QByteArrayView secret, QByteArrayView relayNonce, QByteArrayView brokerNonce)
{
    auto key = [&](QByteArrayView dir) {
        auto k = crypto::hmacSha256(secret, QByteArrayLiteral("SKBP/1 relay-control key") + dir.toByteArray()
                                                + relayNonce.toByteArray() + brokerNonce.toByteArray());
        return k ? std::move(*k) : SecretBytes();
    };
    ControlKeys keys{key("broker>relay"), key("relay>broker")};
    if (keys.isEmpty())
        return {};
    return keys;
}

QByteArray sealFrame(const SecretBytes &key, quint64 seq, const QCborMap &message)
{
    const QByteArray body = message.toCborValue().toCbor();
    const QByteArray m = mac(key.view(), be64(seq) + body, kFrameMacSize);
    return m.isEmpty() ? QByteArray() : body + m;
}

std::optional<QCborMap> openFrame(const SecretBytes &key, quint64 seq, QByteArrayView frame)
{
    if (frame.size() <= kFrameMacSize || key.isEmpty())
        return std::nullopt;
    const QByteArrayView body = frame.first(frame.size() - kFrameMacSize);
    const QByteArray expected = mac(key.view(), be64(seq) + body.toByteArray(), kFrameMacSize);
    if (expected.isEmpty() || !crypto::constantTimeEquals(expected, frame.last(kFrameMacSize)))
        return std::nullopt;
    auto m = wire::decodeMap(body); // the one validating decoder: a broken map is never used
    if (!m)
        return std::nullopt;
    return std::move(*m);
}

} // namespace sotto::relayauth
