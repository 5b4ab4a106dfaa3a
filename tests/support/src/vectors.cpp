#include "support/vectors.h"

#include <QFile>
#include <QJsonDocument>

namespace sotto::test {

QJsonObject loadVectors(const QString &file)
{
    QFile f(QStringLiteral(SOTTO_VECTORS_DIR "/") + file);
    if (!f.open(QIODevice::ReadOnly))
        return {};
    return QJsonDocument::fromJson(f.readAll()).object();
}

QJsonObject loadOwnVectors(const QString &file)
{
    QFile f(QStringLiteral(SOTTO_OWN_VECTORS_DIR "/") + file);
    if (!f.open(QIODevice::ReadOnly))
        return {};
    return QJsonDocument::fromJson(f.readAll()).object();
}

QByteArray hex(const QJsonValue &v)
{
    return QByteArray::fromHex(v.toString().toLatin1());
}

SecretBytes secretHex(const QJsonValue &v)
{
    QByteArray raw = hex(v);
    SecretBytes s = SecretBytes::copyOf(raw);
    raw.fill('\0');
    return s;
}

} // namespace sotto::test
