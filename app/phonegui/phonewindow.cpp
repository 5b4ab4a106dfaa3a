#include "phonewindow.h"

#include "callpanel.h"
#include "contactspanel.h"
#include "historypanel.h"
#include "joinpage.h"
#include "phone/phone.h"
#include "settingsdialog.h"
#include "timelinepanel.h"

#include "core/invite.h"
#include "core/skbp.h"
#include "resources/icons.h"

#include <QApplication>
#include <QCloseEvent>
#include <QLabel>
#include <QPushButton>
#include <QShortcut>
#include <QMenu>
#include <QMenuBar>
#include <QMessageBox>
#include <QSettings>
#include <QSplitter>
#include <QStackedWidget>
#include <QStatusBar>
#include <QSystemTrayIcon>
#include <QTabWidget>
#include <QTimer>

namespace sotto::app {

PhoneWindow::PhoneWindow(phone::Phone &phone, PhoneSettings settings, QSettings *store, QWidget *parent)
    : QMainWindow(parent), m_phone(phone), m_settings(std::move(settings)), m_store(store),
      m_pages(new QStackedWidget(this)), m_connection(new QLabel(this)), m_key(new QLabel(this)),
      m_refresh(new QLabel(this)), m_keyLog(new QLabel(this)), m_reconnect(new QPushButton(tr("Reconnect &now"), this)),
      m_rejoin(new QPushButton(tr("&Join with a new invite…"), this)),
      m_answerKey(new QShortcut(QKeySequence(Qt::Key_Return), this)),
      m_answerKeypad(new QShortcut(QKeySequence(Qt::Key_Enter), this))
{
    setWindowIcon(icon(u"sotto"));
    setCentralWidget(m_pages);
    m_connection->setObjectName(QStringLiteral("connectionStatus"));
    m_key->setObjectName(QStringLiteral("keyStatus"));
    m_refresh->setObjectName(QStringLiteral("refreshStatus"));
    m_keyLog->setObjectName(QStringLiteral("keyLogWarning"));
    m_keyLog->setStyleSheet(QStringLiteral("color: #b3261e; font-weight: bold"));
    m_key->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_key->setToolTip(tr("Your current key with the broker: its epoch and fingerprint (never the key)"));
    m_refresh->setToolTip(tr("The next Diffie-Hellman refresh, which breaks the chain of keys"));
    // Permanent, so that passing messages on the left never hide them.
    // A long reason ("cannot reach … (connection refused) · retrying in 4 s") must not widen the window.
    m_connection->setMaximumWidth(460);
    m_reconnect->setObjectName(QStringLiteral("reconnectNow"));
    m_reconnect->setFlat(true);
    m_reconnect->setVisible(false);
    connect(m_reconnect, &QPushButton::clicked, this, [this] { m_phone.engine().reconnectNow(); });
    // A device the broker refused for good (revoked or replaced) is not offline for a while:
    // only a new invite brings it back, so the window offers one instead of retrying.
    m_rejoin->setObjectName(QStringLiteral("rejoin"));
    m_rejoin->setVisible(false);
    m_rejoin->setToolTip(tr("The broker no longer accepts this device's key: paste a new invite link to join again"));
    connect(m_rejoin, &QPushButton::clicked, this, &PhoneWindow::rejoin);
    statusBar()->addPermanentWidget(m_connection);
    statusBar()->addPermanentWidget(m_reconnect);
    statusBar()->addPermanentWidget(m_rejoin);
    statusBar()->addPermanentWidget(m_key);
    statusBar()->addPermanentWidget(m_keyLog);
    statusBar()->addPermanentWidget(m_refresh);
    buildMenus();

    ClientEngine &e = m_phone.engine();
    connect(&e, &ClientEngine::stateChanged, this, &PhoneWindow::updateStatus);
    connect(&e, &ClientEngine::retryScheduled, this, &PhoneWindow::updateStatus);
    connect(&e, &ClientEngine::stateChanged, this, [this](ClientEngine::State st) {
        if (st == ClientEngine::State::Online)
            statusBar()->clearMessage(); // "Joining …", "Reconnecting…" are over
    });
    // Enter answers a ringing call wherever the focus is; otherwise it is the focused widget's.
    for (QShortcut *key : {m_answerKey, m_answerKeypad}) {
        key->setContext(Qt::WindowShortcut);
        key->setEnabled(false);
        connect(key, &QShortcut::activated, this, [this] {
            const QByteArray sid = m_phone.currentCall();
            const auto s = sid.isEmpty() ? std::nullopt : m_phone.engine().session(sid);
            if (s && s->role != SessionInfo::Role::Caller && !s->answered)
                m_phone.engine().answer(sid);
        });
    }
    connect(&m_phone, &phone::Phone::currentCallChanged, this, &PhoneWindow::updateRinging);
    connect(&e, &ClientEngine::callAnswered, this, &PhoneWindow::updateRinging);
    connect(&e, &ClientEngine::callEnded, this, &PhoneWindow::updateRinging);
    connect(&e, &ClientEngine::enrolled, this, &PhoneWindow::updateStatus);
    connect(&e, &ClientEngine::refreshed, this, &PhoneWindow::updateStatus);
    connect(&e, &ClientEngine::rotated, this, &PhoneWindow::updateStatus);
    connect(&e, &ClientEngine::loginFailed, this, [this](const Error &) {
        updateStatus();
        say(tr("The broker no longer accepts this device's key: it was removed or replaced. "
               "A new invite brings it back (Phone ▸ Join with a new invite…)."));
    });
    connect(&e, &ClientEngine::refreshFailed, this,
            [this](const Error &err) { say(tr("Refresh failed (the old key stays good): %1").arg(err.message)); });
    connect(&e, &ClientEngine::callFailed, this, [this](quint32, const QString &to, const Error &err) {
        say(tr("The call to %1 failed: %2").arg(to, err.message));
    });
    connect(&e, &ClientEngine::requestFailed, this,
            [this](const QString &what, const Error &err) { say(tr("%1: %2").arg(what, err.message)); });
    connect(&e, &ClientEngine::callEnded, this, [this](const QByteArray &, EndReason reason) {
        if (reason != EndReason::Hangup) // the usual end needs no word
            say(tr("Call ended: %1").arg(endReasonName(reason)));
    });
    connect(&e, &ClientEngine::incomingCall, this, &PhoneWindow::onIncoming);
    connect(&e, &ClientEngine::callAnswered, statusBar(), &QStatusBar::clearMessage); // "Calling…" is over
    connect(&m_phone.history(), &CallHistory::saveFailed, this, [this](const Error &err) { say(err.message); });
    auto *clock = new QTimer(this);
    connect(clock, &QTimer::timeout, this, &PhoneWindow::updateStatus);
    clock->start(1000); // the retry countdown, the next refresh

    buildTray();

    if (m_phone.needsEnrolment())
        showJoin();
    else
        showMain();
    resize(QSize(960, 640).boundedTo(QSize(1600, 1200)));
}

PhoneWindow::~PhoneWindow() = default;

void PhoneWindow::buildMenus()
{
    QMenu *phoneMenu = menuBar()->addMenu(tr("&Phone"));
    QAction *settings = phoneMenu->addAction(icon(u"settings"), tr("&Settings…"),
                                             this, &PhoneWindow::openSettings);
    // QKeySequence::Preferences is empty on plain X11: Ctrl+, there and everywhere.
    settings->setShortcuts({QKeySequence(Qt::CTRL | Qt::Key_Comma)});
    settings->setObjectName(QStringLiteral("actionSettings"));
    QAction *refresh = phoneMenu->addAction(icon(u"refresh"), tr("&Refresh key now"),
                                            this, [this] {
                                                say(tr("Refreshing the key (Diffie-Hellman) as soon as no call is running…"));
                                                m_phone.engine().refresh();
                                            });
    refresh->setToolTip(tr("A fresh Diffie-Hellman exchange with the broker: breaks the chain of keys"));
    m_console = phoneMenu->addAction(icon(u"sotto"), tr("Broker &console"), this, [this] {
        if (m_openConsole)
            m_openConsole();
    });
    m_console->setObjectName(QStringLiteral("actionConsole"));
    m_console->setVisible(false);
    m_rejoinAction = phoneMenu->addAction(tr("&Join with a new invite…"), this, &PhoneWindow::rejoin);
    m_rejoinAction->setObjectName(QStringLiteral("actionRejoin"));
    m_rejoinAction->setToolTip(tr("Only when the broker no longer accepts this device's key (removed or replaced)"));
    m_rejoinAction->setEnabled(false);
    phoneMenu->addSeparator();
    QAction *quit = phoneMenu->addAction(tr("&Quit"), this, &PhoneWindow::quit);
    quit->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_Q));
    quit->setObjectName(QStringLiteral("actionQuit"));
    QMenu *help = menuBar()->addMenu(tr("&Help"));
    QAction *about = help->addAction(tr("&About Sotto"), this, [this] {
        QMessageBox box(QMessageBox::NoIcon, tr("About Sotto"), QString(), QMessageBox::Ok, this);
        box.setObjectName(QStringLiteral("aboutBox"));
        box.setIconPixmap(windowIcon().pixmap(64, 64));
        box.setTextFormat(Qt::RichText);
        box.setText(tr("<h3>Sotto %1</h3><p>Secure calls and conferences on a key broker (SKBP/1).</p>"
                       "<p>The key timeline shows how each key was made, delivered, ratcheted and rotated "
                       "— fingerprints only, never keys.</p>"
                       "<p>Build: %2 · Qt %3 (running on Qt %4)</p>"
                       "<p>Licence: GNU General Public License, version 3 or later</p>"
                       "<p><a href=\"%5\">%5</a></p>")
                        .arg(QStringLiteral(SOTTO_VERSION), QStringLiteral(SOTTO_BUILD), QStringLiteral(QT_VERSION_STR),
                             QString::fromLatin1(qVersion()), QStringLiteral(SOTTO_HOMEPAGE)));
        box.exec();
    });
    about->setObjectName(QStringLiteral("actionAbout"));
    help->addAction(tr("About &Qt"), qApp, &QApplication::aboutQt)->setObjectName(QStringLiteral("actionAboutQt"));
}

