#pragma once

#include <QByteArray>
#include <QByteArrayView>

#include <cstddef>
#include <vector>

namespace sotto {

// Key material. Owns its bytes, wipes them with OPENSSL_cleanse when destroyed or overwritten,
// never reallocates behind your back (no implicit sharing), and has no conversion to text or
// QDebug: the only way out is view() for passing to crypto, or fingerprint().
class SecretBytes
{
public:
    SecretBytes() = default;
    explicit SecretBytes(std::size_t size); // zero-filled
    static SecretBytes copyOf(QByteArrayView bytes);
    // Takes key bytes that arrived in a QByteArray (a file, a query, a decoder): copies them,
    // then wipes the QByteArray's buffer in place (wipeInPlace) and empties it.
    static SecretBytes takeFrom(QByteArray &bytes);
    ~SecretBytes();

    SecretBytes(const SecretBytes &other);
    SecretBytes &operator=(const SecretBytes &other);
    SecretBytes(SecretBytes &&other) noexcept;
    SecretBytes &operator=(SecretBytes &&other) noexcept;

    std::size_t size() const { return m_bytes.size(); }
    bool isEmpty() const { return m_bytes.empty(); }
    unsigned char *data() { return m_bytes.data(); }
    const unsigned char *data() const { return m_bytes.data(); }
    QByteArrayView view() const
    {
        return QByteArrayView(reinterpret_cast<const char *>(m_bytes.data()),
                              qsizetype(m_bytes.size()));
    }

    void clear();
    // Constant-time comparison.
    bool equals(const SecretBytes &other) const;

    // Concatenation, wiping intermediates.
    SecretBytes operator+(const SecretBytes &other) const;

private:
    std::vector<unsigned char> m_bytes;
};

// Wipes a QByteArray's bytes where they are — in the one buffer that every implicitly shared
// copy of it points at (a QVariant bound to a query, a QCborValue, another QByteArray) — then
// empties it. QByteArray::fill() would detach first and wipe only a fresh private copy, leaving
// the secret in every other holder. Never use it on a buffer that holds something else too.
// A QByteArray over raw data it does not own (fromRawData) is only emptied.
void wipeInPlace(QByteArray &bytes);

} // namespace sotto
