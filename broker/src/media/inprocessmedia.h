#pragma once

// The broker's own relay as the routers' MediaPlane (PROTOCOL.md §7): every session on the
// broker's UDP port, each member with a drawn 16-byte token the relay table holds. Main thread.

#include "routercontext.h"

#include <functional>

namespace sotto::relay {
class RelayTable;
}

namespace sotto::broker {

class InProcessMedia final : public MediaPlane
{
public:
    // `port`: the broker's port, which its relay shares (known only once it listens).
    InProcessMedia(relay::RelayTable &table, std::function<quint16()> port) : m_table(table), m_port(std::move(port)) {}

    Result<QCborMap> admit(const QByteArray &sid, quint32 ssrc) override;
    void removeMember(const QByteArray &sid, quint32 ssrc) override;
    void endSession(const QByteArray &sid) override;
    bool addTrunk(const QByteArray &sid, const QHostAddress &address, quint16 port, const QByteArray &token, bool home) override;
    void removeTrunks(const QByteArray &sid) override;
    QString relayAt(const QByteArray &) const override { return {}; }
    // The broker's own relay died with the instance: nothing of it is left to adopt.
    bool adopt(const QByteArray &, const QString &) override { return false; }

private:
    relay::RelayTable &m_table;
    std::function<quint16()> m_port;
};

} // namespace sotto::broker