void PhoneWindow::buildTray()
{
    // The tray's menu exists with or without a tray (its actions are the window's too).
    auto *menu = new QMenu(this);
    menu->setObjectName(QStringLiteral("trayMenu"));
    menu->addAction(tr("&Show Sotto"), this, [this] {
        showNormal();
        raise();
        activateWindow();
    })->setObjectName(QStringLiteral("trayShow"));
    m_muteAction = menu->addAction(tr("&Mute"));
    m_muteAction->setObjectName(QStringLiteral("trayMute"));
    m_muteAction->setCheckable(true);
    connect(m_muteAction, &QAction::toggled, &m_phone, &phone::Phone::setMuted);
    connect(&m_phone, &phone::Phone::mutedChanged, m_muteAction, [this](bool muted) {
        const QSignalBlocker block(m_muteAction);
        m_muteAction->setChecked(muted);
    });
    connect(&m_phone, &phone::Phone::currentCallChanged, m_muteAction,
            [this](const QByteArray &sid) { m_muteAction->setEnabled(!sid.isEmpty()); });
    m_muteAction->setEnabled(false);
    menu->addSeparator();
    menu->addAction(tr("&Quit"), this, &PhoneWindow::quit)->setObjectName(QStringLiteral("trayQuit"));
    if (!QSystemTrayIcon::isSystemTrayAvailable())
        return;
    m_tray = new QSystemTrayIcon(windowIcon(), this);
    m_tray->setContextMenu(menu);
    connect(m_tray, &QSystemTrayIcon::activated, this, [this](QSystemTrayIcon::ActivationReason why) {
        if (why == QSystemTrayIcon::Context)
            return;
        showNormal();
        raise();
        activateWindow();
    });
    m_tray->show();
}

