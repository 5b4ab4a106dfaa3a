#pragma once

// Invite links: sotto://HOST:PORT/join?account=NAME&broker=B64URL(pubkey)&secret=B64URL(psk)
// [&alt=HOST:PORT,HOST:PORT…] (base64url without padding). The secret is the single-use psk of
// the first enrolment. `alt` (extension): the other instances of the same broker (active/standby
// on one store), which a phone tries in turn when the first does not serve it.

#include "core/result.h"
#include "core/secretbytes.h"

#include <QByteArray>
#include <QString>
#include <QStringList>

namespace sotto {

struct InviteLink
{
    QString host;
    quint16 port = 0;
    QString account;
    QByteArray brokerPublicKey; // 32 bytes
    SecretBytes secret;         // 32 bytes
    QStringList alternates;     // "HOST:PORT" of the broker's other instances (at most 15)

    QString toString() const;
    // Every way a link can be wrong gets its own one-line message (ErrorCode::Usage).
    static Result<InviteLink> parse(const QString &text);
};

// "HOST:PORT", "[v6]:PORT" or "HOST" (default port) into its parts.
Result<std::pair<QString, quint16>> parseHostPort(const QString &text, quint16 defaultPort);

// "90s", "15m", "24h", "7d" → seconds; anything else is an error.
Result<qint64> parseDuration(const QString &text);

} // namespace sotto
