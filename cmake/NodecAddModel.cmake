# NodecAddModel.cmake — nodec_add_model(): a model's C, emitted at build time.
# Shipped in the nodec package (find_package(nodec)) and used in nodec's own
# build tree (cmake/install.cmake).  docs/embedding.md §nodec_add_model.
#
#   nodec_add_model(<target> <model.nde> [OUTPUT_DIR <dir>] [NAME <name>])
#
# Runs `nodec emit <model.nde>` when the model (or nodec) changes, writing
# <dir>/<name>.c and <dir>/<name>.h; adds the .c to <target>'s sources and
# <dir> to its include directories (PRIVATE), and links libm.  <dir> defaults
# to ${CMAKE_CURRENT_BINARY_DIR}/nodec/<target>; a relative one is taken
# from ${CMAKE_CURRENT_BINARY_DIR}.  <name> is the model's name, which is
# the C prefix and the file name: the file's `model NAME` statement, else
# its file name (as nodec derives it).  It is read when CMake configures,
# and CMake configures again when the model file changes; give NAME only
# when that guess is wrong.  Sets in the caller's scope:
#   NODEC_<name>_OUTPUTS       the emitted .c and .h
#   NODEC_<name>_INCLUDE_DIR   <dir>
# The emitted C is C99; in a project without C, it is compiled as C++.
cmake_minimum_required(VERSION 3.20)

# nodec's model name for a file without a `model` statement (driver.c,
# nc_model_name_from_path): the file name up to its first dot, other
# characters than letters and digits as _, m_ before a leading digit or
# a name starting with "nodec".
function(_nodec_model_name model out)
  file(STRINGS ${model} lines REGEX "^[ \t]*model[ \t]+[A-Za-z_][A-Za-z0-9_]*")
  if(lines)
    list(GET lines 0 line)
    string(REGEX REPLACE "^[ \t]*model[ \t]+([A-Za-z_][A-Za-z0-9_]*).*" "\\1" name "${line}")
  else()
    get_filename_component(base ${model} NAME)
    string(REGEX REPLACE "\\..*" "" name "${base}")
    if(name STREQUAL "")
      set(name "${base}")
    endif()
    string(MAKE_C_IDENTIFIER "${name}" name)
    if(base MATCHES "^[0-9]")
      string(SUBSTRING "${name}" 1 -1 name) # MAKE_C_IDENTIFIER's _ before a digit
      set(name "m_${name}")
    elseif(name MATCHES "^nodec" OR name STREQUAL "")
      set(name "m_${name}")
    endif()
  endif()
  set(${out} ${name} PARENT_SCOPE)
endfunction()

function(nodec_add_model target model)
  cmake_parse_arguments(PARSE_ARGV 2 arg "" "OUTPUT_DIR;NAME" "")
  if(arg_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "nodec_add_model: unknown arguments ${arg_UNPARSED_ARGUMENTS}; "
                        "usage: nodec_add_model(<target> <model.nde> [OUTPUT_DIR dir] [NAME name])")
  endif()
  if(NOT TARGET ${target})
    message(FATAL_ERROR "nodec_add_model: '${target}' is not a target; call add_executable or add_library first")
  endif()
  if(NOT TARGET nodec::nodec)
    message(FATAL_ERROR "nodec_add_model: no nodec::nodec; call find_package(nodec) first")
  endif()
  get_filename_component(model ${model} ABSOLUTE BASE_DIR ${CMAKE_CURRENT_SOURCE_DIR})
  if(NOT EXISTS ${model})
    message(FATAL_ERROR "nodec_add_model: no model file ${model}")
  endif()
  if(arg_NAME)
    set(name ${arg_NAME})
  else()
    _nodec_model_name(${model} name)
    # A renamed model needs new output names: configure again on edits.
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${model})
  endif()
  if(arg_OUTPUT_DIR)
    get_filename_component(dir ${arg_OUTPUT_DIR} ABSOLUTE BASE_DIR ${CMAKE_CURRENT_BINARY_DIR})
  else()
    set(dir ${CMAKE_CURRENT_BINARY_DIR}/nodec/${target})
  endif()
  # Emitted files name their model file relative to this source directory,
  # so they do not depend on where the tree is.
  file(RELATIVE_PATH rel ${CMAKE_CURRENT_SOURCE_DIR} ${model})
  set(outputs ${dir}/${name}.c ${dir}/${name}.h)
  set(script ${CMAKE_CURRENT_FUNCTION_LIST_DIR}/nodec_emit.cmake)
  add_custom_command(
    OUTPUT ${outputs}
    COMMAND ${CMAKE_COMMAND} -DNODEC=$<TARGET_FILE:nodec::nodec> -DMODEL=${rel} -DNAME=${name} -DOUT=${dir}
            -P ${script}
    WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}
    DEPENDS ${model} nodec::nodec $<TARGET_FILE:nodec::nodec> ${script}
    COMMENT "nodec: emitting ${name}.c and ${name}.h from ${rel}"
    VERBATIM)
  target_sources(${target} PRIVATE ${outputs})
  target_include_directories(${target} PRIVATE ${dir})
  if(UNIX)
    target_link_libraries(${target} PRIVATE m)
  endif()
  get_property(languages GLOBAL PROPERTY ENABLED_LANGUAGES)
  if(NOT "C" IN_LIST languages)
    set_source_files_properties(${dir}/${name}.c PROPERTIES LANGUAGE CXX)
  endif()
  set(NODEC_${name}_OUTPUTS ${outputs} PARENT_SCOPE)
  set(NODEC_${name}_INCLUDE_DIR ${dir} PARENT_SCOPE)
endfunction()
