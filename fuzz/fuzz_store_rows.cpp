// The broker store's loader (broker/store.h): rows decoded from the input are written into a
// fresh SQLite file with the store's schema, then Store::open loads it, dump() reads it all, and
// it is closed, opened and dumped again.
//
//   input = u8(flags) row*                  ; at most 32 rows
//   flags = bit 0: no "schema" meta row (the store adds one); bit 1: the schema version is the
//           first value of the input instead of 1; bit 2: an accounts table without
//           refreshed_at (a store of another program); bit 3: no peers table, bit 4: no
//           handshakes table (a file from before them: the store adds them)
//   row   = u8(table) value*                ; table % 5: meta (2 values), accounts (8), peers (6),
//                                           ; invites (5), handshakes (3), in the columns' order
//   value = u8(type) ...                    ; type % 8:
//           0 NULL / 1 i8 / 2 i64 (8 bytes) / 3 text (u8 len, UTF-8) / 4 blob (u8 len) /
//           5 real (i32 / 8) / 6 a 32-byte blob / 7 one of a few valid names
//
// Rows break whatever they like (wrong key sizes, negative epochs, NULLs, text in blob columns,
// names no account may have); SQLite's NOT NULL and key constraints drop some (INSERT OR
// IGNORE), as they would have kept them out of a real store. Store::open either loads or fails
// with Corrupt or Io; what loaded is consistent (valid names, 32-byte keys for every epoch), and
// a second load of the same (by then upgraded) file gives the same dump.

#include "fuzzsupport.h"

#include "broker/store.h"
#include "core/skbp.h"

#include <QCoreApplication>
#include <QSqlDatabase>
#include <QSqlQuery>
#include <QVariant>

using namespace sotto;
using namespace sotto::fuzz;

