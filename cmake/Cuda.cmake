# The CUDA backend (engine/kernels/cuda/): -DDSAGENT_CUDA=ON|OFF|AUTO (default AUTO).
#   AUTO: built when CMake finds nvcc (on PATH, $CUDACXX, or /usr/local/cuda/bin/nvcc, where the
#         Debian/NVIDIA packages put it without adding it to PATH).
#   ON:   nvcc is required; configuring fails naming where it was looked for.
#   OFF:  never built; `dsagent doctor` says "not built".
#   EMULATE: no backend for use; the build is only the engine and the emulated device tests below
#         (a quicker build for work on the kernels, e.g. with -DDSAGENT_SANITIZE=address).
# Sets DSAGENT_HAVE_CUDA (ON/OFF: the backend for use) and DSAGENT_CUDA_EMULATE_ONLY for the rest of
# the build.
#
# The emulated device tests (tests/cuda_emulator/): the same backend sources compiled as ordinary
# C++ against a CUDA emulator that runs every kernel on the CPU, and the CUDA device tests run on
# it, in the same build as everything else (-DDSAGENT_CUDA_EMULATED_TESTS=ON, the default where
# tests are built; they need no nvcc). Their libraries share the engine's objects and differ only
# in what they link as the CUDA runtime. Sets DSAGENT_CUDA_EMULATED (ON/OFF).
#
# Architectures: SASS for Hopper (sm_90) and, where this nvcc knows them, Blackwell (sm_100 data
# centre, sm_120 workstation), plus compute_90 PTX that the driver JIT-compiles on anything newer.
# Each real architecture is one more device compilation (ptxas) of every .cu file; the three of
# the default list share one front end: their SASS comes from the compute_90 PTX
# (cmake/CudaGenerateCode.cmake; docs/BENCHMARKS.md, "CUDA build cost").
# A machine whose GPU none of those runs on (Ampere, Ada: compute 8.x) gets its own as well, from
# nvidia-smi. -DCMAKE_CUDA_ARCHITECTURES=... overrides it (e.g. 90-real alone for a quicker local
# build, 89 for an RTX 4090 built elsewhere). The kernels need compute 8.0 (bf16 arithmetic); on
# 8.x every launch is a plain one (programmatic launch is sm_90's, kernel_launch.cuh).
set(DSAGENT_CUDA AUTO CACHE STRING "Build the CUDA backend: ON, OFF or AUTO (when nvcc is found)")
set_property(CACHE DSAGENT_CUDA PROPERTY STRINGS ON OFF AUTO EMULATE)
string(TOUPPER "${DSAGENT_CUDA}" _dsagent_cuda)
if(NOT _dsagent_cuda MATCHES "^(ON|OFF|AUTO|EMULATE)$")
  message(FATAL_ERROR "DSAGENT_CUDA must be ON, OFF, AUTO or EMULATE, not '${DSAGENT_CUDA}'")
endif()

# dsagent_cuda_sources(<var> NATIVE|EMULATED <files>...): the backend's sources as a build of
# that kind compiles them: as they are, or with each .cu file rewritten for the emulator
# (tests/cuda_emulator/emulate_cu.cmake).
function(dsagent_cuda_sources out kind)
  set(result)
  foreach(f ${ARGN})
    if(kind STREQUAL "EMULATED" AND f MATCHES "\\.cu$")
      get_filename_component(abs "${f}" ABSOLUTE)
      file(RELATIVE_PATH rel "${PROJECT_SOURCE_DIR}" "${abs}")
      set(gen "${PROJECT_BINARY_DIR}/cuda_emulated/${rel}.cc")
      set(script "${PROJECT_SOURCE_DIR}/tests/cuda_emulator/emulate_cu.cmake")
      add_custom_command(OUTPUT "${gen}"
        COMMAND ${CMAKE_COMMAND} -DIN=${abs} -DOUT=${gen} -P ${script}
        DEPENDS "${abs}" "${script}" COMMENT "Rewriting ${rel} for the CUDA emulator" VERBATIM)
      list(APPEND result "${gen}")
    else()
      list(APPEND result "${f}")
    endif()
  endforeach()
  # The kernels (.cu and their rewrites) compile one by one where the target's host files (.cc)
  # take the unity batches: each .cu has file-local names of its own (kThreads, the kernels'
  # helpers) that a batch would collide, and nvcc takes no batch.
  foreach(f ${result})
    if(f MATCHES "\\.cu(\\.cc)?$")
      set_source_files_properties("${f}" PROPERTIES SKIP_UNITY_BUILD_INCLUSION ON)
    endif()
  endforeach()
  set(${out} ${result} PARENT_SCOPE)
endfunction()

