#pragma once

// First run: "Join a broker". The person pastes an invite link, sees which broker it names (its
// address and key fingerprint, to compare with the broker's console) and confirms. Nothing is
// written until they confirm; a bad link only shows why.

#include <QWidget>

class QLabel;
class QLineEdit;
class QPushButton;

namespace sotto {
struct InviteLink;
}

namespace sotto::app {

class JoinPage : public QWidget
{
    Q_OBJECT
public:
    explicit JoinPage(QWidget *parent = nullptr);

    // Back to editable after a failed enrolment, with the reason shown.
    void showFailure(const QString &why);
    void setBusy(bool busy);
    // Why the person is here again (a device whose key the broker refused), above the link.
    void showNote(const QString &note);
    // A link the person opened (a sotto:// link clicked elsewhere): shown and checked, for them
    // to compare the fingerprint and join; nothing is sent before they do.
    void offerLink(const QString &link);

Q_SIGNALS:
    // The link has been checked; the receiver enrols with it.
    void joinRequested(const sotto::InviteLink &link);

private:
    void check();
    void confirm();

    QLineEdit *m_link;
    QLabel *m_details;
    QLabel *m_error;
    QPushButton *m_join;
};

} // namespace sotto::app
