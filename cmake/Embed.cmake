# dsagent_embed(TARGET NAME NAMESPACE ns BASE_DIR dir FILES f1 f2 ...)
# Builds a static library exposing `std::optional<std::string_view> ns::Find(std::string_view relpath)`
# and `std::vector<std::string_view> ns::List()` over the given files, embedded byte for byte at build
# time (re-embedded whenever a file changes). Prompts and default configs live in the binary this way,
# so an installed dsagent never depends on the source tree.
set(DSAGENT_EMBED_SCRIPT ${CMAKE_CURRENT_LIST_DIR}/EmbedScript.cmake)

function(dsagent_embed target)
  cmake_parse_arguments(E "" "NAMESPACE;BASE_DIR" "FILES" ${ARGN})
  set(out ${CMAKE_CURRENT_BINARY_DIR}/${target}_embedded.cc)
  set(abs_files "")
  foreach(f ${E_FILES})
    list(APPEND abs_files ${E_BASE_DIR}/${f})
  endforeach()
  string(REPLACE ";" "|" files_arg "${E_FILES}")
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DOUT=${out} -DNAMESPACE=${E_NAMESPACE} -DBASE_DIR=${E_BASE_DIR}
            "-DFILES=${files_arg}" -P ${DSAGENT_EMBED_SCRIPT}
    DEPENDS ${abs_files} ${DSAGENT_EMBED_SCRIPT}
    COMMENT "Embedding ${target}"
    VERBATIM)
  add_library(${target} STATIC ${out})
endfunction()
