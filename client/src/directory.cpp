#include "client/directory.h"

#include "core/skbp.h"

#include <QCborArray>

namespace sotto {

namespace key = wire::key;

void Directory::requested(quint32 id)
{
    m_request = id;
    m_receiving = false;
    m_incoming.clear();
}

bool Directory::takePage(const wire::Message &m)
{
    if (m.id() && *m.id() != m_request)
        return false;
    if (!m_receiving) {
        m_incoming.clear();
        m_receiving = true;
    }
    for (const QCborValue &v : m.map().value(key::accounts).toArray()) {
        const QCborMap e = v.toMap();
        const QString name = e.value(key::account).toString();
        if (m_incoming.size() >= m_max)
            break;
        if (skbp::isValidAddress(name) && name != m_self)
            m_incoming[name] = e.value(key::online).toBool();
    }
    if (m.boolean(key::more))
        return false;
    m_receiving = false;
    m_contacts = std::move(m_incoming);
    m_incoming.clear();
    return true;
}

bool Directory::takePresence(const QString &who, bool online)
{
    if (who == m_self || (!m_contacts.contains(who) && m_contacts.size() >= m_max))
        return false;
    m_contacts[who] = online;
    return true;
}

void Directory::connectionLost()
{
    m_receiving = false;
    m_incoming.clear();
}

std::vector<ContactInfo> Directory::contacts() const
{
    std::vector<ContactInfo> out;
    for (const auto &[name, online] : m_contacts)
        out.push_back({name, online});
    return out;
}

} // namespace sotto
