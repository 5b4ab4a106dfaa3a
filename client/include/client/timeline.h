#pragma once

// The key timeline: every step that made, delivered, ratcheted or rotated a key, with time,
// session, generation, epoch and fingerprints — never a key. A model in core; the GUI and the
// headless phone only display it.

#include <QAbstractListModel>
#include <QDateTime>
#include <QJsonObject>

#include <optional>
#include <vector>

namespace sotto {

struct TimelineEvent
{
    enum class Kind {
        Enrolled,        // first Diffie-Hellman committed
        Refreshed,       // periodic Diffie-Hellman committed: chain broken
        CallKey,         // caller: {SK}K_me received and unwrapped
        SessionKey,      // callee: SK derived from own K
        Incoming,        // a call rings
        Answered,        // the call was answered
        Joined,          // someone joined: ratchet (or our own key as a joiner)
        Left,            // someone left
        Rekeyed,         // fresh generation after a leave
        Ended,           // the session ended
        Rotated,         // post-call rotation {K'}K committed
        Relayed,         // federation: the key crossed the brokers as {SK}K_AB (first hop)
    };

    // Every field has its default, so that a step names only what it has: {.kind = …, .text = …}.
    QDateTime ts{};
    Kind kind = Kind::Incoming;
    QByteArray sid{}; // empty for account-level events
    std::optional<quint32> gen{};
    std::optional<quint32> epoch{};
    QString fp{};       // fingerprint of the key this step produced
    QString peer{};     // the other party the step is about
    QString notation{}; // the patent's notation, e.g. "{SK}K_alice"
    QString text{};     // one readable line

    static QString kindName(Kind kind);
    static std::optional<Kind> kindFromName(const QString &name);
    QJsonObject toJson() const;
    // The inverse of toJson(); nullopt for anything it would not have written.
    static std::optional<TimelineEvent> fromJson(const QJsonObject &o);
};

class Timeline : public QAbstractListModel
{
    Q_OBJECT
public:
    enum Role {
        KindRole = Qt::UserRole + 1,
        SidRole,
        GenRole,
        EpochRole,
        FingerprintRole,
        PeerRole,
        NotationRole,
        TimeRole,
    };

    explicit Timeline(QObject *parent = nullptr);

    int rowCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role) const override;
    QHash<int, QByteArray> roleNames() const override;

    // At most this many steps are held; past it the oldest quarter goes (rows removed).
    static constexpr int kMaxEvents = 5000;

    void append(TimelineEvent event);
    // Earlier steps (a kept timeline), put before everything appended so far; no appended().
    void prepend(std::vector<TimelineEvent> earlier);
    const std::vector<TimelineEvent> &events() const { return m_events; }
    std::vector<TimelineEvent> eventsFor(const QByteArray &sid) const;

Q_SIGNALS:
    void appended(const sotto::TimelineEvent &event);

private:
    std::vector<TimelineEvent> m_events;
};

} // namespace sotto
