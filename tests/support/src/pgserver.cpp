#include "support/pgserver.h"

#include "support/fixtures.h"

#include <QCoreApplication>
#include <QDeadlineTimer>
#include <QDir>
#include <QFile>
#include <QRandomGenerator>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <QThread>
#include <QUuid>

#ifdef Q_OS_UNIX
#include <pwd.h>
#include <unistd.h>
#endif

namespace sotto::test {

namespace {

const QString kUser = QStringLiteral("sotto");

// The newest server binaries Debian installed (SOTTO_PG_BINDIR overrides).
QString findBinDir()
{
    const QString env = qEnvironmentVariable("SOTTO_PG_BINDIR");
    if (!env.isEmpty())
        return env;
    QDir root(QStringLiteral("/usr/lib/postgresql"));
    QStringList versions = root.entryList(QDir::Dirs | QDir::NoDotAndDotDot);
    std::sort(versions.begin(), versions.end(), [](const QString &a, const QString &b) { return a.toInt() > b.toInt(); });
    for (const QString &v : versions) {
        const QString bin = root.filePath(v + QStringLiteral("/bin"));
        if (QFile::exists(bin + QStringLiteral("/initdb")) && QFile::exists(bin + QStringLiteral("/postgres")))
            return bin;
    }
    return {};
}

bool run(const QStringList &command, QString *error, int timeoutMs = 60000)
{
    QProcess p;
    p.setProcessChannelMode(QProcess::MergedChannels);
    p.start(command.first(), command.mid(1));
    const bool done = p.waitForFinished(timeoutMs);
    if (done && p.exitStatus() == QProcess::NormalExit && p.exitCode() == 0)
        return true;
    if (error)
        *error = QStringLiteral("%1 failed: %2").arg(command.join(u' '), QString::fromLocal8Bit(p.readAll()).trimmed());
    return false;
}

std::unique_ptr<PgServer> g_shared;

// initdb and the postmaster refuse to run as root (CI runs as root): the server runs as the
// system user `postgres` then. (The PostgreSQL suites run on Linux only: tests/CMakeLists.txt.)
bool runningAsRoot()
{
#ifdef Q_OS_UNIX
    return ::geteuid() == 0;
#else
    return false;
#endif
}

#ifdef Q_OS_UNIX
bool giveToServerUser(const QString &path, QString *error)
{
    const passwd *pw = ::getpwnam("postgres");
    if (!pw || ::chown(QFile::encodeName(path).constData(), pw->pw_uid, pw->pw_gid) != 0) {
        *error = pw ? QStringLiteral("cannot give %1 to the user postgres").arg(path)
                    : QStringLiteral("running as root, and there is no system user postgres to run the server as");
        return false;
    }
    return true;
}
#else
bool giveToServerUser(const QString &path, QString *error)
{
    *error = QStringLiteral("cannot give %1 to the user postgres on this system").arg(path);
    return false;
}
#endif

} // namespace

bool onPostgres()
{
    return qEnvironmentVariable("SOTTO_TEST_STORE") == QLatin1StringView("postgresql");
}

PgServer::PgServer() : m_bin(findBinDir()), m_data(m_dir.filePath(QStringLiteral("data"))) {}

PgServer::~PgServer()
{
    stop();
}

PgServer &PgServer::shared()
{
    if (!g_shared) {
        g_shared = std::make_unique<PgServer>();
        QString error;
        if (!g_shared->start(&error))
            qFatal("cannot start the test PostgreSQL server: %s", qPrintable(error));
        qAddPostRoutine([] { g_shared.reset(); }); // stopped before the application goes
    }
    return *g_shared;
}

QStringList PgServer::asServerUser(const QString &program, const QStringList &args) const
{
    QStringList out;
    if (runningAsRoot())
        out << QStringLiteral("setpriv") << QStringLiteral("--reuid=postgres") << QStringLiteral("--regid=postgres")
            << QStringLiteral("--init-groups");
    else
        out << QStringLiteral("setpriv");
    // The server goes when this process goes, however it goes.
    out << QStringLiteral("--pdeathsig=INT") << QStringLiteral("--") << QDir(m_bin).filePath(program);
    return out + args;
}

bool PgServer::start(QString *error)
{
    if (m_bin.isEmpty()) {
        *error = QStringLiteral("no PostgreSQL server binaries in /usr/lib/postgresql/*/bin (install postgresql)");
        return false;
    }
    if (!m_dir.isValid()) {
        *error = QStringLiteral("no temporary directory");
        return false;
    }
    if (!QFile::exists(m_data + QStringLiteral("/PG_VERSION"))) {
        if (runningAsRoot() && !giveToServerUser(m_dir.path(), error))
            return false;
        const QString password = QString::fromLatin1(QUuid::createUuid().toRfc4122().toHex());
        const QString pwfile = m_dir.filePath(QStringLiteral("pwfile"));
        {
            QFile f(pwfile);
            if (!f.open(QIODevice::WriteOnly) || f.write(password.toLatin1() + '\n') < 0) {
                *error = QStringLiteral("cannot write %1").arg(pwfile);
                return false;
            }
            f.setPermissions(QFileDevice::ReadOwner | QFileDevice::WriteOwner | QFileDevice::ReadUser);
        }
        if (runningAsRoot() && !giveToServerUser(pwfile, error))
            return false;
        if (!run(asServerUser(QStringLiteral("initdb"),
                              {QStringLiteral("-D"), m_data, QStringLiteral("-U"), kUser, QStringLiteral("--auth=scram-sha-256"),
                               QStringLiteral("--pwfile=") + pwfile, QStringLiteral("-E"), QStringLiteral("UTF8"),
                               QStringLiteral("--locale=C"), QStringLiteral("--no-sync"), QStringLiteral("--no-instructions")}),
                 error))
            return false;
        QFile::remove(pwfile);
        // The password the broker's libpq reads, as an operator's ~/.pgpass would give it.
        const QString pgpass = m_dir.filePath(QStringLiteral("pgpass"));
        QFile f(pgpass);
        if (!f.open(QIODevice::WriteOnly) || f.write(QStringLiteral("*:*:*:%1:%2\n").arg(kUser, password).toLatin1()) < 0) {
            *error = QStringLiteral("cannot write %1").arg(pgpass);
            return false;
        }
        f.setPermissions(QFileDevice::ReadOwner | QFileDevice::WriteOwner);
        qputenv("PGPASSFILE", QFile::encodeName(pgpass));
    }
    if (!m_port)
        m_port = freePort();
    m_postmaster = std::make_unique<QProcess>();
    m_postmaster->setProcessChannelMode(QProcess::MergedChannels);
    m_postmaster->setStandardOutputFile(m_dir.filePath(QStringLiteral("server.log")), QIODevice::Append);
    const QStringList cmd = asServerUser(QStringLiteral("postgres"),
                                         {QStringLiteral("-D"), m_data, QStringLiteral("-p"), QString::number(m_port),
                                          QStringLiteral("-h"), QStringLiteral("127.0.0.1"), QStringLiteral("-k"), m_dir.path(),
                                          QStringLiteral("-c"), QStringLiteral("max_connections=300"),
                                          QStringLiteral("-c"), QStringLiteral("shared_buffers=32MB")});
    m_postmaster->start(cmd.first(), cmd.mid(1));
    if (!m_postmaster->waitForStarted(10000) || !waitReady(30000)) {
        QFile log(m_dir.filePath(QStringLiteral("server.log")));
        log.open(QIODevice::ReadOnly);
        *error = QStringLiteral("the server did not come up on 127.0.0.1:%1: %2").arg(m_port).arg(QString::fromLocal8Bit(log.readAll().right(2000)));
        m_postmaster->kill();
        m_postmaster->waitForFinished(5000);
        m_postmaster.reset();
        return false;
    }
    return true;
}

bool PgServer::waitReady(int timeoutMs)
{
    const QDeadlineTimer deadline(timeoutMs);
    while (!deadline.hasExpired()) {
        if (m_postmaster->state() == QProcess::NotRunning)
            return false;
        if (run(asServerUser(QStringLiteral("pg_isready"),
                             {QStringLiteral("-q"), QStringLiteral("-h"), QStringLiteral("127.0.0.1"), QStringLiteral("-p"),
                              QString::number(m_port)}),
                nullptr, 5000))
            return true;
        QThread::msleep(100);
    }
    return false;
}

bool PgServer::isRunning() const
{
    return m_postmaster && m_postmaster->state() != QProcess::NotRunning;
}

void PgServer::stop()
{
    if (!isRunning())
        return;
    QString error;
    if (!run(asServerUser(QStringLiteral("pg_ctl"), {QStringLiteral("stop"), QStringLiteral("-D"), m_data, QStringLiteral("-m"),
                                                     QStringLiteral("fast"), QStringLiteral("-w")}),
             &error, 30000))
        qWarning("%s", qPrintable(error));
    if (!m_postmaster->waitForFinished(30000)) {
        m_postmaster->kill();
        m_postmaster->waitForFinished(5000);
    }
    m_postmaster.reset();
}

void PgServer::kill()
{
    if (!isRunning())
        return;
    m_postmaster->kill();
    m_postmaster->waitForFinished(5000);
    m_postmaster.reset();
}

QString PgServer::url(const QString &database) const
{
    return QStringLiteral("postgresql://%1@127.0.0.1:%2/%3").arg(kUser).arg(m_port).arg(database);
}

bool PgServer::exec(const QString &database, const QString &sql, QString *error)
{
    const QString name = QUuid::createUuid().toString();
    bool ok = false;
    {
        QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QPSQL"), name);
        db.setHostName(QStringLiteral("127.0.0.1"));
        db.setPort(m_port);
        db.setUserName(kUser);
        db.setDatabaseName(database);
        if (db.open()) {
            QSqlQuery q(db);
            ok = q.exec(sql);
            if (!ok && error)
                *error = q.lastError().text();
        } else if (error) {
            *error = db.lastError().text();
        }
        db.close();
    }
    QSqlDatabase::removeDatabase(name);
    return ok;
}

QString PgServer::createDatabase()
{
    const QString name = QStringLiteral("t%1_%2").arg(QCoreApplication::applicationPid()).arg(++m_databases);
    QString error;
    if (!exec(QStringLiteral("postgres"), QStringLiteral("CREATE DATABASE %1").arg(name), &error))
        qFatal("cannot create a test database: %s", qPrintable(error));
    return url(name);
}

QString testStoreLocation(const QString &dataDir)
{
    if (!onPostgres() || QFile::exists(QDir(dataDir).filePath(QStringLiteral("store"))))
        return {};
    return PgServer::shared().createDatabase();
}

QString testStoreAt(const QString &sqlitePath)
{
    return onPostgres() ? PgServer::shared().createDatabase() : sqlitePath;
}

bool wipeStore(const QString &dataDir)
{
    const QDir dir(dataDir);
    QFile recorded(dir.filePath(QStringLiteral("store")));
    if (!recorded.open(QIODevice::ReadOnly)) {
        bool ok = true;
        for (const char *file : {"broker.db", "broker.db-wal", "broker.db-shm"})
            ok = (QFile::remove(dir.filePath(QLatin1StringView(file))) || !QFile::exists(dir.filePath(QLatin1StringView(file)))) && ok;
        return ok;
    }
    const QString url = QString::fromUtf8(recorded.readAll()).trimmed();
    const QString database = url.mid(url.lastIndexOf(u'/') + 1);
    return PgServer::shared().exec(database, QStringLiteral("DROP SCHEMA public CASCADE; CREATE SCHEMA public"));
}

} // namespace sotto::test
