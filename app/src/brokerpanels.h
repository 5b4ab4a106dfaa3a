#pragma once

// The panels of the broker console (BrokerWindow). Each one reads the broker it is given and
// refreshes itself from the broker's signals; none of them changes broker state except
// InvitePanel, which creates invites. GUI thread only, like the broker itself.

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

// Accounts: name, epoch, key fingerprint, online, rotation pending. Refreshed on
// Broker::accountsChanged().
class AccountsPanel : public TablePanel
{
    Q_OBJECT
public:
    explicit AccountsPanel(broker::Broker &broker, QWidget *parent = nullptr);

private:
    void refresh();

    broker::Broker &m_broker;
    QIcon m_onlineIcon;
    QIcon m_offlineIcon;
};

// Live sessions: short id, caller, callee, generation, members, ringing. Refreshed on
// Broker::sessionsChanged().
class SessionsPanel : public TablePanel
{
    Q_OBJECT
public:
    explicit SessionsPanel(broker::Broker &broker, QWidget *parent = nullptr);

private:
    void refresh();

    broker::Broker &m_broker;
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
