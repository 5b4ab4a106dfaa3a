#include "phones/phoneresponders.h"

#include "phones/keychoice.h"

#include "core/noise.h"
#include "core/skbp.h"
#include "core/wire.h"

#include <QCborMap>
#include <QDateTime>
#include <QPointer>

namespace sotto::broker {

namespace key = wire::key;

namespace {

// The commit rule's test, written once for both exchanges: the key this exchange negotiated (or
// the hello named) is still the account's pending — or replacement, whose invite must still be
// open (one whose invite closed is dropped: InviteClosed) — at that epoch.
enum class Ownership { Own, NotOwn, InviteClosed };
Ownership ownership(Store &store, const QString &account, quint32 epoch, const SecretBytes &own, bool replacing)
{
    const AccountRecord *a = store.account(account);
    if (!a)
        return Ownership::NotOwn;
    if (!replacing)
        return a->holdsPending(epoch, own) ? Ownership::Own : Ownership::NotOwn;
    if (!a->holdsReplacement(epoch, own))
        return Ownership::NotOwn;
    return store.replacementStillOpen(account, QDateTime::currentSecsSinceEpoch()) ? Ownership::Own
                                                                                    : Ownership::InviteClosed;
}

// A replacement device's key commits: the account takes it, the old device goes.
Result<void> commitReplacement(const PhoneResponderContext &ctx, const QString &account, quint32 epoch)
{
    if (auto r = ctx.store.commitReplacement(account); !r)
        return r;
    ctx.log(QStringLiteral("%1: a replacement device's key committed (epoch %2): the old device's key is no "
                           "longer accepted")
                .arg(account)
                .arg(epoch));
    ctx.replaced(account);
    return {};
}

// Own, or false — saying so in the log when a replacement's invite had closed.
bool stillOwn(const PhoneResponderContext &ctx, const QString &account, quint32 epoch, const SecretBytes &own,
              bool replacing)
{
    const Ownership o = ownership(ctx.store, account, epoch, own, replacing);
    if (o == Ownership::InviteClosed)
        ctx.log(QStringLiteral("%1: a replacement device's key refused: its invite is no longer open").arg(account));
    return o == Ownership::Own;
}

} // namespace

// ---- enrolment and refresh (§4) --------------------------------------------------------------

EnrolmentResponder::EnrolmentResponder(PhoneResponderContext context, FramedSocket *socket, QObject *parent)
    : QObject(parent), m_ctx(std::move(context)), m_socket(socket)
{
}

void EnrolmentResponder::refuse(ErrorCode code, const QString &why)
{
    if (m_step == Step::Done || m_step == Step::Failed)
        return;
    if (m_channel.isOpen()) {
        if (auto sealed = m_channel.seal(wire::errorMessage(code, why)))
            m_socket->send(*sealed);
    } else {
        m_socket->send(wire::encodeCleartextError(code, why));
    }
    m_step = Step::Failed;
    m_ownKey.clear();
    Q_EMIT finished(false, 0);
}

void EnrolmentResponder::refuseAuth()
{
    if (m_step == Step::Done || m_step == Step::Failed)
        return;
    m_socket->send(wire::encodeCleartextError(ErrorCode::Auth, QStringLiteral("authentication failed"),
                                              skbp::fingerprint(m_ctx.identity.publicKey)));
    m_step = Step::Failed;
    m_ownKey.clear();
    Q_EMIT finished(false, 0);
}

void EnrolmentResponder::abort(ErrorCode code, const QString &why)
{
    refuse(code, why);
}

void EnrolmentResponder::drop()
{
    m_step = Step::Failed;
    m_socket = nullptr;
    m_ownKey.clear();
    m_channel = SecureChannel();
}

// msg1 → (psk check) → msg2, K_new pending (durable before msg2 leaves). The same work whatever
// the account's state: one store look-up of invites, one psk, one X25519 — a dummy psk when
// nothing matches — so the refusal's timing tells nothing.
void EnrolmentResponder::start(const QByteArray &msg1)
{
    auto frame = wire::decodeEnroll1(msg1);
    if (!frame)
        return refuse(ErrorCode::BadRequest, frame.error().message);
    Store &store = m_ctx.store;
    const AccountRecord *a = store.account(frame->account);
    std::vector<Invite> invites = store.openInvites(frame->account, QDateTime::currentSecsSinceEpoch());
    EnrolmentKey choice = enrolmentKey(a, invites, frame->epoch);
    SecretBytes psk = std::move(choice.psk);
    const qint64 invite = choice.invite;
    const bool commitRotationFirst = choice.source == EnrolmentKey::Source::PendingRotation;
    invites.clear();
    if (psk.isEmpty()) {
        auto dummy = crypto::randomSecret(skbp::kKeySize);
        if (!dummy)
            return refuse(ErrorCode::Internal, QStringLiteral("no randomness"));
        psk = std::move(*dummy);
    }

    noise::HandshakeConfig cfg;
    cfg.pattern = noise::Pattern::NKpsk0;
    cfg.initiator = false;
    cfg.prologue = skbp::enrollPrologue(frame->account, frame->epoch);
    cfg.localStatic = m_ctx.identity.privateKey;
    cfg.psk = std::move(psk);
    auto hs = noise::HandshakeState::create(std::move(cfg));
    if (!hs)
        return refuse(ErrorCode::Internal, QStringLiteral("handshake failed"));
    // A byte-for-byte copy of a msg1 passes the psk check; answering it would make a pending key
    // that nobody holds. The initiator's ephemeral key (in clear) names the attempt; it is looked
    // up for every msg1, so that the time of the answer does not tell the outcome either.
    const QByteArray ephemeral = frame->noiseMessage.left(skbp::kKeySize);
    const bool replayed = store.handshakeAnswered(frame->account, frame->epoch, ephemeral);
    auto payload = hs->readMessage(frame->noiseMessage);
    if (!payload) {
        // Same answer whether the account, the invite or the key was wrong; it names this
        // broker's public key, so that a phone holding an invite for another can say so.
        return refuseAuth();
    }
    if (!wire::decodeMap(*payload))
        return refuse(ErrorCode::BadRequest, QStringLiteral("bad enrolment payload"));
    if (replayed) {
        m_ctx.log(QStringLiteral("%1: a replayed enrolment message (epoch %2) refused").arg(frame->account).arg(frame->epoch));
        return refuseAuth();
    }
    m_account = frame->account;
    // Epochs only grow: a first enrolment after a revocation, or a replacement device, is
    // numbered above every key the account has had or has pending (an extension: PROTOCOL.md).
    m_newEpoch = frame->epoch == 0 && a ? a->nextEnrolmentEpoch() : frame->epoch + 1;
    m_replacing = frame->epoch == 0 && a && a->isEnrolled();
    QCborMap reply;
    reply.insert(key::epoch, qint64(m_newEpoch));
    auto msg2 = hs->writeMessage(wire::encodeMessage(reply));
    if (!msg2)
        return refuse(ErrorCode::Internal, QStringLiteral("handshake failed"));
    auto [i2r, r2i] = hs->split();
    auto newKey = skbp::brokerKey(hs->handshakeHash(), i2r.key(), r2i.key());
    if (!newKey)
        return refuse(ErrorCode::Internal, QStringLiteral("key derivation failed"));
    if (commitRotationFirst) {
        if (auto r = store.commitPending(m_account); !r)
            return refuse(ErrorCode::Internal, QStringLiteral("store failure"));
    }
    // A later handshake for the same account and epoch replaces this pending key; then this
    // exchange's confirm commits nothing (m_ownKey no longer matches).
    if (auto r = store.recordHandshake(m_account, frame->epoch, ephemeral); !r)
        return refuse(ErrorCode::Internal, QStringLiteral("store failure"));
    // A replacement's key waits beside the old device's (its own pending rotation or refresh
    // included): the old device keeps working until the replacement commits.
    auto pending = m_replacing ? store.setReplacement(m_account, m_newEpoch, *newKey, invite)
                               : store.setPending(m_account, m_newEpoch, *newKey, PendingKind::Handshake, invite);
    if (!pending)
        return refuse(ErrorCode::Internal, QStringLiteral("store failure"));
    m_ownKey = std::move(*newKey);
    m_step = Step::AwaitingConfirm;
    m_ctx.log(QStringLiteral("%1: Diffie-Hellman %2 at epoch %3 (pending epoch %4, %5)")
                  .arg(m_account, m_replacing           ? QStringLiteral("enrolment of a replacement device")
                                  : frame->epoch == 0 ? QStringLiteral("enrolment")
                                                      : QStringLiteral("refresh"))
                  .arg(frame->epoch)
                  .arg(m_newEpoch)
                  .arg(skbp::fingerprint(m_ownKey)));
    const QByteArray out = wire::encodeEnroll2(*msg2);
    // msg2 leaves once the pending key is durable; the channel opens for the confirm after it.
    store.afterCommit([self = QPointer<EnrolmentResponder>(this), out, r2i = std::move(r2i), i2r = std::move(i2r)](bool ok) mutable {
        if (!self || self->m_step != Step::AwaitingConfirm)
            return;
        if (!ok)
            return self->refuse(ErrorCode::Internal, QStringLiteral("store failure"));
        self->m_socket->send(out);
        self->m_channel = SecureChannel(std::move(r2i), std::move(i2r));
    });
}

void EnrolmentResponder::take(const QByteArray &body)
{
    if (m_step != Step::AwaitingConfirm || !m_channel.isOpen())
        return refuse(ErrorCode::BadRequest, QStringLiteral("expected confirm"));
    auto m = m_channel.open(body);
    if (!m || m->type() != wire::MessageType::Confirm) {
        return refuse(m ? ErrorCode::BadRequest : (m.error().code == ErrorCode::Crypto ? ErrorCode::Auth : ErrorCode::BadRequest),
                      m ? QStringLiteral("expected confirm") : m.error().message);
    }
    // Exactly the key negotiated here (§4): another handshake's pending key for the same
    // account and epoch is not this client's to commit.
    Store &store = m_ctx.store;
    const AccountRecord *a = store.account(m_account);
    const bool handshake = m_replacing || (a && a->pendingKind == PendingKind::Handshake);
    if (!handshake || !stillOwn(m_ctx, m_account, m_newEpoch, m_ownKey, m_replacing)) {
        m_ctx.log(QStringLiteral("%1: confirm for a superseded handshake (epoch %2) refused").arg(m_account).arg(m_newEpoch));
        return refuse(ErrorCode::Auth, QStringLiteral("enrolment superseded"));
    }
    if (auto r = m_replacing ? commitReplacement(m_ctx, m_account, m_newEpoch) : store.commitPending(m_account); !r)
        return refuse(ErrorCode::Internal, QStringLiteral("store failure"));
    m_ownKey.clear();
    m_ctx.log(QStringLiteral("%1: epoch %2 committed (confirm)").arg(m_account).arg(m_newEpoch));
    QCborMap enrolled = wire::message(wire::MessageType::Enrolled);
    enrolled.insert(key::epoch, qint64(m_newEpoch));
    m_step = Step::Done;
    store.afterCommit([self = QPointer<EnrolmentResponder>(this), enrolled](bool ok) {
        if (!self || !self->m_socket)
            return;
        if (ok) {
            if (auto sealed = self->m_channel.seal(enrolled))
                self->m_socket->send(*sealed);
        }
        Q_EMIT self->finished(ok, self->m_newEpoch);
    });
    m_ctx.keyCommitted(m_account);
}

// ---- login (§5) -------------------------------------------------------------------------------

LoginResponder::LoginResponder(PhoneResponderContext context, FramedSocket *socket, QObject *parent)
    : QObject(parent), m_ctx(std::move(context)), m_socket(socket)
{
}

void LoginResponder::refuse(ErrorCode code, const QString &why, bool sealed)
{
    if (m_step == Step::Done || m_step == Step::Failed)
        return;
    if (sealed && m_channel.isOpen()) {
        if (auto frame = m_channel.seal(wire::errorMessage(code, why)))
            m_socket->send(*frame);
    } else {
        m_socket->send(wire::encodeCleartextError(code, why));
    }
    m_step = Step::Failed;
    m_ownKey.clear();
    m_channel = SecureChannel();
    Q_EMIT finished(false);
}

void LoginResponder::abort(ErrorCode code, const QString &why)
{
    refuse(code, why);
}

void LoginResponder::drop()
{
    m_step = Step::Failed;
    m_socket = nullptr;
    m_ownKey.clear();
    m_channel = SecureChannel();
}

// Unknown accounts and epochs get a challenge too, and fail at the first frame exactly like a
// wrong key: the answer never tells which it was.
void LoginResponder::start(const QByteArray &body)
{
    auto hello = wire::decodeHello(body);
    if (!hello)
        return refuse(ErrorCode::BadRequest, hello.error().message);
    auto nb = crypto::randomBytes(skbp::kNonceSize);
    if (!nb)
        return refuse(ErrorCode::Internal, QStringLiteral("no randomness"));
    LoginKey choice = loginKey(m_ctx.store.account(hello->account), hello->epoch);
    SecretBytes key = std::move(choice.key);
    switch (choice.source) {
    case LoginKey::Source::Current:
        break;
    case LoginKey::Source::Pending:
        m_ownKey = key;
        m_commitOnLogin = true;
        break;
    case LoginKey::Source::Replacement: // a replacement device whose `enrolled` was lost
        m_ownKey = key;
        m_commitOnLogin = true;
        m_replacing = true;
        break;
    case LoginKey::Source::None: {
        auto decoy = crypto::randomSecret(skbp::kKeySize);
        if (!decoy)
            return refuse(ErrorCode::Internal, QStringLiteral("no randomness"));
        key = std::move(*decoy);
        break;
    }
    }
    auto keys = skbp::channelKeys(key, hello->account, hello->epoch, hello->nonce, *nb);
    if (!keys)
        return refuse(ErrorCode::Internal, QStringLiteral("key derivation failed"));
    m_account = hello->account;
    m_epoch = hello->epoch;
    m_channel = SecureChannel(noise::CipherState(std::move(keys->brokerToClient)),
                              noise::CipherState(std::move(keys->clientToBroker)));
    m_step = Step::AwaitingLogin;
    m_socket->send(wire::encodeChallenge(*nb));
}

void LoginResponder::take(const QByteArray &body)
{
    if (m_step != Step::AwaitingLogin)
        return refuse(ErrorCode::BadRequest, QStringLiteral("expected login"));
    auto m = m_channel.open(body);
    if (!m) {
        if (m.error().code == ErrorCode::Crypto)
            m_ctx.log(QStringLiteral("login refused for \"%1\" (epoch %2)").arg(m_account).arg(m_epoch));
        // A frame we cannot decrypt: the client may not hold this key; answer in clear.
        return refuse(m.error().code == ErrorCode::Crypto ? ErrorCode::Auth : ErrorCode::BadRequest,
                      m.error().code == ErrorCode::Crypto ? QStringLiteral("authentication failed") : m.error().message);
    }
    if (m->type() != wire::MessageType::Login)
        return refuse(ErrorCode::BadRequest, QStringLiteral("expected login"), true); // the channel works: say why in it
    if (!settleKeys())
        return;
    m_step = Step::Done;
    Q_EMIT finished(true);
}

bool LoginResponder::settleKeys()
{
    Store &store = m_ctx.store;
    if (m_commitOnLogin && !stillOwn(m_ctx, m_account, m_epoch, m_ownKey, m_replacing)) {
        // The pending key this login was keyed with was replaced meanwhile (a later handshake),
        // or a replacement's invite closed: the client holds a key that is nobody's now; it
        // falls back to its current one.
        refuse(ErrorCode::Auth, QStringLiteral("authentication failed"));
        return false;
    }
    m_ownKey.clear();
    if (m_commitOnLogin && m_replacing) {
        if (auto r = commitReplacement(m_ctx, m_account, m_epoch); !r) {
            refuse(ErrorCode::Internal, QStringLiteral("store failure"));
            return false;
        }
        m_ctx.keyCommitted(m_account);
        return true;
    }
    const AccountRecord *a = store.account(m_account);
    if (!a || !a->hasPending())
        return true;
    if (m_commitOnLogin && a->pendingEpoch == m_epoch) {
        if (auto r = store.commitPending(m_account); !r) {
            refuse(ErrorCode::Internal, QStringLiteral("store failure"));
            return false;
        }
        m_ctx.log(QStringLiteral("%1: epoch %2 committed (login under pending key)").arg(m_account).arg(m_epoch));
        m_ctx.keyCommitted(m_account);
    } else if (a->pendingKind == PendingKind::Handshake && a->pendingInvite == 0) {
        // A client tries its pending key first, so a login under the current one means it
        // never stored the new key (its msg2 was lost): drop ours, or it would block rotations.
        const quint32 stale = a->pendingEpoch;
        if (auto r = store.discardPending(m_account); !r) {
            refuse(ErrorCode::Internal, QStringLiteral("store failure"));
            return false;
        }
        m_ctx.log(QStringLiteral("%1: unconfirmed epoch %2 discarded (login under epoch %3)")
                      .arg(m_account)
                      .arg(stale)
                      .arg(m_epoch));
        m_ctx.keyCommitted(m_account);
    }
    return true;
}

} // namespace sotto::broker
