#pragma once

// A phone's profile directory: who we are, which broker we trust, and our broker keys.
//
//   DIR/profile.json   account, broker address, broker public key and name (no secrets)
//   DIR/keys.cbor      {"epoch","key","pending_epoch","pending_key","invite"} — mode 0600
//
// Every write is atomic (QSaveFile: write, flush, rename) and made before the protocol step
// that depends on it (the commit rule of PROTOCOL.md §4). A file that cannot be parsed is
// reported and never overwritten. Not thread-safe.

#include "core/result.h"
#include "core/secretbytes.h"

#include <QByteArray>
#include <QString>
#include <QStringList>

#include <optional>

namespace sotto {

struct InviteLink;

class Profile
{
public:
    // What keys.cbor holds (profile.cpp has its grammar).
    struct StoredKeys
    {
        quint32 epoch = 0;
        SecretBytes key;
        quint32 pendingEpoch = 0;
        SecretBytes pendingKey;
        SecretBytes invite;
    };
    // Opens (creating, mode 0700) the directory and loads what is there.
    static Result<Profile> open(const QString &dir);

    QString dir() const { return m_dir; }
    bool hasIdentity() const { return !m_account.isEmpty(); }
    bool isEnrolled() const { return m_epoch > 0; }

    QString account() const { return m_account; }
    QString brokerHost() const { return m_brokerHost; }
    quint16 brokerPort() const { return m_brokerPort; }
    QByteArray brokerKey() const { return m_brokerKey; }
    QString brokerName() const { return m_brokerName; }
    QString brokerFingerprint() const;
    // Every address of the broker, the invite's first, then its other instances (from the
    // invite's `alt` and later from `welcome`): a phone tries them in turn.
    QStringList brokerAddresses() const;
    // Takes the instances a `welcome` named (the invite's address stays first). Written only
    // when it changes.
    Result<void> setBrokerAlternates(const QStringList &addresses);

    quint32 epoch() const { return m_epoch; }
    const SecretBytes &key() const { return m_key; }
    quint32 pendingEpoch() const { return m_pendingEpoch; }
    const SecretBytes &pendingKey() const { return m_pendingKey; }
    const SecretBytes &inviteSecret() const { return m_invite; }
    // The current or pending key named by an epoch, if we hold it.
    const SecretBytes *keyForEpoch(quint32 epoch) const;

    // Takes the identity from an invite (and keeps its secret until enrolment commits). An
    // enrolled profile is refused (Usage) unless `rejoin`: the broker refused its key for good
    // (revoked or replaced), and the new invite's enrolment replaces that key — which is wiped
    // here, since no broker will take it again.
    enum class Rejoin { No, Yes };
    Result<void> adoptInvite(const InviteLink &link, Rejoin rejoin = Rejoin::No);
    Result<void> setBrokerName(const QString &name);
    Result<void> setPending(quint32 epoch, const SecretBytes &key);
    Result<void> commitPending();
    Result<void> discardPending();
    // Rotation (§6): the new key becomes current at once; the old one is erased.
    Result<void> adoptRotation(quint32 epoch, const SecretBytes &key);

private:
    Result<void> saveIdentity();
    Result<void> saveKeys();
    Result<void> load();

    QString m_dir;
    QString m_account;
    QString m_brokerHost;
    quint16 m_brokerPort = 0;
    QByteArray m_brokerKey;
    QString m_brokerName;
    QStringList m_brokerAlternates;
    quint32 m_epoch = 0;
    SecretBytes m_key;
    quint32 m_pendingEpoch = 0;
    SecretBytes m_pendingKey;
    SecretBytes m_invite;
};

} // namespace sotto
