# cmake/install.cmake — what `cmake --install` puts where, and the CMake
# and pkg-config packages that find it again.  docs/embedding.md §Install.
#
#   <bindir>/nodec                                  the compiler
#   <libdir>/libnodec.a                             nodec::runtime
#   <libdir>/libnodec.so{,.0,.0.1.0}                nodec::runtime_shared
#   <libdir>/libnodec_tools.a, libnodec_support.a   what `nodec build` links into trainers
#   <includedir>/nodec/{nodec,nodec_model,nodec_tools}.h
#   <libdir>/cmake/nodec/                           find_package(nodec)
#   <libdir>/pkgconfig/nodec.pc                     pkg-config nodec
#   <datadir>/doc/nodec/                            README.md, docs/embedding.md
#
# <bindir>, <libdir>, … come from GNUInstallDirs (bin, lib or lib64 or
# lib/<multiarch>, include).  The installed nodec finds <libdir>/libnodec.a
# relative to itself (tools/CMakeLists.txt), so a prefix can be moved.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(NODEC_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/nodec CACHE STRING
    "Where find_package(nodec)'s files go, relative to the prefix")
mark_as_advanced(NODEC_INSTALL_CMAKEDIR)

install(TARGETS nodec EXPORT nodecTargets RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS nodec_runtime nodec_runtime_shared EXPORT nodecTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} NAMELINK_SKIP
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/nodec)
install(TARGETS nodec_runtime_shared LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} NAMELINK_ONLY)
# The tool library and the helpers under it, for `nodec build` (not exported:
# embedders link the runtime alone).
install(TARGETS nodec_tools nodec_support ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})

# The public headers.  nodec.h and nodec_model.h are the runtime's API;
# nodec_tools.h (file formats, the commands solve, grad and train) is what
# nodec's own commands and `nodec build`'s trainers are made of.
# internal.h, tools.h and support.h stay inside.
install(FILES ${PROJECT_SOURCE_DIR}/runtime/nodec.h ${PROJECT_SOURCE_DIR}/runtime/nodec_model.h
              ${PROJECT_SOURCE_DIR}/tools/nodec_tools.h
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/nodec)

# find_package(nodec): imported targets nodec::runtime (static),
# nodec::runtime_shared, nodec::nodec, and nodec_add_model().
install(EXPORT nodecTargets NAMESPACE nodec:: DESTINATION ${NODEC_INSTALL_CMAKEDIR})
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/nodecConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/cmake/nodecConfig.cmake
                              INSTALL_DESTINATION ${NODEC_INSTALL_CMAKEDIR} PATH_VARS CMAKE_INSTALL_INCLUDEDIR)
# 0.x: a minor version may change the API, so only 0.1.* satisfies 0.1.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/cmake/nodecConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/cmake/nodecConfig.cmake ${PROJECT_BINARY_DIR}/cmake/nodecConfigVersion.cmake
              ${CMAKE_CURRENT_LIST_DIR}/NodecAddModel.cmake ${CMAKE_CURRENT_LIST_DIR}/nodec_emit.cmake
        DESTINATION ${NODEC_INSTALL_CMAKEDIR})

# nodec.pc: prefix relative to the .pc file itself, so --prefix at install
# time and moved prefixes work.
file(RELATIVE_PATH NODEC_PC_PREFIX /p/${CMAKE_INSTALL_LIBDIR}/pkgconfig /p)
string(REGEX REPLACE "/$" "" NODEC_PC_PREFIX "${NODEC_PC_PREFIX}")
configure_file(${CMAKE_CURRENT_LIST_DIR}/nodec.pc.in ${PROJECT_BINARY_DIR}/cmake/nodec.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/cmake/nodec.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/docs/embedding.md
        DESTINATION ${CMAKE_INSTALL_DOCDIR})

# nodec_add_model() for this build tree too (add_subdirectory or
# FetchContent users, and tests/embed): nodec::nodec is an alias of nodec.
include(${CMAKE_CURRENT_LIST_DIR}/NodecAddModel.cmake)
