#include "callpanel.h"

#include "phone/phone.h"
#include "resources/icons.h"

#include <QFrame>
#include <QDateTime>
#include <QGridLayout>
#include <QHeaderView>
#include <QTreeWidget>
#include <QHBoxLayout>
#include <QLabel>
#include <QMenu>
#include <QProgressBar>
#include <QPushButton>
#include <QShortcut>
#include <QTimer>
#include <QToolButton>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>

namespace sotto::app {

namespace {

constexpr float kTalkingLevel = 0.02f; // RMS of a frame, 0..1: speech is well above this
constexpr int kMeterFallPerFrame = 3;   // meter points per 20 ms: full scale to nothing in 0.7 s
constexpr int kTalkingHoldMs = 400;

int meterValue(float level)
{
    // dBFS from −60 to 0 on the meter: what a person sees as "loud" grows logarithmically.
    if (level <= 0.001f)
        return 0;
    const double db = 20.0 * std::log10(double(level));
    return std::clamp(int((db + 60.0) / 60.0 * 100.0), 0, 100);
}

QPushButton *button(const QString &text, const char *iconName, const QString &tip, const char *name, QWidget *parent)
{
    auto *b = new QPushButton(icon(QString::fromLatin1(iconName)), text, parent);
    b->setToolTip(tip);
    b->setObjectName(QString::fromLatin1(name));
    return b;
}

} // namespace

CallPanel::CallPanel(phone::Phone &phone, QWidget *parent)
    : QWidget(parent), m_phone(phone), m_title(new QLabel(this)), m_state(new QLabel(this)),
      m_notice(new QLabel(this)), m_banner(new QFrame(this)), m_bannerText(new QLabel(m_banner)),
      m_members(new QWidget(this)), m_grid(new QGridLayout(m_members)),
      m_answer(button(tr("&Answer"), "call", tr("Answer the call"), "answer", this)),
      m_decline(button(tr("&Decline"), "hangup", tr("Decline the call"), "decline", this)),
      m_hangup(button(tr("&Hang up"), "hangup", tr("Leave the call (Esc)"), "hangup", this)),
      m_mute(button(tr("&Mute"), "mute", tr("Stop sending your voice (Ctrl+M)"), "mute", this)),
      m_add(new QToolButton(this)), m_stats(new QTreeWidget(this))
{
    m_stats->setObjectName(QStringLiteral("callStats"));
    m_stats->setRootIsDecorated(false);
    m_stats->setUniformRowHeights(true);
    m_stats->setHeaderLabels({tr("Member"), tr("Packets"), tr("Loss"), tr("Jitter"), tr("RTT (relay)"), tr("Bitrate"),
                              tr("FEC"), tr("Gen")});
    m_stats->header()->setSectionResizeMode(QHeaderView::ResizeToContents);
    m_stats->setToolTip(tr("What this phone receives from each member, once a second: packets, loss, jitter, "
                           "the round trip to the relay, bitrate, losses recovered by Opus FEC, and the "
                           "generation of the session key"));
    m_stats->setMaximumHeight(120);
    m_stats->setVisible(false);
    m_title->setObjectName(QStringLiteral("callTitle"));
    m_state->setObjectName(QStringLiteral("callState"));
    m_notice->setObjectName(QStringLiteral("audioNotice"));
    m_notice->setWordWrap(true);
    // Long lines wrap rather than widen the window (a call coming in must not resize it).
    m_title->setWordWrap(true);
    m_state->setWordWrap(true);
    m_notice->setStyleSheet(QStringLiteral("color: palette(dark); font-style: italic"));
    m_mute->setCheckable(true);
    m_mute->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_M));
    m_add->setObjectName(QStringLiteral("addParticipant"));
    m_add->setText(tr("Add &participant"));
    m_add->setIcon(icon(u"add"));
    m_add->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
    m_add->setPopupMode(QToolButton::InstantPopup);
    m_add->setToolTip(tr("Invite someone into this call: they get the key, one ratchet step on"));
    m_add->setMenu(new QMenu(m_add));
    connect(m_add->menu(), &QMenu::aboutToShow, this, &CallPanel::fillInviteMenu);
    m_members->setObjectName(QStringLiteral("members"));
    m_grid->setContentsMargins(0, 0, 0, 0);
    m_grid->setColumnStretch(3, 1);

    m_banner->setObjectName(QStringLiteral("incomingBanner"));
    m_banner->setFrameShape(QFrame::StyledPanel);
    auto *bannerLayout = new QHBoxLayout(m_banner);
    bannerLayout->addWidget(m_bannerText, 1);
    auto *takeIt = button(tr("Hang up && answer"), "call", tr("Leave this call and answer the other"),
                          "switchCall", m_banner);
    auto *refuse = button(tr("Decline"), "hangup", tr("Decline the other call"), "declineOther", m_banner);
    bannerLayout->addWidget(takeIt);
    bannerLayout->addWidget(refuse);
    connect(takeIt, &QPushButton::clicked, this, [this] {
        const QByteArray other = ringingElsewhere();
        if (other.isEmpty())
            return;
        m_phone.engine().leave(m_sid);
        m_phone.engine().answer(other);
    });
    connect(refuse, &QPushButton::clicked, this, [this] {
        const QByteArray other = ringingElsewhere();
        if (!other.isEmpty())
            m_phone.engine().decline(other);
    });

    QFont big = m_title->font();
    big.setPointSizeF(big.pointSizeF() * 1.4);
    big.setBold(true);
    m_title->setFont(big);

    auto *buttons = new QHBoxLayout;
    for (QWidget *w : std::initializer_list<QWidget *>{m_answer, m_decline, m_mute, m_add, m_hangup})
        buttons->addWidget(w);
    buttons->addStretch();
    auto *layout = new QVBoxLayout(this);
    layout->addWidget(m_banner);
    layout->addWidget(m_title);
    layout->addWidget(m_state);
    layout->addWidget(m_members);
    layout->addWidget(m_stats);
    layout->addStretch(1);
    layout->addWidget(m_notice);
    layout->addLayout(buttons);

    connect(m_answer, &QPushButton::clicked, this, &CallPanel::answer);
    connect(m_decline, &QPushButton::clicked, this, &CallPanel::decline);
    connect(m_hangup, &QPushButton::clicked, this, &CallPanel::hangUp);
    connect(m_mute, &QPushButton::toggled, &m_phone, &phone::Phone::setMuted);
    connect(&m_phone, &phone::Phone::mutedChanged, m_mute, [this](bool muted) {
        const QSignalBlocker block(m_mute);
        m_mute->setChecked(muted);
        m_mute->setText(muted ? tr("Un&mute") : tr("&Mute"));
        rebuildMembers();
    });
    auto *esc = new QShortcut(QKeySequence(Qt::Key_Escape), this);
    esc->setContext(Qt::WindowShortcut);
    connect(esc, &QShortcut::activated, this, [this] {
        if (m_sid.isEmpty())
            return;
        const auto s = m_phone.engine().session(m_sid);
        if (s && s->role != SessionInfo::Role::Caller && !s->answered)
            decline();
        else
            hangUp();
    });

    ClientEngine &e = m_phone.engine();
    connect(&m_phone, &phone::Phone::currentCallChanged, this, &CallPanel::show);
    connect(&e, &ClientEngine::memberJoined, this, &CallPanel::rebuildMembers);
    connect(&e, &ClientEngine::memberLeft, this, &CallPanel::rebuildMembers);
    connect(&e, &ClientEngine::membersChanged, this, &CallPanel::rebuildMembers);
    connect(&e, &ClientEngine::callAnswered, this, &CallPanel::rebuildMembers);
    connect(&e, &ClientEngine::incomingCall, this, &CallPanel::refresh);
    connect(&e, &ClientEngine::callEnded, this, &CallPanel::refresh);
    connect(&e, &ClientEngine::sessionKeyChanged, this, &CallPanel::refresh);
    connect(&e, &ClientEngine::stateChanged, this, &CallPanel::refresh);
    connect(&m_phone.media(), &phone::CallMedia::mediaStarted, this, &CallPanel::onMediaStarted);
    connect(&m_phone.media(), &phone::CallMedia::failed, this, [this](const QByteArray &sid, const QString &why) {
        if (sid == m_sid) {
            m_mediaError = tr("Audio: %1").arg(why);
            refresh();
        }
    });
    auto *clock = new QTimer(this);
    connect(clock, &QTimer::timeout, this, &CallPanel::refresh);
    clock->start(1000);
    show(m_phone.currentCall());
}

