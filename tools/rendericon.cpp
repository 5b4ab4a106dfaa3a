// sotto-render-icon SVG OUTDIR NAME SIZE...: renders the app icon into the hicolor theme's PNG
// sizes (OUTDIR/NxN/apps/NAME.png) at build time, through Qt's own SVG icon engine, so that the
// packages carry the sizes desktops look for without a rasteriser of our own or a checked-in copy.
#include <QDir>
#include <QGuiApplication>
#include <QIcon>
#include <QImage>
#include <QPixmap>

#include <cstdio>

int main(int argc, char **argv)
{
    qputenv("QT_QPA_PLATFORM", "offscreen");
    QGuiApplication app(argc, argv);
    const QStringList args = app.arguments();
    if (args.size() < 5) {
        std::fprintf(stderr, "usage: sotto-render-icon SVG OUTDIR NAME SIZE...\n");
        return 2;
    }
    const QIcon icon(args.at(1));
    for (qsizetype i = 4; i < args.size(); ++i) {
        bool ok = false;
        const int n = args.at(i).toInt(&ok);
        if (!ok || n < 8 || n > 1024) {
            std::fprintf(stderr, "sotto-render-icon: bad size %s\n", qPrintable(args.at(i)));
            return 2;
        }
        const QImage image = icon.pixmap(QSize(n, n), 1.0).toImage();
        if (image.isNull() || image.width() != n) {
            std::fprintf(stderr, "sotto-render-icon: cannot render %s at %d px (is the SVG icon engine installed?)\n",
                         qPrintable(args.at(1)), n);
            return 1;
        }
        const QString dir = QStringLiteral("%1/%2x%2/apps").arg(args.at(2)).arg(n);
        if (!QDir().mkpath(dir) || !image.save(QStringLiteral("%1/%2.png").arg(dir, args.at(3)))) {
            std::fprintf(stderr, "sotto-render-icon: cannot write into %s\n", qPrintable(dir));
            return 1;
        }
    }
    return 0;
}
