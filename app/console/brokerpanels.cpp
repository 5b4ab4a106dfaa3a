#include "brokerpanels.h"

#include "broker/broker.h"
#include "core/skbp.h"

#include <QClipboard>
#include <QComboBox>
#include <QDateTime>
#include <QFontDatabase>
#include <QFormLayout>
#include <QGuiApplication>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLineEdit>
#include <QLocale>
#include <QMenu>
#include <QMessageBox>
#include <QPainter>
#include <QPixmap>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QTableWidget>
#include <QVBoxLayout>

#include <algorithm>

namespace sotto::app {

namespace {

// Rows are rebuilt on every change; the key in column 0 lets the selection survive that.
constexpr int kKeyRole = Qt::UserRole + 1;

const QString kNone = QStringLiteral("—");

QTableWidgetItem *cell(const QString &text, const QString &toolTip = {})
{
    auto *item = new QTableWidgetItem(text);
    if (!toolTip.isEmpty())
        item->setToolTip(toolTip);
    return item;
}

QTableWidgetItem *numberCell(quint32 n)
{
    auto *item = cell(QString::number(n));
    item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
    return item;
}

// Drawn rather than loaded so that the console needs no image plugin to show presence.
QIcon dot(const QColor &colour)
{
    QPixmap pixmap(12, 12);
    pixmap.fill(Qt::transparent);
    QPainter painter(&pixmap);
    painter.setRenderHint(QPainter::Antialiasing);
    painter.setPen(Qt::NoPen);
    painter.setBrush(colour);
    painter.drawEllipse(QRectF(2, 2, 8, 8));
    return QIcon(pixmap);
}

QLabel *plainLabel(QWidget *parent)
{
    // Plain text always: QLabel would otherwise guess rich text from what an admin typed.
    auto *label = new QLabel(parent);
    label->setTextFormat(Qt::PlainText);
    return label;
}

} // namespace

// ---- TablePanel ----------------------------------------------------------------------------

TablePanel::TablePanel(const QString &objectName, const QStringList &headers, int stretchColumn,
                       const QString &toolTip, QWidget *parent)
    : QWidget(parent), m_table(new QTableWidget(0, int(headers.size()), this))
{
    m_table->setObjectName(objectName);
    m_table->setToolTip(toolTip);
    m_table->setHorizontalHeaderLabels(headers);
    m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_table->setSelectionMode(QAbstractItemView::SingleSelection);
    m_table->setAlternatingRowColors(true);
    m_table->setWordWrap(false);
    m_table->verticalHeader()->setVisible(false);
    QHeaderView *header = m_table->horizontalHeader();
    header->setHighlightSections(false);
    header->setSectionResizeMode(QHeaderView::ResizeToContents);
    header->setSectionResizeMode(stretchColumn, QHeaderView::Stretch);
    auto *layout = new QVBoxLayout(this);
    layout->addWidget(m_table);
}

int TablePanel::count() const
{
    return m_table->rowCount();
}

void TablePanel::setKeyCell(int row, const QString &text, const QString &key, const QString &toolTip)
{
    auto *item = cell(text, toolTip);
    item->setData(kKeyRole, key);
    m_table->setItem(row, 0, item);
}

QString TablePanel::selectedKey() const
{
    if (const QList<QTableWidgetItem *> selected = m_table->selectedItems(); !selected.isEmpty()) {
        if (const QTableWidgetItem *first = m_table->item(selected.front()->row(), 0))
            return first->data(kKeyRole).toString();
    }
    return {};
}

void TablePanel::rebuild(int rows, const std::function<void(int row)> &fill)
{
    const QString keep = selectedKey();
    m_table->setRowCount(rows);
    for (int row = 0; row < rows; ++row)
        fill(row);
    m_table->clearSelection();
    for (int row = 0; !keep.isEmpty() && row < rows; ++row) {
        if (m_table->item(row, 0)->data(kKeyRole).toString() == keep) {
            m_table->selectRow(row);
            break;
        }
    }
    Q_EMIT countChanged(rows);
}

// ---- AccountsPanel -------------------------------------------------------------------------

namespace {
namespace AccountColumn {
constexpr int Name = 0, Epoch = 1, Key = 2, Status = 3, LastLogin = 4, Rotation = 5;
}
} // namespace

AccountsPanel::AccountsPanel(broker::Broker &broker, QWidget *parent)
    : TablePanel(QStringLiteral("accounts"),
                 {tr("Account"), tr("Epoch"), tr("Key fingerprint"), tr("Status"), tr("Last login"), tr("Rotation pending")},
                 AccountColumn::Name,
                 tr("Every account the broker holds a key for. The fingerprint is that of the "
                    "account's current key; the phone shows the same one."),
                 parent),
      m_broker(broker), m_revoke(new QPushButton(tr("&Revoke…"), this)),
      m_inviteAgain(new QPushButton(tr("Invite &again…"), this)), m_onlineIcon(dot(QColor(0x2e, 0x7d, 0x32))),
      m_offlineIcon(dot(QColor(0x9e, 0x9e, 0x9e)))
{
    m_revoke->setObjectName(QStringLiteral("revokeAccount"));
    m_revoke->setToolTip(tr("A stolen or lost device: its calls end, its keys are erased, and it is refused from now on"));
    m_inviteAgain->setObjectName(QStringLiteral("inviteAgain"));
    m_inviteAgain->setToolTip(tr("A one-time invite for a new or reinstalled device. The old key works until the "
                                 "new device has enrolled; then it is refused."));
    auto *row = new QHBoxLayout;
    row->addStretch(1);
    row->addWidget(m_inviteAgain);
    row->addWidget(m_revoke);
    static_cast<QVBoxLayout *>(layout())->addLayout(row);
    m_table->setContextMenuPolicy(Qt::CustomContextMenu);
    connect(m_table, &QWidget::customContextMenuRequested, this, [this](const QPoint &at) {
        if (QTableWidgetItem *item = m_table->itemAt(at))
            m_table->selectRow(item->row());
        if (selectedKey().isEmpty())
            return;
        QMenu menu(this);
        menu.setObjectName(QStringLiteral("accountMenu"));
        QAction *again = menu.addAction(m_inviteAgain->text(), this, &AccountsPanel::inviteAgainSelected);
        again->setEnabled(m_inviteAgain->isEnabled());
        QAction *revoke = menu.addAction(m_revoke->text(), this, &AccountsPanel::revokeSelected);
        revoke->setEnabled(m_revoke->isEnabled());
        menu.exec(m_table->viewport()->mapToGlobal(at));
    });
    connect(m_table, &QTableWidget::itemSelectionChanged, this, &AccountsPanel::updateButtons);
    connect(m_revoke, &QPushButton::clicked, this, &AccountsPanel::revokeSelected);
    connect(m_inviteAgain, &QPushButton::clicked, this, &AccountsPanel::inviteAgainSelected);
    connect(&broker, &broker::Broker::accountsChanged, this, &AccountsPanel::refresh);
    refresh();
}

void AccountsPanel::updateButtons()
{
    const QString name = selectedKey();
    bool revoked = false, enrolled = false;
    for (const broker::AccountView &a : m_broker.accounts()) {
        if (a.name == name) {
            revoked = a.revoked;
            enrolled = a.epoch > 0;
        }
    }
    m_revoke->setEnabled(!name.isEmpty() && !revoked);
    m_inviteAgain->setEnabled(!name.isEmpty() && (enrolled || revoked));
}

void AccountsPanel::revokeSelected()
{
    const QString name = selectedKey();
    if (name.isEmpty())
        return;
    const auto answer = QMessageBox::question(
        this, tr("Revoke %1?").arg(name),
        tr("%1's calls end now, its phone is disconnected and its keys are erased. Every later login "
           "with them is refused.\n\nTo let %1 join again, make a new invite (Invite again…).")
            .arg(name),
        QMessageBox::Yes | QMessageBox::Cancel, QMessageBox::Cancel);
    if (answer != QMessageBox::Yes)
        return;
    if (auto r = m_broker.revoke(name); !r)
        QMessageBox::warning(this, tr("Revoke"), r.error().message);
}

void AccountsPanel::inviteAgainSelected()
{
    const QString name = selectedKey();
    if (name.isEmpty())
        return;
    const auto answer = QMessageBox::question(
        this, tr("Invite %1 again?").arg(name),
        tr("A one-time invite for a new or reinstalled device of %1. Its current key keeps working until "
           "the new device has enrolled; from then on the old device is refused.").arg(name),
        QMessageBox::Yes | QMessageBox::Cancel, QMessageBox::Yes);
    if (answer != QMessageBox::Yes)
        return;
    bool replace = false; // a revoked account has no key left to replace: a plain invite
    for (const broker::AccountView &a : m_broker.accounts()) {
        if (a.name == name)
            replace = a.epoch > 0 && !a.revoked;
    }
    auto link = m_broker.createInvite(broker::InviteRequest{name, 24 * 3600, replace});
    if (!link) {
        QMessageBox::warning(this, tr("Invite again"), link.error().message);
        return;
    }
    Q_EMIT inviteCreated(name, *link);
}

void AccountsPanel::refresh()
{
    const QFont fixed = QFontDatabase::systemFont(QFontDatabase::FixedFont);
    const std::vector<broker::AccountView> accounts = m_broker.accounts();
    rebuild(int(accounts.size()), [&](int row) {
        const broker::AccountView &a = accounts[size_t(row)];
        setKeyCell(row, a.name, a.name);

        // Epoch 0 is an enrolment whose key is not yet durable: there is no key to show.
        const bool enrolled = a.epoch > 0;
        m_table->setItem(row, AccountColumn::Epoch,
                         enrolled ? numberCell(a.epoch)
                                  : cell(kNone, tr("Enrolment not yet completed")));
        auto *key = enrolled ? cell(a.fingerprint) : cell(kNone, tr("Enrolment not yet completed"));
        if (enrolled)
            key->setFont(fixed);
        m_table->setItem(row, AccountColumn::Key, key);

        auto *status = a.revoked ? cell(tr("Revoked"), tr("%1's keys are erased; it is refused until invited again").arg(a.name))
                                 : cell(a.online ? tr("Online") : tr("Offline"),
                                        a.online ? tr("%1 is connected to this broker").arg(a.name)
                                                 : tr("%1 is not connected").arg(a.name));
        status->setIcon(a.online ? m_onlineIcon : m_offlineIcon);
        if (!a.online)
            status->setForeground(palette().brush(QPalette::Disabled, QPalette::Text));
        m_table->setItem(row, AccountColumn::Status, status);
        m_table->setItem(row, AccountColumn::LastLogin,
                         a.lastLogin > 0 ? cell(QLocale().toString(QDateTime::fromSecsSinceEpoch(a.lastLogin), QLocale::ShortFormat))
                                         : cell(kNone, tr("Never logged in")));

        m_table->setItem(
            row, AccountColumn::Rotation,
            a.rotationPending && !a.revoked
                ? cell(tr("yes"), tr("A new key has been sent after a call; it becomes "
                                     "current once the phone has stored it."))
                : cell(kNone));
    });
    updateButtons();
}

// ---- PeersPanel ----------------------------------------------------------------------------

namespace {
namespace PeerColumn {
constexpr int Name = 0, Address = 1, Link = 2, Epoch = 3, Key = 4, Note = 5;
}
} // namespace

PeersPanel::PeersPanel(broker::Broker &broker, QWidget *parent)
    : TablePanel(QStringLiteral("peers"),
                 {tr("Peer"), tr("Address"), tr("Link"), tr("K_AB epoch"), tr("K_AB fingerprint"), tr("Note")},
                 PeerColumn::Note,
                 tr("Brokers this one federates with (patent Fig. 3). K_AB is the inter-broker key, agreed by "
                    "Diffie-Hellman (Noise KKpsk0); the peer's console shows the same fingerprint."),
                 parent),
      m_broker(broker), m_forget(new QPushButton(tr("&Forget key…"), this))
{
    m_forget->setObjectName(QStringLiteral("forgetPeerKey"));
    m_forget->setToolTip(tr("Drop the inter-broker key with the selected peer, so that its next handshake "
                            "uses the peering secret again. Only for a peer that lost its store: its "
                            "operator forgets this broker's key too."));
    auto *row = new QHBoxLayout;
    row->addStretch(1);
    row->addWidget(m_forget);
    static_cast<QVBoxLayout *>(layout())->addLayout(row);
    connect(m_table, &QTableWidget::itemSelectionChanged, this, &PeersPanel::updateForget);
    connect(m_forget, &QPushButton::clicked, this, &PeersPanel::forgetSelected);
    connect(&broker, &broker::Broker::peersChanged, this, &PeersPanel::refresh);
    refresh();
}

void PeersPanel::updateForget()
{
    // Any key held, current or only pending (a first run the peer never confirmed).
    const QString name = selectedKey();
    const auto peers = m_broker.peers();
    m_forget->setEnabled(!name.isEmpty() && std::any_of(peers.begin(), peers.end(), [&](const broker::PeerView &p) {
                             return p.name == name && p.keyHeld;
                         }));
}

void PeersPanel::forgetSelected()
{
    const QString name = selectedKey();
    if (name.isEmpty())
        return;
    const auto answer = QMessageBox::question(
        this, tr("Forget the key with %1?").arg(name),
        tr("This broker drops its inter-broker key with %1 and the link goes down. The two pair again "
           "under the peering secret once %1 has forgotten its key with this broker too.\n\n"
           "Do this only when %1 lost its store.")
            .arg(name),
        QMessageBox::Yes | QMessageBox::Cancel, QMessageBox::Cancel);
    if (answer != QMessageBox::Yes)
        return;
    if (auto r = m_broker.forgetPeer(name); !r)
        QMessageBox::warning(this, tr("Forget key"), r.error().message);
}

void PeersPanel::refresh()
{
    const QFont fixed = QFontDatabase::systemFont(QFontDatabase::FixedFont);
    const std::vector<broker::PeerView> peers = m_broker.peers();
    rebuild(int(peers.size()), [&](int row) {
        const broker::PeerView &p = peers[size_t(row)];
        setKeyCell(row, p.name, p.name);
        m_table->setItem(row, PeerColumn::Address,
                         cell(p.address, p.initiator ? tr("This broker dials it") : tr("It dials this broker")));
        const QString state = p.state == broker::PeerView::State::Up           ? tr("Up")
                            : p.state == broker::PeerView::State::Connecting ? tr("Connecting")
                                                                              : tr("Down");
        m_table->setItem(row, PeerColumn::Link, cell(state));
        m_table->setItem(row, PeerColumn::Epoch, p.epoch ? numberCell(p.epoch) : cell(kNone, tr("No inter-broker key yet")));
        auto *key = p.epoch ? cell(p.fingerprint) : cell(kNone);
        key->setFont(fixed);
        m_table->setItem(row, PeerColumn::Key, key);
        m_table->setItem(row, PeerColumn::Note, cell(p.state == broker::PeerView::State::Up ? QString() : p.lastError));
    });
    updateForget();
}

// ---- SessionsPanel -------------------------------------------------------------------------

namespace {
namespace SessionColumn {
constexpr int Id = 0, Caller = 1, Callee = 2, Generation = 3, Members = 4, Ringing = 5, Duration = 6;
}
} // namespace

SessionsPanel::SessionsPanel(broker::Broker &broker, QWidget *parent)
    : TablePanel(QStringLiteral("sessions"),
                 {tr("Session"), tr("Caller"), tr("Callee"), tr("Generation"), tr("Members"), tr("Ringing"), tr("Duration")},
                 SessionColumn::Members,
                 tr("Calls and conferences in progress. The generation counts the re-keys of "
                    "the session key as members join and leave."),
                 parent),
      m_broker(broker)
{
    connect(&broker, &broker::Broker::sessionsChanged, this, &SessionsPanel::refresh);
    connect(&m_clock, &QTimer::timeout, this, [this] {
        if (count() > 0)
            refresh();
    });
    m_clock.start(1000);
    refresh();
}

void SessionsPanel::refresh()
{
    const QFont fixed = QFontDatabase::systemFont(QFontDatabase::FixedFont);
    std::vector<broker::SessionView> sessions = m_broker.sessions();
    // By sid, whatever order the broker lists them in: rows keep their places between refreshes.
    std::sort(sessions.begin(), sessions.end(),
              [](const broker::SessionView &a, const broker::SessionView &b) { return a.sid < b.sid; });
    rebuild(int(sessions.size()), [&](int row) {
        const broker::SessionView &s = sessions[size_t(row)];
        const QString hex = QString::fromLatin1(s.sid.toHex());
        setKeyCell(row, hex.left(8), hex, tr("Session id %1").arg(hex));
        m_table->item(row, SessionColumn::Id)->setFont(fixed);
        m_table->setItem(row, SessionColumn::Caller, cell(s.caller));
        m_table->setItem(row, SessionColumn::Callee, cell(s.callee));
        m_table->setItem(row, SessionColumn::Generation, numberCell(s.gen));
        m_table->setItem(
            row, SessionColumn::Members,
            cell(s.members.isEmpty() ? kNone : s.members.join(QLatin1StringView(", "))));
        m_table->setItem(
            row, SessionColumn::Ringing,
            cell(s.ringing.isEmpty() ? kNone : s.ringing.join(QLatin1StringView(", "))));
        const qint64 secs = std::max<qint64>(0, (QDateTime::currentMSecsSinceEpoch() - s.startedMs) / 1000);
        m_table->setItem(row, SessionColumn::Duration,
                         cell(QStringLiteral("%1:%2").arg(secs / 60).arg(secs % 60, 2, 10, QLatin1Char('0')),
                              tr("Since the call began to ring")));
    });
}

// ---- InvitePanel ---------------------------------------------------------------------------

InvitePanel::InvitePanel(broker::Broker &broker, QWidget *parent)
    : QWidget(parent), m_broker(broker), m_account(new QLineEdit(this)),
      m_expiry(new QComboBox(this)), m_create(new QPushButton(tr("C&reate invite"), this)),
      m_link(new QLineEdit(this)), m_copy(new QPushButton(tr("&Copy"), this)),
      m_error(plainLabel(this)), m_info(plainLabel(this))
{
    auto *intro =
        new QLabel(tr("An invite is a single-use link that carries a secret: whoever opens "
                      "it first enrols as that account. Send it over a channel you trust."),
                   this);
    intro->setWordWrap(true);

    m_account->setObjectName(QStringLiteral("inviteAccount"));
    m_account->setPlaceholderText(tr("e.g. dave"));
    m_account->setMaxLength(64);
    // Room for a long name, without stretching across a wide window.
    m_account->setMaximumWidth(m_account->fontMetrics().horizontalAdvance(QLatin1Char('m')) * 32);
    m_account->setToolTip(
        tr("1–64 characters of a–z, 0–9, '.', '_' and '-'. Enter creates the invite."));

    m_expiry->setObjectName(QStringLiteral("inviteExpiry"));
    m_expiry->addItem(tr("1 hour"), qint64(3600));
    m_expiry->addItem(tr("1 day"), qint64(24 * 3600));
    m_expiry->addItem(tr("7 days"), qint64(7 * 24 * 3600));
    m_expiry->setCurrentIndex(2);
    m_expiry->setToolTip(tr("An unused invite stops working after this time"));
    m_expiry->setSizePolicy(QSizePolicy::Fixed, QSizePolicy::Fixed);

    m_create->setObjectName(QStringLiteral("createInvite"));
    m_create->setToolTip(tr("Create a single-use invite link for this account (Enter)"));

    m_error->setObjectName(QStringLiteral("inviteError"));
    m_error->setWordWrap(true);
    QPalette errorPalette = m_error->palette();
    errorPalette.setColor(QPalette::WindowText, QColor(0xc6, 0x28, 0x28));
    m_error->setPalette(errorPalette);
    m_error->hide();

    m_link->setObjectName(QStringLiteral("inviteLink"));
    m_link->setReadOnly(true);
    m_link->setPlaceholderText(tr("The link appears here"));
    m_link->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));

    m_copy->setObjectName(QStringLiteral("copyInvite"));
    m_copy->setToolTip(tr("Copy the link to the clipboard. It holds the invite secret: clear the "
                          "clipboard once it is sent."));
    m_copy->setEnabled(false);

    m_info->setObjectName(QStringLiteral("inviteInfo"));
    m_info->setWordWrap(true);

    auto *createRow = new QHBoxLayout;
    createRow->addWidget(m_create);
    createRow->addStretch(1);
    auto *linkRow = new QHBoxLayout;
    linkRow->addWidget(m_link, 1);
    linkRow->addWidget(m_copy);

    auto *form = new QFormLayout;
    form->addRow(tr("&Account:"), m_account);
    form->addRow(tr("&Valid for:"), m_expiry);
    form->addRow(QString(), createRow);
    form->addRow(QString(), m_error);
    form->addRow(tr("Link:"), linkRow);
    form->addRow(QString(), m_info);

    auto *layout = new QVBoxLayout(this);
    layout->addWidget(intro);
    layout->addLayout(form);
    layout->addStretch(1);

    connect(m_create, &QPushButton::clicked, this, &InvitePanel::create);
    connect(m_account, &QLineEdit::returnPressed, this, &InvitePanel::create);
    connect(m_copy, &QPushButton::clicked, this, &InvitePanel::copy);
    // The error was about what was typed; once that changes it no longer applies.
    connect(m_account, &QLineEdit::textEdited, m_error, &QLabel::hide);
}

