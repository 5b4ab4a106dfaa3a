#include "media/inprocessmedia.h"

#include "relay/relay.h"
#include "core/crypto.h"
#include "core/messages.h"
#include "core/skbp.h"

namespace sotto::broker {

Result<QCborMap> InProcessMedia::admit(const QByteArray &sid, quint32 ssrc)
{
    auto token = crypto::randomBytes(skbp::kTokenSize);
    auto key = token ? crypto::randomSecret(skbp::kKeySize) : Result<SecretBytes>(token.error());
    if (!key)
        return key.error();
    m_table.addMember(sid, ssrc, *token, *key);
    return wire::relayGrant(m_port(), *token, {}, *key);
}

void InProcessMedia::removeMember(const QByteArray &sid, quint32 ssrc)
{
    m_table.removeMember(sid, ssrc);
}

void InProcessMedia::endSession(const QByteArray &sid)
{
    m_table.endSession(sid);
}

bool InProcessMedia::addTrunk(const QByteArray &sid, const QHostAddress &address, quint16 port, const QByteArray &token,
                              bool home)
{
    m_table.addTrunk(sid, address, port, token, home);
    return true;
}

void InProcessMedia::removeTrunks(const QByteArray &sid)
{
    m_table.removeTrunks(sid);
}

} // namespace sotto::broker
