#pragma once

// The call in view: who is in it, who is talking and how loud, and the buttons to answer,
// decline, hang up (Esc), mute and add a participant. A second call ringing while we are in one
// shows as a banner above it.

#include <QElapsedTimer>
#include <QPointer>
#include <QWidget>

#include <map>

class QFrame;
class QGridLayout;
class QLabel;
class QProgressBar;
class QPushButton;
class QToolButton;

class QTreeWidget;

namespace sotto::audio {
class MediaSession;
struct MediaStats;
}

namespace sotto::phone {
class Phone;
}

namespace sotto::app {

class CallPanel : public QWidget
{
    Q_OBJECT
public:
    explicit CallPanel(phone::Phone &phone, QWidget *parent = nullptr);

    QByteArray sid() const { return m_sid; }
    void hangUp();
    void answer();
    void decline();

private:
    struct Row
    {
        QLabel *name = nullptr;
        QLabel *talking = nullptr;
        QLabel *muted = nullptr; // the mute badge
        QProgressBar *meter = nullptr;
        QElapsedTimer lastTalk; // when they were last heard above the talking level
    };
    void show(const QByteArray &sid);
    void refresh();
    void rebuildMembers();
    void fillInviteMenu();
    void onMediaStarted(const QByteArray &sid);
    void setLevel(const QString &account, float level, bool talking);
    QByteArray ringingElsewhere() const;
    void showStats(const audio::MediaStats &stats);

    phone::Phone &m_phone;
    QByteArray m_sid;
    QString m_mediaError; // why this call has no sound, if it has none
    QLabel *m_title;
    QLabel *m_state;
    QLabel *m_notice;
    QFrame *m_banner;
    QLabel *m_bannerText;
    QWidget *m_members;
    QGridLayout *m_grid;
    QPushButton *m_answer;
    QPushButton *m_decline;
    QPushButton *m_hangup;
    QPushButton *m_mute;
    QToolButton *m_add;
    std::map<QString, Row> m_rows; // "" is us
    QTreeWidget *m_stats; // per member: packets, loss, jitter, relay round trip, bitrate, FEC, generation
    struct Previous
    {
        quint64 bytes = 0;
        qint64 atMs = 0;
    };
    std::map<quint32, Previous> m_previous; // by SSRC, for the bitrate
    QElapsedTimer m_since;
    QPointer<audio::MediaSession> m_watched;
};

} // namespace sotto::app
