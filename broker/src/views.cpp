// views.h: the names and lines the views are shown with.
#include "broker/views.h"

namespace sotto::broker {

QString brokerRoleName(BrokerRole role)
{
    switch (role) {
    case BrokerRole::Stopped:
        return QStringLiteral("stopped");
    case BrokerRole::Standby:
        return QStringLiteral("standby");
    case BrokerRole::Active:
        return QStringLiteral("active");
    }
    return {};
}

QString relayStatusText(const RelayStatus &r)
{
    if (!r.up)
        return QStringLiteral("%1 down: %2").arg(r.address, r.why);
    return QStringLiteral("%1 up: %2 sessions of ours (%3 in all), %4 members, %5 packets forwarded, %6 binds refused")
        .arg(r.address)
        .arg(r.sessions)
        .arg(r.relaySessions)
        .arg(r.members)
        .arg(r.forwarded)
        .arg(r.refused);
}

} // namespace sotto::broker
