#include "historypanel.h"

#include "client/callhistory.h"
#include "resources/icons.h"

#include <QHeaderView>
#include <QLocale>
#include <QTreeWidget>
#include <QVBoxLayout>

namespace sotto::app {

HistoryPanel::HistoryPanel(CallHistory &history, QWidget *parent)
    : QWidget(parent), m_history(history), m_rows(new QTreeWidget(this))
{
    m_rows->setObjectName(QStringLiteral("history"));
    m_rows->setRootIsDecorated(false);
    m_rows->setHeaderLabels({tr("When"), tr(""), tr("Who"), tr("Duration"), tr("How it ended")});
    m_rows->header()->setSectionResizeMode(QHeaderView::ResizeToContents);
    m_rows->header()->setStretchLastSection(true);
    m_rows->setToolTip(tr("Enter or a double click calls them again"));
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(m_rows);
    connect(&m_history, &CallHistory::changed, this, &HistoryPanel::reload);
    connect(m_rows, &QTreeWidget::itemActivated, this, [this](QTreeWidgetItem *item) {
        Q_EMIT callRequested(item->data(2, Qt::UserRole).toString());
    });
    reload();
}

void HistoryPanel::reload()
{
    m_rows->clear();
    const auto &records = m_history.records();
    for (auto it = records.rbegin(); it != records.rend(); ++it) {
        const CallRecord &r = *it;
        auto *item = new QTreeWidgetItem(m_rows);
        item->setText(0, QLocale().toString(r.start.toLocalTime(), QLocale::ShortFormat));
        item->setData(0, Qt::UserRole, r.start);
        const bool out = r.direction == CallRecord::Direction::Outgoing;
        item->setIcon(1, icon(out ? u"outgoing" : r.answered ? u"incoming" : u"missed"));
        item->setToolTip(1, out ? tr("You called") : r.answered ? tr("You answered") : tr("Missed or declined"));
        QString who = r.peer;
        if (!r.members.isEmpty())
            who += QStringLiteral(" + ") + r.members.join(QStringLiteral(", "));
        item->setText(2, who);
        item->setData(2, Qt::UserRole, r.peer);
        item->setText(3, r.answered ? QStringLiteral("%1:%2").arg(r.durationSecs / 60).arg(r.durationSecs % 60, 2, 10, QLatin1Char('0'))
                                    : QStringLiteral("—"));
        item->setText(4, r.reason);
    }
}

} // namespace sotto::app
