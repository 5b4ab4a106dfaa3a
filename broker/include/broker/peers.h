#pragma once

// Peering configuration (§8): `--peer NAME=HOST:PORT,PUBKEY`, `--peer-secret-file NAME=FILE`,
// or the same in the data directory's peers.ini:
//
//   [b]
//   address=203.0.113.7:7420
//   key=<the peer's static public key, base64url, as `sotto broker pubkey` prints it>
//   secret_file=peer-b.secret      (relative to the data directory)
//   relays=198.51.100.9:7430 198.51.100.10:7430   (optional: the peer's relays of their own)
//
// A secret file holds 32 random bytes, base64 (or base64url), e.g. `head -c 32 /dev/urandom |
// base64`; it must not be readable by others. Every mistake gets its own one-line message.

#include "broker/config.h"

namespace sotto::broker {

// "NAME=HOST:PORT,PUBKEY" (secret still empty).
Result<PeerConfig> parsePeer(const QString &spec);
// "NAME=HOST:PORT" (a literal address) → {NAME, HOST:PORT}: a relay of the peer's own
// (`--peer-relay`), which its `relay_at` may name.
Result<std::pair<QString, QString>> parsePeerRelayOption(const QString &spec);
// "NAME=FILE" → {NAME, FILE}.
Result<std::pair<QString, QString>> parsePeerSecretOption(const QString &spec);
Result<SecretBytes> readPeerSecret(const QString &path);
// A 32-byte secret (raw or base64) from a file only its owner may read; `what` names it in errors
// ("relay secret"). Usage errors: unreadable, readable by group or others, or not 32 bytes.
Result<SecretBytes> readSecretFile(const QString &path, const QString &what);
// peers.ini in `dataDir` (absent: none).
Result<std::vector<PeerConfig>> loadPeersFile(const QString &dataDir);
// The base64url text of a static public key.
QString encodePublicKey(const QByteArray &key);

} // namespace sotto::broker
