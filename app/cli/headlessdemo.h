#pragma once

// `sotto demo --headless [--federated]`: a broker (or two peered ones) and three phone engines (alice, bob, carol) in temporary
// directories on loopback, playing patent Fig. 1 and Fig. 2 end to end, then printing the
// merged key timeline in the patent's notation.

#include "phone/callmedia.h"
#include "broker/broker.h"
#include "demo.h"
#include "client/client.h"

#include <QObject>
#include <QTemporaryDir>
#include <QTextStream>
#include <QTimer>

#include <memory>
#include <vector>

namespace sotto::app {

class HeadlessDemo : public QObject
{
    Q_OBJECT
public:
    HeadlessDemo(QTextStream &out, bool federated, QObject *parent = nullptr);
    ~HeadlessDemo() override;

    std::optional<int> start();

Q_SIGNALS:
    void finished(int exitCode);

private:
    struct DemoPhone
    {
        QString name;
        std::optional<Profile> profile;
        std::unique_ptr<ClientEngine> engine;
        std::unique_ptr<phone::CallMedia> media;
        std::vector<qint16> voice;
    };
    DemoPhone &phone(const QString &name);
    void step(const QString &what);
    void wire();
    void printTimeline();
    void maybeStartCall();
    std::vector<qint16> voiceFor(const QString &name);
    void finish(int code, const QString &why = {});

    QTextStream &m_out;
    QTemporaryDir m_dir;
    DemoBrokers m_brokers;
    bool m_federated = false;
    bool m_callPlaced = false;
    std::vector<std::unique_ptr<DemoPhone>> m_phones;
    QByteArray m_sid;
    int m_online = 0;
    int m_enrolled = 0;
    bool m_carolLeft = false;
    bool m_hungUp = false;
    bool m_done = false;
    QTimer m_watchdog;
    QDateTime m_t0;
    QString m_recordings;
};

} // namespace sotto::app
