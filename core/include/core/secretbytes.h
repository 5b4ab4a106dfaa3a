#pragma once

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

} // namespace sotto
