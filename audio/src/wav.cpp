#include "audio/wav.h"

#include "audio/format.h"

#include <QtEndian>

#include <speex/speex_resampler.h>

#include <cstring>
#include <memory>

namespace sotto::audio {

namespace {

Error bad(const QString &path, const QString &why)
{
    return makeError(ErrorCode::BadRequest, QStringLiteral("%1: %2").arg(path, why));
}

QByteArray header(quint32 dataBytes)
{
    QByteArray h(44, '\0');
    char *p = h.data();
    std::memcpy(p, "RIFF", 4);
    qToLittleEndian<quint32>(36 + dataBytes, p + 4);
    std::memcpy(p + 8, "WAVEfmt ", 8);
    qToLittleEndian<quint32>(16, p + 16);
    qToLittleEndian<quint16>(1, p + 20); // PCM
    qToLittleEndian<quint16>(1, p + 22); // mono
    qToLittleEndian<quint32>(kSampleRate, p + 24);
    qToLittleEndian<quint32>(kSampleRate * 2, p + 28);
    qToLittleEndian<quint16>(2, p + 32);
    qToLittleEndian<quint16>(16, p + 34);
    std::memcpy(p + 36, "data", 4);
    qToLittleEndian<quint32>(dataBytes, p + 40);
    return h;
}

} // namespace

Result<std::vector<qint16>> readWav(const QString &path)
{
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly))
        return makeError(ErrorCode::Io, QStringLiteral("cannot read %1").arg(path));
    const QByteArray all = f.readAll();
    if (all.size() < 12 || !all.startsWith("RIFF") || all.mid(8, 4) != "WAVE")
        return bad(path, QStringLiteral("not a WAV file"));
    qsizetype pos = 12;
    int channels = 0, rate = 0, bits = 0, fmt = 0;
    QByteArrayView data;
    while (pos + 8 <= all.size()) {
        const QByteArray id = all.mid(pos, 4);
        const quint32 size = qFromLittleEndian<quint32>(all.constData() + pos + 4);
        const qsizetype body = pos + 8;
        if (size > quint32(all.size() - body)) {
            if (id != "data")
                return bad(path, QStringLiteral("truncated WAV chunk"));
            data = QByteArrayView(all).sliced(body); // a recording cut short: take what is there
            break;
        }
        if (id == "fmt ") {
            if (size < 16)
                return bad(path, QStringLiteral("bad fmt chunk"));
            fmt = qFromLittleEndian<quint16>(all.constData() + body);
            channels = qFromLittleEndian<quint16>(all.constData() + body + 2);
            rate = int(qFromLittleEndian<quint32>(all.constData() + body + 4));
            bits = qFromLittleEndian<quint16>(all.constData() + body + 14);
        } else if (id == "data") {
            data = QByteArrayView(all).sliced(body, size);
            break;
        }
        pos = body + size + (size & 1);
    }
    if (fmt != 1 || bits != 16)
        return bad(path, QStringLiteral("only 16-bit PCM WAV is supported"));
    if (channels < 1 || channels > 2)
        return bad(path, QStringLiteral("only mono or stereo WAV is supported"));
    if (rate < 8000 || rate > 192000)
        return bad(path, QStringLiteral("unsupported sample rate %1").arg(rate));
    const qsizetype frames = data.size() / (2 * channels);
    std::vector<qint16> mono(static_cast<std::size_t>(frames));
    for (qsizetype i = 0; i < frames; ++i) {
        int sum = 0;
        for (int c = 0; c < channels; ++c)
            sum += qFromLittleEndian<qint16>(data.data() + 2 * (i * channels + c));
        mono[std::size_t(i)] = qint16(sum / channels);
    }
    if (rate == kSampleRate)
        return mono;
    int err = 0;
    std::unique_ptr<SpeexResamplerState, void (*)(SpeexResamplerState *)> rs(
        speex_resampler_init(1, spx_uint32_t(rate), kSampleRate, 8, &err), speex_resampler_destroy);
    if (!rs || err != RESAMPLER_ERR_SUCCESS)
        return bad(path, QStringLiteral("cannot resample from %1 Hz").arg(rate));
    std::vector<qint16> out(std::size_t(double(frames) * kSampleRate / rate + 1024));
    spx_uint32_t inLen = spx_uint32_t(frames), outLen = spx_uint32_t(out.size());
    speex_resampler_process_int(rs.get(), 0, mono.data(), &inLen, out.data(), &outLen);
    out.resize(outLen);
    return out;
}

WavWriter::~WavWriter()
{
    close();
}

Result<void> WavWriter::open(const QString &path)
{
    close();
    m_file.setFileName(path);
    if (!m_file.open(QIODevice::ReadWrite | QIODevice::Truncate))
        return makeError(ErrorCode::Io, QStringLiteral("cannot write %1: %2").arg(path, m_file.errorString()));
    m_samples = 0;
    m_file.write(header(0));
    m_file.flush();
    return {};
}

Result<void> WavWriter::write(const qint16 *samples, qsizetype count)
{
    if (!m_file.isOpen())
        return makeError(ErrorCode::Io, QStringLiteral("recording not open"));
    QByteArray le(count * 2, Qt::Uninitialized);
    for (qsizetype i = 0; i < count; ++i)
        qToLittleEndian<qint16>(samples[i], le.data() + 2 * i);
    m_file.seek(44 + m_samples * 2);
    if (m_file.write(le) != le.size())
        return makeError(ErrorCode::Io, QStringLiteral("cannot write %1").arg(m_file.fileName()));
    m_samples += count;
    patchHeader();
    return {};
}

void WavWriter::patchHeader()
{
    const qint64 at = m_file.pos();
    m_file.seek(0);
    m_file.write(header(quint32(std::min<qint64>(m_samples * 2, 0xFFFFFFF0LL))));
    m_file.seek(at);
    m_file.flush();
}

void WavWriter::close()
{
    if (!m_file.isOpen())
        return;
    patchHeader();
    m_file.close();
}

} // namespace sotto::audio
