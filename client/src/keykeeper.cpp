#include "client/keykeeper.h"

namespace sotto {

Result<SecretBytes> KeyKeeper::unwrap(const QByteArray &wrapped, skbp::WrapContext ctx) const
{
    auto epoch = skbp::wrappedEpoch(wrapped);
    if (!epoch)
        return epoch.error();
    const SecretBytes *key = m_profile.keyForEpoch(*epoch);
    if (!key)
        return makeError(ErrorCode::Auth, QStringLiteral("wrapped under epoch %1, which we do not hold").arg(*epoch));
    ctx.owner = m_profile.account();
    auto wk = m_wrapKeys.get(*key);
    if (!wk)
        return wk.error();
    return skbp::unwrapWith(**wk, *epoch, wrapped, ctx);
}

void KeyKeeper::install(const QByteArray &sid, quint32 gen, SecretBytes key)
{
    Call &c = m_calls[sid]; // perhaps there already for its relay key
    if (c.key.isEmpty()) {
        c.gen = gen;
        c.key = std::move(key);
        return;
    }
    c.previousKey = std::move(c.key);
    c.previousSrtp = std::move(c.srtp);
    c.srtp.reset();
    c.previousGen = c.gen;
    c.key = std::move(key);
    c.gen = gen;
    // §6.2: the previous generation is kept for late packets, then erased within 2 s.
    if (!c.wipe) {
        c.wipe = std::make_unique<QTimer>();
        c.wipe->setSingleShot(true);
        QObject::connect(c.wipe.get(), &QTimer::timeout, c.wipe.get(), [this, sid] {
            if (auto found = m_calls.find(sid); found != m_calls.end()) {
                found->second.previousKey.clear();
                found->second.previousSrtp.reset();
            }
        });
    }
    c.wipe->start(m_previousKeyMs);
}

void KeyKeeper::setRelayKey(const QByteArray &sid, SecretBytes key)
{
    m_calls[sid].relayKey = std::move(key);
}

const KeyKeeper::Call *KeyKeeper::find(const QByteArray &sid) const
{
    auto it = m_calls.find(sid);
    return it == m_calls.end() ? nullptr : &it->second;
}

bool KeyKeeper::keyed(const QByteArray &sid) const
{
    const Call *c = find(sid);
    return c && !c->key.isEmpty();
}

const SecretBytes *KeyKeeper::current(const QByteArray &sid) const
{
    const Call *c = find(sid);
    return c && !c->key.isEmpty() ? &c->key : nullptr;
}

QString KeyKeeper::fingerprint(const QByteArray &sid) const
{
    const SecretBytes *key = current(sid);
    return key ? skbp::fingerprint(*key) : QString();
}

std::optional<SecretBytes> KeyKeeper::sessionKey(const QByteArray &sid, quint32 gen) const
{
    const Call *c = find(sid);
    if (!c || c->key.isEmpty())
        return std::nullopt;
    if (c->gen == gen)
        return c->key;
    if (c->previousGen == gen && !c->previousKey.isEmpty())
        return c->previousKey;
    return std::nullopt;
}

Result<skbp::SrtpMaterial> KeyKeeper::srtpMaterial(const QByteArray &sid, quint32 gen, quint32 ssrc) const
{
    const Call *c = find(sid);
    std::optional<skbp::SrtpKeys> *keys = nullptr;
    const SecretBytes *key = nullptr;
    if (c && !c->key.isEmpty() && c->gen == gen) {
        keys = &c->srtp;
        key = &c->key;
    } else if (c && !c->key.isEmpty() && c->previousGen == gen && !c->previousKey.isEmpty()) {
        keys = &c->previousSrtp;
        key = &c->previousKey;
    } else {
        return makeError(ErrorCode::NotInSession, QStringLiteral("no key for that generation"));
    }
    if (!*keys || (*keys)->gen() != gen)
        keys->emplace(*key, sid, gen);
    return (*keys)->material(ssrc);
}

SecretBytes KeyKeeper::relayKey(const QByteArray &sid) const
{
    const Call *c = find(sid);
    return c ? c->relayKey : SecretBytes();
}

} // namespace sotto
