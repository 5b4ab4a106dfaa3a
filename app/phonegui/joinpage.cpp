#include "joinpage.h"

#include "core/invite.h"
#include "core/skbp.h"
#include "resources/icons.h"

#include <QFormLayout>
#include <QIcon>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QVBoxLayout>

namespace sotto::app {

JoinPage::JoinPage(QWidget *parent)
    : QWidget(parent), m_link(new QLineEdit(this)), m_details(new QLabel(this)), m_error(new QLabel(this)),
      m_join(new QPushButton(tr("Join"), this))
{
    auto *title = new QLabel(tr("<h2>Join a broker</h2>"
                                "<p>Paste the invite link your broker's administrator gave you. "
                                "Check that the fingerprint below matches the one on the broker's console, "
                                "then join.</p>"),
                             this);
    title->setWordWrap(true);
    m_link->setObjectName(QStringLiteral("inviteLink"));
    m_link->setPlaceholderText(QStringLiteral("sotto://host:7420/join?account=…&broker=…&secret=…"));
    m_link->setClearButtonEnabled(true);
    m_link->setToolTip(tr("The sotto:// invite link (single use)"));
    m_details->setObjectName(QStringLiteral("inviteDetails"));
    m_details->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_details->setWordWrap(true);
    m_error->setObjectName(QStringLiteral("inviteError"));
    m_error->setStyleSheet(QStringLiteral("color: #b3261e"));
    m_error->setWordWrap(true);
    m_join->setObjectName(QStringLiteral("join"));
    m_join->setIcon(icon(u"join"));
    m_join->setEnabled(false);
    m_join->setDefault(true);
    m_join->setToolTip(tr("Enrol with this broker: a Diffie-Hellman exchange gives you your first key"));

    auto *layout = new QVBoxLayout(this);
    layout->addWidget(title);
    layout->addWidget(m_link);
    layout->addWidget(m_details);
    layout->addWidget(m_error);
    auto *row = new QHBoxLayout;
    row->addStretch();
    row->addWidget(m_join);
    layout->addLayout(row);
    layout->addStretch();

    connect(m_link, &QLineEdit::textChanged, this, &JoinPage::check);
    connect(m_link, &QLineEdit::returnPressed, this, &JoinPage::confirm);
    connect(m_join, &QPushButton::clicked, this, &JoinPage::confirm);
}

void JoinPage::offerLink(const QString &link)
{
    m_link->setText(link); // checked by textChanged
    m_join->setFocus();
}

void JoinPage::check()
{
    const QString text = m_link->text().trimmed();
    m_join->setEnabled(false);
    m_details->clear();
    m_error->clear();
    if (text.isEmpty())
        return;
    auto link = InviteLink::parse(text);
    if (!link) {
        m_error->setText(tr("This is not a usable invite link: %1").arg(link.error().message));
        return;
    }
    m_details->setText(tr("Broker <b>%1:%2</b><br>Broker key fingerprint <b>%3</b><br>You join as <b>%4</b>")
                           .arg(link->host.toHtmlEscaped())
                           .arg(link->port)
                           .arg(skbp::fingerprint(link->brokerPublicKey), link->account.toHtmlEscaped()));
    m_join->setEnabled(true);
}

void JoinPage::confirm()
{
    if (!m_join->isEnabled())
        return;
    auto link = InviteLink::parse(m_link->text().trimmed());
    if (!link)
        return;
    setBusy(true);
    Q_EMIT joinRequested(*link);
}

void JoinPage::setBusy(bool busy)
{
    m_link->setEnabled(!busy);
    m_join->setEnabled(!busy);
    m_join->setText(busy ? tr("Joining…") : tr("Join"));
}

void JoinPage::showNote(const QString &note)
{
    m_error->setText(note);
}

void JoinPage::showFailure(const QString &why)
{
    setBusy(false);
    m_error->setText(tr("Could not join: %1").arg(why));
}

} // namespace sotto::app
