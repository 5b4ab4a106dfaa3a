#pragma once

// The edges of the broker's call router that a test of the router or its parts replaces: an
// outbox that keeps what the router sends (each message checked against the schema, as a phone's
// decoder would check it) and a broker with no peers. Header-only; the test links sotto_broker
// and adds broker/src to its include path. Main thread only.

#include "routercontext.h"

#include "core/wire.h"

#include <QTest>

#include <map>
#include <set>
#include <vector>

namespace sotto::test {

struct SentMessage
{
    QString to;
    wire::Message message;
    broker::Outbox::Delivery delivery;
};

class FakeOutbox final : public broker::Outbox
{
public:
    std::set<QString> online;
    std::vector<SentMessage> sent;
    int sessionsChanges = 0;

    void sendTo(const QString &account, const QCborMap &message, Delivery delivery) override
    {
        auto m = wire::decodeMessage(wire::encodeMessage(message));
        QVERIFY2(m.ok(), m.ok() ? "" : qPrintable(m.error().message));
        sent.push_back({account, *m, delivery});
    }
    bool isOnline(const QString &account) const override { return online.contains(account); }
    bool presenceShown(const QString &account) const override { return isOnline(account); }
    void broadcastPresence(const QString &, bool) override {}
    void sessionsChanged() override { ++sessionsChanges; }
    void accountsChanged() override {}

    // The messages to `to` of that type since the last take(), in order.
    std::vector<wire::Message> take(const QString &to, wire::MessageType type)
    {
        std::vector<wire::Message> out;
        std::erase_if(sent, [&](const SentMessage &s) {
            if (s.to != to || s.message.type() != type)
                return false;
            out.push_back(s.message);
            return true;
        });
        return out;
    }
};

class NoPeers final : public broker::PeerLinks
{
public:
    std::vector<QString> peerNames() const override { return {}; }
    bool isPeer(const QString &) const override { return false; }
    bool isUp(const QString &) const override { return false; }
    const std::map<QString, bool> &directory(const QString &) const override { return m_none; }
    std::pair<QHostAddress, quint16> relayOf(const QString &) const override { return {}; }
    bool allowsRelayAt(const QString &, const QHostAddress &, quint16) const override { return false; }
    bool send(const QString &, const QCborMap &) override { return false; }

private:
    std::map<QString, bool> m_none;
};

// Peers by name, each up or down with the directory it told us; what is sent over a link that
// is up is kept (a link that is down sends nothing, as the real one).
class FakePeers final : public broker::PeerLinks
{
public:
    struct Peer
    {
        bool up = true;
        std::map<QString, bool> directory;
    };
    std::map<QString, Peer> peers;
    std::vector<std::pair<QString, QCborMap>> sent;

    std::vector<QString> peerNames() const override
    {
        std::vector<QString> out;
        for (const auto &[name, p] : peers)
            out.push_back(name);
        return out;
    }
    bool isPeer(const QString &name) const override { return peers.contains(name); }
    bool isUp(const QString &name) const override { return isPeer(name) && peers.at(name).up; }
    const std::map<QString, bool> &directory(const QString &name) const override
    {
        return isPeer(name) ? peers.at(name).directory : m_none;
    }
    std::pair<QHostAddress, quint16> relayOf(const QString &) const override { return {}; }
    bool allowsRelayAt(const QString &, const QHostAddress &, quint16) const override { return false; }
    bool send(const QString &peer, const QCborMap &message) override
    {
        if (!isUp(peer))
            return false;
        sent.emplace_back(peer, message);
        return true;
    }

private:
    std::map<QString, bool> m_none;
};

} // namespace sotto::test
