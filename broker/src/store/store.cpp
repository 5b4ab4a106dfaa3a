#include "broker/store.h"

#include "core/crypto.h"

#include "broker/storebackend.h"

#include "broker/log.h"
#include "core/skbp.h"

#include <QFile>
#include <QFileInfo>
#include <QSqlError>
#include <QSqlQuery>
#include <QTimer>
#include <QUuid>

namespace sotto::broker {

namespace {

bool sameKey(quint32 heldEpoch, const SecretBytes &held, quint32 atEpoch, const SecretBytes &own)
{
    return atEpoch != 0 && heldEpoch == atEpoch && !own.isEmpty() && crypto::constantTimeEquals(held.view(), own.view());
}

} // namespace

bool AccountRecord::holdsPending(quint32 atEpoch, const SecretBytes &own) const
{
    return hasPending() && sameKey(pendingEpoch, pendingKey, atEpoch, own);
}

bool AccountRecord::holdsReplacement(quint32 atEpoch, const SecretBytes &own) const
{
    return sameKey(replaceEpoch, replaceKey, atEpoch, own);
}

bool AccountRecord::holdsCurrent(quint32 atEpoch, const SecretBytes &own) const
{
    return sameKey(epoch, key, atEpoch, own);
}

namespace {

Error sqlError(const QString &what, const QSqlError &e)
{
    return makeError(ErrorCode::Io, QStringLiteral("%1: %2").arg(what, e.text()));
}

QByteArray raw(const SecretBytes &s)
{
    return s.view().toByteArray();
}

// In place: the copy is shared with the QVariant bound to (or read from) the query, and the
// wipe must reach that buffer too (QByteArray::fill() would detach and wipe nothing of it).
void wipe(QByteArray &b)
{
    wipeInPlace(b);
}

// The key columns of an accounts or peers row (epoch, key, pending epoch, pending key at these
// positions) into a record, wiping the copies QtSql handed out; false when a key has the wrong size.
bool readKeys(const QSqlQuery &q, int epoch, int key, int pendingEpoch, int pendingKey, AccountRecord &r)
{
    r.epoch = quint32(q.value(epoch).toLongLong());
    r.pendingEpoch = quint32(q.value(pendingEpoch).toLongLong());
    QByteArray k = q.value(key).toByteArray();
    QByteArray pk = q.value(pendingKey).toByteArray();
    r.key = SecretBytes::copyOf(k);
    r.pendingKey = SecretBytes::copyOf(pk);
    wipe(k);
    wipe(pk);
    return (r.epoch == 0 || r.key.size() == std::size_t(skbp::kKeySize))
        && (r.pendingEpoch == 0 || r.pendingKey.size() == std::size_t(skbp::kKeySize));
}

} // namespace

Store::Store(QObject *parent)
    : QObject(parent), m_connectionName(QUuid::createUuid().toString(QUuid::WithoutBraces))
{
}

Store::~Store()
{
    close();
}

Result<void> Store::open(const QString &path)
{
    return open(StoreLocation::sqlite(path));
}

Result<void> Store::open(const StoreLocation &location)
{
    auto backend = makeStoreBackend(location);
    if (!backend)
        return backend.error();
    m_backend = std::move(*backend);
    m_failed = false;
    Result<void> ready;
    {
        auto db = m_backend->connect(m_connectionName);
        if (db) {
            m_path = location.toString();
            ready = migrate(*db);
        } else {
            ready = db.error();
        }
    }
    if (ready) {
        m_backend->opened();
        ready = load();
    }
    if (!ready) {
        m_path = location.toString(); // so that close() takes the connection down
        close();
    }
    return ready;
}

// The schema's history is the table schema_migrations (a row per version applied). A store
// from before that table has its version in meta 'schema'; meta 'schema' is kept in step, so
// that those older builds still refuse a store newer than they know.
Result<void> Store::migrate(QSqlDatabase &db)
{
    const QString where = m_backend->location().toString();
    auto fail = [&](const QString &what, const QSqlError &e) {
        db.rollback();
        return makeError(ErrorCode::Corrupt, QStringLiteral("%1: %2: %3").arg(where, what, e.text()));
    };
    if (!db.transaction())
        return sqlError(QStringLiteral("begin"), db.lastError());
    if (auto r = m_backend->lockSchema(db); !r) {
        db.rollback();
        return r;
    }
    const QStringList tables = db.tables();
    if (!tables.isEmpty() && !tables.contains(QStringLiteral("meta"))) {
        db.rollback();
        return makeError(ErrorCode::Corrupt, QStringLiteral("%1 is not a Sotto store (it holds other tables)").arg(where));
    }
    QSqlQuery q(db);
    if (!q.exec(QStringLiteral("CREATE TABLE IF NOT EXISTS schema_migrations(version INTEGER PRIMARY KEY, "
                               "applied_at BIGINT NOT NULL)")))
        return fail(QStringLiteral("is not a usable store"), q.lastError());
    int version = 0;
    if (!q.exec(QStringLiteral("SELECT MAX(version) FROM schema_migrations")))
        return fail(QStringLiteral("read the schema version"), q.lastError());
    if (q.next())
        version = q.value(0).toInt();
    const qint64 now = QDateTime::currentSecsSinceEpoch();
    auto record = [&](int v) {
        q.prepare(QStringLiteral("INSERT INTO schema_migrations(version, applied_at) VALUES(?, ?)"));
        q.addBindValue(v);
        q.addBindValue(now);
        return q.exec();
    };
    if (version == 0 && tables.contains(QStringLiteral("meta"))) { // from before the migration table
        if (!q.exec(QStringLiteral("SELECT value FROM meta WHERE key='schema'")))
            return fail(QStringLiteral("read the schema version"), q.lastError());
        version = q.next() ? q.value(0).toInt() : 0;
        if (version < 0) {
            db.rollback();
            return makeError(ErrorCode::Corrupt, QStringLiteral("%1: store version %2 is not one this broker knows").arg(where).arg(version));
        }
        // Those stores gained tables without a version of their own: version 1's statements
        // (all IF NOT EXISTS) add what a file lacks.
        for (const QString &stmt : m_backend->migration(1)) {
            if (!q.exec(stmt))
                return fail(QStringLiteral("is not a usable store"), q.lastError());
        }
        for (int v = 1; v <= std::min(version, storeSchemaVersion()); ++v) {
            if (!record(v))
                return fail(QStringLiteral("record the schema version"), q.lastError());
        }
    }
    if (version > storeSchemaVersion()) {
        db.rollback();
        return makeError(ErrorCode::Corrupt, QStringLiteral("%1: store version %2 is newer than this broker knows (it knows up to %3)")
                                                 .arg(where)
                                                 .arg(version)
                                                 .arg(storeSchemaVersion()));
    }
    for (int v = version + 1; v <= storeSchemaVersion(); ++v) {
        for (const QString &stmt : m_backend->migration(v)) {
            if (!q.exec(stmt))
                return fail(QStringLiteral("upgrade to version %1").arg(v), q.lastError());
        }
        if (!record(v))
            return fail(QStringLiteral("record the schema version"), q.lastError());
    }
    q.prepare(QStringLiteral("INSERT INTO meta(key, value) VALUES('schema', ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value"));
    q.addBindValue(QString::number(storeSchemaVersion()));
    if (!q.exec())
        return fail(QStringLiteral("record the schema version"), q.lastError());
    if (!db.commit())
        return sqlError(QStringLiteral("commit"), db.lastError());
    return {};
}

bool Store::tryLockActive()
{
    if (!m_backend)
        return false;
    QSqlDatabase db = QSqlDatabase::database(m_connectionName, false);
    return m_backend->tryLockActive(db);
}

bool Store::renewLease(int leaseMs)
{
    if (!m_backend)
        return false;
    flush(); // never inside a batch: the lease commits on its own
    QSqlDatabase db = QSqlDatabase::database(m_connectionName, false);
    return m_backend->renewLease(db, leaseMs);
}

bool Store::breakExpiredLease()
{
    if (!m_backend)
        return false;
    QSqlDatabase db = QSqlDatabase::database(m_connectionName, false);
    return m_backend->breakExpiredLease(db);
}

Result<void> Store::reload()
{
    flush();
    return load();
}

Result<void> Store::registerBrokerAddress(const QString &hostPort)
{
    QStringList known = brokerAddresses();
    if (known.contains(hostPort))
        return {};
    flush();
    QSqlDatabase db = QSqlDatabase::database(m_connectionName, false);
    if (!db.transaction())
        return sqlError(QStringLiteral("begin"), db.lastError());
    // Read again under the schema lock: two instances starting at once both land.
    if (auto r = m_backend->lockSchema(db); !r) {
        db.rollback();
        return r;
    }
    QSqlQuery q(db);
    if (!q.exec(QStringLiteral("SELECT value FROM meta WHERE key='brokers'"))) {
        const Error e = sqlError(QStringLiteral("read broker addresses"), q.lastError());
        db.rollback();
        return e;
    }
    known = q.next() ? q.value(0).toString().split(u' ', Qt::SkipEmptyParts) : QStringList();
    if (!known.contains(hostPort))
        known.append(hostPort);
    q.prepare(QStringLiteral("INSERT INTO meta(key, value) VALUES('brokers', ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value"));
    q.addBindValue(known.join(u' '));
    if (!q.exec()) {
        const Error e = sqlError(QStringLiteral("register the broker address"), q.lastError());
        db.rollback();
        return e;
    }
    if (!db.commit())
        return sqlError(QStringLiteral("commit"), db.lastError());
    return {};
}

QStringList Store::brokerAddresses()
{
    return metaValue(QStringLiteral("brokers")).split(u' ', Qt::SkipEmptyParts);
}

bool Store::connectionLost()
{
    if (!m_backend)
        return true;
    QSqlDatabase db = QSqlDatabase::database(m_connectionName, false);
    return m_backend->connectionLost(db);
}

void Store::close()
{
    if (m_path.isEmpty())
        return;
    flush();
    m_accounts.clear();
    m_peers.clear();
    m_writeAccountQueries.clear();
    m_dirtyAccounts.clear();
    m_inBatch = false;
    {
        QSqlDatabase db = QSqlDatabase::database(m_connectionName, false);
        db.close();
    }
    QSqlDatabase::removeDatabase(m_connectionName);
    m_backend.reset();
    m_path.clear();
}

// The connection is always taken with open=false: a session QtSql reopened behind the store's
// back would have lost what the broker's session held (the active broker's advisory lock).

Error Store::writeError(const QString &what, const QSqlError &e)
{
    m_failed = true;
    return sqlError(what, e);
}

Result<void> Store::load()
{
    m_accounts.clear();
    m_dirtyAccounts.clear();
    QSqlQuery q(QSqlDatabase::database(m_connectionName, false));
    if (!q.exec(QStringLiteral("SELECT name, epoch, key, pending_epoch, pending_key, pending_kind, "
                               "pending_invite, refreshed_at, revoked, last_login, rotate_due, "
                               "replace_epoch, replace_key, replace_invite, epoch_high FROM accounts")))
        return writeError(QStringLiteral("load accounts"), q.lastError());
    while (q.next()) {
        auto a = std::make_unique<AccountRecord>();
        a->name = q.value(0).toString();
        const bool keysOk = readKeys(q, 1, 2, 3, 4, *a);
        const int kind = q.value(5).toInt();
        a->pendingKind = kind == 1 ? PendingKind::Handshake : kind == 2 ? PendingKind::Rotate : PendingKind::None;
        a->pendingInvite = q.value(6).toLongLong();
        a->refreshedAt = q.value(7).toLongLong();
        a->revoked = q.value(8).toInt() != 0;
        a->lastLogin = q.value(9).toLongLong();
        a->rotateDue = quint32(q.value(10).toLongLong());
        a->replaceEpoch = quint32(q.value(11).toLongLong());
        {
            QByteArray rk = q.value(12).toByteArray();
            a->replaceKey = SecretBytes::copyOf(rk);
            wipe(rk);
        }
        a->replaceInvite = q.value(13).toLongLong();
        a->epochHigh = quint32(q.value(14).toLongLong());
        const bool sane = skbp::isValidAccount(a->name) && keysOk
            && (a->pendingKind == PendingKind::None || a->pendingKey.size() == std::size_t(skbp::kKeySize))
            && (a->replaceEpoch == 0 || a->replaceKey.size() == std::size_t(skbp::kKeySize));
        if (!sane)
            return makeError(ErrorCode::Corrupt, QStringLiteral("store holds a malformed account row"));
        m_accounts.emplace(a->name, std::move(a));
    }
    m_peers.clear();
    if (!q.exec(QStringLiteral("SELECT name, epoch, key, pending_epoch, pending_key, refreshed_at FROM peers")))
        return writeError(QStringLiteral("load peers"), q.lastError());
    while (q.next()) {
        auto p = std::make_unique<AccountRecord>();
        p->name = q.value(0).toString();
        const bool keysOk = readKeys(q, 1, 2, 3, 4, *p);
        p->pendingKind = p->pendingEpoch ? PendingKind::Handshake : PendingKind::None;
        p->refreshedAt = q.value(5).toLongLong();
        if (!skbp::isValidAccount(p->name) || !keysOk)
            return makeError(ErrorCode::Corrupt, QStringLiteral("store holds a malformed peer row"));
        m_peers.emplace(p->name, std::move(p));
    }
    return {};
}

const AccountRecord *Store::peer(const QString &name) const
{
    auto it = m_peers.find(name);
    return it == m_peers.end() ? nullptr : it->second.get();
}

Result<void> Store::writePeer(const AccountRecord &p)
{
    if (auto r = ensureBatch(); !r)
        return r;
    QSqlQuery q(QSqlDatabase::database(m_connectionName, false));
    q.prepare(QStringLiteral("INSERT INTO peers(name, epoch, key, pending_epoch, pending_key, refreshed_at) VALUES(?,?,?,?,?,?) "
                             "ON CONFLICT(name) DO UPDATE SET epoch=excluded.epoch, key=excluded.key, "
                             "pending_epoch=excluded.pending_epoch, pending_key=excluded.pending_key, "
                             "refreshed_at=excluded.refreshed_at"));
    QByteArray key = raw(p.key);
    QByteArray pkey = raw(p.pendingKey);
    q.addBindValue(p.name);
    q.addBindValue(qint64(p.epoch));
    q.addBindValue(p.epoch ? QVariant(key) : QVariant(QMetaType(QMetaType::QByteArray)));
    q.addBindValue(qint64(p.pendingEpoch));
    q.addBindValue(p.pendingEpoch ? QVariant(pkey) : QVariant(QMetaType(QMetaType::QByteArray)));
    q.addBindValue(p.refreshedAt);
    const bool ok = q.exec();
    wipe(key);
    wipe(pkey);
    if (!ok)
        return writeError(QStringLiteral("write peer"), q.lastError());
    return {};
}

Result<void> Store::setPeerPending(const QString &name, quint32 epoch, const SecretBytes &key)
{
    auto &slot = m_peers[name];
    if (!slot) {
        slot = std::make_unique<AccountRecord>();
        slot->name = name;
    }
    slot->pendingEpoch = epoch;
    slot->pendingKey = key;
    slot->pendingKind = PendingKind::Handshake;
    return writePeer(*slot);
}

Result<void> Store::discardPeerPending(const QString &name)
{
    auto it = m_peers.find(name);
    if (it == m_peers.end() || it->second->pendingEpoch == 0)
        return {};
    AccountRecord &p = *it->second;
    p.pendingKey.clear();
    p.pendingEpoch = 0;
    p.pendingKind = PendingKind::None;
    return writePeer(p);
}

Result<void> Store::forgetPeer(const QString &name)
{
    auto it = m_peers.find(name);
    if (it == m_peers.end())
        return makeError(ErrorCode::UnknownAccount, QStringLiteral("no inter-broker key is held for peer %1").arg(name));
    if (auto r = ensureBatch(); !r)
        return r;
    QSqlQuery q(QSqlDatabase::database(m_connectionName, false));
    q.prepare(QStringLiteral("DELETE FROM peers WHERE name = ?"));
    q.addBindValue(name);
    if (!q.exec())
        return writeError(QStringLiteral("forget peer"), q.lastError());
    m_peers.erase(it); // SecretBytes wipe themselves
    return {};
}

Result<void> Store::commitPeerPending(const QString &name)
{
    auto it = m_peers.find(name);
    if (it == m_peers.end() || it->second->pendingEpoch == 0)
        return makeError(ErrorCode::Internal, QStringLiteral("nothing pending for peer %1").arg(name));
    AccountRecord &p = *it->second;
    p.epoch = p.pendingEpoch;
    p.key = std::move(p.pendingKey);
    p.pendingKey.clear();
    p.pendingEpoch = 0;
    p.pendingKind = PendingKind::None;
    p.refreshedAt = QDateTime::currentSecsSinceEpoch();
    auto r = writePeer(p);
    if (r) { // a peer's answered handshakes are kept under "@name" (never an account's name)
        QSqlQuery q(QSqlDatabase::database(m_connectionName, false));
        q.prepare(QStringLiteral("DELETE FROM handshakes WHERE account=? AND epoch<?"));
        q.addBindValue(QLatin1Char('@') + name);
        q.addBindValue(qint64(p.epoch));
        if (!q.exec())
            r = writeError(QStringLiteral("forget handshakes"), q.lastError());
    }
    return r;
}

const AccountRecord *Store::account(const QString &name) const
{
    auto it = m_accounts.find(name);
    return it == m_accounts.end() ? nullptr : it->second.get();
}

std::vector<const AccountRecord *> Store::accounts() const
{
    std::vector<const AccountRecord *> out;
    out.reserve(m_accounts.size());
    for (const auto &[name, a] : m_accounts)
        out.push_back(a.get());
    return out;
}

Result<void> Store::ensureBatch()
{
    if (m_inBatch)
        return {};
    QSqlDatabase db = QSqlDatabase::database(m_connectionName, false);
    if (!db.transaction())
        return writeError(QStringLiteral("begin"), db.lastError());
    m_inBatch = true;
    scheduleFlush();
    return {};
}

void Store::scheduleFlush()
{
    if (m_flushScheduled)
        return;
    m_flushScheduled = true;
    QTimer::singleShot(0, this, [this] { flush(); });
}

// An account's row is written once per batch, at its commit, however often it changed: a
// busy account changes several times per event-loop pass, and a server round trip per change
// is what PostgreSQL would charge.
Result<void> Store::writeAccount(const AccountRecord &a)
{
    if (auto r = ensureBatch(); !r)
        return r;
    m_dirtyAccounts.insert(a.name);
    return {};
}

// The dirty accounts as multi-row upserts of up to kRowsPerWrite rows (one statement each).
bool Store::writeDirtyAccounts()
{
    constexpr int kRowsPerWrite = 64;
    std::vector<const AccountRecord *> rows;
    rows.reserve(m_dirtyAccounts.size());
    for (const QString &name : m_dirtyAccounts) {
        if (const AccountRecord *a = account(name))
            rows.push_back(a);
    }
    m_dirtyAccounts.clear();
    for (std::size_t at = 0; at < rows.size(); at += kRowsPerWrite) {
        const int n = int(std::min<std::size_t>(kRowsPerWrite, rows.size() - at));
        auto &q = m_writeAccountQueries[n];
        if (!q) {
            q = std::make_unique<QSqlQuery>(QSqlDatabase::database(m_connectionName, false));
            QString values;
            const QString row = QStringLiteral("(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
            for (int i = 0; i < n; ++i)
                values += i ? QLatin1Char(',') + row : row;
            if (!q->prepare(QStringLiteral(
                    "INSERT INTO accounts(name, epoch, key, pending_epoch, pending_key, pending_kind, pending_invite, refreshed_at, "
                    "revoked, last_login, rotate_due, replace_epoch, replace_key, replace_invite, epoch_high) VALUES %1 "
                    "ON CONFLICT(name) DO UPDATE SET epoch=excluded.epoch, key=excluded.key, "
                    "pending_epoch=excluded.pending_epoch, pending_key=excluded.pending_key, pending_kind=excluded.pending_kind, "
                    "pending_invite=excluded.pending_invite, refreshed_at=excluded.refreshed_at, revoked=excluded.revoked, "
                    "last_login=excluded.last_login, rotate_due=excluded.rotate_due, replace_epoch=excluded.replace_epoch, "
                    "replace_key=excluded.replace_key, replace_invite=excluded.replace_invite, "
                    "epoch_high=excluded.epoch_high").arg(values))) {
                qCCritical(lcBroker) << "store: cannot prepare the account write:" << q->lastError().text();
                q.reset();
                return false;
            }
        }
        std::vector<QByteArray> copies; // of keys, wiped once the statement ran
        copies.reserve(std::size_t(3 * n));
        for (int i = 0; i < n; ++i) {
            const AccountRecord &a = *rows[at + std::size_t(i)];
            copies.push_back(raw(a.key));
            copies.push_back(raw(a.pendingKey));
            copies.push_back(raw(a.replaceKey));
            q->addBindValue(a.name);
            q->addBindValue(qint64(a.epoch));
            q->addBindValue(a.epoch ? QVariant(copies[copies.size() - 3]) : QVariant(QMetaType(QMetaType::QByteArray)));
            q->addBindValue(qint64(a.pendingEpoch));
            q->addBindValue(a.hasPending() ? QVariant(copies[copies.size() - 2]) : QVariant(QMetaType(QMetaType::QByteArray)));
            q->addBindValue(int(a.pendingKind));
            q->addBindValue(a.pendingInvite);
            q->addBindValue(a.refreshedAt);
            q->addBindValue(a.revoked ? 1 : 0);
            q->addBindValue(a.lastLogin);
            q->addBindValue(qint64(a.rotateDue));
            q->addBindValue(qint64(a.replaceEpoch));
            q->addBindValue(a.replaceEpoch ? QVariant(copies.back()) : QVariant(QMetaType(QMetaType::QByteArray)));
            q->addBindValue(a.replaceInvite);
            q->addBindValue(qint64(a.epochHigh));
        }
        const bool ok = q->exec();
        for (QByteArray &c : copies)
            wipe(c);
        if (!ok) {
            qCCritical(lcBroker) << "store: cannot write accounts:" << q->lastError().text();
            return false;
        }
    }
    return true;
}

Result<void> Store::setPending(const QString &name, quint32 epoch, const SecretBytes &key,
                               PendingKind kind, qint64 inviteId)
{
    auto it = m_accounts.find(name);
    AccountRecord *a;
    if (it == m_accounts.end()) {
        auto fresh = std::make_unique<AccountRecord>();
        fresh->name = name;
        a = fresh.get();
        m_accounts.emplace(name, std::move(fresh));
    } else {
        a = it->second.get();
    }
    a->pendingEpoch = epoch;
    a->pendingKey = key;
    a->pendingKind = kind;
    a->pendingInvite = inviteId;
    auto r = writeAccount(*a);
    Q_EMIT accountChanged(name);
    return r;
}

bool Store::replacementStillOpen(const QString &name, qint64 now)
{
    const AccountRecord *a = account(name);
    if (!a || a->replaceEpoch == 0)
        return false;
    for (const Invite &i : openInvites(name, now)) {
        if (i.id == a->replaceInvite)
            return true;
    }
    (void)setReplacement(name, 0, SecretBytes(), 0);
    return false;
}

Result<void> Store::setReplacement(const QString &name, quint32 epoch, const SecretBytes &key, qint64 inviteId)
{
    auto it = m_accounts.find(name);
    if (it == m_accounts.end())
        return makeError(ErrorCode::Internal, QStringLiteral("no account %1 to replace a device of").arg(name));
    AccountRecord &a = *it->second;
    a.replaceEpoch = epoch;
    a.replaceKey = key;
    a.replaceInvite = inviteId;
    auto r = writeAccount(a);
    Q_EMIT accountChanged(name);
    return r;
}

Result<void> Store::commitReplacement(const QString &name)
{
    auto it = m_accounts.find(name);
    if (it == m_accounts.end() || it->second->replaceEpoch == 0)
        return makeError(ErrorCode::Internal, QStringLiteral("no replacement pending for %1").arg(name));
    AccountRecord &a = *it->second;
    a.epochHigh = std::max({a.epochHigh, a.epoch, a.pendingEpoch, a.replaceEpoch});
    a.epoch = a.replaceEpoch;
    a.key = std::move(a.replaceKey);
    a.replaceKey.clear();
    a.replaceEpoch = 0;
    const qint64 invite = std::exchange(a.replaceInvite, 0);
    // The old device's own pending key (a rotation or refresh it was in) goes with it.
    a.pendingEpoch = 0;
    a.pendingKey.clear();
    a.pendingKind = PendingKind::None;
    a.pendingInvite = 0;
    a.rotateDue = 0; // what the old key keyed dies with it
    a.revoked = false;
    a.refreshedAt = QDateTime::currentSecsSinceEpoch();
    auto r = writeAccount(a);
    if (r)
        r = afterKeyCommitted(name, a.epoch, true, invite);
    Q_EMIT accountChanged(name);
    return r;
}

Result<void> Store::commitPending(const QString &name)
{
    auto it = m_accounts.find(name);
    if (it == m_accounts.end() || !it->second->hasPending())
        return makeError(ErrorCode::Internal, QStringLiteral("nothing pending for %1").arg(name));
    AccountRecord &a = *it->second;
    const bool handshake = a.pendingKind == PendingKind::Handshake;
    if (handshake)
        a.refreshedAt = QDateTime::currentSecsSinceEpoch();
    a.epoch = a.pendingEpoch;
    a.epochHigh = std::max(a.epochHigh, a.epoch);
    a.key = std::move(a.pendingKey);
    a.revoked = false; // a re-enrolment (a new invite) brings a revoked account back
    a.pendingKey.clear();
    a.pendingEpoch = 0;
    a.pendingKind = PendingKind::None;
    const qint64 invite = a.pendingInvite;
    a.pendingInvite = 0;
    auto r = writeAccount(a);
    // msg1s of older epochs can no longer pass a psk check: forget them. Only a handshake made
    // rows; after a rotation the older rows go at the next handshake's commit (64 at most).
    if (r)
        r = afterKeyCommitted(name, a.epoch, handshake, invite);
    Q_EMIT accountChanged(name);
    return r;
}

Result<void> Store::afterKeyCommitted(const QString &name, quint32 epoch, bool forgetHandshakes, qint64 invite)
{
    if (forgetHandshakes) {
        QSqlQuery q(QSqlDatabase::database(m_connectionName, false));
        q.prepare(QStringLiteral("DELETE FROM handshakes WHERE account=? AND epoch<?"));
        q.addBindValue(name);
        q.addBindValue(qint64(epoch));
        if (!q.exec())
            return writeError(QStringLiteral("forget handshakes"), q.lastError());
    }
    if (invite) {
        QSqlQuery q(QSqlDatabase::database(m_connectionName, false));
        q.prepare(QStringLiteral("UPDATE invites SET consumed_at=? WHERE id=?"));
        q.addBindValue(QDateTime::currentSecsSinceEpoch());
        q.addBindValue(invite);
        if (!q.exec())
            return writeError(QStringLiteral("consume invite"), q.lastError());
    }
    return {};
}

Result<void> Store::discardPending(const QString &name)
{
    auto it = m_accounts.find(name);
    if (it == m_accounts.end() || !it->second->hasPending())
        return {};
    AccountRecord &a = *it->second;
    a.pendingKey.clear();
    a.pendingEpoch = 0;
    a.pendingKind = PendingKind::None;
    a.pendingInvite = 0;
    auto r = writeAccount(a);
    Q_EMIT accountChanged(name);
    return r;
}

Result<void> Store::revoke(const QString &name)
{
    auto it = m_accounts.find(name);
    if (it == m_accounts.end()
        || (!it->second->isEnrolled() && !it->second->hasPending() && !it->second->replaceEpoch && it->second->revoked))
        return makeError(ErrorCode::UnknownAccount, QStringLiteral("no account \"%1\"").arg(name));
    AccountRecord &a = *it->second;
    // The next key is numbered above every one this account's devices may hold.
    a.epochHigh = std::max({a.epochHigh, a.epoch, a.pendingEpoch, a.replaceEpoch});
    a.epoch = 0;
    a.key.clear();
    a.replaceEpoch = 0;
    a.replaceKey.clear();
    a.replaceInvite = 0;
    a.pendingEpoch = 0;
    a.pendingKey.clear();
    a.pendingKind = PendingKind::None;
    a.pendingInvite = 0;
    a.rotateDue = 0;
    a.revoked = true;
    auto r = writeAccount(a);
    QSqlQuery q(QSqlDatabase::database(m_connectionName, false));
    for (const char *stmt : {"DELETE FROM invites WHERE account=? AND consumed_at IS NULL", "DELETE FROM handshakes WHERE account=?"}) {
        if (!r)
            break;
        q.prepare(QLatin1StringView(stmt));
        q.addBindValue(name);
        if (!q.exec())
            r = writeError(QStringLiteral("revoke"), q.lastError());
    }
    Q_EMIT accountChanged(name);
    return r;
}

Result<void> Store::setRotateDue(const QString &name, quint32 epoch)
{
    auto it = m_accounts.find(name);
    if (it == m_accounts.end() || it->second->rotateDue == epoch)
        return {};
    it->second->rotateDue = epoch;
    return writeAccount(*it->second);
}

Result<void> Store::noteLogin(const QString &name, qint64 when)
{
    auto it = m_accounts.find(name);
    if (it == m_accounts.end())
        return {};
    it->second->lastLogin = when;
    return writeAccount(*it->second);
}

bool Store::handshakeAnswered(const QString &account, quint32 epoch, const QByteArray &ephemeral)
{
    QSqlQuery q(QSqlDatabase::database(m_connectionName, false));
    q.prepare(QStringLiteral("SELECT 1 FROM handshakes WHERE account=? AND epoch=? AND ephemeral=?"));
    q.addBindValue(account);
    q.addBindValue(qint64(epoch));
    q.addBindValue(ephemeral);
    // A store that cannot answer is taken as "answered": refusing is the safe side.
    return !q.exec() || q.next();
}

Result<void> Store::recordHandshake(const QString &account, quint32 epoch, const QByteArray &ephemeral)
{
    if (auto r = ensureBatch(); !r)
        return r;
    QSqlQuery q(QSqlDatabase::database(m_connectionName, false));
    q.prepare(QStringLiteral("INSERT INTO handshakes(account, epoch, ephemeral) VALUES(?,?,?) ON CONFLICT DO NOTHING"));
    q.addBindValue(account);
    q.addBindValue(qint64(epoch));
    q.addBindValue(ephemeral);
    if (!q.exec())
        return writeError(QStringLiteral("record handshake"), q.lastError());
    // Only a psk holder makes rows, but one that never confirms must not grow the table: the
    // newest 64 per account are kept (a replay of an older msg1 of a live epoch then passes the
    // replay check, and still cannot commit: its connection never completes).
    q.prepare(QStringLiteral("DELETE FROM handshakes WHERE account=? AND %1 NOT IN "
                             "(SELECT %1 FROM handshakes WHERE account=? ORDER BY %1 DESC LIMIT 64)")
                  .arg(m_backend->insertionOrder()));
    q.addBindValue(account);
    q.addBindValue(account);
    if (!q.exec())
        return writeError(QStringLiteral("bound handshakes"), q.lastError());
    return {};
}

Result<void> Store::setLiveSession(const QByteArray &sid, const QString &record)
{
    if (auto r = ensureBatch(); !r)
        return r;
    QSqlQuery q(QSqlDatabase::database(m_connectionName, false));
    q.prepare(QStringLiteral("INSERT INTO live_sessions(sid, record) VALUES(?,?) ON CONFLICT(sid) DO UPDATE SET record=excluded.record"));
    q.addBindValue(sid);
    q.addBindValue(record);
    if (!q.exec())
        return writeError(QStringLiteral("write live session"), q.lastError());
    return {};
}

Result<void> Store::dropLiveSession(const QByteArray &sid)
{
    if (auto r = ensureBatch(); !r)
        return r;
    QSqlQuery q(QSqlDatabase::database(m_connectionName, false));
    q.prepare(QStringLiteral("DELETE FROM live_sessions WHERE sid=?"));
    q.addBindValue(sid);
    if (!q.exec())
        return writeError(QStringLiteral("drop live session"), q.lastError());
    return {};
}

std::map<QByteArray, QString> Store::liveSessions()
{
    std::map<QByteArray, QString> out;
    QSqlQuery q(QSqlDatabase::database(m_connectionName, false));
    if (!q.exec(QStringLiteral("SELECT sid, record FROM live_sessions")))
        return out;
    while (q.next())
        out.emplace(q.value(0).toByteArray(), q.value(1).toString());
    return out;
}

std::vector<Invite> Store::openInvites(const QString &account, qint64 now)
{
    std::vector<Invite> out;
    QSqlQuery q(QSqlDatabase::database(m_connectionName, false));
    q.prepare(QStringLiteral("SELECT id, secret, expires_at FROM invites WHERE account=? AND "
                             "consumed_at IS NULL AND expires_at>? ORDER BY id DESC LIMIT 8"));
    q.addBindValue(account);
    q.addBindValue(now);
    if (!q.exec())
        return out;
    while (q.next()) {
        QByteArray secret = q.value(1).toByteArray();
        out.push_back(Invite{q.value(0).toLongLong(), account, SecretBytes::copyOf(secret),
                             q.value(2).toLongLong()});
        wipe(secret);
    }
    return out;
}

Result<void> Store::createInvite(const QString &account, const SecretBytes &secret, qint64 expiresAt)
{
    flush();
    QSqlDatabase db = QSqlDatabase::database(m_connectionName, false);
    if (!db.transaction())
        return writeError(QStringLiteral("begin"), db.lastError());
    QSqlQuery q(db);
    // One open invite per account (§4): an enrolment attempt then costs the same work whatever
    // the account's state, and an operator's new invite makes the old link useless.
    q.prepare(QStringLiteral("DELETE FROM invites WHERE account=? AND consumed_at IS NULL"));
    q.addBindValue(account);
    if (!q.exec()) {
        const Error e = writeError(QStringLiteral("replace invite"), q.lastError());
        db.rollback();
        return e;
    }
    q.prepare(QStringLiteral("INSERT INTO invites(account, secret, expires_at) VALUES(?,?,?)"));
    QByteArray s = raw(secret);
    q.addBindValue(account);
    q.addBindValue(s);
    q.addBindValue(expiresAt);
    const bool ok = q.exec();
    wipe(s);
    if (!ok) {
        const Error e = writeError(QStringLiteral("create invite"), q.lastError());
        db.rollback();
        return e;
    }
    if (!db.commit())
        return writeError(QStringLiteral("commit"), db.lastError());
    return {};
}

void Store::afterCommit(std::function<void(bool)> then)
{
    if (!m_inBatch) {
        then(!m_failed);
        return;
    }
    m_afterCommit.push_back(std::move(then));
    scheduleFlush();
}

bool Store::flush()
{
    m_flushScheduled = false;
    bool ok = true;
    if (m_inBatch) {
        QSqlDatabase db = QSqlDatabase::database(m_connectionName, false);
        ok = writeDirtyAccounts() && db.commit();
        m_inBatch = false;
        ++m_commits;
        if (!ok) {
            qCCritical(lcBroker) << "store commit failed:" << db.lastError().text()
                                 << "- reloading the last durable state";
            db.rollback();
            m_failed = !load(); // a store that cannot even read back stays failed
        }
    }
    ok = ok && !m_failed;
    auto callbacks = std::move(m_afterCommit);
    m_afterCommit.clear();
    for (auto &cb : callbacks)
        cb(ok);
    return ok;
}

QString Store::metaValue(const QString &key) const
{
    QSqlQuery q(QSqlDatabase::database(m_connectionName, false));
    q.prepare(QStringLiteral("SELECT value FROM meta WHERE key=?"));
    q.addBindValue(key);
    if (q.exec() && q.next())
        return q.value(0).toString();
    return {};
}

Result<void> Store::setMetaValue(const QString &key, const QString &value)
{
    if (auto r = ensureBatch(); !r)
        return r;
    QSqlQuery q(QSqlDatabase::database(m_connectionName, false));
    q.prepare(QStringLiteral("INSERT INTO meta(key, value) VALUES(?,?) ON CONFLICT(key) DO UPDATE SET value=excluded.value"));
    q.addBindValue(key);
    q.addBindValue(value);
    if (!q.exec())
        return writeError(QStringLiteral("write meta"), q.lastError());
    return {};
}

QString Store::dump()
{
    flush();
    QString out;
    QSqlQuery q(QSqlDatabase::database(m_connectionName, false));
    q.exec(QStringLiteral("SELECT name, epoch, key, pending_epoch, pending_key, pending_kind, "
                          "pending_invite, refreshed_at, revoked FROM accounts ORDER BY name"));
    while (q.next()) {
        out += QStringLiteral("account %1 epoch %2 key %3 pending %4 %5 kind %6 invite %7 refreshed %8 revoked %9\n")
                   .arg(q.value(0).toString(), q.value(1).toString(),
                        skbp::fingerprint(q.value(2).toByteArray()), q.value(3).toString(),
                        skbp::fingerprint(q.value(4).toByteArray()), q.value(5).toString(),
                        q.value(6).toString(), q.value(7).toString(), q.value(8).toString());
    }
    q.exec(QStringLiteral("SELECT name, epoch, key, pending_epoch, pending_key FROM peers ORDER BY name"));
    while (q.next()) {
        out += QStringLiteral("peer %1 epoch %2 key %3 pending %4 %5\n")
                   .arg(q.value(0).toString(), q.value(1).toString(), skbp::fingerprint(q.value(2).toByteArray()),
                        q.value(3).toString(), skbp::fingerprint(q.value(4).toByteArray()));
    }
    q.exec(QStringLiteral("SELECT account, epoch, ephemeral FROM handshakes ORDER BY account, epoch, ephemeral"));
    while (q.next()) {
        out += QStringLiteral("handshake %1 epoch %2 e %3\n")
                   .arg(q.value(0).toString(), q.value(1).toString(), QString::fromLatin1(q.value(2).toByteArray().toHex()));
    }
    q.exec(QStringLiteral("SELECT id, account, secret, expires_at, consumed_at FROM invites ORDER BY id"));
    while (q.next()) {
        out += QStringLiteral("invite %1 %2 %3 expires %4 consumed %5\n")
                   .arg(q.value(0).toString(), q.value(1).toString(),
                        skbp::fingerprint(q.value(2).toByteArray()), q.value(3).toString(),
                        q.value(4).toString());
    }
    return out;
}

} // namespace sotto::broker
