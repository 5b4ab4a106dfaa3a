// sotto-render-icon: renders SVG icons to the bitmaps a platform wants, at build time, through
// Qt's own SVG icon engine — no rasteriser of our own, no checked-in copies.
//
//   sotto-render-icon SVG OUTDIR NAME SIZE...      the hicolor theme: OUTDIR/NxN/apps/NAME.png
//   sotto-render-icon --png SVG OUTDIR SIZE...     OUTDIR/N.png for each size (the icons a build
//                                                  without the SVG icon engine compiles in)
//   sotto-render-icon --ico SVG OUT.ico SIZE...    a Windows icon holding every size
//
// A cross build runs the build host's own copy (SOTTO_HOST_RENDER_ICON), so that the target
// needs no SVG engine at build time. Exit 0, 1 when an icon cannot be rendered or written, 2 on
// bad usage.
#include <QBuffer>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QGuiApplication>
#include <QIcon>
#include <QImage>
#include <QPixmap>

#include <cstdio>
#include <optional>
#include <vector>

namespace {

std::optional<std::vector<int>> parseSizes(const QStringList &args)
{
    std::vector<int> sizes;
    for (const QString &a : args) {
        bool ok = false;
        const int n = a.toInt(&ok);
        if (!ok || n < 8 || n > 256) {
            std::fprintf(stderr, "sotto-render-icon: bad size %s (8 to 256)\n", qPrintable(a));
            return std::nullopt;
        }
        sizes.push_back(n);
    }
    if (sizes.empty())
        return std::nullopt;
    return sizes;
}

std::optional<QImage> render(const QString &svg, int n)
{
    const QImage image = QIcon(svg).pixmap(QSize(n, n), 1.0).toImage();
    if (image.isNull() || image.width() != n) {
        std::fprintf(stderr, "sotto-render-icon: cannot render %s at %d px (is the SVG icon engine installed?)\n",
                     qPrintable(svg), n);
        return std::nullopt;
    }
    return image;
}

bool save(const QImage &image, const QString &path)
{
    if (!QDir().mkpath(QFileInfo(path).path()) || !image.save(path, "PNG")) {
        std::fprintf(stderr, "sotto-render-icon: cannot write %s\n", qPrintable(path));
        return false;
    }
    return true;
}

// An .ico file: ICONDIR, one ICONDIRENTRY per size, then each image as PNG (Windows Vista and
// later read PNG entries at every size). Qt's ICO writer stores a single image only.
bool writeIco(const QString &svg, const QString &out, const std::vector<int> &sizes)
{
    std::vector<QByteArray> pngs;
    for (int n : sizes) {
        auto image = render(svg, n);
        if (!image)
            return false;
        QByteArray png;
        QBuffer buffer(&png);
        buffer.open(QIODevice::WriteOnly);
        if (!image->save(&buffer, "PNG"))
            return false;
        pngs.push_back(png);
    }
    QByteArray ico;
    auto le16 = [&ico](quint16 v) { ico.append(char(v & 0xff)).append(char(v >> 8)); };
    auto le32 = [&](quint32 v) { le16(quint16(v & 0xffff)); le16(quint16(v >> 16)); };
    le16(0); // reserved
    le16(1); // type: icon
    le16(quint16(sizes.size()));
    quint32 offset = quint32(6 + 16 * sizes.size());
    for (size_t i = 0; i < sizes.size(); ++i) {
        const int n = sizes[i];
        ico.append(char(n >= 256 ? 0 : n)).append(char(n >= 256 ? 0 : n)); // 0 means 256
        ico.append(char(0)).append(char(0)); // no palette, reserved
        le16(1);  // colour planes
        le16(32); // bits per pixel
        le32(quint32(pngs[i].size()));
        le32(offset);
        offset += quint32(pngs[i].size());
    }
    for (const QByteArray &png : pngs)
        ico.append(png);
    QFile f(out);
    if (!QDir().mkpath(QFileInfo(out).path()) || !f.open(QIODevice::WriteOnly) || f.write(ico) != ico.size()) {
        std::fprintf(stderr, "sotto-render-icon: cannot write %s\n", qPrintable(out));
        return false;
    }
    return true;
}

int usage()
{
    std::fprintf(stderr, "usage: sotto-render-icon SVG OUTDIR NAME SIZE...\n"
                         "       sotto-render-icon --png SVG OUTDIR SIZE...\n"
                         "       sotto-render-icon --ico SVG OUT.ico SIZE...\n");
    return 2;
}

} // namespace

int main(int argc, char **argv)
{
    qputenv("QT_QPA_PLATFORM", "offscreen");
    QGuiApplication app(argc, argv);
    const QStringList args = app.arguments();
    if (args.size() >= 5 && (args.at(1) == QLatin1StringView("--png") || args.at(1) == QLatin1StringView("--ico"))) {
        const auto sizes = parseSizes(args.mid(4));
        if (!sizes)
            return usage();
        if (args.at(1) == QLatin1StringView("--ico"))
            return writeIco(args.at(2), args.at(3), *sizes) ? 0 : 1;
        for (int n : *sizes) {
            auto image = render(args.at(2), n);
            if (!image || !save(*image, QStringLiteral("%1/%2.png").arg(args.at(3)).arg(n)))
                return 1;
        }
        return 0;
    }
    if (args.size() < 5 || args.at(1).startsWith(QLatin1StringView("--")))
        return usage();
    const auto sizes = parseSizes(args.mid(4));
    if (!sizes)
        return usage();
    for (int n : *sizes) {
        auto image = render(args.at(1), n);
        if (!image || !save(*image, QStringLiteral("%1/%2x%2/apps/%3.png").arg(args.at(2)).arg(n).arg(args.at(3))))
            return 1;
    }
    return 0;
}
