#pragma once

// What every fuzz target shares: a cursor over the fuzz input (never reads past its end), an
// invariant check that aborts (libFuzzer then saves the input), fixed key material, a scratch
// directory on tmpfs, and the seed writer.
//
// Seeds: `fuzz_<name> --write-seeds=DIR` writes the target's seed inputs (built with the project's
// own encoders, so the fuzzer starts from valid frames) into DIR and exits before libFuzzer looks
// at the command line; scripts/fuzz --write-seeds does it for every target into fuzz/corpus/.

#include "core/secretbytes.h"

#include <QByteArray>
#include <QCoreApplication>
#include <QDir>
#include <QFile>
#include <QString>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            std::fprintf(stderr, "invariant failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__);     \
            std::abort();                                                                          \
        }                                                                                          \
    } while (false)

namespace sotto::fuzz {

inline QByteArrayView inputView(const uint8_t *data, size_t size)
{
    return QByteArrayView(reinterpret_cast<const char *>(data), qsizetype(size));
}

// Reads the fuzz input front to back; past the end every read gives zeros or empty bytes.
class Cursor
{
public:
    explicit Cursor(QByteArrayView in) : m_in(in) {}

    bool atEnd() const { return m_pos >= m_in.size(); }
    qsizetype remaining() const { return m_in.size() - m_pos; }

    quint8 u8() { return atEnd() ? 0 : quint8(m_in[m_pos++]); }
    quint16 u16()
    {
        const quint16 hi = u8();
        return quint16(hi << 8 | u8());
    }
    quint32 u32()
    {
        const quint32 hi = u16();
        return hi << 16 | u16();
    }
    // Up to n bytes (fewer at the end).
    QByteArrayView bytes(qsizetype n)
    {
        n = std::min(std::max<qsizetype>(n, 0), remaining());
        const QByteArrayView out = m_in.sliced(m_pos, n);
        m_pos += n;
        return out;
    }
    // A u16 length, then up to that many bytes.
    QByteArrayView lengthPrefixed() { return bytes(u16()); }
    QByteArrayView rest() { return bytes(remaining()); }

private:
    QByteArrayView m_in;
    qsizetype m_pos = 0;
};

// Writers for seeds: the same framing as Cursor reads. (QByteArray has no list constructor:
// QByteArray{a, b} would be b repeated a times.)
inline QByteArray bytesOf(std::initializer_list<int> bytes)
{
    QByteArray out;
    for (int b : bytes)
        out.append(char(b));
    return out;
}
inline QByteArray be16(quint16 n)
{
    return bytesOf({char(n >> 8), char(n & 0xff)});
}
inline QByteArray be32(quint32 n)
{
    return be16(quint16(n >> 16)) + be16(quint16(n & 0xffff));
}
inline QByteArray lengthPrefixed(QByteArrayView bytes)
{
    return be16(quint16(bytes.size())) + bytes.toByteArray();
}

// 32 bytes of fixed key material: fill, fill+1, fill+2, ... (mod 256).
inline QByteArray fixedBytes(quint8 fill, int size = 32)
{
    QByteArray b(size, '\0');
    for (int i = 0; i < size; ++i)
        b[i] = char(quint8(fill + i));
    return b;
}
inline SecretBytes fixedSecret(quint8 fill, int size = 32)
{
    return SecretBytes::copyOf(fixedBytes(fill, size));
}

// A directory of its own for targets that need files, removed at exit: under
// $SOTTO_FUZZ_SCRATCH when scripts/fuzz sets it, else on tmpfs (/dev/shm) where there is one, so
// that thousands of runs a second do not wear a disk.
inline QString scratchDir(const char *target)
{
    QString base = qEnvironmentVariable("SOTTO_FUZZ_SCRATCH");
    if (base.isEmpty())
        base = QDir(QStringLiteral("/dev/shm")).exists() ? QStringLiteral("/dev/shm")
                                                         : QDir::tempPath();
    const QString dir = QStringLiteral("%1/sotto-fuzz-%2-%3")
                            .arg(base, QLatin1StringView(target))
                            .arg(QCoreApplication::applicationPid());
    QDir().mkpath(dir);
    // Plain std::filesystem at exit: Qt's own statics may be gone by then.
    static std::string toRemove;
    toRemove = dir.toStdString();
    std::atexit([] {
        std::error_code ignored;
        std::filesystem::remove_all(toRemove, ignored);
    });
    return dir;
}

using Seeds = std::vector<std::pair<const char *, QByteArray>>;

// Handles --write-seeds=DIR (see the header comment); returns otherwise.
template <typename MakeSeeds> void writeSeedsIfAsked(int *argc, char ***argv, MakeSeeds makeSeeds)
{
    constexpr const char *kFlag = "--write-seeds=";
    for (int i = 1; i < *argc; ++i) {
        const char *arg = (*argv)[i];
        if (std::strncmp(arg, kFlag, std::strlen(kFlag)) != 0)
            continue;
        const QString dir = QString::fromLocal8Bit(arg + std::strlen(kFlag));
        QDir().mkpath(dir);
        int written = 0;
        for (const auto &[name, bytes] : makeSeeds()) {
            QFile f(QDir(dir).filePath(QString::fromLatin1(name)));
            if (bytes.isEmpty() || !f.open(QIODevice::WriteOnly) ||
                f.write(bytes) != bytes.size()) {
                std::fprintf(stderr, "cannot write seed %s\n", name);
                std::exit(1);
            }
            ++written;
        }
        std::fprintf(stderr, "%d seeds written to %s\n", written, arg + std::strlen(kFlag));
        std::exit(0);
    }
}

} // namespace sotto::fuzz
