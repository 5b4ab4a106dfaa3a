#include "timelinepanel.h"

#include "client/timeline.h"

#include <QComboBox>
#include <QFrame>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QTreeWidget>
#include <QVBoxLayout>

namespace sotto::app {

namespace {

QString stepName(TimelineEvent::Kind kind)
{
    switch (kind) {
    case TimelineEvent::Kind::Enrolled:
        return QObject::tr("Enrolled");
    case TimelineEvent::Kind::Refreshed:
        return QObject::tr("Refresh (DH)");
    case TimelineEvent::Kind::CallKey:
        return QObject::tr("Key delivered");
    case TimelineEvent::Kind::SessionKey:
        return QObject::tr("Key derived");
    case TimelineEvent::Kind::Incoming:
        return QObject::tr("Ringing");
    case TimelineEvent::Kind::Answered:
        return QObject::tr("Answered");
    case TimelineEvent::Kind::Joined:
        return QObject::tr("Joined · ratchet");
    case TimelineEvent::Kind::Left:
        return QObject::tr("Left");
    case TimelineEvent::Kind::Rekeyed:
        return QObject::tr("Re-key");
    case TimelineEvent::Kind::Ended:
        return QObject::tr("Ended");
    case TimelineEvent::Kind::Rotated:
        return QObject::tr("Rotated");
    case TimelineEvent::Kind::Relayed:
        return QObject::tr("Between brokers");
    }
    return {};
}

// Steps that change a key stand out from those that only tell what happened.
bool isKeyStep(TimelineEvent::Kind kind)
{
    switch (kind) {
    case TimelineEvent::Kind::Incoming:
    case TimelineEvent::Kind::Answered:
    case TimelineEvent::Kind::Left:
    case TimelineEvent::Kind::Ended:
        return false;
    default:
        return true;
    }
}

} // namespace

TimelinePanel::TimelinePanel(Timeline &timeline, QWidget *parent)
    : QWidget(parent), m_timeline(timeline), m_sessions(new QComboBox(this)),
      m_rows(new QTreeWidget(this)), m_detail(new QLabel(this))
{
    m_detail->setObjectName(QStringLiteral("timelineDetail"));
    m_detail->setWordWrap(true);
    m_detail->setTextFormat(Qt::PlainText);
    m_detail->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_detail->setFrameShape(QFrame::StyledPanel);
    m_detail->setMargin(4);
    m_sessions->setObjectName(QStringLiteral("timelineSession"));
    m_sessions->setToolTip(tr("Show the key steps of one call, or of the whole account"));
    m_sessions->addItem(tr("All steps of this account"), QByteArray());
    m_rows->setObjectName(QStringLiteral("timeline"));
    m_rows->setRootIsDecorated(false);
    m_rows->setUniformRowHeights(true);
    m_rows->setAlternatingRowColors(true);
    // The readable line last, taking what room is left; it carries the fingerprint too.
    m_rows->setHeaderLabels({tr("Time"), tr("Step"), tr("Notation"), tr("Gen"), tr("Epoch"), tr("What happened")});
    m_rows->header()->setStretchLastSection(true);
    m_rows->header()->setSectionResizeMode(QHeaderView::ResizeToContents);
    m_rows->header()->setSectionResizeMode(TextColumn, QHeaderView::Stretch);
    m_rows->setToolTip(tr("Fingerprints only: a key itself is never shown"));

    auto *top = new QHBoxLayout;
    auto *label = new QLabel(tr("<b>Key timeline</b>"), this);
    label->setBuddy(m_sessions);
    top->addWidget(label);
    top->addStretch();
    top->addWidget(new QLabel(tr("&Show:"), this));
    top->addWidget(m_sessions, 1);
    static_cast<QLabel *>(top->itemAt(top->count() - 2)->widget())->setBuddy(m_sessions);
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addLayout(top);
    layout->addWidget(m_rows, 1);
    layout->addWidget(m_detail);
    connect(m_rows, &QTreeWidget::currentItemChanged, this, &TimelinePanel::showDetail);
    // A kept timeline (timeline.jsonl) comes in before the window exists or, rarely, after.
    connect(&m_timeline, &QAbstractItemModel::rowsRemoved, this, &TimelinePanel::rebuild);
    connect(&m_timeline, &QAbstractItemModel::rowsInserted, this, [this](const QModelIndex &, int first) {
        if (first == 0 && m_timeline.rowCount() > 1) { // prepended: not an append
            for (const TimelineEvent &e : m_timeline.events())
                addSessionChoice(e);
            rebuild();
        }
    });

    for (const TimelineEvent &e : m_timeline.events())
        addSessionChoice(e);
    connect(&m_timeline, &Timeline::appended, this, &TimelinePanel::onAppended);
    connect(m_sessions, &QComboBox::currentIndexChanged, this, &TimelinePanel::rebuild);
    rebuild();
}

void TimelinePanel::showSession(const QByteArray &sid)
{
    const int i = m_sessions->findData(sid);
    if (i >= 0)
        m_sessions->setCurrentIndex(i);
}

QByteArray TimelinePanel::shownSession() const
{
    return m_sessions->currentData().toByteArray();
}

void TimelinePanel::addSessionChoice(const TimelineEvent &e)
{
    if (e.sid.isEmpty() || m_sessions->findData(e.sid) >= 0)
        return;
    const QString who = e.peer.isEmpty() ? tr("a call") : tr("call with %1").arg(e.peer);
    m_sessions->addItem(tr("%1 · %2 · session %3")
                            .arg(e.ts.toLocalTime().toString(QStringLiteral("HH:mm:ss")), who,
                                 QString::fromLatin1(e.sid.left(4).toHex())),
                        e.sid);
}

void TimelinePanel::onAppended(const TimelineEvent &e)
{
    const bool newSession = !e.sid.isEmpty() && m_sessions->findData(e.sid) < 0;
    addSessionChoice(e);
    if (newSession && !shownSession().isEmpty())
        showSession(e.sid); // follow the newest call while one is being watched
    else if (matches(e))
        addRow(e);
}

bool TimelinePanel::matches(const TimelineEvent &e) const
{
    const QByteArray sid = shownSession();
    return sid.isEmpty() || e.sid == sid;
}

void TimelinePanel::rebuild()
{
    m_rows->clear();
    for (const TimelineEvent &e : m_timeline.events()) {
        if (matches(e))
            addRow(e);
    }
    showDetail();
}

void TimelinePanel::showDetail()
{
    QTreeWidgetItem *item = m_rows->currentItem();
    if (!item && m_rows->topLevelItemCount() > 0)
        item = m_rows->topLevelItem(m_rows->topLevelItemCount() - 1);
    m_detail->setVisible(item != nullptr);
    if (!item)
        return;
    QStringList head{item->text(TimeColumn), item->text(StepColumn)};
    if (!item->text(NotationColumn).isEmpty())
        head.append(item->text(NotationColumn));
    if (!item->text(GenColumn).isEmpty())
        head.append(tr("generation %1").arg(item->text(GenColumn)));
    if (!item->text(EpochColumn).isEmpty())
        head.append(tr("epoch %1").arg(item->text(EpochColumn)));
    m_detail->setText(head.join(QStringLiteral(" · ")) + QLatin1Char('\n') + item->text(TextColumn));
}

void TimelinePanel::addRow(const TimelineEvent &e)
{
    auto *item = new QTreeWidgetItem(m_rows);
    item->setText(TimeColumn, e.ts.toLocalTime().toString(QStringLiteral("HH:mm:ss.zzz")));
    item->setText(StepColumn, stepName(e.kind));
    item->setText(TextColumn, e.text);
    item->setToolTip(TextColumn, e.text);
    item->setText(NotationColumn, e.notation);
    item->setText(GenColumn, e.gen ? QString::number(*e.gen) : QString());
    item->setText(EpochColumn, e.epoch ? QString::number(*e.epoch) : QString());
    if (!e.fp.isEmpty())
        item->setToolTip(NotationColumn, tr("fingerprint %1").arg(e.fp));
    item->setData(StepColumn, Qt::UserRole, int(e.kind));
    QFont mono = item->font(NotationColumn);
    mono.setFamily(QStringLiteral("monospace"));
    mono.setStyleHint(QFont::Monospace);
    item->setFont(NotationColumn, mono);
    if (isKeyStep(e.kind)) {
        QFont bold = item->font(StepColumn);
        bold.setBold(true);
        item->setFont(StepColumn, bold);
    }
    m_rows->scrollToItem(item);
    if (!m_rows->currentItem())
        showDetail();
}

} // namespace sotto::app
