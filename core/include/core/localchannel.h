#pragma once

// Local channels between processes of one user — the broker's admin channel, the phone's
// "show the running window" summons — are QLocalServer/QLocalSocket everywhere; what differs is
// what a channel is called and how the server learns who connected. This is the one place that
// knows. Any thread.
//
// - POSIX: a Unix socket in the folder (FOLDER/NAME.sock), made by QLocalServer with
//   UserAccessOption (mode 0600); Linux asks the kernel who the peer is (SO_PEERCRED), other
//   POSIX systems ask getpeereid(3).
// - Windows: a named pipe. Pipe names are global, so the name is derived from the folder's
//   absolute path (\\.\pipe\sotto-NAME-<hash>); Qt 6.4's UserAccessOption gives the pipe a DACL
//   naming this user alone (no other account can open it); the server also asks whose process
//   is at the other end (GetNamedPipeClientProcessId, then that process's token).

#include <QString>

class QLocalSocket;

namespace sotto {

// The name to give QLocalServer::listen and QLocalSocket::connectToServer for channel `name`
// of `folder`.
QString localChannelName(const QString &folder, const QString &name);

// Whether the process at the other end of `socket` (a server-side socket) runs as this user,
// or as the system's administrator (root; on Windows a member of Administrators). False when
// it cannot be told.
bool peerIsSameUser(QLocalSocket *socket);

} // namespace sotto
