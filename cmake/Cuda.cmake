# The CUDA backend (engine/kernels/cuda/): -DDSAGENT_CUDA=ON|OFF|AUTO (default AUTO).
#   AUTO: built when CMake finds nvcc (on PATH, $CUDACXX, or /usr/local/cuda/bin/nvcc, where the
#         Debian/NVIDIA packages put it without adding it to PATH).
#   ON:   nvcc is required; configuring fails naming where it was looked for.
#   OFF:  never built; `dsagent doctor` says "not built".
# Sets DSAGENT_HAVE_CUDA (ON/OFF) for the rest of the build.
#
# Architectures: SASS for Hopper (sm_90) and, where this nvcc knows them, Blackwell (sm_100 data
# centre, sm_120 workstation), plus compute_90 PTX that the driver JIT-compiles on anything newer.
# Each real architecture is one more device compilation of every .cu file: 3 cost about 1.7-1.9x
# the CPU of sm_90 alone (docs/BENCHMARKS.md, "CUDA build cost"), about 25 s of CPU for the seven
# .cu files in CI today.
# -DCMAKE_CUDA_ARCHITECTURES=... overrides it (e.g. 90-real alone for a quicker local build).
set(DSAGENT_CUDA AUTO CACHE STRING "Build the CUDA backend: ON, OFF or AUTO (when nvcc is found)")
set_property(CACHE DSAGENT_CUDA PROPERTY STRINGS ON OFF AUTO)
string(TOUPPER "${DSAGENT_CUDA}" _dsagent_cuda)
if(NOT _dsagent_cuda MATCHES "^(ON|OFF|AUTO)$")
  message(FATAL_ERROR "DSAGENT_CUDA must be ON, OFF or AUTO, not '${DSAGENT_CUDA}'")
endif()

set(DSAGENT_HAVE_CUDA OFF)
if(NOT _dsagent_cuda STREQUAL "OFF")
  if(NOT DEFINED CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX})
    find_program(DSAGENT_NVCC nvcc HINTS /usr/local/cuda/bin /usr/lib/nvidia-cuda-toolkit/bin)
    if(DSAGENT_NVCC)
      set(ENV{CUDACXX} "${DSAGENT_NVCC}")
    endif()
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    set(DSAGENT_HAVE_CUDA ON)
  elseif(_dsagent_cuda STREQUAL "ON")
    message(FATAL_ERROR
      "DSAGENT_CUDA=ON but no working nvcc was found (looked on PATH, in $CUDACXX and in "
      "/usr/local/cuda/bin). Install the CUDA Toolkit, set CUDACXX=/path/to/nvcc, or configure "
      "with -DDSAGENT_CUDA=OFF (or AUTO) to build without the CUDA backend.")
  else()
    message(STATUS "CUDA backend: off (no nvcc found; DSAGENT_CUDA=AUTO)")
  endif()
endif()

if(DSAGENT_HAVE_CUDA)
  if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
    execute_process(COMMAND ${CMAKE_CUDA_COMPILER} --list-gpu-arch OUTPUT_VARIABLE _dsagent_archs
                    ERROR_QUIET)
    set(_dsagent_real 90-real)
    foreach(_arch 100 120)
      if(_dsagent_archs MATCHES "compute_${_arch}")
        list(APPEND _dsagent_real ${_arch}-real)
      endif()
    endforeach()
    set(CMAKE_CUDA_ARCHITECTURES ${_dsagent_real} 90-virtual CACHE STRING
        "CUDA architectures (cmake/Cuda.cmake)")
  endif()
  enable_language(CUDA)
  set(CMAKE_CUDA_STANDARD 17)
  set(CMAKE_CUDA_STANDARD_REQUIRED ON)
  find_package(CUDAToolkit REQUIRED)
  message(STATUS "CUDA backend: on (nvcc ${CMAKE_CUDA_COMPILER_VERSION}, architectures "
                 "${CMAKE_CUDA_ARCHITECTURES})")
endif()
