# CPack: a .deb and an .rpm on Linux, an NSIS installer on Windows, a disk image on macOS.
# Values go into CPackConfig.cmake as they are written here (backslashes for NSIS included).
set(CPACK_VERBATIM_VARIABLES YES)
set(CPACK_PACKAGE_NAME "sotto")
set(CPACK_PACKAGE_VENDOR "The Sotto developers")
set(CPACK_PACKAGE_CONTACT "The Sotto developers <sotto@example.org>")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "secure calls and conferences on a key broker")
set(CPACK_PACKAGE_DESCRIPTION "Sotto is a softphone for secure calls and conferences of three or more
people, built on a key broker (SKBP/1). A phone agrees a key with its broker
once by Diffie-Hellman; from then on each call's key is delivered wrapped
under it, conferences re-key as members join and leave, and the callee's key
is rotated after every call. The key timeline shows every step by fingerprint.
The same program runs the broker, with a console or as a sandboxed systemd
service (sotto-broker.service).")
set(CPACK_PACKAGE_HOMEPAGE_URL "${SOTTO_HOMEPAGE}")
set(CPACK_RESOURCE_FILE_LICENSE "${PROJECT_SOURCE_DIR}/LICENSE")
set(CPACK_STRIP_FILES ON)
set(CPACK_PACKAGE_INSTALL_DIRECTORY "Sotto")
set(CPACK_SOURCE_IGNORE_FILES "/build.*/" "/\\\\.git/")

# ---- Debian ----------------------------------------------------------------------------------
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION "comm")
set(CPACK_DEBIAN_PACKAGE_PRIORITY "optional")
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# What shlibdeps cannot see, because Qt loads it with dlopen(): the SQLite driver of the broker's
# store, the SVG icon engine, the platform plugins. Speech for the demo, and the PostgreSQL driver
# for a broker with --store postgresql://…, are recommended.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "libqt6sql6-sqlite, libqt6svg6, qt6-qpa-plugins")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "espeak-ng, libqt6sql6-psql")
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "${SOTTO_HOMEPAGE}")
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS OFF)

# ---- RPM ---------------------------------------------------------------------------------------
set(CPACK_RPM_FILE_NAME RPM-DEFAULT)
set(CPACK_RPM_PACKAGE_LICENSE "GPL-3.0-or-later")
set(CPACK_RPM_PACKAGE_SUMMARY "Secure calls and conferences on a key broker")
set(CPACK_RPM_PACKAGE_DESCRIPTION "${CPACK_PACKAGE_DESCRIPTION}")
set(CPACK_RPM_PACKAGE_GROUP "Applications/Communications")
set(CPACK_RPM_PACKAGE_URL "${SOTTO_HOMEPAGE}")
set(CPACK_RPM_PACKAGE_AUTOREQ ON)
set(CPACK_RPM_PACKAGE_REQUIRES "qt6-qtbase-sql, qt6-qtsvg")
set(CPACK_RPM_PACKAGE_SUGGESTS "espeak-ng")
set(CPACK_RPM_EXCLUDE_FROM_AUTO_FILELIST_ADDITION
    /lib /lib/systemd /lib/systemd/system /usr/share/applications /usr/share/metainfo /usr/share/icons
    /usr/share/icons/hicolor /usr/share/man /usr/share/man/man1)

# ---- Windows (NSIS) ------------------------------------------------------------------------------
# A 64-bit installer: makensis makes 32-bit ones unless told the target.
set(CPACK_NSIS_DEFINES "Target amd64-unicode")
set(CPACK_NSIS_INSTALL_ROOT "$PROGRAMFILES64")
set(CPACK_NSIS_DISPLAY_NAME "Sotto")
set(CPACK_NSIS_PACKAGE_NAME "Sotto ${PROJECT_VERSION}")
set(CPACK_NSIS_URL_INFO_ABOUT "${SOTTO_HOMEPAGE}")
set(CPACK_NSIS_CONTACT "${CPACK_PACKAGE_CONTACT}")
set(CPACK_NSIS_ENABLE_UNINSTALL_BEFORE_INSTALL ON)
set(CPACK_NSIS_MODIFY_PATH OFF)
set(CPACK_NSIS_INSTALLED_ICON_NAME "bin\\sotto.exe") # verbatim: one backslash in the script
set(CPACK_PACKAGE_EXECUTABLES "sotto" "Sotto") # the Start-menu entry
set(CPACK_NSIS_EXECUTABLES_DIRECTORY "bin")
if(SOTTO_WINDOWS_ICON)
  set(CPACK_NSIS_MUI_ICON "${SOTTO_WINDOWS_ICON}")
  set(CPACK_NSIS_MUI_UNIICON "${SOTTO_WINDOWS_ICON}")
endif()
# sotto:// invite links open the phone (per machine, as the installer is). Bracket arguments keep
# NSIS's single backslashes and quotes as written.
set(CPACK_NSIS_EXTRA_INSTALL_COMMANDS [=[
  WriteRegStr HKCR "sotto" "" "URL:Sotto invite link"
  WriteRegStr HKCR "sotto" "URL Protocol" ""
  WriteRegStr HKCR "sotto\DefaultIcon" "" "$INSTDIR\bin\sotto.exe,0"
  WriteRegStr HKCR "sotto\shell\open\command" "" '"$INSTDIR\bin\sotto.exe" "%1"'
]=])
set(CPACK_NSIS_EXTRA_UNINSTALL_COMMANDS [=[
  DeleteRegKey HKCR "sotto"
]=])
# Signing (scripts/windows-sign, which does nothing unless SOTTO_SIGN_PFX is set when CPack
# runs): sotto.exe in the staging folder before makensis, the uninstaller as makensis writes it
# (!uninstfinalize, NSIS 3.08), the installer when it is done (!finalize).
set(SOTTO_SIGN_TOOL "" CACHE FILEPATH "Signs a Windows program in place (scripts/windows-sign)")
if(WIN32 AND SOTTO_SIGN_TOOL)
  set(CPACK_NSIS_DEFINES "${CPACK_NSIS_DEFINES}
!finalize '\"${SOTTO_SIGN_TOOL}\" \"%1\"' = 0
!uninstfinalize '\"${SOTTO_SIGN_TOOL}\" \"%1\"' = 0")
  configure_file("${CMAKE_CURRENT_LIST_DIR}/windows/sign-staged.cmake.in" "${CMAKE_BINARY_DIR}/sign-staged.cmake" @ONLY)
  set(CPACK_PRE_BUILD_SCRIPTS "${CMAKE_BINARY_DIR}/sign-staged.cmake")
endif()

# ---- macOS (disk image) ---------------------------------------------------------------------------
set(CPACK_DMG_VOLUME_NAME "Sotto ${PROJECT_VERSION}")

if(WIN32)
  set(CPACK_GENERATOR "NSIS64")
elseif(APPLE)
  set(CPACK_GENERATOR "DragNDrop")
else()
  set(CPACK_GENERATOR "DEB")
endif()
include(CPack)