void PhoneWindow::setConsoleOpener(std::function<void()> open)
{
    m_openConsole = std::move(open);
    m_console->setVisible(bool(m_openConsole));
}

void PhoneWindow::quit()
{
    m_quitting = true;
    close();
}

void PhoneWindow::closeEvent(QCloseEvent *event)
{
    // With a tray, closing hides: calls still ring. Quitting is explicit (menu, tray, Ctrl+Q).
    if (!m_quitting && m_tray && m_tray->isVisible()) {
        hide();
        if (!std::exchange(m_toldAboutTray, true))
            m_tray->showMessage(tr("Sotto is still running"),
                                tr("Calls still ring here. Quit from this icon's menu or with Ctrl+Q."), windowIcon(), 8000);
        event->ignore();
        return;
    }
    if (m_tray)
        m_tray->hide();
    event->accept();
    if (m_quitting)
        QCoreApplication::quit();
}

void PhoneWindow::updateRinging()
{
    const QByteArray sid = m_phone.currentCall();
    const auto s = sid.isEmpty() ? std::nullopt : m_phone.engine().session(sid);
    const bool ringing = s && s->role != SessionInfo::Role::Caller && !s->answered;
    m_answerKey->setEnabled(ringing);
    m_answerKeypad->setEnabled(ringing);
}

