# dsagent_cuda_generate_code(<out> <architectures>): nvcc's --generate-code flags for a list in
# CMAKE_CUDA_ARCHITECTURES's form ("90-real;100-real;120-real;90-virtual"), with each real
# architecture compiled from the PTX of the highest virtual architecture of the list at or below
# it, one --generate-code per such PTX: "--generate-code=arch=compute_90,code=[sm_90,sm_100,
# sm_120,compute_90]". A real architecture below every virtual one gets its own front end
# (compute_86 for an Ampere workstation's 86-real). Plain "NN" is both NN-real and NN-virtual.
#
# Why: CMake runs nvcc's front end and optimiser (cicc) once per listed architecture, and three
# of them for the same source cost a fifth of the CUDA build's CPU; ptxas builds each SASS from
# the one PTX as well (docs/BENCHMARKS.md, "CUDA build cost"). It changes what __CUDA_ARCH__ the
# code sees on the newer architectures (the virtual one's), so cmake/Cuda.cmake applies it only
# to its default list, whose kernels gate nothing above 900. Script-mode safe (tested with
# cmake -P, tests/scripts/cuda_generate_code_test.py).
function(dsagent_cuda_generate_code out architectures)
  set(_real "")
  set(_virtual "")
  foreach(_entry IN LISTS architectures)
    if(_entry MATCHES "^([0-9]+)-real$")
      list(APPEND _real ${CMAKE_MATCH_1})
    elseif(_entry MATCHES "^([0-9]+)-virtual$")
      list(APPEND _virtual ${CMAKE_MATCH_1})
    elseif(_entry MATCHES "^([0-9]+)$")
      list(APPEND _real ${CMAKE_MATCH_1})
      list(APPEND _virtual ${CMAKE_MATCH_1})
    else()
      message(FATAL_ERROR "CUDA architecture '${_entry}' is not NN, NN-real or NN-virtual")
    endif()
  endforeach()
  list(REMOVE_DUPLICATES _real)
  list(REMOVE_DUPLICATES _virtual)
  list(SORT _real COMPARE NATURAL)
  list(SORT _virtual COMPARE NATURAL)
  # Each real architecture's source: the highest virtual one at or below it, else itself.
  set(_sources "")
  foreach(_r IN LISTS _real)
    set(_source ${_r})
    foreach(_v IN LISTS _virtual)
      if(_v LESS_EQUAL _r)
        set(_source ${_v})
      endif()
    endforeach()
    list(APPEND _sources ${_source})
    list(APPEND _codes_${_source} sm_${_r})
  endforeach()
  foreach(_v IN LISTS _virtual)
    list(APPEND _sources ${_v})
    list(APPEND _codes_${_v} compute_${_v})
  endforeach()
  list(REMOVE_DUPLICATES _sources)
  list(SORT _sources COMPARE NATURAL)
  set(_flags "")
  foreach(_s IN LISTS _sources)
    string(REPLACE ";" "," _codes "${_codes_${_s}}")
    list(APPEND _flags "--generate-code=arch=compute_${_s},code=[${_codes}]")
  endforeach()
  set(${out} "${_flags}" PARENT_SCOPE)
endfunction()