void InvitePanel::create()
{
    // A link left standing next to a different name would be sent to the wrong person.
    m_link->clear();
    m_copy->setEnabled(false);
    m_info->clear();

    const QString account = m_account->text().trimmed();
    if (account.isEmpty()) {
        showError(tr("Enter the name of the account to invite."));
        return;
    }
    if (!skbp::isValidAccount(account)) {
        showError(tr("\"%1\" is not a valid account name: use 1–64 characters of a–z, 0–9, '.', "
                     "'_' and '-'.")
                      .arg(account));
        return;
    }
    const qint64 validFor = m_expiry->currentData().toLongLong();
    Result<QString> link = m_broker.createInvite(account, validFor);
    if (!link) {
        showError(link.error().message);
        return;
    }
    m_error->hide();
    m_error->clear();
    m_link->setText(*link);
    m_link->setCursorPosition(0);
    m_copy->setEnabled(true);
    m_info->setText(
        tr("Single-use link for %1, valid until %2.")
            .arg(account, QLocale().toString(QDateTime::currentDateTime().addSecs(validFor),
                                             QLocale::ShortFormat)));
}

void InvitePanel::showLink(const QString &account, const QString &link)
{
    m_account->setText(account);
    m_error->hide();
    m_link->setText(link);
    m_link->setCursorPosition(0);
    m_copy->setEnabled(true);
    m_info->setText(tr("Single-use link for a new device of %1, valid until %2. The old device keeps working "
                       "until this one has enrolled.")
                        .arg(account, QLocale().toString(QDateTime::currentDateTime().addSecs(24 * 3600), QLocale::ShortFormat)));
}

