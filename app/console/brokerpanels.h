#pragma once

// The panels of the broker console (BrokerWindow). Each one reads the broker it is given and
// refreshes itself from the broker's signals; none of them changes broker state except
// InvitePanel, which creates invites, and AccountsPanel's revoke and invite-again (each confirmed). GUI thread only, like the broker itself.

#include <QIcon>
#include <QLabel>
#include <QTimer>
#include <QWidget>

#include <functional>

class QComboBox;
class QLineEdit;
class QPlainTextEdit;
class QPushButton;
class QTableWidget;

namespace sotto::broker {
class Broker;
}

namespace sotto::app {

// A table of broker state, rebuilt from the broker whenever it reports a change. The key each
// row keeps in column 0 lets the selection survive the rebuild.
class TablePanel : public QWidget
{
    Q_OBJECT
public:
    int count() const;

Q_SIGNALS:
    void countChanged(int count);

protected:
    TablePanel(const QString &objectName, const QStringList &headers, int stretchColumn, const QString &toolTip,
               QWidget *parent);
    // Sets `rows` rows, has fill(row) put each row's items (column 0 via keyCell), keeps the
    // selection and reports the count.
    void rebuild(int rows, const std::function<void(int row)> &fill);
    // Column 0 of a row: shows `text`, selected again after a rebuild by `key`.
    void setKeyCell(int row, const QString &text, const QString &key, const QString &toolTip = {});
    // The key of the selected row, or empty.
    QString selectedKey() const;

    QTableWidget *const m_table;
};

// Accounts: name, epoch, key fingerprint, online, last login, rotation pending, revoked.
// Refreshed on Broker::accountsChanged(). The operator's tools on the selected account, as
// buttons and a context menu, each after a confirmation: "Revoke…" (Broker::revoke) and "Invite
// again…" (a replacing invite for a new or reinstalled device).
class AccountsPanel : public TablePanel
{
    Q_OBJECT
public:
    explicit AccountsPanel(broker::Broker &broker, QWidget *parent = nullptr);
    void revokeSelected();
    void inviteAgainSelected();

Q_SIGNALS:
    void inviteCreated(const QString &account, const QString &link);

private:
    void refresh();
    void updateButtons();

    broker::Broker &m_broker;
    QPushButton *m_revoke;
    QPushButton *m_inviteAgain;
    QIcon m_onlineIcon;
    QIcon m_offlineIcon;
};

// Live sessions: short id, caller, callee, generation, members, ringing, duration. Refreshed on
// Broker::sessionsChanged().
class SessionsPanel : public TablePanel
{
    Q_OBJECT
public:
    explicit SessionsPanel(broker::Broker &broker, QWidget *parent = nullptr);

private:
    void refresh();

    broker::Broker &m_broker;
    QTimer m_clock; // the durations
};

// Peered brokers (§8): name, address, link state, who dials, the inter-broker key's epoch and
// fingerprint, and the last error. Refreshed on Broker::peersChanged().
//
// "Forget key…" drops K_AB with the selected peer (Broker::forgetPeer), for a peer that lost its
// store: after the first run the peering secret alone no longer pairs two brokers.
class PeersPanel : public TablePanel
{
    Q_OBJECT
public:
    explicit PeersPanel(broker::Broker &broker, QWidget *parent = nullptr);

private:
    void refresh();
    void updateForget();
    void forgetSelected();

    broker::Broker &m_broker;
    QPushButton *m_forget;
};

// Creates single-use invite links and puts them on the clipboard.
class InvitePanel : public QWidget
{
    Q_OBJECT
public:
    explicit InvitePanel(broker::Broker &broker, QWidget *parent = nullptr);
    // Shows a link made elsewhere (the Accounts tab's "Invite again…").
    void showLink(const QString &account, const QString &link);

private:
    void create();
    void copy();
    void showError(const QString &message);

    broker::Broker &m_broker;
    QLineEdit *m_account;
    QComboBox *m_expiry;
    QPushButton *m_create;
    QLineEdit *m_link;
    QPushButton *m_copy;
    QLabel *m_error;
    QLabel *m_info;
};

// The broker's event log, one timestamped line per Broker::logEvent().
class LogPanel : public QWidget
{
    Q_OBJECT
public:
    explicit LogPanel(broker::Broker &broker, QWidget *parent = nullptr);
    void append(const QString &line);

private:
    QPlainTextEdit *m_log;
};

// The relay's counters on one line. The relay counts on its own thread and has no change
// signal, so this polls once a second.
class RelayCountersLabel : public QLabel
{
    Q_OBJECT
public:
    explicit RelayCountersLabel(broker::Broker &broker, QWidget *parent = nullptr);

private:
    void refresh();

    broker::Broker &m_broker;
    QTimer m_timer;
};

} // namespace sotto::app
