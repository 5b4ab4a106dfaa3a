#include "support/filemodes.h"

#include "core/privatefile.h"

#include <QDir>
#include <QFile>
#include <QRegularExpression>

#ifdef Q_OS_WIN
#include <windows.h>
#include <aclapi.h>
#include <sddl.h>
#endif

namespace sotto::test {

bool underWine()
{
#ifdef Q_OS_WIN
    const HMODULE ntdll = GetModuleHandleW(L"ntdll.dll");
    return ntdll && GetProcAddress(ntdll, "wine_get_version");
#else
    return false;
#endif
}

#ifdef Q_OS_WIN

bool openToEveryone(const QString &path)
{
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
    const bool ok = GetNamedSecurityInfoW(name.c_str(), SE_FILE_OBJECT, DACL_SECURITY_INFORMATION, nullptr, nullptr, &old,
                                          nullptr, &sd) == ERROR_SUCCESS
        && SetEntriesInAclW(1, &entry, old, &acl) == ERROR_SUCCESS
        && SetNamedSecurityInfoW(name.data(), SE_FILE_OBJECT, DACL_SECURITY_INFORMATION, nullptr, nullptr, acl, nullptr)
            == ERROR_SUCCESS;
    LocalFree(acl);
    LocalFree(sd);
    FreeSid(everyone);
    return ok;
}

QStringList allowedSids(const QString &path)
{
    const QString sddl = describeAccess(path).value();
    QStringList sids;
    static const QRegularExpression allow(QStringLiteral("\\(A;[^;]*;[^;]*;[^;]*;[^;]*;([^)]*)\\)"));
    for (const auto &m : allow.globalMatch(sddl))
        sids.append(m.captured(1));
    return sids;
}

QString currentUserSid()
{
    HANDLE token = nullptr;
    if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &token))
        return {};
    DWORD size = 0;
    GetTokenInformation(token, TokenUser, nullptr, 0, &size);
    QByteArray buffer(int(size), '\0');
    QString sid;
    wchar_t *text = nullptr;
    if (GetTokenInformation(token, TokenUser, buffer.data(), size, &size)
        && ConvertSidToStringSidW(reinterpret_cast<TOKEN_USER *>(buffer.data())->User.Sid, &text)) {
        sid = QString::fromWCharArray(text);
        LocalFree(text);
    }
    CloseHandle(token);
    return sid;
}

#else

bool openToEveryone(const QString &path)
{
    return QFile::setPermissions(path, QFile::permissions(path) | QFileDevice::ReadGroup | QFileDevice::ReadOther);
}

#endif

} // namespace sotto::test
