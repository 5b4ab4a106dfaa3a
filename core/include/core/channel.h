#pragma once

// The encrypted session channel of PROTOCOL.md §5 (and the tail of §4's handshake): a pair of
// Noise CipherStates, one per direction, carrying CBOR messages.

#include "core/noise.h"
#include "core/wire.h"

namespace sotto {

class SecureChannel
{
public:
    SecureChannel() = default;
    SecureChannel(noise::CipherState send, noise::CipherState receive)
        : m_send(std::move(send)), m_receive(std::move(receive))
    {
    }

    bool isOpen() const { return m_send.hasKey() && m_receive.hasKey(); }

    // The sealed frame body for a message.
    Result<QByteArray> seal(const QCborMap &message);
    // Decrypts (Crypto error on tampering, replay or reordering: the counter must match) and
    // schema-checks (BadRequest). A failed decryption leaves the receive counter where it was.
    Result<wire::Message> open(QByteArrayView body);
    // Decrypt only, for payloads that are not schema messages.
    Result<QByteArray> openRaw(QByteArrayView body);

private:
    noise::CipherState m_send;
    noise::CipherState m_receive;
};

} // namespace sotto