void CallPanel::show(const QByteArray &sid)
{
    m_sid = sid;
    m_mediaError.clear();
    m_since.restart();
    rebuildMembers();
    if (m_phone.media().media(sid))
        onMediaStarted(sid);
}

QByteArray CallPanel::ringingElsewhere() const
{
    for (const SessionInfo &s : m_phone.engine().sessions()) {
        if (s.sid != m_sid && s.role != SessionInfo::Role::Caller && !s.answered)
            return s.sid;
    }
    return {};
}

void CallPanel::refresh()
{
    const auto s = m_sid.isEmpty() ? std::nullopt : m_phone.engine().session(m_sid);
    const bool online = m_phone.engine().state() == ClientEngine::State::Online;
    const bool ringsForUs = s && s->role != SessionInfo::Role::Caller && !s->answered;
    const bool inCall = s && !ringsForUs;
    m_answer->setVisible(ringsForUs);
    m_decline->setVisible(ringsForUs);
    m_hangup->setVisible(inCall);
    m_mute->setVisible(inCall);
    m_add->setVisible(inCall);
    m_add->setEnabled(inCall && s->answered && s->keyed && online);
    m_members->setVisible(bool(s));
    m_stats->setVisible(inCall && s->answered);
    m_notice->setText(m_mediaError.isEmpty() ? m_phone.audio().notice : m_mediaError);
    m_notice->setVisible(!m_notice->text().isEmpty() && bool(s));

    const QByteArray other = ringingElsewhere();
    m_banner->setVisible(inCall && !other.isEmpty());
    if (!other.isEmpty()) {
        if (const auto o = m_phone.engine().session(other))
            m_bannerText->setText(tr("<b>%1</b> is calling you").arg(o->peer.toHtmlEscaped()));
    }

    if (!s) {
        m_title->setText(online ? tr("No call") : tr("Offline"));
        m_state->setText(online ? tr("Select a contact and press Enter to call.")
                                : tr("Waiting for the broker…"));
        return;
    }
    QStringList others;
    for (const MemberInfo &m : s->members)
        others.append(m.account);
    if (others.isEmpty())
        others.append(s->peer);
    const QString who = others.join(QStringLiteral(", "));
    // The call's time counts from the answer, not from when it began to ring.
    const qint64 elapsed = s->answeredAt.isValid() ? std::max<qint64>(0, s->answeredAt.msecsTo(QDateTime::currentDateTimeUtc())) : 0;
    const QString secs = QStringLiteral("%1:%2").arg(elapsed / 60000).arg(elapsed / 1000 % 60, 2, 10, QLatin1Char('0'));
    const QString ringing = s->ringing.isEmpty() ? QString() : tr(" · ringing %1…").arg(s->ringing.join(QStringLiteral(", ")));
    if (ringsForUs) {
        m_title->setText(s->role == SessionInfo::Role::Invitee ? tr("%1 invites you into a call").arg(s->peer)
                                                               : tr("%1 is calling").arg(s->peer));
        m_state->setText(s->role == SessionInfo::Role::Invitee
                             ? tr("Your key for this call comes when you answer.")
                             : tr("Session key ready (generation %1 · fp %2). Enter answers, Esc declines.")
                                   .arg(s->gen)
                                   .arg(s->keyFingerprint));
    } else if (!s->answered) {
        m_title->setText(tr("Calling %1…").arg(s->peer));
        m_state->setText(tr("Ringing · session key held (generation %1 · fp %2)").arg(s->gen).arg(s->keyFingerprint));
    } else {
        m_title->setText(tr("In a call with %1").arg(who));
        m_state->setText(tr("%1 · generation %2 · fp %3%4%5")
                             .arg(secs)
                             .arg(s->gen)
                             .arg(s->keyFingerprint, m_phone.isMuted() ? tr(" · you are muted") : QString(), ringing));
    }
}

