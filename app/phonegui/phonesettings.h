#pragma once

// What a person chooses for their phone, kept with QSettings (the platform's place for it).
// Secrets never go here.

#include <QString>

class QSettings;

namespace sotto::app {

struct PhoneSettings
{
    QString profileDir;   // empty: the platform's app-data dir
    QString inputDevice;  // PortAudio name; empty: the system default
    QString outputDevice; // PortAudio name; empty: the system default
    bool echoCancellation = true;
    bool noiseSuppression = true;
    int refreshHours = 0; // our own ceiling on the time between refreshes; 0: the broker's
    bool keyLogWarningSeen = false;

    static PhoneSettings load(QSettings &s);
    void save(QSettings &s) const;
};

} // namespace sotto::app
