// Files and folders that hold secrets are the user's alone, on each system by its own means
// (core/privatefile.h): modes on POSIX, a protected owner-only DACL on Windows — set here and read
// back from the file system, and a file open to others refused for the key log.

#include "core/privatefile.h"
#include "support/filemodes.h"

#include <QDir>
#include <QFile>
#include <QTemporaryDir>
#include <QTest>


using namespace sotto;
using namespace sotto::test;

namespace {

QString s(const char *text)
{
    return QString::fromUtf8(text);
}

#ifdef Q_OS_WIN
// On Windows the DACL lets in the user and no one else (SYSTEM and Administrators may be named:
// they can take any file anyway). Real NTFS stores the protected one-entry DACL written; Wine,
// which has no ACL store, keeps it as the file's Unix mode and reads back owner plus SYSTEM.
bool onlyTheUserIsLetIn(const QString &path)
{
    const QStringList sids = allowedSids(path);
    if (!sids.contains(currentUserSid()))
        return false;
    for (const QString &sid : sids) {
        if (sid != currentUserSid() && sid != s("SY") && sid != s("BA"))
            return false;
    }
    return true;
}
#endif

} // namespace

class TestPrivateFile : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void aFileIsMadeTheUsersAlone();
    void aFolderIsTheUsersAloneAndSoIsWhatItHolds();
    void aFileOpenToOthersIsSeenAsSuch();
    void theKeyLogRefusesAFileOpenToOthers();
    void theKeyLogIsCreatedTheUsersAlone();
};

void TestPrivateFile::aFileIsMadeTheUsersAlone()
{
    QTemporaryDir tmp;
    const QString path = tmp.filePath(s("secret"));
    QFile f(path);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.close();
    QVERIFY(openToEveryone(path));
    QCOMPARE(isOwnerOnly(path).value(), false);
    QVERIFY(makeOwnerOnly(path).ok());
    QCOMPARE(isOwnerOnly(path).value(), true);
    const QString access = describeAccess(path).value();
#ifdef Q_OS_WIN
    QVERIFY2(onlyTheUserIsLetIn(path), qPrintable(access));
#else
    QCOMPARE(access, s("0600"));
#endif
}

void TestPrivateFile::aFolderIsTheUsersAloneAndSoIsWhatItHolds()
{
    QTemporaryDir tmp;
    const QString dir = tmp.filePath(s("profile"));
    QVERIFY(makePrivateDir(dir).ok());
    const QString folderAccess = describeAccess(dir).value();
    if (!underWine()) {
        QVERIFY2(isOwnerOnly(dir).value(), qPrintable(folderAccess));
#ifdef Q_OS_WIN
        QVERIFY2(onlyTheUserIsLetIn(dir), qPrintable(folderAccess));
#else
        QCOMPARE(folderAccess, s("0700"));
#endif
    }
    const QString file = QDir(dir).filePath(s("keys.cbor"));
    QVERIFY(writePrivateFile(file, "secret").ok());
    QVERIFY2(isOwnerOnly(file).value(), qPrintable(describeAccess(file).value()));
#ifdef Q_OS_WIN
    QVERIFY2(onlyTheUserIsLetIn(file), qPrintable(describeAccess(file).value()));
#endif
    {
        QFile back(file); // closed before the next write: Windows replaces no file that is open
        QVERIFY(back.open(QIODevice::ReadOnly));
        QCOMPARE(back.readAll(), QByteArray("secret"));
    }
    // A second write replaces it atomically and it stays the user's alone.
    const auto again = writePrivateFile(file, "again");
    QVERIFY2(again.ok(), qPrintable(again.error().message));
    QCOMPARE(isOwnerOnly(file).value(), true);
}

void TestPrivateFile::aFileOpenToOthersIsSeenAsSuch()
{
    QTemporaryDir tmp;
    const QString path = tmp.filePath(s("shared"));
    QVERIFY(writePrivateFile(path, "x").ok());
    QCOMPARE(isOwnerOnly(path).value(), true);
    QVERIFY(openToEveryone(path));
    QCOMPARE(isOwnerOnly(path).value(), false);
    QVERIFY(!isOwnerOnly(tmp.filePath(s("missing"))).ok());
}

void TestPrivateFile::theKeyLogRefusesAFileOpenToOthers()
{
    QTemporaryDir tmp;
    const QString path = tmp.filePath(s("keylog"));
    QVERIFY(writePrivateFile(path, "old line\n").ok());
    QVERIFY(openToEveryone(path));
    QFile log;
    auto r = openPrivateAppend(log, path);
    QVERIFY(!r.ok());
    QCOMPARE(r.error().code, ErrorCode::Usage);
    QVERIFY2(r.error().message.contains(s("open to other users")), qPrintable(r.error().message));
    QVERIFY(!log.isOpen());
    QFile back(path);
    QVERIFY(back.open(QIODevice::ReadOnly));
    QCOMPARE(back.readAll(), QByteArray("old line\n")); // nothing written
}

void TestPrivateFile::theKeyLogIsCreatedTheUsersAlone()
{
    QTemporaryDir tmp;
    const QString path = tmp.filePath(s("keylog"));
    {
        QFile log;
        QVERIFY(openPrivateAppend(log, path).ok());
        log.write("line one\n");
    }
    QCOMPARE(isOwnerOnly(path).value(), true);
    {
        QFile log;
        QVERIFY(openPrivateAppend(log, path).ok()); // its own file again: appended to
        log.write("line two\n");
    }
    QFile back(path);
    QVERIFY(back.open(QIODevice::ReadOnly));
    QCOMPARE(back.readAll(), QByteArray("line one\nline two\n"));
}

QTEST_GUILESS_MAIN(TestPrivateFile)
#include "tst_privatefile.moc"
