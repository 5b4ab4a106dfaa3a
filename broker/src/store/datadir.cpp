#include "broker/datadir.h"

#include "broker/store.h"
#include "core/privatefile.h"
#include "core/secretbytes.h"

#include <QDateTime>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QLockFile>

namespace sotto::broker::datadir {

// One broker per data dir: two would each follow the commit rule alone and break it together.
// A lock left by a broker that died is stale and taken over (QLockFile checks the process).
Result<std::unique_ptr<QLockFile>> lock(const QString &dataDir)
{
    const QString path = QDir(dataDir).filePath(QStringLiteral("broker.lock"));
    auto file = std::make_unique<QLockFile>(path);
    file->setStaleLockTime(0); // a broker runs for months: stale only when its process is gone
    if (file->tryLock(0))
        return file;
    if (file->error() == QLockFile::LockFailedError) {
        qint64 pid = 0;
        QString host, app;
        if (file->getLockInfo(&pid, &host, &app))
            return makeError(ErrorCode::Busy, QStringLiteral("another broker (process %1 on %2) uses %3; if none runs "
                                                             "there, remove %4")
                                                  .arg(pid)
                                                  .arg(host, dataDir, path));
        // Not a lock a broker wrote (it writes its process id at once): damaged, or left by a
        // crash mid-write. Once it is older than a moment it is taken over.
        const QDateTime written = QFileInfo(path).lastModified();
        if (written.isValid() && written.secsTo(QDateTime::currentDateTime()) >= 2 && file->removeStaleLockFile()
            && file->tryLock(0))
            return file;
    }
    return makeError(ErrorCode::Io, QStringLiteral("cannot lock %1 (%2)").arg(dataDir, path));
}

QString staticKeyPath(const QString &dataDir)
{
    return QDir(dataDir).filePath(QStringLiteral("broker.key"));
}

Result<crypto::X25519KeyPair> loadOrCreateStaticKey(const QString &dataDir)
{
    const QString path = staticKeyPath(dataDir);
    QFile f(path);
    if (f.exists()) {
        if (!f.open(QIODevice::ReadOnly))
            return makeError(ErrorCode::Io, QStringLiteral("cannot read %1").arg(path));
        QByteArray raw = f.read(64);
        if (raw.size() != 32) {
            wipeInPlace(raw);
            return makeError(ErrorCode::Corrupt,
                             QStringLiteral("%1 is not a broker key (expected 32 bytes); not touching it").arg(path));
        }
        auto kp = crypto::x25519FromPrivate(raw);
        wipeInPlace(raw);
        return kp;
    }
    auto kp = crypto::x25519Generate();
    if (!kp)
        return kp.error();
    const QByteArrayView raw(reinterpret_cast<const char *>(kp->privateKey.data()), qsizetype(kp->privateKey.size()));
    if (auto r = writePrivateFile(path, raw); !r)
        return r.error();
    return kp;
}

Result<StoreLocation> storeLocation(const QString &dataDir, const QString &spec)
{
    if (!spec.isEmpty())
        return StoreLocation::parse(spec);
    QFile f(QDir(dataDir).filePath(QStringLiteral("store")));
    if (f.open(QIODevice::ReadOnly)) {
        auto recorded = StoreLocation::parse(QString::fromUtf8(f.readAll()).trimmed());
        if (!recorded)
            return makeError(ErrorCode::Corrupt, QStringLiteral("%1: %2").arg(f.fileName(), recorded.error().message));
        return recorded;
    }
    return StoreLocation::sqlite(QDir(dataDir).filePath(QStringLiteral("broker.db")));
}

Result<void> forgetPeer(const QString &dataDir, const QString &name)
{
    auto location = storeLocation(dataDir);
    if (!location)
        return location.error();
    if (!location->isPostgres() && !QFile::exists(location->path))
        return makeError(ErrorCode::Io, QStringLiteral("no broker store in %1").arg(dataDir));
    auto held = datadir::lock(dataDir);
    if (!held)
        return makeError(held.error().code, held.error().message + QStringLiteral(": stop it first, or use its console"));
    Store store;
    if (auto r = store.open(*location); !r)
        return r;
    auto r = store.forgetPeer(name);
    if (r && !store.flush())
        r = makeError(ErrorCode::Io, QStringLiteral("cannot write the store in %1").arg(dataDir));
    store.close();
    return r;
}

} // namespace sotto::broker::datadir
