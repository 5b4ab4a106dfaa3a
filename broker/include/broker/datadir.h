#pragma once

// A broker's data directory, without a running broker: its lock, where its store is, its static
// key, and the one offline change the operator may make to it. Used by the broker at start, by
// the admin channel's offline requests (`sotto broker accounts` on a stopped broker), by the
// command line and by the demo. Any thread; each call is self-contained. Errors say which file.
//
//   DATA/broker.lock  one broker per data dir (QLockFile: stale only once its process is gone)
//   DATA/broker.key   the static X25519 private key, 32 bytes, 0600 (created on first use)
//   DATA/store        optional: the store's location, when not SQLite in DATA/broker.db

#include "broker/storebackend.h"
#include "core/crypto.h"
#include "core/result.h"

#include <QString>

#include <memory>

class QLockFile;

namespace sotto::broker::datadir {

// The lock held while a broker (or an offline change) uses the directory. Busy names the
// process that holds it; a lock file no broker wrote (damaged) is taken over once it is stale.
Result<std::unique_ptr<QLockFile>> lock(const QString &dataDir);

// The store a data dir's broker uses: `spec` when given, else the location recorded in
// DATA/store, else SQLite in DATA/broker.db. Corrupt: DATA/store does not parse.
Result<StoreLocation> storeLocation(const QString &dataDir, const QString &spec = {});

// DATA/broker.key.
QString staticKeyPath(const QString &dataDir);

// Loads the static key, or creates it (0600, from the CSPRNG) when absent. Corrupt: the file is
// not 32 bytes (it is then left alone).
Result<crypto::X25519KeyPair> loadOrCreateStaticKey(const QString &dataDir);

// Drops the inter-broker key held for a peer in a stopped broker's store (Broker::forgetPeer on
// a running one). Busy while a broker runs on the directory; Io when it has no store.
Result<void> forgetPeer(const QString &dataDir, const QString &name);

} // namespace sotto::broker::datadir