void PhoneWindow::rejoin()
{
    if (!m_phone.engine().refused() || m_join)
        return;
    showJoin();
    m_join->showNote(tr("The broker no longer accepts this device's key (it was removed or replaced). "
                           "Paste the new invite link the broker's operator gave you."));
}

void PhoneWindow::showJoin()
{
    m_join = new JoinPage(m_pages);
    m_pages->addWidget(m_join);
    m_pages->setCurrentWidget(m_join);
    connect(m_join, &JoinPage::joinRequested, this, [this](const InviteLink &link) {
        say(tr("Joining %1:%2…").arg(link.host).arg(link.port));
        m_phone.join(link);
    });
    ClientEngine &e = m_phone.engine();
    connect(&e, &ClientEngine::enrolFailed, m_join, [this](const Error &err) { m_join->showFailure(err.message); });
    connect(&e, &ClientEngine::enrolled, m_join, [this] {
        JoinPage *page = std::exchange(m_join, nullptr);
        page->deleteLater(); // and the link (with its secret) in its line edit with it
        showMain();
    });
    m_join->setFocus();
    updateTitle();
    updateStatus();
}

void PhoneWindow::showMain()
{
    if (m_mainPage)
        m_pages->setCurrentWidget(m_mainPage); // back from joining again
    else
        buildMain();
    updateTitle();
    updateStatus();
    if (m_phone.engine().state() == ClientEngine::State::Offline)
        m_phone.start();
}

void PhoneWindow::buildMain()
{
    // Contacts beside the call on top; the key timeline and the history across the whole width
    // below, where its long lines fit.
    auto *page = new QSplitter(Qt::Vertical, m_pages);
    m_mainPage = page;
    auto *top = new QSplitter(Qt::Horizontal, page);
    m_contacts = new ContactsPanel(m_phone.engine(), top);
    m_call = new CallPanel(m_phone, top);
    top->setStretchFactor(0, 1);
    top->setStretchFactor(1, 3);
    m_tabs = new QTabWidget(page);
    m_tabs->setObjectName(QStringLiteral("tabs"));
    m_timeline = new TimelinePanel(m_phone.engine().timeline(), m_tabs);
    m_history = new HistoryPanel(m_phone.history(), m_tabs);
    m_tabs->addTab(m_timeline, icon(u"key"), tr("&Key timeline"));
    m_tabs->addTab(m_history, icon(u"history"), tr("Call &history"));
    page->setStretchFactor(0, 2);
    page->setStretchFactor(1, 3);
    m_pages->addWidget(page);
    m_pages->setCurrentWidget(page);
    connect(m_contacts, &ContactsPanel::callRequested, this, &PhoneWindow::onCallRequested);
    connect(m_history, &HistoryPanel::callRequested, this, &PhoneWindow::onCallRequested);
    connect(&m_phone, &phone::Phone::currentCallChanged, m_timeline, [this](const QByteArray &sid) {
        if (!sid.isEmpty())
            m_timeline->showSession(sid);
    });
    m_contacts->setFocus();
}

void PhoneWindow::onCallRequested(const QString &account)
{
    // Enter on a ringing phone answers it; otherwise it calls.
    const QByteArray sid = m_phone.currentCall();
    if (const auto s = sid.isEmpty() ? std::nullopt : m_phone.engine().session(sid)) {
        if (s->role != SessionInfo::Role::Caller && !s->answered) {
            m_phone.engine().answer(sid);
            return;
        }
        say(tr("Hang up first (Esc), or add %1 to this call").arg(account));
        return;
    }
    if (account.isEmpty())
        return;
    say(tr("Calling %1…").arg(account));
    m_phone.engine().call(account);
}

void PhoneWindow::onIncoming(const QByteArray &, const QString &from, bool conference)
{
    const QString text = conference ? tr("%1 invites you into a call").arg(from) : tr("%1 is calling").arg(from);
    if (isMinimized())
        showNormal();
    raise();
    activateWindow();
    QApplication::alert(this);
    if (m_tray)
        m_tray->showMessage(tr("Sotto — incoming call"), text, windowIcon(), 10000);
    say(text);
}

void PhoneWindow::openSettings()
{
    auto *dialog = new SettingsDialog(m_settings, m_phone.profile(), this);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    connect(dialog, &QDialog::accepted, this, [this, dialog] { applySettings(dialog->settings()); });
    dialog->open(); // window-modal, and the event loop keeps running
}