namespace {

constexpr int kMaxRows = 32;

// store.cpp's schema as a version-1 file has it (the first store, plus the handshakes table,
// which the store creates whatever the version): Store::open upgrades such a file in place, so
// the upgrade is fuzzed too. Kept by hand: a change there is a change of the file format. A
// table store.cpp does not know is only an extra table to it.
const char *const kMeta = "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)";
const char *const kAccounts =
    "CREATE TABLE accounts(name TEXT PRIMARY KEY, epoch INTEGER NOT NULL, key BLOB,"
    " pending_epoch INTEGER NOT NULL DEFAULT 0, pending_key BLOB,"
    " pending_kind INTEGER NOT NULL DEFAULT 0, pending_invite INTEGER NOT NULL DEFAULT 0,"
    " refreshed_at INTEGER NOT NULL DEFAULT 0)";
const char *const kAccountsWithoutRefresh =
    "CREATE TABLE accounts(name TEXT PRIMARY KEY, epoch INTEGER NOT NULL, key BLOB,"
    " pending_epoch INTEGER NOT NULL DEFAULT 0, pending_key BLOB,"
    " pending_kind INTEGER NOT NULL DEFAULT 0, pending_invite INTEGER NOT NULL DEFAULT 0)";
const char *const kPeers =
    "CREATE TABLE peers(name TEXT PRIMARY KEY, epoch INTEGER NOT NULL, key BLOB,"
    " pending_epoch INTEGER NOT NULL DEFAULT 0, pending_key BLOB,"
    " refreshed_at INTEGER NOT NULL DEFAULT 0)";
const char *const kHandshakes =
    "CREATE TABLE handshakes(account TEXT NOT NULL, epoch INTEGER NOT NULL,"
    " ephemeral BLOB NOT NULL, PRIMARY KEY(account, epoch, ephemeral))";
const char *const kInvites =
    "CREATE TABLE invites(id INTEGER PRIMARY KEY AUTOINCREMENT, account TEXT NOT NULL,"
    " secret BLOB NOT NULL, expires_at INTEGER NOT NULL, consumed_at INTEGER)";

struct Table
{
    const char *name;
    int columns;
};
constexpr Table kTables[] = {
    {"meta", 2}, {"accounts", 8}, {"peers", 6}, {"invites", 5}, {"handshakes", 3}};
const char *const kNames[] = {"alice", "bob", "a", "b", "schema"};

QString g_dir;
QString g_path;

QVariant value(Cursor &in)
{
    switch (in.u8() % 8) {
    case 0:
        return QVariant(QMetaType(QMetaType::QByteArray)); // NULL
    case 1:
        return qint64(qint8(in.u8()));
    case 2:
        return qint64(quint64(in.u32()) << 32 | in.u32());
    case 3:
        return QString::fromUtf8(in.bytes(in.u8()));
    case 4:
        return in.bytes(in.u8()).toByteArray();
    case 5:
        return double(qint32(in.u32())) / 8;
    case 6:
        return fixedBytes(in.u8());
    default:
        return QString::fromLatin1(kNames[in.u8() % std::size(kNames)]);
    }
}

// Writes the store file; the connection is gone when this returns.
void writeStore(Cursor &in)
{
    const QString connection = QStringLiteral("fuzz-writer");
    {
        QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), connection);
        db.setDatabaseName(g_path);
        FUZZ_CHECK(db.open());
        QSqlQuery q(db);
        const quint8 flags = in.u8();
        FUZZ_CHECK(q.exec(QLatin1StringView("PRAGMA journal_mode=OFF")));
        FUZZ_CHECK(q.exec(QLatin1StringView("PRAGMA synchronous=OFF")));
        db.transaction();
        FUZZ_CHECK(q.exec(QLatin1StringView(kMeta)));
        FUZZ_CHECK(q.exec(QLatin1StringView(flags & 4 ? kAccountsWithoutRefresh : kAccounts)));
        if (!(flags & 8))
            FUZZ_CHECK(q.exec(QLatin1StringView(kPeers)));
        FUZZ_CHECK(q.exec(QLatin1StringView(kInvites)));
        if (!(flags & 16))
            FUZZ_CHECK(q.exec(QLatin1StringView(kHandshakes)));
        if (!(flags & 1)) {
            q.prepare(QStringLiteral("INSERT INTO meta(key, value) VALUES('schema', ?)"));
            q.addBindValue(flags & 2 ? value(in) : QVariant(QStringLiteral("1")));
            (void)q.exec(); // a NULL version is refused by NOT NULL: then there is none
        }
        for (int rows = 0; rows < kMaxRows && !in.atEnd(); ++rows) {
            const Table &t = kTables[in.u8() % std::size(kTables)];
            const int columns = t.columns - (t.columns == 8 && (flags & 4) ? 1 : 0);
            QStringList marks;
            for (int i = 0; i < columns; ++i)
                marks << QStringLiteral("?");
            q.prepare(QStringLiteral("INSERT OR IGNORE INTO %1 VALUES(%2)")
                          .arg(QLatin1StringView(t.name), marks.join(u',')));
            for (int i = 0; i < columns; ++i)
                q.addBindValue(value(in));
            (void)q.exec(); // absent table (flags), or a value SQLite will not take
        }
        db.commit();
        q.finish();
        db.close();
    }
    QSqlDatabase::removeDatabase(connection);
}

void clearDir()
{
    QDir d(g_dir);
    for (const QString &f : d.entryList(QDir::Files | QDir::Hidden | QDir::System))
        d.remove(f);
}

// Loads, checks what loaded, dumps; empty when the store refused the file.
std::optional<QString> load()
{
    broker::Store store;
    auto r = store.open(g_path);
    if (!r) {
        FUZZ_CHECK(r.error().code == ErrorCode::Corrupt || r.error().code == ErrorCode::Io);
        return std::nullopt;
    }
    for (const broker::AccountRecord *a : store.accounts()) {
        FUZZ_CHECK(skbp::isValidAccount(a->name));
        FUZZ_CHECK(a->epoch == 0 || a->key.size() == 32);
        FUZZ_CHECK(a->pendingEpoch == 0 || a->pendingKey.size() == 32);
        FUZZ_CHECK(!a->hasPending() || a->pendingKey.size() == 32);
        FUZZ_CHECK(store.account(a->name) == a);
    }
    for (const char *name : kNames) {
        if (const broker::AccountRecord *p = store.peer(QString::fromLatin1(name))) {
            FUZZ_CHECK(p->epoch == 0 || p->key.size() == 32);
            FUZZ_CHECK(p->hasPending() == (p->pendingEpoch != 0));
        }
        (void)store.openInvites(QString::fromLatin1(name), 0);
    }
    // A version the store knows, as it reads it (QString::toInt: "01" or "1\0junk" pass too).
    FUZZ_CHECK(store.metaValue(QStringLiteral("schema")).toInt() >= 1);
    QString dump = store.dump();
    store.close();
    return dump;
}

