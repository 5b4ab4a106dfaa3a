#pragma once

// `sotto demo [--federated]`: a broker (or two peered ones) with its console and three phone windows (alice, bob, carol) with
// temporary profiles on loopback, enrolled automatically and ready to click. Each phone speaks
// with generated speech (espeak-ng, or a tone), so the demo works with or without a sound card;
// what they hear goes to the default loudspeaker when there is one.

#include "broker/broker.h"
#include "demo.h"

#include <QObject>
#include <QTemporaryDir>

#include <memory>
#include <optional>
#include <vector>

namespace sotto::phone {
class Phone;
}

namespace sotto::app {

class BrokerWindow;
class PhoneWindow;

class GuiDemo : public QObject
{
    Q_OBJECT
public:
    explicit GuiDemo(bool federated = false, QObject *parent = nullptr);
    ~GuiDemo() override;

    // Starts the broker and the phones and shows the windows; an error says what failed.
    Result<void> start(bool useSoundCard = true);

    broker::Broker &broker() { return *m_brokers.brokers.front(); }
    BrokerWindow &console() { return *m_consoles.front(); }
    PhoneWindow &window(const QString &name);
    phone::Phone &phone(const QString &name);
    QString notice() const { return m_notice; }

Q_SIGNALS:
    void ready(); // all three enrolled and online

private:
    struct Member
    {
        QString name;
        std::unique_ptr<phone::Phone> phone;
        std::unique_ptr<PhoneWindow> window;
    };
    Member &member(const QString &name);
    void arrange();

    QTemporaryDir m_dir;
    bool m_federated;
    DemoBrokers m_brokers;
    std::vector<std::unique_ptr<BrokerWindow>> m_consoles;
    std::vector<Member> m_members;
    QString m_notice;
    int m_online = 0;
};

} // namespace sotto::app