void InvitePanel::copy()
{
    if (m_link->text().isEmpty())
        return;
    QGuiApplication::clipboard()->setText(m_link->text());
    m_copy->setText(tr("Copied"));
    QTimer::singleShot(1500, m_copy, [this] { m_copy->setText(tr("&Copy")); });
}

void InvitePanel::showError(const QString &message)
{
    m_error->setText(message);
    m_error->show();
}

// ---- LogPanel ------------------------------------------------------------------------------

LogPanel::LogPanel(broker::Broker &broker, QWidget *parent)
    : QWidget(parent), m_log(new QPlainTextEdit(this))
{
    m_log->setObjectName(QStringLiteral("log"));
    m_log->setReadOnly(true);
    // A broker runs for weeks; the log must not grow without bound.
    m_log->setMaximumBlockCount(5000);
    m_log->setLineWrapMode(QPlainTextEdit::NoWrap);
    m_log->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(m_log);

    connect(&broker, &broker::Broker::logEvent, this, &LogPanel::append);
}

void LogPanel::append(const QString &line)
{
    // With the date: a broker outlives a day, and its log is read to match phones' reports.
    m_log->appendPlainText(QStringLiteral("%1  %2").arg(
        QDateTime::currentDateTime().toString(QStringLiteral("yyyy-MM-dd HH:mm:ss")), line));
}

