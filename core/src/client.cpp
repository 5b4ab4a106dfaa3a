#include "core/client.h"

#include "core/crypto.h"
#include "core/invite.h"
#include "core/log.h"

#include <QCborArray>
#include <QCborMap>

namespace sotto {

namespace {

QLatin1StringView k(const char *s)
{
    return QLatin1StringView(s);
}

std::vector<MemberInfo> membersOf(const QCborValue &peers)
{
    std::vector<MemberInfo> out;
    for (const QCborValue &p : peers.toArray()) {
        const QCborMap m = p.toMap();
        out.push_back({m.value(k("account")).toString(), quint32(m.value(k("ssrc")).toInteger())});
    }
    return out;
}

} // namespace

ClientEngine::ClientEngine(Profile &profile, ClientOptions options, QObject *parent)
    : QObject(parent), m_profile(profile), m_options(std::move(options))
{
    m_reconnectTimer.setSingleShot(true);
    connect(&m_reconnectTimer, &QTimer::timeout, this, &ClientEngine::connectNow);
    m_loginTimer.setSingleShot(true);
    connect(&m_loginTimer, &QTimer::timeout, this, [this] {
        if (m_socket && !m_loggedIn) {
            qCInfo(lcCore) << "login timed out";
            m_socket->abort();
            onDisconnected();
        }
    });
    m_refreshTimer.setSingleShot(true);
    connect(&m_refreshTimer, &QTimer::timeout, this, [this] {
        m_refreshWanted = true;
        maybeRefresh();
    });
}

ClientEngine::~ClientEngine()
{
    m_running = false;
    if (m_socket)
        m_socket->disconnect(this);
}

void ClientEngine::setState(State s)
{
    if (m_state == s)
        return;
    m_state = s;
    Q_EMIT stateChanged(s);
}

void ClientEngine::addEvent(TimelineEvent::Kind kind, const QByteArray &sid, std::optional<quint32> gen,
                            std::optional<quint32> epoch, const QString &fp, const QString &peer,
                            const QString &notation, const QString &text)
{
    TimelineEvent e;
    e.kind = kind;
    e.sid = sid;
    e.gen = gen;
    e.epoch = epoch;
    e.fp = fp;
    e.peer = peer;
    e.notation = notation;
    e.text = text;
    m_timeline.append(std::move(e));
}

ClientEngine::Session *ClientEngine::find(const QByteArray &sid)
{
    auto it = m_sessions.find(sid);
    return it == m_sessions.end() ? nullptr : &it->second;
}

// ---- enrolment and refresh (§4) ------------------------------------------------------------

void ClientEngine::enrol(const InviteLink &link)
{
    if (auto r = m_profile.adoptInvite(link); !r) {
        const Error e = r.error();
        QTimer::singleShot(0, this, [this, e] { Q_EMIT enrolFailed(e); });
        return;
    }
    auto *enroller = new Enroller(m_profile, m_options.device, this);
    m_enroller = enroller;
    connect(enroller, &Enroller::finished, this,
            [this, enroller](bool ok, quint32 epoch, const QString &fp, const Error &error) {
                enroller->deleteLater();
                if (!ok) {
                    Q_EMIT enrolFailed(error);
                    return;
                }
                const QString me = m_profile.account();
                addEvent(TimelineEvent::Kind::Enrolled, {}, std::nullopt, epoch, fp, {},
                         QStringLiteral("K_%1 = DH(%1, broker)").arg(me),
                         QStringLiteral("enrolled with the broker %1 · Diffie-Hellman (Noise NKpsk0) · "
                                        "K_%2 epoch %3 · fp %4")
                             .arg(m_profile.brokerFingerprint(), me)
                             .arg(epoch)
                             .arg(fp));
                Q_EMIT enrolled(epoch);
            });
    enroller->start(m_options.enrolTimeoutMs);
}

void ClientEngine::refresh()
{
    m_refreshWanted = true;
    maybeRefresh();
}

void ClientEngine::maybeRefresh()
{
    if (!m_refreshWanted || m_enroller || !m_profile.isEnrolled() || m_state != State::Online || !isIdle())
        return;
    m_refreshWanted = false;
    auto *enroller = new Enroller(m_profile, m_options.device, this);
    m_enroller = enroller;
    const quint32 from = m_profile.epoch();
    connect(enroller, &Enroller::finished, this,
            [this, enroller, from](bool ok, quint32 epoch, const QString &fp, const Error &error) {
                enroller->deleteLater();
                if (!ok) {
                    qCInfo(lcCore) << "refresh failed:" << error.message;
                    m_refreshTimer.start(30000); // try again later; the old key stays good
                    Q_EMIT refreshFailed(error);
                    return;
                }
                const QString me = m_profile.account();
                addEvent(TimelineEvent::Kind::Refreshed, {}, std::nullopt, epoch, fp, {},
                         QStringLiteral("K_%1' = DH(%1, broker) under psk K_%1").arg(me),
                         QStringLiteral("refresh · Diffie-Hellman · chain broken · epoch %1 → %2 · fp %3")
                             .arg(from)
                             .arg(epoch)
                             .arg(fp));
                Q_EMIT refreshed(epoch);
            });
    enroller->start(m_options.enrolTimeoutMs);
}

// ---- login and the session channel (§5) ----------------------------------------------------

void ClientEngine::start()
{
    m_running = true;
    m_backoffMs = 0;
    if (!m_socket)
        connectNow();
}

void ClientEngine::stop()
{
    m_running = false;
    m_reconnectTimer.stop();
    m_refreshTimer.stop();
    for (auto &[sid, s] : m_sessions) {
        if (m_loggedIn)
            send([&] {
                QCborMap m = wire::message(k("leave"));
                m.insert(k("sid"), sid);
                return m;
            }());
    }
    std::vector<QByteArray> sids;
    for (const auto &[sid, s] : m_sessions)
        sids.push_back(sid);
    for (const QByteArray &sid : sids)
        endLocally(sid, QStringLiteral("hangup"));
    if (m_socket) {
        m_socket->closeGracefully();
        m_socket = nullptr;
    }
    m_loggedIn = false;
    m_channel = SecureChannel();
    setState(State::Offline);
}

void ClientEngine::connectNow()
{
    if (!m_running || m_socket)
        return;
    if (!m_profile.hasIdentity() || (!m_profile.isEnrolled() && m_profile.pendingEpoch() == 0)) {
        m_running = false;
        Q_EMIT loginFailed(makeError(ErrorCode::Usage, QStringLiteral("this profile is not enrolled")));
        return;
    }
    setState(State::Connecting);
    auto *tcp = new QTcpSocket;
    m_socket = new FramedSocket(tcp, this);
    connect(m_socket, &FramedSocket::connected, this, &ClientEngine::onConnected);
    connect(m_socket, &FramedSocket::frameReceived, this, &ClientEngine::onFrame);
    connect(m_socket, &FramedSocket::disconnected, this, &ClientEngine::onDisconnected);
    m_loginTimer.start(m_options.loginTimeoutMs);
    tcp->connectToHost(m_profile.brokerHost(), m_profile.brokerPort());
}

void ClientEngine::onConnected()
{
    // Commit rule: a pending key is tried first; success commits it. Only a definite "auth"
    // answer to it (not a lost connection) makes us fall back to the current key.
    if (m_profile.pendingEpoch() != 0 && !m_pendingRefused) {
        m_loginEpoch = m_profile.pendingEpoch();
    } else {
        m_loginEpoch = m_profile.epoch();
    }
    auto nonce = crypto::randomBytes(skbp::kNonceSize);
    if (!nonce || m_loginEpoch == 0) {
        m_socket->abort();
        onDisconnected();
        return;
    }
    m_nonce = *nonce;
    m_channel = SecureChannel();
    m_socket->send(wire::encodeHello({m_profile.account(), m_loginEpoch, m_nonce}));
}

void ClientEngine::onFrame(const QByteArray &body)
{
    if (!m_channel.isOpen()) {
        if (auto e = wire::decodeCleartextError(body)) {
            Q_EMIT loginFailed(*e);
            m_socket->abort();
            onDisconnected();
            return;
        }
        auto nb = wire::decodeChallenge(body);
        const SecretBytes *key = m_profile.keyForEpoch(m_loginEpoch);
        if (!nb || !key) {
            m_socket->abort();
            onDisconnected();
            return;
        }
        auto keys = skbp::channelKeys(*key, m_profile.account(), m_loginEpoch, m_nonce, *nb);
        if (!keys) {
            m_socket->abort();
            onDisconnected();
            return;
        }
        m_channel = SecureChannel(noise::CipherState(std::move(keys->clientToBroker)),
                                  noise::CipherState(std::move(keys->brokerToClient)));
        QCborMap login = wire::message(k("login"));
        login.insert(k("client"), m_options.device);
        send(login);
        return;
    }
    auto m = m_channel.open(body);
    if (!m) {
        if (auto e = wire::decodeCleartextError(body)) {
            const bool pendingFailed = m_loginEpoch == m_profile.pendingEpoch() && m_profile.isEnrolled();
            if (e->code == ErrorCode::Auth && pendingFailed) {
                // The broker never committed the pending key: fall back to the current one now.
                m_pendingRefused = true;
                m_socket->disconnect(this);
                m_socket->abort();
                m_socket->deleteLater();
                m_socket = nullptr;
                m_channel = SecureChannel();
                connectNow();
                return;
            }
            m_pendingRefused = false; // nothing worked: next time start again from the pending key
            Q_EMIT loginFailed(*e);
        } else {
            qCWarning(lcCore) << "dropping the broker connection:" << m.error().message;
        }
        m_socket->abort();
        onDisconnected();
        return;
    }
    if (!m_loggedIn) {
        if (m->type() == k("welcome")) {
            onWelcome(*m);
        } else {
            if (m->type() == k("error"))
                Q_EMIT loginFailed(Error{errorCodeFromName(m->text(k("code"))), m->text(k("msg"))});
            m_socket->abort();
            onDisconnected();
        }
        return;
    }
    handle(*m);
}

void ClientEngine::onWelcome(const wire::Message &m)
{
    m_loginTimer.stop();
    m_loggedIn = true;
    m_backoffMs = 0;
    const quint32 pending = m_profile.pendingEpoch();
    if (pending != 0 && m_loginEpoch == pending) {
        // The broker accepted the pending key: it holds it, so it is ours now (commit rule).
        if (m_profile.commitPending()) {
            const QString me = m_profile.account();
            const bool first = pending == 1;
            addEvent(first ? TimelineEvent::Kind::Enrolled : TimelineEvent::Kind::Refreshed, {},
                     std::nullopt, pending, skbp::fingerprint(m_profile.key()), {},
                     QStringLiteral("K_%1 = DH(%1, broker)").arg(me),
                     QStringLiteral("%1 · confirmed by login · epoch %2 · fp %3")
                         .arg(first ? QStringLiteral("enrolled") : QStringLiteral("refresh · Diffie-Hellman · chain broken"))
                         .arg(pending)
                         .arg(skbp::fingerprint(m_profile.key())));
            if (first)
                Q_EMIT enrolled(pending);
            else
                Q_EMIT refreshed(pending);
        }
    } else if (pending != 0 && m_pendingRefused) {
        (void)m_profile.discardPending(); // the broker refused it and took the current key
    }
    m_pendingRefused = false;
    m_keyMode = m.text(k("key_mode")) == k("patent") ? skbp::KeyMode::Patent : skbp::KeyMode::Derived;
    (void)m_profile.setBrokerName(m.text(k("broker")));
    if (m.has(k("refresh_in")))
        m_refreshTimer.start(int(std::min<quint32>(m.u32(k("refresh_in")), 24u * 24 * 3600) * 1000));
    setState(State::Online);
    requestDirectory();
}

void ClientEngine::onDisconnected()
{
    if (m_socket) {
        m_socket->disconnect(this);
        m_socket->deleteLater();
        m_socket = nullptr;
    }
    m_loginTimer.stop();
    const bool wasLoggedIn = m_loggedIn;
    m_loggedIn = false;
    m_channel = SecureChannel();
    std::vector<QByteArray> sids;
    for (const auto &[sid, s] : m_sessions)
        sids.push_back(sid);
    for (const QByteArray &sid : sids)
        endLocally(sid, QStringLiteral("disconnected"));
    for (const auto &[id, call] : m_pendingCalls)
        Q_EMIT callFailed(id, call.to, makeError(ErrorCode::Network, QStringLiteral("connection lost")));
    m_pendingCalls.clear();
    if (wasLoggedIn)
        qCInfo(lcCore) << "disconnected from the broker";
    if (m_running) {
        setState(State::Connecting);
        scheduleReconnect();
    } else {
        setState(State::Offline);
    }
}

void ClientEngine::scheduleReconnect()
{
    m_backoffMs = m_backoffMs == 0 ? m_options.minBackoffMs : std::min(m_backoffMs * 2, m_options.maxBackoffMs);
    m_reconnectTimer.start(m_backoffMs);
}

void ClientEngine::send(const QCborMap &message)
{
    if (!m_socket || !m_channel.isOpen())
        return;
    auto sealed = m_channel.seal(message);
    if (sealed)
        m_socket->send(*sealed);
}

void ClientEngine::handle(const wire::Message &m)
{
    const QString t = m.type();
    if (t == k("directory")) {
        m_contacts.clear();
        for (const QCborValue &v : m.map().value(k("accounts")).toArray()) {
            const QCborMap e = v.toMap();
            const QString name = e.value(k("account")).toString();
            if (skbp::isValidAccount(name) && name != m_profile.account())
                m_contacts[name] = e.value(k("online")).toBool();
        }
        Q_EMIT directoryChanged();
    } else if (t == k("presence")) {
        const QString who = m.text(k("account"));
        m_contacts[who] = m.boolean(k("online"));
        Q_EMIT presenceChanged(who, m.boolean(k("online")));
    } else if (t == k("call_key")) {
        onCallKey(m);
    } else if (t == k("incoming")) {
        onIncoming(m);
    } else if (t == k("answered")) {
        onAnswered(m);
    } else if (t == k("session_key")) {
        onSessionKey(m);
    } else if (t == k("joined")) {
        onJoined(m);
    } else if (t == k("left")) {
        onLeft(m);
    } else if (t == k("rekey")) {
        onRekey(m);
    } else if (t == k("ended")) {
        onEnded(m);
    } else if (t == k("rotate")) {
        onRotate(m);
    } else if (t == k("refresh_due")) {
        m_refreshWanted = true;
        maybeRefresh();
    } else if (t == k("error")) {
        onError(m);
    }
}

// ---- calls (§6) ----------------------------------------------------------------------------

Result<SecretBytes> ClientEngine::unwrapForMe(const QByteArray &wrapped, skbp::WrapContext ctx) const
{
    auto epoch = skbp::wrappedEpoch(wrapped);
    if (!epoch)
        return epoch.error();
    const SecretBytes *key = m_profile.keyForEpoch(*epoch);
    if (!key)
        return makeError(ErrorCode::Auth, QStringLiteral("wrapped under epoch %1, which we do not hold").arg(*epoch));
    ctx.owner = m_profile.account();
    auto wk = m_wrapKeys.get(*key);
    if (!wk)
        return wk.error();
    return skbp::unwrapWithWrapKey(*wk, *epoch, wrapped, ctx);
}

quint32 ClientEngine::call(const QString &account)
{
    const quint32 id = m_nextId++;
    if (!m_loggedIn) {
        QTimer::singleShot(0, this, [this, id, account] {
            Q_EMIT callFailed(id, account, makeError(ErrorCode::Network, QStringLiteral("not connected to the broker")));
        });
        return id;
    }
    m_pendingCalls[id] = {account};
    QCborMap m = wire::message(k("call"));
    m.insert(k("id"), qint64(id));
    m.insert(k("to"), account);
    send(m);
    return id;
}

void ClientEngine::onCallKey(const wire::Message &m)
{
    const QByteArray sid = m.bytes(k("sid"));
    const QString callee = m.text(k("callee"));
    if (auto id = m.id())
        m_pendingCalls.erase(*id);
    auto sk = unwrapForMe(m.bytes(k("wrapped")), {skbp::WrapPurpose::Call, sid, m.u32(k("gen")), {}});
    if (!sk) {
        Q_EMIT requestFailed(QStringLiteral("call key"), sk.error());
        QCborMap leave = wire::message(k("leave"));
        leave.insert(k("sid"), sid);
        send(leave);
        return;
    }
    Session s;
    s.info.sid = sid;
    s.info.role = SessionInfo::Role::Caller;
    s.info.peer = callee;
    s.info.callee = callee;
    s.info.keyed = true;
    s.info.ownSsrc = m.u32(k("ssrc"));
    const QCborMap relay = m.map().value(k("relay")).toMap();
    s.info.relayPort = quint16(relay.value(k("port")).toInteger());
    s.info.relayToken = relay.value(k("token")).toByteArray();
    s.key = std::move(*sk);
    s.info.gen = m.u32(k("gen"));
    s.info.keyFingerprint = skbp::fingerprint(s.key);
    const QString fp = s.info.keyFingerprint;
    const quint32 calleeEpoch = m.u32(k("epoch"));
    m_sessions.emplace(sid, std::move(s));
    const QString me = m_profile.account();
    addEvent(TimelineEvent::Kind::CallKey, sid, m.u32(k("gen")), calleeEpoch, fp, callee,
             QStringLiteral("{SK}K_%1").arg(me),
             QStringLiteral("%1's session key %2 K_%1 (epoch %3) · delivered to you as {SK}K_%4 · fp %5")
                 .arg(callee,
                      m_keyMode == skbp::KeyMode::Patent ? QStringLiteral("is") : QStringLiteral("derived from"))
                 .arg(calleeEpoch)
                 .arg(me, fp));
    Q_EMIT callStarted(sid, callee);
    Q_EMIT sessionKeyChanged(sid, m.u32(k("gen")));
}

void ClientEngine::onIncoming(const wire::Message &m)
{
    const QByteArray sid = m.bytes(k("sid"));
    const QString from = m.text(k("from"));
    const QString me = m_profile.account();
    Session s;
    s.info.sid = sid;
    s.info.peer = from;
    s.info.ownSsrc = m.u32(k("ssrc"));
    s.info.gen = m.u32(k("gen"));
    const QCborMap relay = m.map().value(k("relay")).toMap();
    s.info.relayPort = quint16(relay.value(k("port")).toInteger());
    s.info.relayToken = relay.value(k("token")).toByteArray();
    s.info.members = membersOf(m.map().value(k("peers")));
    const bool conference = !m.has(k("epoch"));
    if (conference) {
        s.info.role = SessionInfo::Role::Invitee;
        s.invitedBy = from;
        QStringList others;
        for (const MemberInfo &mi : s.info.members)
            others.append(mi.account);
        m_sessions.emplace(sid, std::move(s));
        addEvent(TimelineEvent::Kind::Incoming, sid, std::nullopt, std::nullopt, {}, from, {},
                 QStringLiteral("%1 invites you into a call with %2 · your key comes after you answer")
                     .arg(from, others.join(QStringLiteral(", "))));
        Q_EMIT incomingCall(sid, from, true);
        return;
    }
    const quint32 epoch = m.u32(k("epoch"));
    const SecretBytes *key = m_profile.keyForEpoch(epoch);
    auto sk = key ? skbp::sessionKey(m_keyMode, *key, sid, me, epoch)
                  : Result<SecretBytes>(makeError(ErrorCode::Auth, QStringLiteral("no key for epoch %1").arg(epoch)));
    if (!sk) {
        Q_EMIT requestFailed(QStringLiteral("incoming call"), sk.error());
        QCborMap decline = wire::message(k("decline"));
        decline.insert(k("sid"), sid);
        send(decline);
        return;
    }
    s.info.role = SessionInfo::Role::Callee;
    s.info.callee = me;
    s.info.keyed = true;
    s.key = std::move(*sk);
    s.info.keyFingerprint = skbp::fingerprint(s.key);
    const QString fp = s.info.keyFingerprint;
    m_sessions.emplace(sid, std::move(s));
    addEvent(TimelineEvent::Kind::Incoming, sid, 0u, epoch, {}, from, {},
             QStringLiteral("%1 is calling").arg(from));
    addEvent(TimelineEvent::Kind::SessionKey, sid, 0u, epoch, fp, from,
             m_keyMode == skbp::KeyMode::Patent ? QStringLiteral("SK = K_%1").arg(me)
                                                : QStringLiteral("SK = KDF(K_%1, sid)").arg(me),
             QStringLiteral("session key %1 your K_%2 (epoch %3) · no message needed · fp %4")
                 .arg(m_keyMode == skbp::KeyMode::Patent ? QStringLiteral("is") : QStringLiteral("derived from"), me)
                 .arg(epoch)
                 .arg(fp));
    Q_EMIT incomingCall(sid, from, false);
    Q_EMIT sessionKeyChanged(sid, 0);
}

void ClientEngine::answer(const QByteArray &sid)
{
    Session *s = find(sid);
    if (!s || s->info.answered)
        return;
    QCborMap m = wire::message(k("answer"));
    m.insert(k("sid"), sid);
    send(m);
    if (s->info.role == SessionInfo::Role::Callee) {
        s->info.answered = true;
        addEvent(TimelineEvent::Kind::Answered, sid, s->info.gen, std::nullopt, s->info.keyFingerprint,
                 s->info.peer, {}, QStringLiteral("you answered %1").arg(s->info.peer));
        Q_EMIT callAnswered(sid);
    }
}

void ClientEngine::decline(const QByteArray &sid)
{
    Session *s = find(sid);
    if (!s || s->info.answered)
        return;
    QCborMap m = wire::message(k("decline"));
    m.insert(k("sid"), sid);
    send(m);
    endLocally(sid, QStringLiteral("declined"));
}

void ClientEngine::invite(const QByteArray &sid, const QString &account)
{
    Session *s = find(sid);
    if (!s || !s->info.answered) {
        Q_EMIT requestFailed(QStringLiteral("invite"), makeError(ErrorCode::NotInSession, QStringLiteral("no answered call")));
        return;
    }
    QCborMap m = wire::message(k("invite"));
    m.insert(k("id"), qint64(m_nextId++));
    m.insert(k("sid"), sid);
    m.insert(k("who"), account);
    send(m);
}

void ClientEngine::leave(const QByteArray &sid)
{
    if (!find(sid))
        return;
    QCborMap m = wire::message(k("leave"));
    m.insert(k("sid"), sid);
    send(m);
    endLocally(sid, QStringLiteral("hangup"));
}

void ClientEngine::requestDirectory()
{
    QCborMap m = wire::message(k("directory"));
    m.insert(k("id"), qint64(m_nextId++));
    send(m);
}

void ClientEngine::onAnswered(const wire::Message &m)
{
    Session *s = find(m.bytes(k("sid")));
    if (!s)
        return;
    s->info.answered = true;
    for (const MemberInfo &mi : membersOf(m.map().value(k("peers"))))
        s->info.members.push_back(mi);
    addEvent(TimelineEvent::Kind::Answered, s->info.sid, s->info.gen, std::nullopt, s->info.keyFingerprint,
             s->info.peer, {}, QStringLiteral("%1 answered").arg(s->info.peer));
    Q_EMIT callAnswered(s->info.sid);
}

void ClientEngine::installGeneration(Session &s, quint32 gen, SecretBytes key)
{
    s.previousKey = std::move(s.key);
    s.previousGen = s.info.gen;
    s.key = std::move(key);
    s.info.gen = gen;
    s.info.keyed = true;
    s.info.keyFingerprint = skbp::fingerprint(s.key);
    // §6.2: the previous generation is kept for late packets, then erased within 2 s.
    if (!s.wipeTimer) {
        s.wipeTimer = std::make_unique<QTimer>();
        s.wipeTimer->setSingleShot(true);
        const QByteArray sid = s.info.sid;
        connect(s.wipeTimer.get(), &QTimer::timeout, this, [this, sid] {
            if (Session *x = find(sid))
                x->previousKey.clear();
        });
    }
    s.wipeTimer->start(m_options.previousKeyMs);
}

void ClientEngine::onSessionKey(const wire::Message &m)
{
    const QByteArray sid = m.bytes(k("sid"));
    Session *s = find(sid);
    if (!s)
        return;
    const quint32 gen = m.u32(k("gen"));
    auto sk = unwrapForMe(m.bytes(k("wrapped")), {skbp::WrapPurpose::Join, sid, gen, {}});
    if (!sk) {
        Q_EMIT requestFailed(QStringLiteral("session key"), sk.error());
        leave(sid);
        return;
    }
    installGeneration(*s, gen, std::move(*sk));
    s->info.answered = true;
    if (m.has(k("peers")))
        s->info.members = membersOf(m.map().value(k("peers")));
    const QString me = m_profile.account();
    addEvent(TimelineEvent::Kind::Joined, sid, gen, std::nullopt, s->info.keyFingerprint, s->invitedBy,
             QStringLiteral("{SK_%1}K_%2").arg(gen).arg(me),
             QStringLiteral("you joined · generation %1 delivered to you as {SK_%1}K_%2 · fp %3")
                 .arg(gen)
                 .arg(me, s->info.keyFingerprint));
    Q_EMIT callAnswered(sid);
    Q_EMIT sessionKeyChanged(sid, gen);
}

void ClientEngine::onJoined(const wire::Message &m)
{
    const QByteArray sid = m.bytes(k("sid"));
    Session *s = find(sid);
    if (!s || !s->info.keyed)
        return;
    const QString who = m.text(k("who"));
    const quint32 gen = m.u32(k("gen"));
    s->info.members.push_back({who, m.u32(k("ssrc"))});
    if (gen > s->info.gen && gen - s->info.gen <= 16) {
        SecretBytes key = s->key;
        for (quint32 g = s->info.gen + 1; g <= gen; ++g) {
            auto next = skbp::ratchet(key, sid, g);
            if (!next) {
                Q_EMIT requestFailed(QStringLiteral("ratchet"), next.error());
                return;
            }
            key = std::move(*next);
        }
        installGeneration(*s, gen, std::move(key));
        addEvent(TimelineEvent::Kind::Joined, sid, gen, std::nullopt, s->info.keyFingerprint, who,
                 QStringLiteral("SK_%1 = KDF(SK_%2)").arg(gen).arg(gen - 1),
                 QStringLiteral("%1 joined · ratchet to generation %2 · fp %3").arg(who).arg(gen).arg(s->info.keyFingerprint));
        Q_EMIT memberJoined(sid, who);
        Q_EMIT sessionKeyChanged(sid, gen);
        return;
    }
    addEvent(TimelineEvent::Kind::Joined, sid, s->info.gen, std::nullopt, s->info.keyFingerprint, who, {},
             QStringLiteral("%1 joined · same key (no ratchet in patent mode)").arg(who));
    Q_EMIT memberJoined(sid, who);
}

void ClientEngine::onLeft(const wire::Message &m)
{
    const QByteArray sid = m.bytes(k("sid"));
    Session *s = find(sid);
    if (!s)
        return;
    const QString who = m.text(k("who"));
    std::erase_if(s->info.members, [&](const MemberInfo &mi) { return mi.account == who; });
    const bool rekey = m.has(k("gen"));
    addEvent(TimelineEvent::Kind::Left, sid, rekey ? std::optional<quint32>(m.u32(k("gen"))) : std::nullopt,
             std::nullopt, {}, who, {},
             rekey ? QStringLiteral("%1 left · re-key to generation %2 follows").arg(who).arg(m.u32(k("gen")))
                   : QStringLiteral("%1 left").arg(who));
    Q_EMIT memberLeft(sid, who);
}

void ClientEngine::onRekey(const wire::Message &m)
{
    const QByteArray sid = m.bytes(k("sid"));
    Session *s = find(sid);
    if (!s)
        return;
    const quint32 gen = m.u32(k("gen"));
    auto sk = unwrapForMe(m.bytes(k("wrapped")), {skbp::WrapPurpose::Rekey, sid, gen, {}});
    if (!sk) {
        Q_EMIT requestFailed(QStringLiteral("re-key"), sk.error());
        return;
    }
    installGeneration(*s, gen, std::move(*sk));
    const QString me = m_profile.account();
    addEvent(TimelineEvent::Kind::Rekeyed, sid, gen, std::nullopt, s->info.keyFingerprint, {},
             QStringLiteral("{SK_%1}K_%2").arg(gen).arg(me),
             QStringLiteral("re-key to generation %1 · fresh key delivered as {SK_%1}K_%2 · fp %3")
                 .arg(gen)
                 .arg(me, s->info.keyFingerprint));
    Q_EMIT sessionKeyChanged(sid, gen);
}

void ClientEngine::onEnded(const wire::Message &m)
{
    endLocally(m.bytes(k("sid")), m.text(k("reason")));
}

void ClientEngine::endLocally(const QByteArray &sid, const QString &reason)
{
    auto it = m_sessions.find(sid);
    if (it == m_sessions.end())
        return;
    const QString peer = it->second.info.peer;
    const quint32 gen = it->second.info.gen;
    m_sessions.erase(it); // wipes every key of the session
    addEvent(TimelineEvent::Kind::Ended, sid, gen, std::nullopt, {}, peer, {},
             QStringLiteral("call ended (%1) · session keys erased").arg(reason));
    Q_EMIT callEnded(sid, reason);
    QTimer::singleShot(0, this, &ClientEngine::maybeRefresh);
}

void ClientEngine::onRotate(const wire::Message &m)
{
    const quint32 next = m.u32(k("epoch"));
    const QByteArray wrapped = m.bytes(k("wrapped"));
    const QString me = m_profile.account();
    auto oldEpoch = skbp::wrappedEpoch(wrapped);
    if (!oldEpoch || *oldEpoch + 1 != next) {
        Q_EMIT requestFailed(QStringLiteral("rotate"), makeError(ErrorCode::BadRequest, QStringLiteral("bad rotation")));
        return;
    }
    if (m_profile.epoch() != next) {
        auto key = unwrapForMe(wrapped, {skbp::WrapPurpose::Rotate, QByteArray(skbp::kSidSize, '\0'), 0, {}});
        if (!key) {
            Q_EMIT requestFailed(QStringLiteral("rotate"), key.error());
            return;
        }
        // Durable first, then the proof: the broker commits on the ack or on our next login.
        if (auto r = m_profile.adoptRotation(next, *key); !r) {
            Q_EMIT requestFailed(QStringLiteral("rotate"), r.error());
            return;
        }
        const QString fp = skbp::fingerprint(*key);
        addEvent(TimelineEvent::Kind::Rotated, {}, std::nullopt, next, fp, {},
                 QStringLiteral("{K_%1'}K_%1").arg(me),
                 QStringLiteral("your key K_%1 rotated epoch %2 → %3 under cover of epoch %2 · {K_%1'}K_%1 · fp %4")
                     .arg(me)
                     .arg(*oldEpoch)
                     .arg(next)
                     .arg(fp));
        Q_EMIT rotated(next);
    }
    auto proof = skbp::rotateProof(m_profile.key(), me, next);
    if (!proof)
        return;
    QCborMap ack = wire::message(k("rotate_ack"));
    ack.insert(k("epoch"), qint64(next));
    ack.insert(k("proof"), *proof);
    send(ack);
}

void ClientEngine::onError(const wire::Message &m)
{
    const Error e{errorCodeFromName(m.text(k("code"))), m.text(k("msg"))};
    if (auto id = m.id()) {
        auto it = m_pendingCalls.find(*id);
        if (it != m_pendingCalls.end()) {
            const QString to = it->second.to;
            m_pendingCalls.erase(it);
            Q_EMIT callFailed(*id, to, e);
            return;
        }
    }
    Q_EMIT requestFailed(QStringLiteral("request"), e);
}

// ---- getters ---------------------------------------------------------------------------------

std::vector<ContactInfo> ClientEngine::contacts() const
{
    std::vector<ContactInfo> out;
    for (const auto &[name, online] : m_contacts)
        out.push_back({name, online});
    return out;
}

std::vector<SessionInfo> ClientEngine::sessions() const
{
    std::vector<SessionInfo> out;
    for (const auto &[sid, s] : m_sessions)
        out.push_back(s.info);
    return out;
}

std::optional<SessionInfo> ClientEngine::session(const QByteArray &sid) const
{
    auto it = m_sessions.find(sid);
    if (it == m_sessions.end())
        return std::nullopt;
    return it->second.info;
}

std::optional<SecretBytes> ClientEngine::sessionKey(const QByteArray &sid, quint32 gen) const
{
    auto it = m_sessions.find(sid);
    if (it == m_sessions.end() || !it->second.info.keyed)
        return std::nullopt;
    const Session &s = it->second;
    if (s.info.gen == gen)
        return s.key;
    if (s.previousGen == gen && !s.previousKey.isEmpty())
        return s.previousKey;
    return std::nullopt;
}

Result<skbp::SrtpMaterial> ClientEngine::srtpMaterial(const QByteArray &sid, quint32 gen, quint32 ssrc) const
{
    auto key = sessionKey(sid, gen);
    if (!key)
        return makeError(ErrorCode::NotInSession, QStringLiteral("no key for that generation"));
    return skbp::srtpMaterial(*key, sid, gen, ssrc);
}

} // namespace sotto
