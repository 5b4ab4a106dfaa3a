#include "phonesettings.h"

#include <QSettings>

#include <algorithm>

namespace sotto::app {

namespace {
QString k(const char *name)
{
    return QString::fromLatin1(name);
}
} // namespace

PhoneSettings PhoneSettings::load(QSettings &s)
{
    PhoneSettings p;
    p.profileDir = s.value(k("broker/profileDir")).toString();
    p.inputDevice = s.value(k("audio/input")).toString();
    p.outputDevice = s.value(k("audio/output")).toString();
    p.echoCancellation = s.value(k("audio/echoCancellation"), true).toBool();
    p.noiseSuppression = s.value(k("audio/noiseSuppression"), true).toBool();
    p.refreshHours = std::clamp(s.value(k("keys/refreshHours"), 0).toInt(), 0, 24 * 30);
    p.keyLogWarningSeen = s.value(k("keys/keyLogWarningSeen"), false).toBool();
    return p;
}

void PhoneSettings::save(QSettings &s) const
{
    s.setValue(k("broker/profileDir"), profileDir);
    s.setValue(k("audio/input"), inputDevice);
    s.setValue(k("audio/output"), outputDevice);
    s.setValue(k("audio/echoCancellation"), echoCancellation);
    s.setValue(k("audio/noiseSuppression"), noiseSuppression);
    s.setValue(k("keys/refreshHours"), refreshHours);
    s.setValue(k("keys/keyLogWarningSeen"), keyLogWarningSeen);
    s.sync();
}

} // namespace sotto::app
