#include "phone/callmedia.h"

#include "audio/log.h"
#include "core/privatefile.h"

#include <QTimer>

#include <optional>

Q_LOGGING_CATEGORY(lcAudio, "sotto.audio")

namespace sotto::phone {

using audio::MediaSession;
using audio::MediaStats;

CallMedia::CallMedia(ClientEngine &engine, DeviceFactory devices, QObject *parent)
    : QObject(parent), m_engine(engine), m_devices(std::move(devices))
{
    const QString keyLog = qEnvironmentVariable("SOTTO_KEYLOGFILE");
    if (!keyLog.isEmpty()) {
        // Created 0600 in one step; a file that is not the user's own, or that others may
        // read, is refused (and nothing is written to it).
        if (auto opened = openPrivateAppend(m_keyLog, keyLog); opened) {
            qCWarning(lcAudio).noquote() << "SOTTO_KEYLOGFILE is set: SRTP keys are being written to" << keyLog
                                         << "- anyone who reads that file can decrypt these calls";
        } else {
            m_keyLogError = QStringLiteral("SOTTO_KEYLOGFILE: %1; no keys are written").arg(opened.error().message);
            qCWarning(lcAudio).noquote() << m_keyLogError;
        }
    }
    connect(&engine, &ClientEngine::callAnswered, this, &CallMedia::ensureStarted);
    connect(&engine, &ClientEngine::sessionKeyChanged, this, [this](const QByteArray &sid, quint32) {
        if (m_calls.contains(sid))
            installKeys(sid);
    });
    connect(&engine, &ClientEngine::memberJoined, this, [this](const QByteArray &sid, const QString &) {
        if (m_calls.contains(sid))
            installKeys(sid);
    });
    connect(&engine, &ClientEngine::memberLeft, this, [this](const QByteArray &sid, const QString &who) {
        auto it = m_calls.find(sid);
        if (it == m_calls.end())
            return;
        auto m = it->second.members.find(who);
        if (m != it->second.members.end()) {
            it->second.session->removeMember(m->second);
            it->second.members.erase(m);
        }
    });
    connect(&engine, &ClientEngine::callEnded, this, [this](const QByteArray &sid, EndReason) { stop(sid); });
}

CallMedia::~CallMedia()
{
    std::vector<QByteArray> sids;
    for (const auto &[sid, c] : m_calls)
        sids.push_back(sid);
    for (const QByteArray &sid : sids)
        stop(sid);
}

MediaSession *CallMedia::media(const QByteArray &sid)
{
    auto it = m_calls.find(sid);
    return it == m_calls.end() ? nullptr : it->second.session.get();
}

void CallMedia::setMuted(bool muted)
{
    m_muted = muted;
    for (auto &[sid, c] : m_calls)
        c.session->setMuted(muted);
}

void CallMedia::ensureStarted(const QByteArray &sid)
{
    if (m_calls.contains(sid))
        return;
    const auto info = m_engine.session(sid);
    if (!info || !info->keyed)
        return;
    auto devices = m_devices();
    if (!devices) {
        Q_EMIT failed(sid, devices.error().message);
        return;
    }
    // The relay is the broker's own host (PROTOCOL §7): the address our connection reached, so
    // no name lookup blocks the thread here; or a relay of its own, named by a literal address.
    QHostAddress relay = info->relayHost.isEmpty() ? m_engine.brokerAddress() : QHostAddress(info->relayHost);
    if (relay.isNull())
        relay = QHostAddress(m_engine.profile().brokerHost());
    if (relay.isNull()) {
        Q_EMIT failed(sid, QStringLiteral("not connected to the broker"));
        return;
    }
    MediaSession::Config cfg;
    cfg.relayAddress = relay;
    cfg.relayPort = info->relayPort;
    cfg.sid = sid;
    cfg.ownSsrc = info->ownSsrc;
    cfg.token = info->relayToken;
    cfg.grantKey = m_engine.relayGrantKey(sid);
    cfg.lossPercent = m_loss;
    cfg.processing = devices->processing;
    Call call;
    call.devices = std::move(*devices);
    call.session = std::make_unique<MediaSession>(cfg, *call.devices.input, *call.devices.output);
    call.session->setMuted(m_muted);
    m_calls.emplace(sid, std::move(call));
    installKeys(sid);
    auto it = m_calls.find(sid); // installKeys() may have told a handler that hung up
    if (it == m_calls.end())
        return;
    if (auto r = it->second.session->start(); !r) {
        const QString why = r.error().message;
        m_calls.erase(sid);
        Q_EMIT failed(sid, why);
        return;
    }
    Q_EMIT mediaStarted(sid);
}

void CallMedia::installKeys(const QByteArray &sid)
{
    auto it = m_calls.find(sid);
    const auto info = m_engine.session(sid);
    if (it == m_calls.end() || !info || !info->keyed)
        return;
    Call &c = it->second;
    const quint32 gen = info->gen;
    auto own = m_engine.srtpMaterial(sid, gen, info->ownSsrc);
    std::optional<QString> sendKeyFailed;
    if (own) {
        if (auto r = c.session->setSendKey(gen, *own); !r)
            sendKeyFailed = r.error().message;
        logKey(c, sid, gen, info->ownSsrc, *own);
    }
    for (const MemberInfo &m : info->members) {
        auto key = m_engine.srtpMaterial(sid, gen, m.ssrc);
        if (!key)
            continue;
        (void)c.session->addReceiveKey(m.ssrc, gen, *key);
        logKey(c, sid, gen, m.ssrc, *key);
        c.members[m.account] = m.ssrc;
    }
    if (gen != c.gen) {
        // Late packets of the previous generation still decrypt for 2 s, then it goes.
        const quint32 previous = c.gen;
        c.gen = gen;
        QTimer::singleShot(2000, this, [this, sid, previous] {
            if (MediaSession *s = media(sid))
                s->dropGeneration(previous);
        });
    }
    // Told last: a handler may hang up, which ends the call and its entry `c` refers to.
    if (sendKeyFailed)
        Q_EMIT failed(sid, *sendKeyFailed);
}

void CallMedia::stop(const QByteArray &sid)
{
    auto it = m_calls.find(sid);
    if (it == m_calls.end())
        return;
    it->second.session->stop();
    const MediaStats stats = it->second.session->stats();
    m_history[sid] = stats;
    m_calls.erase(it);
    Q_EMIT mediaStopped(sid, stats);
}

void CallMedia::logKey(Call &call, const QByteArray &sid, quint32 gen, quint32 ssrc, const skbp::SrtpMaterial &m)
{
    // Keys are installed again whenever the membership or generation changes; log each once.
    if (!m_keyLog.isOpen() || !call.logged.emplace(gen, ssrc).second)
        return;
    const SecretBytes both = m.masterKey + m.masterSalt;
    QByteArray raw = both.view().toByteArray();
    QByteArray line = QStringLiteral("SKBP_SRTP %1 %2 %3 ")
                          .arg(QString::fromLatin1(sid.toHex()))
                          .arg(gen)
                          .arg(ssrc, 8, 16, QLatin1Char('0'))
                          .toLatin1()
        + raw.toBase64() + '\n';
    wipeInPlace(raw);
    m_keyLog.write(line);
    wipeInPlace(line);
    m_keyLog.flush();
}

} // namespace sotto::phone
