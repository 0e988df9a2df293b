# Turns a CUDA source into the C++ the emulator compiles (tests/cuda_emulator/README.md):
#   cmake -DIN=kernels.cu -DOUT=kernels.cu.cc -P emulate_cu.cmake
# - `Kernel<<<grid, block, shared, stream>>>(args)` becomes
#   `::dsagent_emu::Launch(Kernel, "Kernel")(grid, block, shared, stream)(args)`;
# - `extern __shared__ [__align__(N)] T name[];` becomes `T* name = ::dsagent_emu::DynamicShared<T>();`;
# - the emulator's cuda_runtime.h comes first, and `#line` keeps diagnostics on the .cu file.
# Everything else (__global__, __shared__, threadIdx, the intrinsics) is the header's macros.
file(READ "${IN}" src)
string(REGEX REPLACE "([A-Za-z_][A-Za-z0-9_:]*(<[^<>;]*>)?)[ \t\r\n]*<<<"
       "::dsagent_emu::Launch(\\1, \"\\1\")(" src "${src}")
string(REPLACE ">>>" ")" src "${src}")
string(REGEX REPLACE
       "extern[ \t]+__shared__[ \t]+(__align__\\([0-9]+\\)[ \t]+)?([^;\\[]*[^;\\[ \t])[ \t]+([A-Za-z_][A-Za-z0-9_]*)\\[\\][ \t]*;"
       "\\2* \\3 = ::dsagent_emu::DynamicShared<\\2>();" src "${src}")
if(src MATCHES "<<<|extern[ \t]+__shared__")
  message(FATAL_ERROR "emulate_cu.cmake: ${IN} has a launch or dynamic shared array it cannot rewrite")
endif()
file(WRITE "${OUT}" "#include <cuda_runtime.h>\n#line 1 \"${IN}\"\n${src}")
