#include "setupbench.h"

#include "core/crypto.h"
#include "core/noise.h"
#include "core/skbp.h"

#include <QDir>
#include <QFile>
#include <QProcess>
#include <QStandardPaths>
#include <QTemporaryDir>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cstdio>
#include <optional>

namespace sotto::bench {

// ---- set-up ------------------------------------------------------------------------------

struct SetupWork::Data
{
    SecretBytes kAlice = *crypto::randomSecret(32);
    SecretBytes sk = *crypto::randomSecret(32);
    QByteArray sid = *crypto::randomBytes(16);
    skbp::WrapContext ctx{skbp::WrapPurpose::Call, sid, 0, QStringLiteral("alice")};
    QByteArray wrapped = *skbp::wrap(kAlice, 7, sk, ctx);
    skbp::WrapKeyCache cache;
    // The floor's own prepared state.
    QByteArray aad = skbp::wrapAad(ctx.purpose, sid, 0, ctx.owner, 7);
    EVP_CIPHER *cipher = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
    EVP_CIPHER_CTX *gcm = EVP_CIPHER_CTX_new();
};

SetupWork::SetupWork() : d(std::make_unique<Data>())
{
    (void)d->cache.get(d->kAlice); // derived once per epoch, not per call
    const SecretBytes wk = *skbp::wrapKey(d->kAlice);
    EVP_DecryptInit_ex2(d->gcm, d->cipher, wk.data(), nullptr, nullptr);
}

SetupWork::~SetupWork()
{
    EVP_CIPHER_CTX_free(d->gcm);
    EVP_CIPHER_free(d->cipher);
}

void SetupWork::setup()
{
    auto key = skbp::unwrapWith(**d->cache.get(d->kAlice), 7, d->wrapped, d->ctx);
    if (!key)
        qFatal("setup failed");
    const skbp::SrtpKeys keys(*key, d->sid, 0);
    const skbp::SrtpMaterial own = keys.material(0x11111111);  // what we send under
    const skbp::SrtpMaterial peer = keys.material(0x22222222); // what we receive
    if (own.masterKey.size() != 32 || peer.masterSalt.size() != 12)
        qFatal("setup failed");
}

void SetupWork::floor()
{
    const auto *nonce = reinterpret_cast<const unsigned char *>(d->wrapped.constData()) + 5;
    const auto *ct = nonce + crypto::kNonceSize;
    unsigned char key[32], own[44], peer[44];
    int len = 0, fin = 0;
    EVP_DecryptInit_ex2(d->gcm, nullptr, nullptr, nonce, nullptr);
    EVP_DecryptUpdate(d->gcm, nullptr, &len, reinterpret_cast<const unsigned char *>(d->aad.constData()),
                      int(d->aad.size()));
    EVP_DecryptUpdate(d->gcm, key, &len, ct, 32);
    EVP_CIPHER_CTX_ctrl(d->gcm, EVP_CTRL_GCM_SET_TAG, 16, const_cast<unsigned char *>(ct + 32));
    if (EVP_DecryptFinal_ex(d->gcm, key + len, &fin) != 1)
        qFatal("floor: authentication failed");
    const auto prk = crypto::HkdfPrk::extract(d->sid, QByteArrayView(reinterpret_cast<const char *>(key), 32));
    static const char info1[] = "SKBP/1 srtp\0\0\0\0\x11\x11\x11\x11";
    static const char info2[] = "SKBP/1 srtp\0\0\0\0\x22\x22\x22\x22";
    prk.expand({QByteArrayView(info1, sizeof info1 - 1)}, own, 44);
    prk.expand({QByteArrayView(info2, sizeof info2 - 1)}, peer, 44);
    OPENSSL_cleanse(key, sizeof key);
    OPENSSL_cleanse(own, sizeof own);
    OPENSSL_cleanse(peer, sizeof peer);
}

// ---- handshake ---------------------------------------------------------------------------

struct HandshakeWork::Data
{
    crypto::X25519KeyPair broker = *crypto::x25519Generate();
    SecretBytes psk = *crypto::randomSecret(32);
    QByteArray prologue = skbp::enrollPrologue(QStringLiteral("alice"), 3);
    std::optional<noise::HandshakeState> client;
    QByteArray m1, m2;
};

HandshakeWork::HandshakeWork() : d(std::make_unique<Data>()) {}
HandshakeWork::~HandshakeWork() = default;

void HandshakeWork::clientFirst()
{
    auto client = noise::HandshakeState::create({noise::Pattern::NKpsk0, true, d->prologue, {}, d->broker.publicKey, d->psk, std::nullopt});
    auto m1 = client->writeMessage("{}");
    if (!m1)
        qFatal("handshake failed");
    d->m1 = *m1;
    d->client.emplace(std::move(*client));
}

void HandshakeWork::respond()
{
    auto resp = noise::HandshakeState::create({noise::Pattern::NKpsk0, false, d->prologue, d->broker.privateKey, {}, d->psk, std::nullopt});
    (void)resp->readMessage(d->m1);
    d->m2 = *resp->writeMessage("{}");
}

void HandshakeWork::clientSecond()
{
    if (!d->client->readMessage(d->m2))
        qFatal("handshake failed");
    auto [a, b] = d->client->split();
    auto k = skbp::brokerKey(d->client->handshakeHash(), a.key(), b.key());
    if (!k)
        qFatal("handshake failed");
}

// ---- instruction counts ------------------------------------------------------------------

} // namespace sotto::bench

