#pragma once

// The app's icons, by name: icon(u"call") is resources/icons/call.svg. Compiled in, either as
// the SVG itself (drawn by Qt's SVG icon engine at any size) or, in a build with SOTTO_PNG_ICONS
// (a Qt without that engine), as PNG renders at several sizes made at build time. A name with no
// icon gives a null QIcon. GUI thread (QIcon).

#include <QIcon>
#include <QStringList>
#include <QStringView>

namespace sotto {

QIcon icon(QStringView name);

// The names of every icon compiled in (for tests).
QStringList iconNames();

} // namespace sotto