option(DSAGENT_CUDA_EMULATED_TESTS
       "Build the CUDA device tests on the CPU emulator (tests/cuda_emulator) with the tests" ON)
set(DSAGENT_HAVE_CUDA OFF)
set(DSAGENT_CUDA_EMULATED OFF)
set(DSAGENT_CUDA_EMULATE_ONLY OFF)
if(_dsagent_cuda STREQUAL "EMULATE" OR (DSAGENT_CUDA_EMULATED_TESTS AND DSAGENT_BUILD_TESTS))
  set(DSAGENT_CUDA_EMULATED ON)
  add_library(dsagent_cuda_emulator STATIC tests/cuda_emulator/runtime.cc tests/cuda_emulator/work_queue.cc
                                          tests/cuda_emulator/grid.cc tests/cuda_emulator/fiber.cc
                                          tests/cuda_emulator/mma_model.cc)
  target_include_directories(dsagent_cuda_emulator
    PUBLIC ${PROJECT_SOURCE_DIR}/tests/cuda_emulator/include PRIVATE ${PROJECT_SOURCE_DIR})
  target_link_libraries(dsagent_cuda_emulator PRIVATE Threads::Threads)
  if(DSAGENT_SANITIZE MATCHES "thread")
    # The race check (tests/cuda_emulator/race_check.h): the grid runner and the fibers keep a
    # block's bookkeeping for all its threads on one OS thread, which ThreadSanitizer would take
    # for the kernels' races; they tell it where CUDA orders threads instead.
    set_source_files_properties(tests/cuda_emulator/grid.cc tests/cuda_emulator/fiber.cc
      PROPERTIES COMPILE_OPTIONS "-fno-sanitize=thread" COMPILE_DEFINITIONS DSAGENT_EMU_RACE_CHECK=1)
  endif()
  message(STATUS "CUDA device tests on the CPU emulator: on (tests/cuda_emulator/README.md)")
endif()
if(_dsagent_cuda STREQUAL "EMULATE")
  set(DSAGENT_CUDA_EMULATE_ONLY ON)
  message(STATUS "CUDA backend: only emulated (DSAGENT_CUDA=EMULATE: the engine and its tests)")
elseif(NOT _dsagent_cuda STREQUAL "OFF")
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

include(${CMAKE_CURRENT_LIST_DIR}/CudaLocalArchitectures.cmake)
if(DSAGENT_HAVE_CUDA)
  # The default list, worked out at every configure so that a tree configured before the shared
  # front end (below) gets it too.
  execute_process(COMMAND ${CMAKE_CUDA_COMPILER} --list-gpu-arch OUTPUT_VARIABLE _dsagent_archs
                  ERROR_QUIET)
  set(_dsagent_real 90-real)
  foreach(_arch 100 120)
    if(_dsagent_archs MATCHES "compute_${_arch}")
      list(APPEND _dsagent_real ${_arch}-real)
    endif()
  endforeach()
  dsagent_local_cuda_architectures(_dsagent_local "${_dsagent_archs}" "${_dsagent_real}")
  list(APPEND _dsagent_real ${_dsagent_local})
  set(_dsagent_default ${_dsagent_real} 90-virtual)
  if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
    foreach(_arch IN LISTS _dsagent_local)
      string(REPLACE "-real" "" _sm "${_arch}")
      message(STATUS "CUDA backend: adding sm_${_sm} for this machine's GPU")
    endforeach()
    set(CMAKE_CUDA_ARCHITECTURES ${_dsagent_default} CACHE STRING
        "CUDA architectures (cmake/Cuda.cmake)")
  endif()
  enable_language(CUDA)
  set(CMAKE_CUDA_STANDARD 17)
  set(CMAKE_CUDA_STANDARD_REQUIRED ON)
  find_package(CUDAToolkit REQUIRED)
  # The default list's Hopper and Blackwell SASS all come from one compute_90 PTX, one front end
  # per .cu file instead of three (cmake/CudaGenerateCode.cmake); a list of the user's own gets
  # CMake's one front end per architecture. DSAGENT_CUDA_GENERATE_CODE: the flags, or empty.
  set(DSAGENT_CUDA_GENERATE_CODE "")
  if("${CMAKE_CUDA_ARCHITECTURES}" STREQUAL "${_dsagent_default}")
    include(${CMAKE_CURRENT_LIST_DIR}/CudaGenerateCode.cmake)
    dsagent_cuda_generate_code(DSAGENT_CUDA_GENERATE_CODE "${CMAKE_CUDA_ARCHITECTURES}")
  endif()
  message(STATUS "CUDA backend: on (nvcc ${CMAKE_CUDA_COMPILER_VERSION}, architectures "
                 "${CMAKE_CUDA_ARCHITECTURES})")
endif()
