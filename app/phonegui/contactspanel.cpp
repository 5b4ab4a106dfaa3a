#include "contactspanel.h"

#include "client/client.h"
#include "resources/icons.h"

#include <QKeyEvent>
#include <QLabel>
#include <QListWidget>
#include <QPushButton>
#include <QVBoxLayout>

namespace sotto::app {

namespace {
constexpr int kAccountRole = Qt::UserRole + 1;
constexpr int kOnlineRole = Qt::UserRole + 2;
} // namespace

ContactsPanel::ContactsPanel(ClientEngine &engine, QWidget *parent)
    : QWidget(parent), m_engine(engine), m_list(new QListWidget(this)), m_call(new QPushButton(tr("&Call"), this))
{
    auto *title = new QLabel(tr("<b>Contacts</b>"), this);
    m_list->setObjectName(QStringLiteral("contacts"));
    m_list->setIconSize(QSize(16, 16));
    m_list->setToolTip(tr("Everyone on your broker. Enter calls the one selected."));
    m_list->installEventFilter(this);
    m_call->setObjectName(QStringLiteral("call"));
    m_call->setIcon(icon(u"call"));
    m_call->setToolTip(tr("Call the selected contact (Enter)"));
    auto *layout = new QVBoxLayout(this);
    layout->addWidget(title);
    layout->addWidget(m_list, 1);
    layout->addWidget(m_call);

    connect(&engine, &ClientEngine::directoryChanged, this, &ContactsPanel::reload);
    connect(&engine, &ClientEngine::presenceChanged, this, &ContactsPanel::reload);
    connect(&engine, &ClientEngine::stateChanged, this, &ContactsPanel::reload);
    connect(m_list, &QListWidget::currentItemChanged, this, &ContactsPanel::updateButton);
    connect(m_list, &QListWidget::itemActivated, this, &ContactsPanel::requestCall);
    connect(m_call, &QPushButton::clicked, this, &ContactsPanel::requestCall);
    reload();
}

QString ContactsPanel::selected() const
{
    const QListWidgetItem *item = m_list->currentItem();
    return item ? item->data(kAccountRole).toString() : QString();
}

void ContactsPanel::select(const QString &account)
{
    for (int i = 0; i < m_list->count(); ++i) {
        if (m_list->item(i)->data(kAccountRole).toString() == account) {
            m_list->setCurrentRow(i);
            return;
        }
    }
}

void ContactsPanel::reload()
{
    const QString keep = selected();
    const bool online = m_engine.state() == ClientEngine::State::Online;
    m_list->clear();
    for (const ContactInfo &c : m_engine.contacts()) {
        if (c.account == m_engine.account())
            continue;
        const bool here = online && c.online;
        auto *item = new QListWidgetItem(
            icon(here ? u"online" : u"offline"),
            here ? c.account : tr("%1 (offline)").arg(c.account), m_list);
        item->setData(kAccountRole, c.account);
        item->setData(kOnlineRole, here);
        item->setToolTip(here ? tr("%1 is online").arg(c.account) : tr("%1 is offline").arg(c.account));
        if (!here)
            item->setForeground(palette().brush(QPalette::Disabled, QPalette::Text));
    }
    if (!keep.isEmpty())
        select(keep);
    if (!m_list->currentItem() && m_list->count() > 0)
        m_list->setCurrentRow(0);
    updateButton();
}

void ContactsPanel::updateButton()
{
    const QListWidgetItem *item = m_list->currentItem();
    m_call->setEnabled(item && item->data(kOnlineRole).toBool());
}

void ContactsPanel::requestCall()
{
    if (!m_call->isEnabled())
        return;
    Q_EMIT callRequested(selected());
}

bool ContactsPanel::eventFilter(QObject *watched, QEvent *event)
{
    // Enter calls the selected contact; the list would otherwise only "activate" on some styles.
    if (watched == m_list && event->type() == QEvent::KeyPress) {
        const auto *key = static_cast<QKeyEvent *>(event);
        if (key->key() == Qt::Key_Return || key->key() == Qt::Key_Enter) {
            requestCall();
            return true;
        }
    }
    return QWidget::eventFilter(watched, event);
}

} // namespace sotto::app
