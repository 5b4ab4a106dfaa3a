#include "brokerwindow.h"

#include "brokerpanels.h"

#include "broker/broker.h"
#include "broker/peers.h"
#include "resources/icons.h"

#include <QCloseEvent>
#include <QFontDatabase>
#include <QMessageBox>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QSplitter>
#include <QStatusBar>
#include <QTabWidget>
#include <QVBoxLayout>

namespace sotto::app {

namespace {

QLabel *plainLabel(const QString &text, QWidget *parent)
{
    auto *label = new QLabel(text, parent);
    label->setTextFormat(Qt::PlainText);
    return label;
}

QString describeInterval(qint64 secs)
{
    constexpr qint64 hour = 3600;
    constexpr qint64 day = 24 * hour;
    if (secs >= day && secs % day == 0)
        return secs == day ? QObject::tr("a day") : QObject::tr("%1 days").arg(secs / day);
    if (secs >= hour && secs % hour == 0)
        return secs == hour ? QObject::tr("an hour") : QObject::tr("%1 hours").arg(secs / hour);
    return QObject::tr("%1 seconds").arg(secs);
}

} // namespace

BrokerWindow::BrokerWindow(broker::Broker &broker, QWidget *parent)
    : QMainWindow(parent), m_tabs(new QTabWidget(this)),
      m_accounts(new AccountsPanel(broker, m_tabs)), m_sessions(new SessionsPanel(broker, m_tabs)),
      m_invite(new InvitePanel(broker, m_tabs)), m_log(new LogPanel(broker, this)), m_broker(broker)
{
    setWindowTitle(QStringLiteral("Sotto broker — %1").arg(broker.name()));
    setWindowIcon(icon(u"sotto"));
    connect(m_accounts, &AccountsPanel::inviteCreated, this, [this](const QString &account, const QString &link) {
        m_invite->showLink(account, link);
        m_tabs->setCurrentWidget(m_invite);
    });

    m_tabs->setObjectName(QStringLiteral("tabs"));
    const int accountsTab = m_tabs->addTab(m_accounts, QString());
    const int sessionsTab = m_tabs->addTab(m_sessions, QString());
    m_tabs->addTab(m_invite, tr("&Invite"));
    auto *peers = new PeersPanel(broker, m_tabs);
    const int peersTab = m_tabs->addTab(peers, QString());
    auto showPeers = [this, peersTab](int n) { m_tabs->setTabText(peersTab, tr("&Peers (%1)").arg(n)); };
    connect(peers, &PeersPanel::countChanged, this, showPeers);
    showPeers(peers->count());
    // The counts in the tab titles tell what changed without switching tabs.
    auto showAccounts = [this, accountsTab](int n) {
        m_tabs->setTabText(accountsTab, tr("&Accounts (%1)").arg(n));
    };
    auto showSessions = [this, sessionsTab](int n) {
        m_tabs->setTabText(sessionsTab, tr("Live &sessions (%1)").arg(n));
    };
    connect(m_accounts, &AccountsPanel::countChanged, this, showAccounts);
    connect(m_sessions, &SessionsPanel::countChanged, this, showSessions);
    showAccounts(m_accounts->count());
    showSessions(m_sessions->count());

    auto *logBox = new QGroupBox(tr("Event log"));
    auto *logLayout = new QVBoxLayout(logBox);
    logLayout->addWidget(m_log);

    auto *splitter = new QSplitter(Qt::Vertical);
    splitter->setChildrenCollapsible(false);
    splitter->addWidget(m_tabs);
    splitter->addWidget(logBox);
    splitter->setStretchFactor(0, 3);
    splitter->setStretchFactor(1, 2);

    auto *central = new QWidget(this);
    auto *layout = new QVBoxLayout(central);
    layout->addWidget(makeSummary(broker));
    layout->addWidget(splitter, 1);
    setCentralWidget(central);

    // Active or standby (sotto broker status shows the same), and where the store is.
    auto *role = new QLabel(statusBar());
    role->setObjectName(QStringLiteral("role"));
    auto showRole = [this, role] {
        const broker::BrokerStatus st = m_broker.status();
        const QString name = st.role == broker::BrokerRole::Active ? tr("Active") : st.role == broker::BrokerRole::Standby ? tr("Standby") : tr("Stopped");
        role->setText(st.instances.size() > 1 ? tr("%1 · %2 instances").arg(name).arg(st.instances.size()) : name);
        role->setToolTip(tr("%1: %2\nstore %3\ninstances: %4").arg(name, st.why, st.store, st.instances.join(QStringLiteral(", "))));
    };
    connect(&broker, &broker::Broker::roleChanged, role, showRole);
    showRole();
    statusBar()->addWidget(role);
    statusBar()->addWidget(new RelayCountersLabel(broker, statusBar()), 1);
    resize(900, 600);

    m_log->append(
        tr("listening on port %1 · broker key %2").arg(broker.port()).arg(broker.fingerprint()));
}

void BrokerWindow::closeEvent(QCloseEvent *event)
{
    const int live = int(m_broker.sessions().size());
    if (m_closingStops && live > 0) {
        const auto answer = QMessageBox::question(
            this, tr("Stop the broker?"),
            tr("Closing this window stops the broker, and %n live call(s) end.", nullptr, live),
            QMessageBox::Yes | QMessageBox::Cancel, QMessageBox::Cancel);
        if (answer != QMessageBox::Yes) {
            event->ignore();
            return;
        }
    }
    event->accept();
}

QWidget *BrokerWindow::makeSummary(broker::Broker &broker)
{
    const broker::BrokerConfig &config = broker.config();
    auto *summary = new QWidget(this);
    summary->setObjectName(QStringLiteral("summary"));

    auto *name = plainLabel(broker.name(), summary);
    name->setObjectName(QStringLiteral("brokerName"));
    QFont bold = name->font();
    bold.setBold(true);
    bold.setPointSizeF(bold.pointSizeF() * 1.2);
    name->setFont(bold);

    const QString host =
        config.address == QHostAddress::Any ? tr("all interfaces") : config.address.toString();
    auto *port = plainLabel(tr("Listening on %1, port %2").arg(host).arg(broker.port()), summary);
    port->setObjectName(QStringLiteral("brokerPort"));

    auto *keyCaption = plainLabel(tr("Broker key:"), summary);
    auto *fingerprint = plainLabel(broker.fingerprint(), summary);
    fingerprint->setObjectName(QStringLiteral("brokerFingerprint"));
    fingerprint->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
    // An admin reads this out or pastes it to compare with what a phone shows at enrolment.
    fingerprint->setTextInteractionFlags(Qt::TextSelectableByMouse | Qt::TextSelectableByKeyboard);
    fingerprint->setToolTip(tr("Fingerprint of the broker's static key. Phones show the same one "
                               "when they enrol; if they differ, someone is in between.\n\n"
                               "The whole public key, for peered brokers' --peer option:\n%1")
                                .arg(broker::encodePublicKey(broker.publicKey())));

    const bool patent = config.keyMode == skbp::KeyMode::Patent;
    auto *mode = plainLabel(patent ? tr("Key mode: patent") : tr("Key mode: derived"), summary);
    mode->setObjectName(QStringLiteral("keyMode"));
    mode->setToolTip(
        (patent ? tr("A caller receives the callee's account key itself, as in the patent.")
                : tr("A caller receives a per-call key derived from the callee's key, "
                     "never the key itself.")) +
        QLatin1Char(' ') +
        tr("A key older than %1 is refreshed by a new Diffie-Hellman once its phone is idle.")
            .arg(describeInterval(config.refreshIntervalSecs)));

    auto *layout = new QHBoxLayout(summary);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->setSpacing(16);
    layout->addWidget(name);
    layout->addWidget(port);
    auto *key = new QHBoxLayout;
    key->setSpacing(6);
    key->addWidget(keyCaption);
    key->addWidget(fingerprint);
    layout->addLayout(key);
    layout->addWidget(mode);
    layout->addStretch(1);
    return summary;
}

} // namespace sotto::app