void CallPanel::rebuildMembers()
{
    while (QLayoutItem *item = m_grid->takeAt(0)) {
        delete item->widget();
        delete item;
    }
    m_rows.clear();
    const auto s = m_sid.isEmpty() ? std::nullopt : m_phone.engine().session(m_sid);
    if (s) {
        QStringList names{QString()};
        for (const MemberInfo &m : s->members)
            names.append(m.account);
        if (s->members.empty())
            names.append(s->peer);
        for (const QString &account : s->ringing)
            names.append(account);
        int row = 0;
        for (const QString &account : names) {
            Row r;
            const bool ringing = s->ringing.contains(account);
            r.name = new QLabel(account.isEmpty() ? tr("You (%1)").arg(m_phone.engine().account())
                                : ringing           ? tr("%1 — ringing…").arg(account)
                                                    : account,
                                m_members);
            r.name->setObjectName(QStringLiteral("member-%1").arg(account.isEmpty() ? QStringLiteral("self") : account));
            r.muted = new QLabel(m_members);
            r.muted->setObjectName(QStringLiteral("muted-%1").arg(account.isEmpty() ? QStringLiteral("self") : account));
            r.muted->setPixmap(icon(u"mute").pixmap(QSize(16, 16)));
            r.muted->setToolTip(account.isEmpty() ? tr("You are muted") : tr("%1 is muted").arg(account));
            r.muted->setVisible(account.isEmpty() ? m_phone.isMuted() : s->muted.contains(account));
            r.talking = new QLabel(m_members);
            r.talking->setPixmap(icon(u"talking").pixmap(QSize(16, 16)));
            r.talking->setToolTip(tr("Talking"));
            r.talking->setVisible(false);
            r.meter = new QProgressBar(m_members);
            r.meter->setRange(0, 100);
            r.meter->setTextVisible(false);
            r.meter->setMaximumHeight(10);
            r.meter->setToolTip(tr("Level of %1").arg(account.isEmpty() ? tr("your microphone") : account));
            r.meter->setObjectName(QStringLiteral("meter-%1").arg(account.isEmpty() ? QStringLiteral("self") : account));
            r.meter->setVisible(!ringing);
            m_grid->addWidget(r.name, row, 0);
            m_grid->addWidget(r.muted, row, 1);
            m_grid->addWidget(r.talking, row, 2);
            m_grid->addWidget(r.meter, row, 3);
            m_rows.emplace(account, r);
            ++row;
        }
    }
    refresh();
}

