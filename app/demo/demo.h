#pragma once

// What the headless and the windowed demo share: brokers on loopback in a scratch directory —
// one, or two peered ones (patent Fig. 3: alice on "a", bob and carol on "b") — and what each
// of the three says.

#include "broker/broker.h"

#include <memory>
#include <vector>

namespace sotto::app {

struct DemoBrokers
{
    std::vector<std::unique_ptr<broker::Broker>> brokers; // [a] or [a, b]

    // Starts them (federated: peered, with a fresh peering secret), in `dir`.
    Result<void> start(const QString &dir, bool federated);
    void stop();
    bool federated() const { return brokers.size() > 1; }
    // Where `who` has an account.
    broker::Broker &homeOf(const QString &who);
    // How alice writes `who` ("bob", or "bob@b" across brokers).
    QString addressOf(const QString &who) const;
};

// The sentence `who` speaks (alice, bob, carol; anyone else says alice's).
QString demoSentence(const QString &who);

} // namespace sotto::app
