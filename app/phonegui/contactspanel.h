#pragma once

// The directory: every account of the broker with its presence. Enter (or a double click, or
// the Call button) calls the selected contact.

#include <QWidget>

class QListWidget;
class QListWidgetItem;
class QPushButton;

namespace sotto {
class ClientEngine;
}

namespace sotto::app {

class ContactsPanel : public QWidget
{
    Q_OBJECT
public:
    explicit ContactsPanel(ClientEngine &engine, QWidget *parent = nullptr);

    QString selected() const;
    void select(const QString &account);

Q_SIGNALS:
    void callRequested(const QString &account);

protected:
    bool eventFilter(QObject *watched, QEvent *event) override;

private:
    void reload();
    void updateButton();
    void requestCall();

    ClientEngine &m_engine;
    QListWidget *m_list;
    QPushButton *m_call;
};

} // namespace sotto::app
