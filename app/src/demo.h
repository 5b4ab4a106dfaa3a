#pragma once

// What the headless and the windowed demo share: a broker on loopback in a scratch directory,
// and what each of the three says.

#include "broker/broker.h"

namespace sotto::app {

// A broker for a demo: loopback, any free port, its data in `dataDir`.
broker::BrokerConfig demoBrokerConfig(const QString &dataDir, const QString &name);
// The sentence `who` speaks (alice, bob, carol; anyone else says alice's).
QString demoSentence(const QString &who);

} // namespace sotto::app
