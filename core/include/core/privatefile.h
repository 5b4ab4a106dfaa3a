#pragma once

// Files and folders that hold secrets — key files, the profile, the broker's store and key log —
// are this user's alone, on every system. Any thread; a QFile belongs to the caller's thread.
//
// What "this user's alone" means differs by system, and these functions are the one place that
// knows (privatefile_posix.cpp, privatefile_win.cpp; the rest is portable):
// - POSIX: mode 0600 for a file, 0700 for a folder; an existing file may belong to nobody else
//   and grant nothing to group or others. root may read anything anyway.
// - Windows (NTFS has no modes): a protected DACL — nothing inherited from the parent — with one
//   entry giving the user (the process token's SID) full control; a folder's entry is inherited
//   by everything later created in it, so a file is the user's alone from its first byte. An
//   existing file is accepted when every entry that allows anything names the user, SYSTEM or
//   the Administrators group (who can take any file on Windows, as root can on POSIX).

#include "core/result.h"

#include <QByteArrayView>
#include <QFile>
#include <QString>

namespace sotto {

// Makes `path` (an existing file or folder) this user's alone. Io error, with the system's
// reason, when the system refuses.
Result<void> makeOwnerOnly(const QString &path);

// Whether `path` is this user's alone in the sense above. Io error when it cannot be inspected.
Result<bool> isOwnerOnly(const QString &path);

// The permissions of `path` as the system states them, for tests and diagnostics: "0600" on
// POSIX; the DACL in SDDL on Windows ("D:P(A;;FA;;;S-1-5-21-…)"; P = protected).
Result<QString> describeAccess(const QString &path);

// How a person makes a file theirs alone, for refusals: "chmod 600 it" on POSIX; on Windows,
// through the file's Security properties.
QString ownerOnlyHint();

// Creates `dir` (and its parents) and makes it this user's alone.
Result<void> makePrivateDir(const QString &dir);

// Writes a file atomically (QSaveFile: write, flush, rename), this user's alone from its first
// byte (POSIX: mode set before writing; Windows: inherited from a private folder, and set again
// on the result). Io error when it cannot; the old contents stay then.
Result<void> writePrivateFile(const QString &path, QByteArrayView data);

// Opens `path` into `file` (write-only, append) — the SRTP key log. Usage error, saying why, when
// an existing file is not a regular file of this user's alone (or a symbolic link); Io when it
// cannot be opened. Nothing is written either way. POSIX: open(2) with O_NOFOLLOW and mode 0600,
// then fstat(2) on that descriptor, so that the check and the use cannot be split by a rename.
// Windows: the file is created owner-only, an existing one checked before it is opened.
Result<void> openPrivateAppend(QFile &file, const QString &path);

} // namespace sotto