void CallPanel::onMediaStarted(const QByteArray &sid)
{

    if (sid != m_sid)
        return;
    audio::MediaSession *media = m_phone.media().media(sid);
    if (!media || media == m_watched)
        return;
    m_watched = media; // (a lambda cannot be connected with Qt::UniqueConnection)
    connect(media, &audio::MediaSession::levels, this,
            [this, sid](float input, const std::vector<std::pair<quint32, float>> &members) {
                if (sid != m_sid)
                    return;
                setLevel(QString(), m_phone.isMuted() ? 0.f : input, false);
                const auto s = m_phone.engine().session(sid);
                if (!s)
                    return;
                for (const auto &[ssrc, level] : members) {
                    for (const MemberInfo &m : s->members) {
                        if (m.ssrc == ssrc)
                            setLevel(m.account, level, level > kTalkingLevel);
                    }
                }
            });
    m_previous.clear();
    connect(media, &audio::MediaSession::statsUpdated, this, [this, sid](const audio::MediaStats &st) {
        if (sid == m_sid)
            showStats(st);
    });
    connect(media, &audio::MediaSession::talkingChanged, this,
            [this, sid](bool talking) {
                if (sid != m_sid)
                    return;
                auto it = m_rows.find(QString());
                if (it != m_rows.end())
                    it->second.talking->setVisible(talking && !m_phone.isMuted());
            });
}

