#pragma once

// The broker's directory as a phone holds it (PROTOCOL.md §6.2): who there is to call, and who
// is online. An answer comes in pages, under the id of the request it answers; the contacts
// change once, at its last page, and pages of an older request (asked again meanwhile) are not
// mixed into the newer answer. Presence changes one contact at a time. What a broker may make a
// phone hold is bounded (maxContacts); the phone's own account is never a contact.
//
// A value; any one thread. Nothing here fails: what does not fit is left out.

#include "core/wire.h"

#include <QString>

#include <cstddef>
#include <map>
#include <vector>

namespace sotto {

struct ContactInfo
{
    QString account;
    bool online = false;
};

class Directory
{
public:
    static constexpr std::size_t kMaxContacts = 200000;
    explicit Directory(QString self = {}, std::size_t maxContacts = kMaxContacts)
        : m_self(std::move(self)), m_max(maxContacts)
    {
    }
    void setSelf(const QString &self) { m_self = self; }

    // A request goes out under `id`: an answer half received is dropped.
    void requested(quint32 id);
    // One page of an answer (`directory` with accounts). True when it was the last page of the
    // answer to the newest request: the contacts are that answer now.
    bool takePage(const wire::Message &m);
    // `presence`: true when it was taken (not ourselves, and within the bound).
    bool takePresence(const QString &who, bool online);
    // The connection went: a half-received answer is dropped (the contacts stay).
    void connectionLost();

    std::vector<ContactInfo> contacts() const;
    std::size_t size() const { return m_contacts.size(); }

private:
    QString m_self;
    std::size_t m_max;
    std::map<QString, bool> m_contacts;
    std::map<QString, bool> m_incoming; // pages of an answer so far
    bool m_receiving = false;
    quint32 m_request = 0; // the id of the request whose pages we take
};

} // namespace sotto
