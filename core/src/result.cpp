#include "core/result.h"

#include <array>
#include <utility>

namespace sotto {

namespace {
constexpr std::array<std::pair<ErrorCode, const char *>, 10> kWireCodes{{
    {ErrorCode::Auth, "auth"},
    {ErrorCode::BadRequest, "bad_request"},
    {ErrorCode::UnknownAccount, "unknown_account"},
    {ErrorCode::Offline, "offline"},
    {ErrorCode::Busy, "busy"},
    {ErrorCode::Declined, "declined"},
    {ErrorCode::NotInSession, "not_in_session"},
    {ErrorCode::Forbidden, "forbidden"},
    {ErrorCode::RateLimited, "rate_limited"},
    {ErrorCode::Internal, "internal"},
}};
} // namespace

QString errorCodeName(ErrorCode code)
{
    for (const auto &[c, name] : kWireCodes) {
        if (c == code)
            return QString::fromLatin1(name);
    }
    return QStringLiteral("internal");
}

ErrorCode errorCodeFromName(QStringView name)
{
    for (const auto &[c, n] : kWireCodes) {
        if (name == QLatin1StringView(n))
            return c;
    }
    return ErrorCode::Internal;
}

} // namespace sotto
