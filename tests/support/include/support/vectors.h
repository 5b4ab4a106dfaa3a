#pragma once

#include "core/secretbytes.h"

#include <QByteArray>
#include <QJsonObject>
#include <QString>

namespace sotto::test {

// Loads ../shared/vectors/<file> (SOTTO_VECTORS_DIR); QFAIL-worthy empty object when missing.
QJsonObject loadVectors(const QString &file);
// Loads tests/vectors/<file>: the vectors of Sotto's own extensions (docs/PROTOCOL.md), which
// the contract's folder does not hold.
QJsonObject loadOwnVectors(const QString &file);
QByteArray hex(const QJsonValue &v);
SecretBytes secretHex(const QJsonValue &v);

} // namespace sotto::test
