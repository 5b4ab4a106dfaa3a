// Files and folders that hold secrets are the user's alone, on each system by its own means
// (core/privatefile.h): modes on POSIX, a protected owner-only DACL on Windows — set here and read
// back from the file system, and a file open to others refused for the key log.

#include "core/privatefile.h"

#include <QDir>
#include <QFile>
#include <QTemporaryDir>
#include <QTest>

#ifdef Q_OS_WIN
#include <windows.h>
#include <aclapi.h>
#endif

using namespace sotto;

namespace {

QString s(const char *text)
{
    return QString::fromUtf8(text);
}

// Opens `path` to everyone, as a careless copy or an inherited folder would.
bool openToEveryone(const QString &path)
{
#ifdef Q_OS_WIN
    SID_IDENTIFIER_AUTHORITY world = SECURITY_WORLD_SID_AUTHORITY;
    PSID everyone = nullptr;
    if (!AllocateAndInitializeSid(&world, 1, SECURITY_WORLD_RID, 0, 0, 0, 0, 0, 0, 0, &everyone))
        return false;
    EXPLICIT_ACCESS_W entry{};
    entry.grfAccessPermissions = FILE_GENERIC_READ;
    entry.grfAccessMode = GRANT_ACCESS;
    entry.Trustee.TrusteeForm = TRUSTEE_IS_SID;
    entry.Trustee.TrusteeType = TRUSTEE_IS_WELL_KNOWN_GROUP;
    entry.Trustee.ptstrName = reinterpret_cast<LPWSTR>(everyone);
    PACL old = nullptr, acl = nullptr;
    PSECURITY_DESCRIPTOR sd = nullptr;
    std::wstring name = QDir::toNativeSeparators(path).toStdWString();
    bool ok = GetNamedSecurityInfoW(name.c_str(), SE_FILE_OBJECT, DACL_SECURITY_INFORMATION, nullptr, nullptr, &old, nullptr, &sd) == ERROR_SUCCESS
        && SetEntriesInAclW(1, &entry, old, &acl) == ERROR_SUCCESS
        && SetNamedSecurityInfoW(name.data(), SE_FILE_OBJECT, DACL_SECURITY_INFORMATION, nullptr, nullptr, acl, nullptr) == ERROR_SUCCESS;
    LocalFree(acl);
    LocalFree(sd);
    FreeSid(everyone);
    return ok;
#else
    return QFile::setPermissions(path, QFileDevice::ReadOwner | QFileDevice::WriteOwner | QFileDevice::ReadGroup
                                           | QFileDevice::ReadOther);
#endif
}

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
    // Protected (nothing inherited), one entry: full control for the user (a SID S-1-5-…).
    QVERIFY2(access.startsWith(s("D:P(A;;FA;;;S-1-5-")), qPrintable(access));
    QCOMPARE(access.count(s("(A;")), 1);
#else
    QCOMPARE(access, s("0600"));
#endif
}

void TestPrivateFile::aFolderIsTheUsersAloneAndSoIsWhatItHolds()
{
    QTemporaryDir tmp;
    const QString dir = tmp.filePath(s("profile/inner"));
    QVERIFY(makePrivateDir(dir).ok());
    QCOMPARE(isOwnerOnly(dir).value(), true);
    const QString folderAccess = describeAccess(dir).value();
#ifdef Q_OS_WIN
    // Inherited by files and folders made in it (OI, CI).
    QVERIFY2(folderAccess.startsWith(s("D:P(A;OICI;")), qPrintable(folderAccess));
    QCOMPARE(folderAccess.count(s("(A;")), 1);
#else
    QCOMPARE(folderAccess, s("0700"));
#endif
    const QString file = QDir(dir).filePath(s("keys.cbor"));
    QVERIFY(writePrivateFile(file, "secret").ok());
    QCOMPARE(isOwnerOnly(file).value(), true);
    QFile back(file);
    QVERIFY(back.open(QIODevice::ReadOnly));
    QCOMPARE(back.readAll(), QByteArray("secret"));
    // A second write replaces it atomically and it stays the user's alone.
    QVERIFY(writePrivateFile(file, "again").ok());
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
