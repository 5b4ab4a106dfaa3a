#include "core/skbp.h"

#include "core/crypto.h"

#include <QtEndian>

#include <openssl/crypto.h>

namespace sotto::skbp {

namespace {
constexpr quint8 kWrapVersion = 0x01;
}

bool isValidAccount(QStringView account)
{
    if (account.isEmpty() || account.size() > 64)
        return false;
    for (QChar c : account) {
        const char16_t u = c.unicode();
        const bool ok = (u >= u'a' && u <= u'z') || (u >= u'0' && u <= u'9') || u == u'.'
            || u == u'_' || u == u'-';
        if (!ok)
            return false;
    }
    return true;
}

QByteArray u32(quint32 n)
{
    QByteArray b(4, Qt::Uninitialized);
    qToBigEndian(n, b.data());
    return b;
}

QByteArray lp(QStringView text)
{
    const QByteArray utf8 = text.toUtf8();
    return char(quint8(qMin<qsizetype>(utf8.size(), 255))) + utf8.left(255);
}

QString fingerprint(QByteArrayView x)
{
    const QByteArray d = crypto::sha256(QByteArrayLiteral("SKBP/1 fingerprint") + x.toByteArray()).left(8).toHex();
    return QString::fromLatin1(d.mid(0, 4) + '-' + d.mid(4, 4) + '-' + d.mid(8, 4) + '-'
                               + d.mid(12, 4));
}

QByteArray enrollPrologue(QStringView account, quint32 epoch)
{
    return QByteArrayLiteral("SKBP/1 enroll") + '\0' + lp(account) + u32(epoch);
}

bool isValidAddress(QStringView address)
{
    const qsizetype at = address.indexOf(u'@');
    if (at < 0)
        return isValidAccount(address);
    return isValidAccount(address.left(at)) && isValidAccount(address.mid(at + 1));
}

Address Address::parse(const QString &text)
{
    const qsizetype at = text.indexOf(u'@');
    if (at < 0)
        return {text, {}};
    return {text.left(at), text.mid(at + 1)};
}

QString Address::toString() const
{
    return broker.isEmpty() ? account : account + u'@' + broker;
}

Address Address::relativeTo(const QString &self) const
{
    return broker == self ? Address{account, {}} : *this;
}

Address Address::fromPeer(const QString &from, const QString &self) const
{
    if (broker.isEmpty())
        return {account, from};
    return relativeTo(self);
}

QByteArray federatePrologue(QStringView initiator, QStringView responder, quint32 epoch)
{
    return QByteArrayLiteral("SKBP/1 federate") + '\0' + lp(initiator) + lp(responder) + u32(epoch);
}

Result<SecretBytes> interBrokerKey(QByteArrayView handshakeHash, const SecretBytes &kI2r, const SecretBytes &kR2i)
{
    const SecretBytes ikm = kI2r + kR2i;
    return crypto::hkdf(handshakeHash, ikm.view(), "SKBP/1 inter-broker-key", kKeySize);
}

Result<SecretBytes> brokerKey(QByteArrayView handshakeHash, const SecretBytes &kI2r,
                              const SecretBytes &kR2i)
{
    const SecretBytes ikm = kI2r + kR2i;
    return crypto::hkdf(handshakeHash, ikm.view(), "SKBP/1 broker-key", kKeySize);
}

Result<ChannelKeys> channelKeys(const SecretBytes &brokerKey, QStringView account, quint32 epoch,
                                QByteArrayView nonceClient, QByteArrayView nonceBroker)
{
    const QByteArray salt = nonceClient.toByteArray() + nonceBroker.toByteArray();
    const QByteArray info = QByteArrayLiteral("SKBP/1 channel") + lp(account) + u32(epoch);
    auto out = crypto::hkdf(salt, brokerKey.view(), info, 64);
    if (!out)
        return out.error();
    return ChannelKeys{SecretBytes::copyOf(out->view().first(32)),
                       SecretBytes::copyOf(out->view().sliced(32, 32))};
}

Result<SecretBytes> wrapKey(const SecretBytes &key)
{
    return crypto::hkdf({}, key.view(), "SKBP/1 wrap-key", kKeySize);
}

QByteArray wrapAad(WrapPurpose purpose, QByteArrayView sid, quint32 gen, QStringView owner,
                   quint32 epoch)
{
    static constexpr char kLabel[] = "SKBP/1 wrap";
    const QByteArray name = lp(owner);
    QByteArray aad;
    aad.reserve(qsizetype(sizeof kLabel) + 1 + sid.size() + 4 + name.size() + 4);
    aad.append(kLabel, sizeof kLabel - 1).append('\0').append(char(quint8(purpose))).append(sid)
        .append(u32(gen)).append(name).append(u32(epoch));
    return aad;
}

Result<QByteArray> wrap(const SecretBytes &key, quint32 epoch, const SecretBytes &secret,
                        const WrapContext &ctx, QByteArrayView nonce)
{
    auto wk = wrapKey(key);
    if (!wk)
        return wk.error();
    auto cipher = crypto::AesGcmKey::create(wk->view());
    if (!cipher)
        return cipher.error();
    return wrapWith(*cipher, epoch, secret, ctx, nonce);
}

Result<QByteArray> wrapWith(crypto::AesGcmKey &wrapCipher, quint32 epoch, const SecretBytes &secret,
                            const WrapContext &ctx, QByteArrayView nonce)
{
    QByteArray n;
    if (nonce.isEmpty()) {
        auto r = crypto::randomBytes(crypto::kNonceSize);
        if (!r)
            return r.error();
        n = *r;
    } else {
        n = nonce.toByteArray();
    }
    auto ct = wrapCipher.seal(n, wrapAad(ctx.purpose, ctx.sid, ctx.gen, ctx.owner, epoch), secret.view());
    if (!ct)
        return ct.error();
    QByteArray out;
    out.reserve(1 + 4 + n.size() + ct->size());
    out.append(char(kWrapVersion)).append(u32(epoch)).append(n).append(*ct);
    return out;
}

Result<crypto::AesGcmKey *> WrapKeyCache::get(const SecretBytes &key)
{
    for (Slot &slot : m_slots) {
        if (slot.cipher.isValid() && slot.key.equals(key))
            return &slot.cipher;
    }
    auto wk = wrapKey(key);
    if (!wk)
        return wk.error();
    auto cipher = crypto::AesGcmKey::create(wk->view());
    if (!cipher)
        return cipher.error();
    Slot &slot = m_slots[m_next];
    m_next = 1 - m_next;
    slot.key = key;
    slot.cipher = std::move(*cipher);
    return &slot.cipher;
}

Result<quint32> wrappedEpoch(QByteArrayView wrapped)
{
    if (wrapped.size() < 1 + 4 + crypto::kNonceSize + crypto::kTagSize || quint8(wrapped[0]) != kWrapVersion)
        return makeError(ErrorCode::BadRequest, QStringLiteral("not a wrapped key"));
    return qFromBigEndian<quint32>(wrapped.data() + 1);
}

Result<SecretBytes> unwrap(const SecretBytes &key, quint32 epoch, QByteArrayView wrapped,
                           const WrapContext &ctx)
{
    auto wk = wrapKey(key);
    if (!wk)
        return wk.error();
    auto cipher = crypto::AesGcmKey::create(wk->view());
    if (!cipher)
        return cipher.error();
    return unwrapWith(*cipher, epoch, wrapped, ctx);
}

Result<SecretBytes> unwrapWith(crypto::AesGcmKey &wrapCipher, quint32 epoch, QByteArrayView wrapped,
                               const WrapContext &ctx)
{
    auto e = wrappedEpoch(wrapped);
    if (!e)
        return e.error();
    if (*e != epoch)
        return makeError(ErrorCode::Crypto, QStringLiteral("wrapped under epoch %1, not %2").arg(*e).arg(epoch));
    return wrapCipher.open(wrapped.sliced(5, crypto::kNonceSize),
                           wrapAad(ctx.purpose, ctx.sid, ctx.gen, ctx.owner, epoch),
                           wrapped.sliced(5 + crypto::kNonceSize));
}

Result<SecretBytes> sessionKey(KeyMode mode, const SecretBytes &calleeKey, QByteArrayView sid,
                               QStringView callee, quint32 epoch, QStringView home)
{
    if (mode == KeyMode::Patent)
        return calleeKey;
    if (!home.isEmpty())
        return crypto::hkdf(sid, calleeKey.view(),
                            QByteArrayLiteral("SKBP/1 federated-session") + lp(callee) + u32(epoch) + lp(home), kKeySize);
    return crypto::hkdf(sid, calleeKey.view(), QByteArrayLiteral("SKBP/1 session") + lp(callee) + u32(epoch),
                        kKeySize);
}

Result<SecretBytes> ratchet(const SecretBytes &sessionKey, QByteArrayView sid, quint32 nextGen)
{
    return crypto::hkdf(sid, sessionKey.view(), QByteArrayLiteral("SKBP/1 ratchet") + u32(nextGen),
                        kKeySize);
}

Result<SrtpMaterial> srtpMaterial(const SecretBytes &sessionKey, QByteArrayView sid, quint32 gen,
                                  quint32 ssrc)
{
    return SrtpKeys(sessionKey, sid, gen).material(ssrc);
}

SrtpKeys::SrtpKeys(const SecretBytes &sessionKey, QByteArrayView sid, quint32 gen)
    : m_prk(crypto::HkdfPrk::extract(sid, sessionKey.view())), m_gen(gen)
{
}

SrtpMaterial SrtpKeys::material(quint32 ssrc) const
{
    static constexpr char kLabel[] = "SKBP/1 srtp";
    unsigned char numbers[8];
    qToBigEndian(m_gen, numbers);
    qToBigEndian(ssrc, numbers + 4);
    unsigned char okm[kSrtpMaterialSize];
    m_prk.expand({QByteArrayView(kLabel, sizeof kLabel - 1),
                  QByteArrayView(reinterpret_cast<const char *>(numbers), sizeof numbers)},
                 okm, kSrtpMaterialSize);
    SrtpMaterial out{SecretBytes::copyOf(QByteArrayView(reinterpret_cast<const char *>(okm), 32)),
                     SecretBytes::copyOf(QByteArrayView(reinterpret_cast<const char *>(okm) + 32, 12))};
    OPENSSL_cleanse(okm, sizeof okm);
    return out;
}

Result<QByteArray> rotateProof(const SecretBytes &nextKey, QStringView account, quint32 nextEpoch)
{
    auto mac = crypto::hmacSha256(nextKey.view(),
                                  QByteArrayLiteral("SKBP/1 rotate-ack") + lp(account) + u32(nextEpoch));
    if (!mac)
        return mac.error();
    return mac->view().toByteArray();
}

} // namespace sotto::skbp
