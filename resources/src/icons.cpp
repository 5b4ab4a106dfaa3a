#include "resources/icons.h"

#include <QDir>
#include <QFile>

namespace sotto {

QIcon icon(QStringView name)
{
#ifdef SOTTO_PNG_ICONS
    const QString folder = QStringLiteral(":/sotto/icons/%1").arg(name);
    if (!QFile::exists(folder))
        return {};
    QIcon i;
    for (int n : {SOTTO_PNG_ICON_SIZE_LIST})
        i.addFile(QStringLiteral("%1/%2.png").arg(folder).arg(n), QSize(n, n));
    return i;
#else
    const QString file = QStringLiteral(":/sotto/icons/%1.svg").arg(name);
    return QFile::exists(file) ? QIcon(file) : QIcon();
#endif
}

QStringList iconNames()
{
    QStringList names;
    const QDir dir(QStringLiteral(":/sotto/icons"));
#ifdef SOTTO_PNG_ICONS
    names = dir.entryList(QDir::Dirs | QDir::NoDotAndDotDot);
#else
    for (const QString &f : dir.entryList({QStringLiteral("*.svg")}, QDir::Files))
        names.append(f.chopped(4));
#endif
    return names;
}

} // namespace sotto
