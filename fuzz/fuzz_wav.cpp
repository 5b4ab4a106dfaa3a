// The WAV reader (audio/wav.h) on a file holding the input: what `sotto phone --input-file` and
// the file-backed audio devices read.
//
//   input = wav file            ; RIFF "WAVE", chunks ("fmt ", "data", others skipped)
//
// Whatever the chunk sizes say, a file that reads gives at most as many 48 kHz samples as its
// bytes allow (resampling from 8 kHz multiplies by six, plus the resampler's slack); a file that
// does not read fails with BadRequest.

#include "fuzzsupport.h"

#include "audio/wav.h"

using namespace sotto;
using namespace sotto::fuzz;

namespace {

QString g_path;

QByteArray le16(quint16 n)
{
    return bytesOf({char(n & 0xff), char(n >> 8)});
}
QByteArray le32(quint32 n)
{
    return le16(quint16(n & 0xffff)) + le16(quint16(n >> 16));
}
QByteArray chunk(const char *id, const QByteArray &body)
{
    QByteArray c = QByteArray(id, 4) + le32(quint32(body.size())) + body;
    if (body.size() & 1)
        c += '\0';
    return c;
}
QByteArray fmt(quint16 format, quint16 channels, quint32 rate, quint16 bits)
{
    return chunk("fmt ", le16(format) + le16(channels) + le32(rate) +
                             le32(rate * channels * bits / 8) + le16(quint16(channels * bits / 8)) +
                             le16(bits));
}
QByteArray riff(const QByteArray &chunks)
{
    return "RIFF" + le32(quint32(4 + chunks.size())) + "WAVE" + chunks;
}
QByteArray samples(int count)
{
    QByteArray s;
    for (int i = 0; i < count; ++i)
        s += le16(quint16(qint16((i * 2731) % 30000 - 15000)));
    return s;
}

fuzz::Seeds seeds()
{
    return {
        {"mono-48k", riff(fmt(1, 1, 48000, 16) + chunk("data", samples(480)))},
        {"stereo-16k", riff(fmt(1, 2, 16000, 16) + chunk("data", samples(320)))},
        {"mono-8k-list", riff(chunk("LIST", "INFOISFT\x05\0\0\0sotto") + fmt(1, 1, 8000, 16) +
                              chunk("data", samples(160)))},
        {"cut-short", riff(fmt(1, 1, 44100, 16) + chunk("data", samples(200))).chopped(101)},
        {"float", riff(fmt(3, 1, 48000, 32) + chunk("data", samples(64)))},
    };
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    writeSeedsIfAsked(argc, argv, seeds);
    g_path = QDir(scratchDir("wav")).filePath(QStringLiteral("input.wav"));
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    {
        QFile f(g_path);
        FUZZ_CHECK(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
        FUZZ_CHECK(f.write(reinterpret_cast<const char *>(data), qint64(size)) == qint64(size));
    }
    auto r = audio::readWav(g_path);
    if (!r) {
        FUZZ_CHECK(r.error().code == ErrorCode::BadRequest);
        return 0;
    }
    FUZZ_CHECK(r->size() <= size / 2 * 6 + 1024);
    return 0;
}
