#pragma once

#include <QString>

#include <optional>
#include <utility>
#include <variant>

namespace sotto {

// Error codes. The first block are the wire codes of PROTOCOL.md §6.2; the rest are local.
enum class ErrorCode {
    Auth,
    BadRequest,
    UnknownAccount,
    Offline,
    Busy,
    Declined,
    NotInSession,
    Forbidden,
    RateLimited,
    Internal,
    Standby, // a standby broker instance: another one serves this store (try the next address)
    // local only
    Crypto,
    Io,
    Corrupt,
    Network,
    Timeout,
    Usage,
    TooLarge, // a message that would not fit a frame (found before anything was sealed)
};

struct Error
{
    ErrorCode code = ErrorCode::Internal;
    QString message;
};

// The wire name of a code ("auth", "bad_request", ...); local codes map to "internal".
QString errorCodeName(ErrorCode code);
// Inverse of errorCodeName; unknown names give Internal.
ErrorCode errorCodeFromName(QStringView name);

// How a call ended: the "reason" of `ended` (PROTOCOL.md §6.2 and Extensions), beside the error
// codes because a phone shows both.
enum class EndReason {
    Declined,     // "declined": the callee said no
    NoAnswer,     // "no answer": it rang out (ringTimeoutMs)
    Hangup,       // "hangup": fewer than two remain
    Cancelled,    // "cancelled": the caller gave up before an answer
    Disconnected, // "disconnected": a member's broker or channel went away
    Revoked,      // "revoked": the operator revoked a member
    Failed,       // "failed": the call could not be keyed
};

// The wire name of a reason, and back; a name this build does not know (a newer broker's) is
// std::nullopt, which a phone shows as Failed.
QString endReasonName(EndReason reason);
std::optional<EndReason> endReasonFromName(QStringView name);

// A value or an error. No exception crosses a library boundary: every fallible call returns this.
template <typename T>
class [[nodiscard]] Result
{
public:
    Result(T value) : m_v(std::in_place_index<0>, std::move(value)) {}
    Result(Error error) : m_v(std::in_place_index<1>, std::move(error)) {}

    bool ok() const { return m_v.index() == 0; }
    explicit operator bool() const { return ok(); }

    T &value() & { return std::get<0>(m_v); }
    const T &value() const & { return std::get<0>(m_v); }
    T &&value() && { return std::get<0>(std::move(m_v)); }
    T *operator->() { return &value(); }
    const T *operator->() const { return &value(); }
    T &operator*() & { return value(); }
    const T &operator*() const & { return value(); }
    T &&operator*() && { return std::move(*this).value(); }

    const Error &error() const { return std::get<1>(m_v); }

private:
    std::variant<T, Error> m_v;
};

template <>
class [[nodiscard]] Result<void>
{
public:
    Result() = default;
    Result(Error error) : m_error(std::move(error)) {}
    bool ok() const { return !m_error; }
    explicit operator bool() const { return ok(); }
    const Error &error() const { return *m_error; }

private:
    std::optional<Error> m_error;
};

inline Error makeError(ErrorCode code, QString message)
{
    return Error{code, std::move(message)};
}

} // namespace sotto
