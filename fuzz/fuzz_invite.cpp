// What a person pastes or types: invite links, HOST:PORT and durations (core/invite.h).
//
//   input = u8(which) text     ; which % 3: 0 InviteLink::parse, 1 parseHostPort, 2 parseDuration
//                              ; text is UTF-8 (invalid sequences become U+FFFD, as from a UI)
//
// Every failure is ErrorCode::Usage. A parsed link prints (toString) to a link that parses to the
// same fields; a parsed address of a plain host prints back to itself; a duration is positive,
// at most ten years, and parses again from its seconds.

#include "fuzzsupport.h"

#include "core/invite.h"
#include "core/skbp.h"

using namespace sotto;
using namespace sotto::fuzz;

namespace {

constexpr quint16 kDefaultPort = 7420;

void checkLink(const QString &text)
{
    auto link = InviteLink::parse(text);
    if (!link) {
        FUZZ_CHECK(link.error().code == ErrorCode::Usage);
        return;
    }
    FUZZ_CHECK(!link->host.isEmpty() && link->port > 0);
    FUZZ_CHECK(skbp::isValidAccount(link->account));
    FUZZ_CHECK(link->brokerPublicKey.size() == 32 && link->secret.size() == 32);
    auto again = InviteLink::parse(link->toString());
    FUZZ_CHECK(again.ok());
    FUZZ_CHECK(again->host == link->host);
    FUZZ_CHECK(again->port == link->port);
    FUZZ_CHECK(again->account == link->account);
    FUZZ_CHECK(again->brokerPublicKey == link->brokerPublicKey);
    FUZZ_CHECK(again->secret.equals(link->secret));
}

// A host a person would write, whose printed form cannot be read differently.
bool isPlainHost(const QString &host)
{
    for (QChar c : host) {
        if (c.isSpace() || c == u'[' || c == u']')
            return false;
    }
    return true;
}

void checkHostPort(const QString &text)
{
    auto hp = parseHostPort(text, kDefaultPort);
    if (!hp) {
        FUZZ_CHECK(hp.error().code == ErrorCode::Usage);
        return;
    }
    const auto &[host, port] = *hp;
    FUZZ_CHECK(!host.isEmpty());
    if (!isPlainHost(host))
        return;
    // One arg() call for both: a host may hold "%1"-like text of its own.
    const QString printed =
        (host.contains(u':') ? QStringLiteral("[%1]:%2") : QStringLiteral("%1:%2"))
            .arg(host, QString::number(port));
    auto again = parseHostPort(printed, kDefaultPort == port ? 1 : kDefaultPort);
    FUZZ_CHECK(again.ok());
    FUZZ_CHECK(again->first == host && again->second == port);
}

void checkDuration(const QString &text)
{
    auto d = parseDuration(text);
    if (!d) {
        FUZZ_CHECK(d.error().code == ErrorCode::Usage);
        return;
    }
    FUZZ_CHECK(*d > 0 && *d <= 3650LL * 86400);
    auto again = parseDuration(QStringLiteral("%1s").arg(*d));
    FUZZ_CHECK(again.ok() && *again == *d);
}

fuzz::Seeds seeds()
{
    auto tagged = [](char which, const char *text) { return QByteArray(1, which) + text; };
    auto b64 = [](const QByteArray &b) {
        return b.toBase64(QByteArray::Base64UrlEncoding | QByteArray::OmitTrailingEquals);
    };
    InviteLink link;
    link.host = QStringLiteral("broker.example.org");
    link.port = 7420;
    link.account = QStringLiteral("alice");
    link.brokerPublicKey = fixedBytes(0xf8);
    link.secret = fixedSecret(0x3e);
    InviteLink v6 = link;
    v6.host = QStringLiteral("::1");
    v6.port = 443;
    v6.account = QStringLiteral("bob.smith-2");
    return {
        {"link", QByteArray(1, '\0') + link.toString().toUtf8()},
        {"link-v6", QByteArray(1, '\0') + v6.toString().toUtf8()},
        {"link-default-port", QByteArray(1, '\0') + "sotto://10.0.0.1/join?account=carol&broker=" +
                                  b64(fixedBytes(1)) + "&secret=" + b64(fixedBytes(2))},
        {"hostport", tagged(1, "broker.example.org:7420")},
        {"hostport-v6", tagged(1, "[fe80::1%eth0]:9000")},
        {"host-only", tagged(1, "localhost")},
        {"duration-days", tagged(2, "7d")},
        {"duration-seconds", tagged(2, " 90s ")},
    };
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    writeSeedsIfAsked(argc, argv, seeds);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Cursor in(inputView(data, size));
    const quint8 which = in.u8() % 3;
    const QString text = QString::fromUtf8(in.rest());
    switch (which) {
    case 0:
        checkLink(text);
        break;
    case 1:
        checkHostPort(text);
        break;
    case 2:
        checkDuration(text);
        break;
    }
    return 0;
}
