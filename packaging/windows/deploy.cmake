# Windows: what goes beside sotto.exe in the installer (bin/). Included by app/CMakeLists.txt.
#
# A native build on Windows (MSVC + vcpkg) has windeployqt, and Qt's deploy script does it. A
# cross build (MinGW-w64 on Linux: scripts/windows) has none: the Qt plugins Sotto loads are named
# here, and every DLL that sotto.exe and those plugins import — found by walking their import
# tables with the toolchain's objdump (collect-dlls.cmake) in the SDK's folders and MinGW's
# runtime — is installed with them. An import found in none of those folders is a Windows system
# DLL and stays out.

# The plugins Qt loads at run time, by folder: the platform, the native style, the broker
# store's SQLite driver, TLS (Qt 6 loads its backends as plugins: without one, no TLS at all), the
# ICO reader, and the SVG icon engine when the SDK has it.
set(sotto_plugins
  platforms Qt6::QWindowsIntegrationPlugin
  styles Qt6::QWindowsVistaStylePlugin
  sqldrivers Qt6::QSQLiteDriverPlugin
  tls Qt6::QTlsBackendOpenSSLPlugin
  tls Qt6::QSchannelBackendPlugin
  imageformats Qt6::QICOPlugin
  iconengines Qt6::QSvgIconPlugin)
set(sotto_plugin_files)
while(sotto_plugins)
  list(POP_FRONT sotto_plugins folder target)
  if(TARGET ${target})
    install(FILES "$<TARGET_FILE:${target}>" DESTINATION "${CMAKE_INSTALL_BINDIR}/${folder}")
    list(APPEND sotto_plugin_files "$<TARGET_FILE:${target}>")
  endif()
endwhile()

if(NOT CMAKE_CROSSCOMPILING)
  qt_generate_deploy_app_script(TARGET sotto FILENAME_VARIABLE sotto_deploy_script NO_UNSUPPORTED_PLATFORM_ERROR)
  install(SCRIPT "${sotto_deploy_script}")
  return()
endif()

# Where the DLLs are: the SDK's Qt and libraries, and MinGW's C++ runtime and threads
# (packaging/windows/collect-dlls.cmake copies what the program and its plugins import).
get_target_property(sotto_qtcore_dll Qt6::Core IMPORTED_LOCATION_RELEASE)
if(NOT sotto_qtcore_dll)
  get_target_property(sotto_qtcore_dll Qt6::Core IMPORTED_LOCATION)
endif()
get_filename_component(sotto_qt_bin "${sotto_qtcore_dll}" DIRECTORY)
set(sotto_dll_dirs "${sotto_qt_bin}")
if(SOTTO_WIN_SDK)
  list(APPEND sotto_dll_dirs "${SOTTO_WIN_SDK}/prefix/bin")
endif()
foreach(runtime libstdc++-6.dll libwinpthread-1.dll)
  execute_process(COMMAND "${CMAKE_CXX_COMPILER}" -print-file-name=${runtime}
                  OUTPUT_VARIABLE found OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(IS_ABSOLUTE "${found}")
    get_filename_component(found "${found}" DIRECTORY)
    list(APPEND sotto_dll_dirs "${found}")
  endif()
endforeach()
find_program(SOTTO_OBJDUMP NAMES ${CMAKE_CXX_COMPILER_TARGET}-objdump x86_64-w64-mingw32-objdump REQUIRED)

install(CODE "
  execute_process(COMMAND \"${CMAKE_COMMAND}\" -DOBJDUMP=${SOTTO_OBJDUMP} -DSTRIP=${CMAKE_STRIP}
    \"-DDEST=\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}\"
    \"-DBINARIES=$<TARGET_FILE:sotto>;${sotto_plugin_files}\"
    \"-DDIRS=${sotto_dll_dirs}\"
    -P \"${PROJECT_SOURCE_DIR}/packaging/windows/collect-dlls.cmake\"
    RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR \"collecting sotto.exe's DLLs failed\")
  endif()
")
