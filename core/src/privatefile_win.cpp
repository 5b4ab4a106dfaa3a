// privatefile.h, Windows side: NTFS access-control lists through the Win32 security API.
// A file or folder is made this user's alone by a protected DACL (nothing inherited from the
// parent) with a single entry giving the process token's user full control — for a folder,
// inherited by everything created in it.
#include "core/privatefile.h"
#include "tokenuser_win.h"

#include <QDir>
#include <QFileInfo>

#include <memory>
#include <vector>

#include <windows.h>
#include <aclapi.h>
#include <sddl.h>

namespace sotto {

namespace {

QString systemError(DWORD code)
{
    wchar_t *text = nullptr;
    const DWORD n = FormatMessageW(FORMAT_MESSAGE_ALLOCATE_BUFFER | FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS,
                                   nullptr, code, 0, reinterpret_cast<wchar_t *>(&text), 0, nullptr);
    QString s = n ? QString::fromWCharArray(text, int(n)).trimmed() : QStringLiteral("error %1").arg(code);
    LocalFree(text);
    return s;
}

std::wstring native(const QString &path)
{
    return QDir::toNativeSeparators(QFileInfo(path).absoluteFilePath()).toStdWString();
}

struct LocalFreer
{
    void operator()(void *p) const { LocalFree(p); }
};

Result<std::vector<BYTE>> currentUser()
{
    std::vector<BYTE> sid = win::processUserSid();
    if (sid.empty())
        return makeError(ErrorCode::Io, QStringLiteral("cannot read this process's user: %1").arg(systemError(GetLastError())));
    return sid;
}

struct Security
{
    std::unique_ptr<void, LocalFreer> descriptor;
    PACL dacl = nullptr;
};

Result<Security> readSecurity(const QString &path)
{
    Security s;
    PSECURITY_DESCRIPTOR sd = nullptr;
    const DWORD rc = GetNamedSecurityInfoW(native(path).c_str(), SE_FILE_OBJECT, DACL_SECURITY_INFORMATION,
                                           nullptr, nullptr, &s.dacl, nullptr, &sd);
    if (rc != ERROR_SUCCESS)
        return makeError(ErrorCode::Io, QStringLiteral("cannot inspect %1: %2").arg(path, systemError(rc)));
    s.descriptor.reset(sd);
    return s;
}

} // namespace

QString ownerOnlyHint()
{
    return QStringLiteral("let only your account open it: its Properties, Security");
}

Result<void> makeOwnerOnly(const QString &path)
{
    auto user = currentUser();
    if (!user)
        return user.error();
    const bool folder = QFileInfo(path).isDir();
    EXPLICIT_ACCESS_W entry{};
    entry.grfAccessPermissions = FILE_ALL_ACCESS;
    entry.grfAccessMode = SET_ACCESS;
    entry.grfInheritance = folder ? SUB_CONTAINERS_AND_OBJECTS_INHERIT : NO_INHERITANCE;
    entry.Trustee.TrusteeForm = TRUSTEE_IS_SID;
    entry.Trustee.TrusteeType = TRUSTEE_IS_USER;
    entry.Trustee.ptstrName = reinterpret_cast<LPWSTR>(user->data());
    PACL acl = nullptr;
    if (const DWORD rc = SetEntriesInAclW(1, &entry, nullptr, &acl); rc != ERROR_SUCCESS)
        return makeError(ErrorCode::Io, QStringLiteral("cannot restrict %1 to its owner: %2").arg(path, systemError(rc)));
    std::unique_ptr<void, LocalFreer> owned(acl);
    std::wstring name = native(path);
    const DWORD rc = SetNamedSecurityInfoW(name.data(), SE_FILE_OBJECT,
                                           DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION,
                                           nullptr, nullptr, acl, nullptr);
    if (rc != ERROR_SUCCESS)
        return makeError(ErrorCode::Io, QStringLiteral("cannot restrict %1 to its owner: %2").arg(path, systemError(rc)));
    return {};
}

Result<bool> isOwnerOnly(const QString &path)
{
    auto user = currentUser();
    if (!user)
        return user.error();
    auto security = readSecurity(path);
    if (!security)
        return security.error();
    if (!security->dacl)
        return false; // a NULL DACL lets everyone do everything
    ACL_SIZE_INFORMATION info{};
    if (!GetAclInformation(security->dacl, &info, sizeof info, AclSizeInformation))
        return makeError(ErrorCode::Io, QStringLiteral("cannot inspect %1: %2").arg(path, systemError(GetLastError())));
    for (DWORD i = 0; i < info.AceCount; ++i) {
        void *ace = nullptr;
        if (!GetAce(security->dacl, i, &ace))
            return makeError(ErrorCode::Io, QStringLiteral("cannot inspect %1: %2").arg(path, systemError(GetLastError())));
        const auto *header = static_cast<const ACE_HEADER *>(ace);
        if (header->AceType != ACCESS_ALLOWED_ACE_TYPE) {
            if (header->AceType == ACCESS_DENIED_ACE_TYPE)
                continue; // denying takes nothing away from "alone"
            return false;  // object or callback entries: not what we write, so not ours alone
        }
        const PSID sid = &static_cast<ACCESS_ALLOWED_ACE *>(ace)->SidStart;
        if (!EqualSid(sid, user->data()) && !IsWellKnownSid(sid, WinLocalSystemSid)
            && !IsWellKnownSid(sid, WinBuiltinAdministratorsSid))
            return false;
    }
    return true;
}

Result<QString> describeAccess(const QString &path)
{
    PSECURITY_DESCRIPTOR sd = nullptr;
    const DWORD rc = GetNamedSecurityInfoW(native(path).c_str(), SE_FILE_OBJECT, DACL_SECURITY_INFORMATION,
                                           nullptr, nullptr, nullptr, nullptr, &sd);
    if (rc != ERROR_SUCCESS)
        return makeError(ErrorCode::Io, QStringLiteral("cannot inspect %1: %2").arg(path, systemError(rc)));
    std::unique_ptr<void, LocalFreer> owned(sd);
    wchar_t *sddl = nullptr;
    if (!ConvertSecurityDescriptorToStringSecurityDescriptorW(sd, SDDL_REVISION_1, DACL_SECURITY_INFORMATION, &sddl, nullptr))
        return makeError(ErrorCode::Io, QStringLiteral("cannot describe %1: %2").arg(path, systemError(GetLastError())));
    QString s = QString::fromWCharArray(sddl);
    LocalFree(sddl);
    return s;
}

Result<void> openPrivateAppend(QFile &file, const QString &path)
{
    const QFileInfo info(path);
    if (info.isSymLink() || info.isJunction())
        return makeError(ErrorCode::Usage, QStringLiteral("%1 is a symbolic link: refused").arg(path));
    const bool existed = info.exists();
    if (existed) {
        if (!info.isFile())
            return makeError(ErrorCode::Usage, QStringLiteral("%1 is not a regular file: refused").arg(path));
        auto alone = isOwnerOnly(path);
        if (!alone)
            return alone.error();
        if (!*alone)
            return makeError(ErrorCode::Usage, QStringLiteral("%1 is open to other users: refused (%2)").arg(path, ownerOnlyHint()));
    } else {
        // Created empty, made the user's alone, then opened: no byte is written before.
        QFile create(path);
        if (!create.open(QIODevice::WriteOnly | QIODevice::NewOnly))
            return makeError(ErrorCode::Io, QStringLiteral("cannot create %1: %2").arg(path, create.errorString()));
        create.close();
        if (auto r = makeOwnerOnly(path); !r) {
            QFile::remove(path);
            return r;
        }
    }
    file.setFileName(path);
    if (!file.open(QIODevice::WriteOnly | QIODevice::Append)) // lines end in LF on every system
        return makeError(ErrorCode::Io, QStringLiteral("cannot open %1: %2").arg(path, file.errorString()));
    return {};
}

// ---- tokenuser_win.h ----------------------------------------------------------------------

std::vector<BYTE> win::tokenUserSid(HANDLE token)
{
    DWORD size = 0;
    GetTokenInformation(token, TokenUser, nullptr, 0, &size);
    std::vector<BYTE> buffer(size);
    if (!size || !GetTokenInformation(token, TokenUser, buffer.data(), size, &size))
        return {};
    const PSID sid = reinterpret_cast<TOKEN_USER *>(buffer.data())->User.Sid;
    std::vector<BYTE> copy(GetLengthSid(sid));
    CopySid(DWORD(copy.size()), copy.data(), sid);
    return copy;
}

std::vector<BYTE> win::processUserSid()
{
    HANDLE token = nullptr;
    if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &token))
        return {};
    std::vector<BYTE> sid = tokenUserSid(token);
    const DWORD error = GetLastError();
    CloseHandle(token);
    SetLastError(error);
    return sid;
}

} // namespace sotto
