#include "core/secretbytes.h"

#include <openssl/crypto.h>

#include <cstring>

namespace sotto {

SecretBytes::SecretBytes(std::size_t size) : m_bytes(size, 0) {}

SecretBytes SecretBytes::copyOf(QByteArrayView bytes)
{
    SecretBytes s(std::size_t(bytes.size()));
    if (!bytes.isEmpty())
        std::memcpy(s.m_bytes.data(), bytes.data(), std::size_t(bytes.size()));
    return s;
}

SecretBytes SecretBytes::takeFrom(QByteArray &bytes)
{
    SecretBytes s = copyOf(bytes);
    wipeInPlace(bytes);
    return s;
}

void wipeInPlace(QByteArray &bytes)
{
    auto &d = bytes.data_ptr();
    // Written through the shared buffer on purpose: every holder of it holds the secret.
    if (d.isMutable() && d.size > 0)
        OPENSSL_cleanse(const_cast<char *>(d.data()), std::size_t(d.size));
    bytes.clear();
}

SecretBytes::~SecretBytes()
{
    clear();
}

SecretBytes::SecretBytes(const SecretBytes &other) : m_bytes(other.m_bytes) {}

SecretBytes &SecretBytes::operator=(const SecretBytes &other)
{
    if (this != &other) {
        clear();
        m_bytes = other.m_bytes;
    }
    return *this;
}

SecretBytes::SecretBytes(SecretBytes &&other) noexcept : m_bytes(std::move(other.m_bytes))
{
    other.m_bytes.clear();
}

SecretBytes &SecretBytes::operator=(SecretBytes &&other) noexcept
{
    if (this != &other) {
        clear();
        m_bytes = std::move(other.m_bytes);
        other.m_bytes.clear();
    }
    return *this;
}

void SecretBytes::clear()
{
    if (!m_bytes.empty())
        OPENSSL_cleanse(m_bytes.data(), m_bytes.size());
    m_bytes.clear();
}

bool SecretBytes::equals(const SecretBytes &other) const
{
    return m_bytes.size() == other.m_bytes.size()
        && CRYPTO_memcmp(m_bytes.data(), other.m_bytes.data(), m_bytes.size()) == 0;
}

SecretBytes SecretBytes::operator+(const SecretBytes &other) const
{
    SecretBytes out(size() + other.size());
    if (!isEmpty())
        std::memcpy(out.data(), data(), size());
    if (!other.isEmpty())
        std::memcpy(out.data() + size(), other.data(), other.size());
    return out;
}

} // namespace sotto
