#include "core/relaywire.h"

#include <QtEndian>

namespace sotto::relaywire {

namespace {

quint8 tagOf(QByteArrayView d)
{
    return d.isEmpty() ? 0 : quint8(d[0]);
}

// sid at 1..16 of a datagram whose size the caller has checked.
QByteArray sidOf(QByteArrayView d)
{
    return d.sliced(1, kSidSize).toByteArray();
}

QByteArray withSsrc(QByteArray out, quint32 ssrc)
{
    char be[kSsrcSize];
    qToBigEndian(ssrc, be);
    out.append(be, kSsrcSize);
    return out;
}

} // namespace

Kind classify(QByteArrayView d)
{
    switch (tagOf(d)) {
    case kBindTag:
        return d.size() == kBindSize ? Kind::Bind : Kind::Malformed;
    case kBindAckTag:
        return d.size() == kBindAckSize ? Kind::BindAck : Kind::Malformed;
    case kTrunkMediaTag:
        return d.size() >= kMinTrunkMediaSize && isRtp(d.sliced(1 + kSidSize)) ? Kind::TrunkMedia
                                                                               : Kind::Malformed;
    case kTrunkBindTag:
        return d.size() == kTrunkBindSize ? Kind::TrunkBind : Kind::Malformed;
    case kProvenBindTag:
        return d.size() == kProvenBindSize ? Kind::ProvenBind : Kind::Malformed;
    case kProvenTrunkBindTag:
        return d.size() == kProvenTrunkBindSize ? Kind::ProvenTrunkBind : Kind::Malformed;
    default:
        return isRtp(d) ? Kind::Rtp : Kind::Malformed;
    }
}

QByteArray encodeBind(const Bind &b)
{
    if (b.sid.size() != kSidSize || b.token.size() != kTokenSize)
        return {};
    return withSsrc(char(kBindTag) + b.sid, b.ssrc) + b.token;
}

QByteArray encodeBindAck(const BindAck &a)
{
    if (a.sid.size() != kSidSize)
        return {};
    return withSsrc(char(kBindAckTag) + a.sid, a.ssrc);
}

QByteArray encodeTrunkBind(const TrunkBind &t)
{
    if (t.sid.size() != kSidSize || t.token.size() != kTokenSize)
        return {};
    return char(kTrunkBindTag) + t.sid + t.token;
}

namespace {
QByteArray stampBytes(quint64 stamp)
{
    char be[kStampSize];
    qToBigEndian(stamp, be);
    return QByteArray(be, kStampSize);
}
} // namespace

QByteArray encodeProvenBind(const ProvenBind &b)
{
    const QByteArray plain = encodeBind(b.bind);
    if (plain.isEmpty() || b.proof.size() != kProofSize)
        return {};
    QByteArray out = plain + stampBytes(b.stamp) + b.proof;
    out[0] = char(kProvenBindTag);
    return out;
}

QByteArray encodeProvenTrunkBind(const ProvenTrunkBind &t)
{
    if (t.sid.size() != kSidSize || t.proof.size() != kProofSize)
        return {};
    return char(kProvenTrunkBindTag) + t.sid + stampBytes(t.stamp) + t.proof;
}

std::optional<ProvenBind> decodeProvenBind(QByteArrayView d)
{
    if (classify(d) != Kind::ProvenBind)
        return std::nullopt;
    ProvenBind b;
    b.bind.sid = sidOf(d);
    b.bind.ssrc = qFromBigEndian<quint32>(d.data() + 1 + kSidSize);
    b.bind.token = d.sliced(1 + kSidSize + kSsrcSize, kTokenSize).toByteArray();
    b.stamp = qFromBigEndian<quint64>(d.data() + kBindSize);
    b.proof = d.sliced(kBindSize + kStampSize, kProofSize).toByteArray();
    return b;
}

std::optional<ProvenTrunkBind> decodeProvenTrunkBind(QByteArrayView d)
{
    if (classify(d) != Kind::ProvenTrunkBind)
        return std::nullopt;
    ProvenTrunkBind t;
    t.sid = sidOf(d);
    t.stamp = qFromBigEndian<quint64>(d.data() + 1 + kSidSize);
    t.proof = d.sliced(1 + kSidSize + kStampSize, kProofSize).toByteArray();
    return t;
}

QByteArray encodeTrunkMedia(QByteArrayView sid, QByteArrayView rtp)
{
    if (sid.size() != kSidSize || !isRtp(rtp))
        return {};
    QByteArray out;
    out.reserve(1 + kSidSize + rtp.size());
    out.append(char(kTrunkMediaTag)).append(sid).append(rtp);
    return out;
}

std::optional<Bind> decodeBind(QByteArrayView d)
{
    if (classify(d) != Kind::Bind)
        return std::nullopt;
    return Bind{sidOf(d), qFromBigEndian<quint32>(d.data() + 1 + kSidSize),
                d.sliced(1 + kSidSize + kSsrcSize, kTokenSize).toByteArray()};
}

std::optional<BindAck> decodeBindAck(QByteArrayView d)
{
    if (classify(d) != Kind::BindAck)
        return std::nullopt;
    return BindAck{sidOf(d), qFromBigEndian<quint32>(d.data() + 1 + kSidSize)};
}

std::optional<TrunkBind> decodeTrunkBind(QByteArrayView d)
{
    if (classify(d) != Kind::TrunkBind)
        return std::nullopt;
    return TrunkBind{sidOf(d), d.sliced(1 + kSidSize, kTokenSize).toByteArray()};
}

std::optional<TrunkMedia> decodeTrunkMedia(QByteArrayView d)
{
    if (classify(d) != Kind::TrunkMedia)
        return std::nullopt;
    return TrunkMedia{sidOf(d), d.sliced(1 + kSidSize)};
}

bool isRtp(QByteArrayView d)
{
    return d.size() >= kRtpHeaderSize && (quint8(d[0]) & 0xC0) == 0x80;
}

std::optional<quint32> rtpSsrc(QByteArrayView d)
{
    if (!isRtp(d))
        return std::nullopt;
    return qFromBigEndian<quint32>(d.data() + 8);
}

} // namespace sotto::relaywire
