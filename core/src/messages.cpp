#include "core/messages.h"

#include "core/wire.h"

namespace sotto::wire {

QCborMap peerEntry(const QString &account, quint32 ssrc)
{
    QCborMap p;
    p.insert(key::account, account);
    p.insert(key::ssrc, qint64(ssrc));
    return p;
}

QCborMap relayGrant(quint16 port, const QByteArray &token, const QString &host, const SecretBytes &grantKey)
{
    QCborMap r;
    if (!host.isEmpty())
        r.insert(key::host, host);
    r.insert(key::port, qint64(port));
    r.insert(key::token, token);
    if (!grantKey.isEmpty())
        r.insert(key::key, grantKey.view().toByteArray()); // sealed with the message that carries it
    return r;
}

QCborMap aboutSession(MessageType type, const QByteArray &sid)
{
    QCborMap m = message(type);
    m.insert(key::sid, sid);
    return m;
}

QCborMap callKey(const CallKey &c)
{
    QCborMap m = message(MessageType::CallKey);
    if (c.id)
        m.insert(key::id, qint64(*c.id));
    m.insert(key::sid, c.sid);
    m.insert(key::callee, c.callee);
    m.insert(key::epoch, qint64(c.epoch));
    m.insert(key::gen, qint64(c.gen));
    m.insert(key::wrapped, c.wrapped);
    m.insert(key::ssrc, qint64(c.ssrc));
    m.insert(key::relay, c.relay);
    if (!c.via.isEmpty())
        m.insert(key::via, c.via);
    return m;
}

QCborMap incoming(const Incoming &i)
{
    QCborMap m = message(MessageType::Incoming);
    m.insert(key::sid, i.sid);
    m.insert(key::from, i.from);
    if (i.epoch)
        m.insert(key::epoch, qint64(*i.epoch));
    m.insert(key::gen, qint64(i.gen));
    m.insert(key::ssrc, qint64(i.ssrc));
    m.insert(key::peers, i.peers);
    m.insert(key::relay, i.relay);
    return m;
}

QCborMap sessionKey(const QByteArray &sid, quint32 gen, const QByteArray &wrapped, const QCborArray &peers)
{
    QCborMap m = message(MessageType::SessionKey);
    m.insert(key::sid, sid);
    m.insert(key::gen, qint64(gen));
    m.insert(key::wrapped, wrapped);
    m.insert(key::peers, peers);
    return m;
}

QCborMap rekey(const QByteArray &sid, quint32 gen, const QByteArray &wrapped)
{
    QCborMap m = message(MessageType::Rekey);
    m.insert(key::sid, sid);
    m.insert(key::gen, qint64(gen));
    m.insert(key::wrapped, wrapped);
    return m;
}

namespace {
QCborMap aboutMember(MessageType type, const QByteArray &sid, const QString &who)
{
    QCborMap m = aboutSession(type, sid);
    m.insert(key::who, who);
    return m;
}
} // namespace

QCborMap left(const QByteArray &sid, const QString &who, std::optional<quint32> gen)
{
    QCborMap m = aboutMember(MessageType::Left, sid, who);
    if (gen)
        m.insert(key::gen, qint64(*gen));
    return m;
}

QCborMap ended(const QByteArray &sid, EndReason reason)
{
    QCborMap m = message(MessageType::Ended);
    m.insert(key::sid, sid);
    m.insert(key::reason, endReasonName(reason));
    return m;
}

QCborMap rotate(quint32 epoch, const QByteArray &wrapped)
{
    QCborMap m = message(MessageType::Rotate);
    m.insert(key::epoch, qint64(epoch));
    m.insert(key::wrapped, wrapped);
    return m;
}

QCborMap ringing(const QByteArray &sid, const QString &who)
{
    return aboutMember(MessageType::Ringing, sid, who);
}

QCborMap muted(const QByteArray &sid, const QString &who, bool muted)
{
    QCborMap m = aboutMember(MessageType::Muted, sid, who);
    m.insert(key::muted, muted);
    return m;
}

} // namespace sotto::wire
