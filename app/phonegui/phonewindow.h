#pragma once

// The phone's main window, "Sotto — ACCOUNT": on first run the join page; then contacts, the
// call in view, the key timeline and the call history, with the broker connection, our key's
// epoch and fingerprint and the next refresh in the status bar. It composes the panels and
// routes their requests to the Phone; it holds no state of its own about calls or keys.

#include "phonesettings.h"

#include <QMainWindow>

#include <functional>

class QAction;
class QCloseEvent;
class QLabel;
class QPushButton;
class QShortcut;
class QSettings;
class QStackedWidget;
class QSystemTrayIcon;
class QTabWidget;

namespace sotto::phone {
class Phone;
}

namespace sotto::app {

class CallPanel;
class ContactsPanel;
class HistoryPanel;
class JoinPage;
class TimelinePanel;

class PhoneWindow : public QMainWindow
{
    Q_OBJECT
public:
    // `store` (may be null) is where changed settings are saved.
    PhoneWindow(phone::Phone &phone, PhoneSettings settings, QSettings *store = nullptr, QWidget *parent = nullptr);
    ~PhoneWindow() override;

    phone::Phone &phone() { return m_phone; }
    JoinPage *joinPage() const { return m_join; }
    ContactsPanel *contacts() const { return m_contacts; }
    CallPanel *callPanel() const { return m_call; }
    TimelinePanel *timeline() const { return m_timeline; }
    HistoryPanel *history() const { return m_history; }
    QTabWidget *tabs() const { return m_tabs; }

    void openSettings();
    void applySettings(const PhoneSettings &settings);
    // Adds "Broker &console" to the Phone menu (sotto demo: the console can be reopened).
    void setConsoleOpener(std::function<void()> open);
    // Quits for real (the tray's Quit, the menu's Quit); closing the window only hides it to
    // the tray when there is one.
    void quit();

protected:
    void closeEvent(QCloseEvent *event) override;

private:
    void showJoin();
    // The broker refused this device's key for good: the join page again, for a new invite.
    void rejoin();
    void showMain();
    void buildMain();
    void buildMenus();
    void updateTitle();
    void updateStatus();
    void onCallRequested(const QString &account);
    void onIncoming(const QByteArray &sid, const QString &from, bool conference);
    void say(const QString &message);
    void updateRinging();
    void buildTray();

    phone::Phone &m_phone;
    PhoneSettings m_settings;
    QSettings *m_store;
    QStackedWidget *m_pages;
    JoinPage *m_join = nullptr;
    ContactsPanel *m_contacts = nullptr;
    CallPanel *m_call = nullptr;
    TimelinePanel *m_timeline = nullptr;
    HistoryPanel *m_history = nullptr;
    QTabWidget *m_tabs = nullptr;
    QLabel *m_connection;
    QLabel *m_key;
    QLabel *m_refresh;
    QLabel *m_keyLog;
    QPushButton *m_reconnect;
    QPushButton *m_rejoin;
    QAction *m_rejoinAction = nullptr;
    QWidget *m_mainPage = nullptr;
    QShortcut *m_answerKey; // Enter answers a ringing call wherever the focus is
    QShortcut *m_answerKeypad;
    QAction *m_console = nullptr;
    QAction *m_muteAction = nullptr;
    std::function<void()> m_openConsole;
    QSystemTrayIcon *m_tray = nullptr;
    bool m_quitting = false;
    bool m_toldAboutTray = false;
};

} // namespace sotto::app
