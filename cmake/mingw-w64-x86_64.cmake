# CMake toolchain for Windows x86-64 with Debian's MinGW-w64 (POSIX thread model: Qt 6 needs
# std::thread and std::mutex, which GCC's win32 model lacks), against the SDK scripts/windows-sdk
# builds. The SDK's folder comes from SOTTO_WIN_SDK (environment or cache variable). Every program
# built for the target runs under Wine through scripts/wine-run (the cross-compiling emulator).
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR AMD64)
set(_sotto_triple x86_64-w64-mingw32)
set(CMAKE_C_COMPILER ${_sotto_triple}-gcc-posix)
set(CMAKE_CXX_COMPILER ${_sotto_triple}-g++-posix)
set(CMAKE_RC_COMPILER ${_sotto_triple}-windres)
set(CMAKE_AR /usr/bin/${_sotto_triple}-ar CACHE FILEPATH "")
set(CMAKE_RANLIB /usr/bin/${_sotto_triple}-ranlib CACHE FILEPATH "")

if(NOT SOTTO_WIN_SDK AND DEFINED ENV{SOTTO_WIN_SDK})
  set(SOTTO_WIN_SDK "$ENV{SOTTO_WIN_SDK}")
endif()
if(NOT SOTTO_WIN_SDK)
  message(FATAL_ERROR "SOTTO_WIN_SDK is not set: build the SDK with scripts/windows-sdk")
endif()
set(SOTTO_WIN_SDK "${SOTTO_WIN_SDK}" CACHE PATH "the Windows SDK scripts/windows-sdk built")

set(CMAKE_FIND_ROOT_PATH ${SOTTO_WIN_SDK}/prefix ${SOTTO_WIN_SDK}/qt6 /usr/${_sotto_triple})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
set(CMAKE_CROSSCOMPILING_EMULATOR ${CMAKE_CURRENT_LIST_DIR}/../scripts/wine-run)
