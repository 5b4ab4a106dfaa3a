#include "phonesettings.h"

#include <QSettings>

#include <algorithm>

namespace sotto::app {

using namespace Qt::Literals::StringLiterals;

PhoneSettings PhoneSettings::load(QSettings &s)
{
    PhoneSettings p;
    p.profileDir = s.value(u"broker/profileDir"_s).toString();
    p.inputDevice = s.value(u"audio/input"_s).toString();
    p.outputDevice = s.value(u"audio/output"_s).toString();
    p.echoCancellation = s.value(u"audio/echoCancellation"_s, true).toBool();
    p.noiseSuppression = s.value(u"audio/noiseSuppression"_s, true).toBool();
    p.refreshHours = std::clamp(s.value(u"keys/refreshHours"_s, 0).toInt(), 0, 24 * 30);
    p.keyLogWarningSeen = s.value(u"keys/keyLogWarningSeen"_s, false).toBool();
    return p;
}

void PhoneSettings::save(QSettings &s) const
{
    s.setValue(u"broker/profileDir"_s, profileDir);
    s.setValue(u"audio/input"_s, inputDevice);
    s.setValue(u"audio/output"_s, outputDevice);
    s.setValue(u"audio/echoCancellation"_s, echoCancellation);
    s.setValue(u"audio/noiseSuppression"_s, noiseSuppression);
    s.setValue(u"keys/refreshHours"_s, refreshHours);
    s.setValue(u"keys/keyLogWarningSeen"_s, keyLogWarningSeen);
    s.sync();
}

} // namespace sotto::app
