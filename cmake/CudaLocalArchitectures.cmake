# dsagent_local_cuda_architectures(<out> <nvcc --list-gpu-arch output> <architectures so far>):
# the "XY-real" architectures of this machine's GPUs that none of the build's others runs on and
# that nvcc can build (Ampere's 8.0 and 8.6, Ada's 8.9: cmake/Cuda.cmake's defaults are 9.0 and
# up), so that a build on a workstation runs there. Their compute capability comes from nvidia-smi;
# none where it is missing (CI, machines without a GPU). Script-mode safe (tested with cmake -P,
# tests/scripts/cuda_local_architectures_test.py).
function(dsagent_local_cuda_architectures out nvcc_archs so_far)
  set(_found "")
  execute_process(COMMAND nvidia-smi --query-gpu=compute_cap --format=csv,noheader
                  OUTPUT_VARIABLE _caps ERROR_QUIET RESULT_VARIABLE _status)
  if(_status EQUAL 0)
    string(REGEX MATCHALL "[0-9]+\\.[0-9]+" _caps "${_caps}")
    foreach(_cap IN LISTS _caps)
      string(REPLACE "." "" _arch "${_cap}")
      if(_arch GREATER_EQUAL 80 AND _arch LESS 90 AND nvcc_archs MATCHES "compute_${_arch}"
         AND NOT "${_arch}-real" IN_LIST so_far AND NOT "${_arch}-real" IN_LIST _found)
        list(APPEND _found ${_arch}-real)
      endif()
    endforeach()
  endif()
  set(${out} "${_found}" PARENT_SCOPE)
endfunction()
