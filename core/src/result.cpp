#include "core/result.h"

#include <array>
#include <utility>

namespace sotto {

namespace {
constexpr std::array<std::pair<ErrorCode, const char *>, 11> kWireCodes{{
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
    {ErrorCode::Standby, "standby"},
}};

constexpr std::array<std::pair<EndReason, const char *>, 7> kEndReasons{{
    {EndReason::Declined, "declined"},
    {EndReason::NoAnswer, "no answer"},
    {EndReason::Hangup, "hangup"},
    {EndReason::Cancelled, "cancelled"},
    {EndReason::Disconnected, "disconnected"},
    {EndReason::Revoked, "revoked"},
    {EndReason::Failed, "failed"},
}};
} // namespace

QString endReasonName(EndReason reason)
{
    for (const auto &[r, name] : kEndReasons) {
        if (r == reason)
            return QString::fromLatin1(name);
    }
    return QStringLiteral("failed");
}

std::optional<EndReason> endReasonFromName(QStringView name)
{
    for (const auto &[r, n] : kEndReasons) {
        if (name == QLatin1StringView(n))
            return r;
    }
    return std::nullopt;
}

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
