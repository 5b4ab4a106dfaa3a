#pragma once

// Windows only (included by the Windows sides of privatefile.h and localchannel.h): the user an
// access token stands for. Any thread.

#include <vector>

#include <windows.h>

namespace sotto::win {

// A copy of the SID of `token`'s user (the token needs TOKEN_QUERY). Empty when the token
// cannot be read; GetLastError() then says why.
std::vector<BYTE> tokenUserSid(HANDLE token);

// The same for the calling process's own token.
std::vector<BYTE> processUserSid();

} // namespace sotto::win