void PhoneWindow::applySettings(const PhoneSettings &settings)
{
    const bool audioChanged = settings.inputDevice != m_settings.inputDevice
        || settings.outputDevice != m_settings.outputDevice || settings.echoCancellation != m_settings.echoCancellation
        || settings.noiseSuppression != m_settings.noiseSuppression;
    m_settings = settings;
    if (audioChanged)
        m_phone.setAudio(phone::PhoneAudio::fromDevices(settings.inputDevice, settings.outputDevice,
                                                 settings.echoCancellation, settings.noiseSuppression));
    m_phone.engine().setRefreshInterval(qint64(settings.refreshHours) * 3600);
    if (m_store)
        m_settings.save(*m_store);
    updateStatus();
}

void PhoneWindow::updateTitle()
{
    const QString account = m_phone.engine().account();
    setWindowTitle(account.isEmpty() ? tr("Sotto — join a broker") : QStringLiteral("Sotto — %1").arg(account));
    if (m_tray)
        m_tray->setToolTip(windowTitle());
}

void PhoneWindow::updateStatus()
{
    const Profile &p = m_phone.profile();
    switch (m_phone.engine().state()) {
    case ClientEngine::State::Online:
        m_connection->setText(tr("● Online"));
        m_connection->setStyleSheet(QStringLiteral("color: #1b7f3b"));
        break;
    case ClientEngine::State::Connecting: {
        // Why, and when it tries again: "cannot reach 127.0.0.1:7420 (connection refused) · retrying in 4 s".
        const QString why = m_phone.engine().offlineReason();
        const QDateTime retry = m_phone.engine().nextRetry();
        if (why.isEmpty() || !retry.isValid()) {
            m_connection->setText(tr("◌ Connecting…"));
        } else {
            const qint64 secs = std::max<qint64>(1, (QDateTime::currentDateTimeUtc().msecsTo(retry) + 500) / 1000);
            m_connection->setText(tr("○ %1 · retrying in %2 s").arg(why).arg(secs));
        }
        m_connection->setStyleSheet(QString());
        break;
    }
    case ClientEngine::State::Offline:
        if (m_phone.engine().refused()) {
            m_connection->setText(tr("○ This device was removed or replaced"));
            m_connection->setStyleSheet(QStringLiteral("color: #b3261e"));
            break;
        }
        m_connection->setText(p.hasIdentity() ? tr("○ Offline") : tr("○ Not joined"));
        m_connection->setStyleSheet(QString());
        break;
    }
    const bool refused = m_phone.engine().refused() && m_phone.engine().state() == ClientEngine::State::Offline;
    m_rejoin->setVisible(refused && !m_join);
    m_rejoinAction->setEnabled(refused && !m_join);
    m_reconnect->setVisible(m_phone.engine().state() == ClientEngine::State::Connecting && m_phone.engine().nextRetry().isValid());
    const QString offline = refused ? m_phone.engine().offlineReason() : m_connection->text();
    m_connection->setToolTip((m_phone.engine().state() == ClientEngine::State::Online ? QString() : offline + QLatin1Char('\n'))
                             + tr("Broker %1 at %2:%3 · key %4")
                                 .arg(p.brokerName(), p.brokerHost())
                                 .arg(p.brokerPort())
                                 .arg(p.brokerFingerprint()));
    m_key->setText(p.isEnrolled() ? tr("epoch %1 · %2").arg(p.epoch()).arg(skbp::fingerprint(p.key())) : QString());
    const QDateTime next = m_phone.engine().nextRefresh();
    if (!next.isValid())
        m_refresh->setText(QString());
    else if (next <= QDateTime::currentDateTimeUtc())
        m_refresh->setText(tr("refresh: after this call"));
    else
        m_refresh->setText(tr("refresh %1").arg(QLocale().toString(next.toLocalTime(), QStringLiteral("d MMM HH:mm"))));
    const bool keyLog = m_phone.media().keyLogActive() && !m_settings.keyLogWarningSeen;
    const QString keyLogRefused = m_phone.media().keyLogError();
    m_keyLog->setVisible(keyLog || !keyLogRefused.isEmpty());
    if (!keyLogRefused.isEmpty())
        m_keyLog->setText(tr("⚠ %1").arg(keyLogRefused));
    else if (keyLog)
        m_keyLog->setText(tr("⚠ SOTTO_KEYLOGFILE is set: SRTP keys are written to %1")
                              .arg(qEnvironmentVariable("SOTTO_KEYLOGFILE")));
}

void PhoneWindow::say(const QString &message)
{
    statusBar()->showMessage(message, 8000);
}

} // namespace sotto::app
