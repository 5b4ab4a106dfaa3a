#include "client/enroller.h"

#include "core/log.h"
#include "core/skbp.h"

#include <QCborMap>

namespace sotto {

namespace key = wire::key;

Enroller::Enroller(Profile &profile, QString device, QObject *parent)
    : QObject(parent), m_profile(profile), m_device(std::move(device))
{
    m_timeout.setSingleShot(true);
    connect(&m_timeout, &QTimer::timeout, this, [this] {
        finish(false, makeError(ErrorCode::Timeout, QStringLiteral("the broker did not answer in time")));
    });
}

void Enroller::start(int timeoutMs)
{
    m_epoch = m_profile.epoch();
    const SecretBytes &psk = m_epoch == 0 ? m_profile.inviteSecret() : m_profile.key();
    if (!m_profile.hasIdentity() || psk.size() != 32) {
        QTimer::singleShot(0, this, [this] {
            finish(false, makeError(ErrorCode::Usage, QStringLiteral("no invite or key to enrol with")));
        });
        return;
    }
    noise::HandshakeConfig cfg;
    cfg.pattern = noise::Pattern::NKpsk0;
    cfg.initiator = true;
    cfg.prologue = skbp::enrollPrologue(m_profile.account(), m_epoch);
    cfg.remoteStatic = m_profile.brokerKey();
    cfg.psk = psk;
    auto hs = noise::HandshakeState::create(std::move(cfg));
    if (!hs) {
        const Error e = hs.error();
        QTimer::singleShot(0, this, [this, e] { finish(false, e); });
        return;
    }
    m_hs.emplace(std::move(*hs));
    auto *socket = new QTcpSocket;
    m_socket = new FramedSocket(socket, this);
    connect(m_socket, &FramedSocket::connected, this, &Enroller::onConnected);
    connect(m_socket, &FramedSocket::frameReceived, this, &Enroller::onFrame);
    connect(m_socket, &FramedSocket::disconnected, this, [this] {
        finish(false, makeError(ErrorCode::Network, QStringLiteral("connection to the broker lost: %1")
                                                        .arg(m_socket->socket()->errorString())));
    });
    m_timeout.start(timeoutMs);
    socket->connectToHost(m_profile.brokerHost(), m_profile.brokerPort());
}

void Enroller::onConnected()
{
    QCborMap payload;
    payload.insert(QLatin1StringView("device"), m_device);
    auto msg1 = m_hs->writeMessage(wire::encodeMessage(payload));
    if (!msg1) {
        finish(false, msg1.error());
        return;
    }
    m_step = Step::AwaitMsg2;
    m_socket->send(wire::encodeEnroll1({m_profile.account(), m_epoch, *msg1}));
}

void Enroller::onFrame(const QByteArray &body)
{
    if (auto e = wire::decodeCleartextError(body); e && m_step != Step::Done) {
        // A refused enrolment: a wrong broker (it names its own key) or a bad invite. The broker
        // answers every refusal alike, so this tells nothing about whether the account exists.
        const QString theirs = wire::cleartextErrorFingerprint(body);
        const QString named = skbp::fingerprint(m_profile.brokerKey());
        if (e->code == ErrorCode::Auth && m_step == Step::AwaitMsg2 && m_epoch == 0) {
            if (!theirs.isEmpty() && theirs != named)
                e->message = QStringLiteral("the broker at %1:%2 holds another key (fingerprint %3) than this invite "
                                            "names (%4): do not join")
                                 .arg(m_profile.brokerHost())
                                 .arg(m_profile.brokerPort())
                                 .arg(theirs, named);
            else
                e->message = QStringLiteral("the invite is not valid (used, expired or wrong)");
        }
        finish(false, *e);
        return;
    }
    if (m_step == Step::AwaitMsg2) {
        auto msg2 = wire::decodeEnroll2(body);
        if (!msg2) {
            finish(false, msg2.error());
            return;
        }
        auto payload = m_hs->readMessage(*msg2);
        if (!payload) {
            finish(false, makeError(ErrorCode::Auth, QStringLiteral("the broker's answer failed authentication "
                                                                    "(wrong broker key?)")));
            return;
        }
        auto map = wire::decodeMap(*payload);
        const QCborValue epoch = map ? map->value(key::epoch) : QCborValue();
        // A refresh moves to the next epoch. An enrolment by invite starts at 1 — or above every
        // epoch the account had, for a replacement device or after a revocation (extension:
        // epochs only grow), so any epoch from 1 up is taken there.
        const bool fits = epoch.isInteger()
            && (m_epoch == 0 ? epoch.toInteger() >= 1 && epoch.toInteger() <= 0xffffffffLL
                             : epoch.toInteger() == qint64(m_epoch) + 1);
        if (!fits) {
            finish(false, makeError(ErrorCode::BadRequest, QStringLiteral("the broker proposed a bad epoch")));
            return;
        }
        m_newEpoch = quint32(epoch.toInteger());
        auto [i2r, r2i] = m_hs->split();
        auto key = skbp::brokerKey(m_hs->handshakeHash(), i2r.key(), r2i.key());
        if (!key) {
            finish(false, key.error());
            return;
        }
        // Commit rule: durable as pending before we confirm.
        if (auto r = m_profile.setPending(m_newEpoch, *key); !r) {
            finish(false, r.error());
            return;
        }
        m_fp = skbp::fingerprint(*key);
        m_channel = SecureChannel(i2r, r2i);
        auto confirm = m_channel.seal(wire::message(wire::MessageType::Confirm));
        if (!confirm) {
            finish(false, confirm.error());
            return;
        }
        m_step = Step::AwaitEnrolled;
        m_socket->send(*confirm);
        return;
    }
    if (m_step == Step::AwaitEnrolled) {
        auto m = m_channel.open(body);
        if (!m) {
            finish(false, m.error());
            return;
        }
        if (m->type() == wire::MessageType::Error) {
            finish(false, Error{errorCodeFromName(m->text(key::code)),
                                m->text(key::msg)});
            return;
        }
        if (m->type() != wire::MessageType::Enrolled || m->u32(key::epoch) != m_newEpoch) {
            finish(false, makeError(ErrorCode::BadRequest, QStringLiteral("unexpected answer to confirm")));
            return;
        }
        if (m_profile.pendingEpoch() == m_newEpoch) {
            if (auto r = m_profile.commitPending(); !r) {
                finish(false, r.error());
                return;
            }
        }
        finish(true);
    }
}

void Enroller::finish(bool ok, const Error &error)
{
    if (m_step == Step::Done)
        return;
    m_step = Step::Done;
    m_timeout.stop();
    if (m_socket) {
        m_socket->closeGracefully();
        m_socket = nullptr;
    }
    Q_EMIT finished(ok, ok ? m_newEpoch : 0, ok ? m_fp : QString(), error);
}

} // namespace sotto