// The measured calls, by names callgrind's --toggle-collect can match: collection is on only
// while one of these runs. noinline, so that each is a function of its own.
extern "C" {
__attribute__((noinline)) void sotto_probe_setup(sotto::bench::SetupWork *w) { w->setup(); }
__attribute__((noinline)) void sotto_probe_floor(sotto::bench::SetupWork *w) { w->floor(); }
__attribute__((noinline)) void sotto_probe_handshake_first(sotto::bench::HandshakeWork *w) { w->clientFirst(); }
__attribute__((noinline)) void sotto_probe_handshake_second(sotto::bench::HandshakeWork *w) { w->clientSecond(); }
}

namespace sotto::bench {

int runProbe(const QString &name, int iterations)
{
    if (name == u"setup" || name == u"floor") {
        SetupWork w;
        const bool setup = name == u"setup";
        // The warm-up (first fetches, first allocations) is not collected.
        setup ? w.setup() : w.floor();
        for (int i = 0; i < iterations; ++i)
            setup ? sotto_probe_setup(&w) : sotto_probe_floor(&w);
        return 0;
    }
    if (name == u"handshake") {
        HandshakeWork w;
        w.clientFirst();
        w.respond();
        w.clientSecond();
        for (int i = 0; i < iterations; ++i) {
            sotto_probe_handshake_first(&w);
            w.respond();
            sotto_probe_handshake_second(&w);
        }
        return 0;
    }
    std::fprintf(stderr, "unknown probe %s\n", qPrintable(name));
    return 2;
}

namespace {

// The "totals:" line of a callgrind output file: instructions collected (Ir).
std::optional<double> totalInstructions(const QString &path)
{
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly))
        return std::nullopt;
    while (!f.atEnd()) {
        const QByteArray line = f.readLine().trimmed();
        if (line.startsWith("totals:") || line.startsWith("summary:")) {
            bool ok = false;
            const double n = line.mid(line.indexOf(':') + 1).trimmed().split(' ').value(0).toDouble(&ok);
            if (ok)
                return n;
        }
    }
    return std::nullopt;
}

} // namespace

QJsonObject countInstructions(const QString &self, int iterations, QString *error)
{
    const QString valgrind = QStandardPaths::findExecutable(QStringLiteral("valgrind"));
    if (valgrind.isEmpty()) {
        *error = QStringLiteral("valgrind is not installed (apt-get install valgrind)");
        return {};
    }
    QTemporaryDir dir;
    struct Probe
    {
        const char *key;
        const char *name;
        QStringList functions;
    };
    const Probe probes[] = {
        {"client_setup", "setup", {QStringLiteral("sotto_probe_setup")}},
        {"client_setup_floor", "floor", {QStringLiteral("sotto_probe_floor")}},
        {"client_noise_handshake", "handshake", {QStringLiteral("sotto_probe_handshake_first"), QStringLiteral("sotto_probe_handshake_second")}},
    };
    QJsonObject out;
    for (const Probe &p : probes) {
        const QString file = dir.filePath(QString::fromLatin1(p.name) + QStringLiteral(".out"));
        QStringList args{QStringLiteral("--tool=callgrind"), QStringLiteral("--collect-atstart=no"),
                         QStringLiteral("--callgrind-out-file=") + file};
        for (const QString &fn : p.functions)
            args << QStringLiteral("--toggle-collect=") + fn;
        args << self << QStringLiteral("--callgrind-probe") << QLatin1StringView(p.name)
             << QStringLiteral("--iterations") << QString::number(iterations);
        QProcess proc;
        proc.setProcessChannelMode(QProcess::MergedChannels);
        proc.start(valgrind, args);
        if (!proc.waitForFinished(600000) || proc.exitCode() != 0) {
            *error = QStringLiteral("valgrind %1 failed: %2").arg(QLatin1StringView(p.name), QString::fromLocal8Bit(proc.readAll().right(2000)));
            return {};
        }
        const auto total = totalInstructions(file);
        if (!total) {
            *error = QStringLiteral("no totals in %1").arg(file);
            return {};
        }
        out.insert(QLatin1StringView(p.key), *total / iterations);
    }
    const double setup = out.value(QLatin1StringView("client_setup")).toDouble();
    if (setup > 0) {
        out.insert(QStringLiteral("setup_vs_handshake"), out.value(QLatin1StringView("client_noise_handshake")).toDouble() / setup);
        out.insert(QStringLiteral("setup_vs_floor"), setup / out.value(QLatin1StringView("client_setup_floor")).toDouble());
    }
    out.insert(QStringLiteral("iterations"), iterations);
    return out;
}

} // namespace sotto::bench