// ---- RelayCountersLabel --------------------------------------------------------------------

RelayCountersLabel::RelayCountersLabel(broker::Broker &broker, QWidget *parent)
    : QLabel(parent), m_broker(broker)
{
    setObjectName(QStringLiteral("relayCounters"));
    setTextFormat(Qt::PlainText);
    setToolTip(tr("Media relay, updated every second. Forwarded counts one per recipient. Drops: "
                  "unbound (sender never bound to a session), malformed, over rate (sender over "
                  "its packet budget), bad token (bind with a wrong relay token)."));
    m_timer.setInterval(1000);
    connect(&m_timer, &QTimer::timeout, this, &RelayCountersLabel::refresh);
    m_timer.start();
    refresh();
}

void RelayCountersLabel::refresh()
{
    if (!m_broker.config().relays.empty()) {
        // Relays of their own: up or down, sessions of ours, their load (sotto broker status).
        const auto relays = m_broker.status().relays;
        int up = 0, sessions = 0;
        quint64 forwarded = 0;
        QStringList lines;
        for (const broker::RelayStatus &r : relays) {
            up += r.up ? 1 : 0;
            sessions += r.sessions;
            forwarded += r.forwarded;
            lines << broker::relayStatusText(r);
        }
        const QLocale locale;
        setText(tr("Relays: %1 of %2 up · %3 sessions · %4 forwarded")
                    .arg(up)
                    .arg(relays.size())
                    .arg(sessions)
                    .arg(locale.toString(forwarded)));
        setToolTip(lines.join(u'\n'));
        return;
    }
    const relay::RelayCounters c = m_broker.relayCounters();
    const QLocale locale;
    const quint64 dropped =
        c.droppedUnbound + c.droppedMalformed + c.droppedRate + c.droppedBadToken;
    setText(
        tr("Relay: %1 forwarded · %2 binds · %3 dropped (%4 unbound, %5 malformed, %6 over rate, "
           "%7 bad token)")
            .arg(locale.toString(c.forwarded), locale.toString(c.binds), locale.toString(dropped),
                 locale.toString(c.droppedUnbound), locale.toString(c.droppedMalformed),
                 locale.toString(c.droppedRate), locale.toString(c.droppedBadToken)));
}

} // namespace sotto::app
