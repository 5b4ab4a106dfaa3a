#pragma once

// What an eavesdropper who holds a key can read: decrypts one recorded login connection
// (hello, challenge, then sealed frames) with a candidate broker key.

#include "core/secretbytes.h"
#include "core/wire.h"
#include "support/fixtures.h"

#include <optional>
#include <vector>

namespace sotto::test {

struct TapResult
{
    QString account;
    quint32 epoch = 0;
    bool decrypted = false;             // the first sealed frame opened with the key
    std::vector<wire::Message> toClient; // every broker → client message, in order
};

// `frames` as recorded by FrameProxy; `connection` one of its login connections.
TapResult tapLogin(const std::vector<FrameProxy::Frame> &frames, int connection, const SecretBytes &key);
// Login connections (first client frame starts with 0x02) for an account.
std::vector<int> loginConnections(const std::vector<FrameProxy::Frame> &frames, const QString &account);

// A blocking raw login: returns the error code name, or "welcome".
QString rawLogin(quint16 port, const QString &account, quint32 epoch, const SecretBytes &key);

} // namespace sotto::test