void CallPanel::showStats(const audio::MediaStats &st)
{
    const auto s = m_phone.engine().session(m_sid);
    if (!s)
        return;
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    m_stats->clear();
    for (const audio::MemberStats &m : st.members) {
        QString who = QStringLiteral("ssrc %1").arg(m.ssrc, 8, 16, QLatin1Char('0'));
        for (const MemberInfo &mi : s->members) {
            if (mi.ssrc == m.ssrc)
                who = mi.account;
        }
        Previous &before = m_previous[m.ssrc];
        const qint64 dt = before.atMs > 0 ? now - before.atMs : 0;
        const double kbps = dt > 0 ? double(m.bytes - std::min(m.bytes, before.bytes)) * 8.0 / double(dt) : 0.0;
        before = {m.bytes, now};
        const quint64 expected = m.packets + m.lost;
        auto *row = new QTreeWidgetItem(m_stats);
        row->setText(0, who);
        row->setText(1, QString::number(m.packets));
        row->setText(2, expected ? QStringLiteral("%1 %").arg(100.0 * double(m.lost) / double(expected), 0, 'f', 1) : QStringLiteral("—"));
        row->setText(3, QStringLiteral("%1 ms").arg(m.jitterMs, 0, 'f', 1));
        row->setText(4, st.relayRttMs >= 0 ? QStringLiteral("%1 ms").arg(st.relayRttMs) : QStringLiteral("—"));
        row->setText(5, dt > 0 ? QStringLiteral("%1 kbit/s").arg(kbps, 0, 'f', 1) : QStringLiteral("—"));
        row->setText(6, QString::number(m.recovered));
        row->setText(7, QString::number(s->gen));
    }
}

void CallPanel::setLevel(const QString &account, float level, bool talking)
{
    auto it = m_rows.find(account);
    if (it == m_rows.end())
        return;
    Row &r = it->second;
    // Speech dips to silence between syllables: the meter falls back slowly (a 20 ms frame at
    // a time), and "talking" holds for a moment, so that neither flickers.
    const int now = meterValue(level);
    r.meter->setValue(std::max(now, r.meter->value() - kMeterFallPerFrame));
    if (!account.isEmpty()) {
        if (talking)
            r.lastTalk.restart();
        r.talking->setVisible(r.lastTalk.isValid() && r.lastTalk.elapsed() < kTalkingHoldMs);
    }
}

void CallPanel::fillInviteMenu()
{
    QMenu *menu = m_add->menu();
    menu->clear();
    const auto s = m_phone.engine().session(m_sid);
    if (!s)
        return;
    QStringList inCall{m_phone.engine().account(), s->peer};
    for (const MemberInfo &m : s->members)
        inCall.append(m.account);
    for (const ContactInfo &c : m_phone.engine().contacts()) {
        if (inCall.contains(c.account) || !c.online)
            continue;
        const QString account = c.account;
        QAction *a = menu->addAction(icon(u"online"), account);
        a->setObjectName(QStringLiteral("invite-%1").arg(account));
        connect(a, &QAction::triggered, this, [this, account] { m_phone.engine().invite(m_sid, account); });
    }
    if (menu->isEmpty())
        menu->addAction(tr("No one else is online"))->setEnabled(false);
}

void CallPanel::answer()
{
    if (!m_sid.isEmpty())
        m_phone.engine().answer(m_sid);
}

void CallPanel::decline()
{
    if (!m_sid.isEmpty())
        m_phone.engine().decline(m_sid);
}

void CallPanel::hangUp()
{
    if (!m_sid.isEmpty())
        m_phone.engine().leave(m_sid);
}

} // namespace sotto::app
