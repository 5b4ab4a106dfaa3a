#pragma once

// Files that hold secrets and are appended to (the SRTP key log): opened so that nobody but
// this user can read them, or not at all.
//
// POSIX side: open(2) with O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC and mode 0600 — a new file
// is the user's alone from its first byte — then fstat(2) on that same descriptor, so the check
// and the use cannot be split by a rename. An existing file is refused unless it is a regular
// file owned by this user that neither group nor others may read or write; a symbolic link is
// refused. Portable side (Windows until its owner-only ACLs land): QFile, with owner-only
// permissions set when it is created and an existing file refused when Qt reports it readable by
// others. Any thread; the QFile belongs to the caller's thread.

#include "core/result.h"

#include <QFile>
#include <QString>

namespace sotto {

// Opens `path` into `file` (write-only, append). Usage error, saying why, when the file is not
// the user's own or is open to others; Io when it cannot be opened. Nothing is written either way.
Result<void> openPrivateAppend(QFile &file, const QString &path);

} // namespace sotto