fuzz::Seeds seeds()
{
    auto text = [](const char *s) { return QByteArray(1, '\x03') + char(std::strlen(s)) + s; };
    auto name = [](int i) { return bytesOf({'\x07', char(i)}); };
    auto i8 = [](int v) { return bytesOf({'\x01', char(v)}); };
    auto key = [](int fill) { return bytesOf({'\x06', char(fill)}); };
    const QByteArray null(1, '\0');
    const QByteArray account =
        QByteArray(1, '\x01') + name(0) + i8(3) + key(0x40) + i8(0) + null + i8(0) + i8(0) + i8(0);
    const QByteArray pending = QByteArray(1, '\x01') + name(1) + i8(2) + key(0x41) + i8(3) +
                               key(0x42) + i8(2) + i8(0) +
                               bytesOf({'\x02', 0, 0, 0, 0, 0x65, 0x43, 0x21, 0x00});
    const QByteArray peer =
        QByteArray(1, '\x02') + name(3) + i8(1) + key(0x50) + i8(2) + key(0x51) + i8(0);
    const QByteArray invite = QByteArray(1, '\x03') + null + name(0) + key(0x60) +
                              bytesOf({'\x02', 0, 0, 0, 0, 0x7f, 0, 0, 0}) + null;
    const QByteArray badKey = QByteArray(1, '\x01') + name(1) + i8(1) +
                              bytesOf({'\x04', 3, 'a', 'b', 'c'}) + i8(0) + null + i8(0) + i8(0) +
                              i8(0);
    const QByteArray textKey =
        QByteArray(1, '\x02') + name(2) + i8(-1) + text("not a key") + i8(0) + null + i8(0);
    return {
        {"accounts", QByteArray(1, '\0') + account + pending},
        {"federated", QByteArray(1, '\0') + account + peer + invite},
        {"bad-key-size", QByteArray(1, '\0') + account + badKey},
        {"text-key", QByteArray(1, '\0') + textKey},
        {"unknown-version", bytesOf({'\x02', '\x03', 1, '7'}) + account},
        {"version-2-unmigrated", bytesOf({'\x02', '\x03', 1, '2'}) + account},
        {"old-schema", QByteArray(1, '\x0d') + peer},
        {"handshakes", QByteArray(1, '\0') + account + QByteArray(1, '\x04') + name(0) + i8(3) +
                           key(0x70) + QByteArray(1, '\x04') + name(0) + i8(2) + text("short")},
        {"meta", QByteArray(1, '\0') + QByteArray(1, '\0') + text("listen") + text("0.0.0.0:7420") +
                     invite},
    };
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    writeSeedsIfAsked(argc, argv, seeds);
    // QtSql loads its SQLite driver as a plugin, which needs an application object. It lives
    // until exit (never deleted: Qt's own statics may be gone by then).
    static int qtArgc = 1;
    static char *qtArgv[] = {(*argv)[0], nullptr};
    static QCoreApplication *app = new QCoreApplication(qtArgc, qtArgv);
    (void)app;
    // QtSql warns on stderr about what this target provokes by design (e.g. a connection removed
    // while Store::open still holds it, on a refused file); thousands of lines a second would
    // only slow the run. Fatal messages still abort.
    qInstallMessageHandler([](QtMsgType, const QMessageLogContext &, const QString &) {});
    g_dir = QDir(scratchDir("store")).filePath(QStringLiteral("store"));
    QDir().mkpath(g_dir);
    g_path = QDir(g_dir).filePath(QStringLiteral("broker.db"));
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Cursor in(inputView(data, size));
    clearDir();
    writeStore(in);
    const std::optional<QString> first = load();
    if (first) {
        const std::optional<QString> second = load();
        FUZZ_CHECK(second.has_value() && *second == *first);
    }
    clearDir();
    return 0;
}
