#!/usr/bin/env bash
# What the matvec kernels' inner work costs in GPU instructions, read off the SASS (no GPU needed).
# Two probe kernels, compiled for sm_90 as the build compiles the backend (-O2 --fmad=false), their
# SASS counted by opcode:
#   - one work item of the decode matvec (engine/kernels/cuda/matvec_tiled_math.h: LoadItem then
#     ItemChains, 64 products: FP8 64 weight bytes, FP4 32 and 4 scale bytes, BF16 128);
#   - one thread's step of the prompt kernel (matvec_gemm_math.h: GemmLoad, GemmBlock's chains
#     and fold as a block without FP4 groups out of the lane range runs them (GemmChains<false>,
#     GemmFold), and GemmStore of a 128-column block, 128 products).
# Then ptxas's registers and spills of every TiledKernel variant. The issue rate bounds what a
# kernel can stream: an SM issues 4 warp instructions a clock (128 thread instructions), so N
# instructions a weight byte cap it at 128 / N bytes a clock per SM (docs/BENCHMARKS.md, "The
# decode matvec's instructions per weight byte", session 32).
#
# Needs nvdisasm, which the CUDA toolkit here (a trimmed nvcc) lacks: NVDISASM=path, else one on
# PATH or beside nvcc. Debian's non-free archive has one (bookworm: nvidia-cuda-toolkit 11.8; the
# component `non-free` in an apt source, then `apt-get update`), unpacked without installing:
#   apt-get download nvidia-cuda-toolkit && dpkg -x nvidia-cuda-toolkit_*.deb /opt/cudatk
#   NVDISASM=/opt/cudatk/usr/bin/nvdisasm scripts/sass-count.sh
# That nvdisasm predates the ELF header nvcc 13 writes (ABI version 8); the script gives a copy of
# the cubin the older header (ABI 7, flags sm | 0x500 | sm << 16), which it then reads.
# Usage: scripts/sass-count.sh [ARCH]   (default 90; the files, kernels and flags as built)
set -euo pipefail
cd "$(dirname "$0")/.."
arch="${1:-90}"
nvcc="${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}"
nvdisasm="${NVDISASM:-$(command -v nvdisasm || echo "$(dirname "$nvcc")/nvdisasm")}"
[ -x "$nvcc" ] || { echo "sass-count: no nvcc (NVCC=path)" >&2; exit 2; }
[ -x "$nvdisasm" ] || { echo "sass-count: no nvdisasm (NVDISASM=path; see this script's header)" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
flags=(-I. -O2 -DNDEBUG "-arch=sm_$arch" --fmad=false -std=c++17)

cat >"$tmp/item_probe.cu" <<'PROBE'
#include "engine/kernels/cuda/matvec_tiled_math.h"
using namespace dsagent::engine::kernels::cuda;
template <WeightKind K>
__global__ void ItemProbe(WeightView w, const float* xs, float* out, int* tail, int64_t row,
                          int blk, int h) {
  ItemWords<K> words;
  LoadItem<K>(w, row, blk, h, words);
  float acc[8] = {};
  const bool ok = ItemChains<K>(words, xs, acc, tail);
  for (int m = 0; m < 8; ++m) out[m] = ok ? acc[m] : 0.0f;
}
template __global__ void ItemProbe<WeightKind::kBF16>(WeightView, const float*, float*, int*, int64_t, int, int);
template __global__ void ItemProbe<WeightKind::kFP8>(WeightView, const float*, float*, int*, int64_t, int, int);
template __global__ void ItemProbe<WeightKind::kFP4>(WeightView, const float*, float*, int*, int64_t, int, int);
PROBE

cat >"$tmp/gemm_probe.cu" <<'PROBE'
#include "engine/kernels/cuda/matvec_gemm_math.h"
using namespace dsagent::engine::kernels::cuda;
template <WeightKind K>
__global__ void GemmStepProbe(GemmTile t, int blk, double* out) {
  __shared__ GemmShared sh;
  const int tid = threadIdx.x;
  double lanes[kGemmRowsPerThread][kGemmInputsPerThread] = {};
  GemmRegs<K> regs;
  GemmLoad<K>(t, tid, blk + 1, regs);
  // GemmBlock as every block of a real checkpoint runs it: the chains without FP4 skip tests.
  const int j = tid & 15, cell = tid >> 4;
  const int o0 = (cell % kGemmRowCells) * kGemmRowsPerThread;
  const int m0 = (cell / kGemmRowCells) * kGemmInputsPerThread;
  float acc[kGemmRowsPerThread][kGemmInputsPerThread] = {};
  GemmChains<false>(sh, 0, j, o0, m0, acc);
  GemmFold<K>(t, sh, 0, j, o0, m0, blk, acc, lanes);
  GemmStore<K>(t, sh, 1, tid, regs);
  for (int i = 0; i < kGemmRowsPerThread; ++i)
    for (int k = 0; k < kGemmInputsPerThread; ++k) out[tid * 16 + i * 4 + k] = lanes[i][k];
}
template __global__ void GemmStepProbe<WeightKind::kBF16>(GemmTile, int, double*);
template __global__ void GemmStepProbe<WeightKind::kFP8>(GemmTile, int, double*);
template __global__ void GemmStepProbe<WeightKind::kFP4>(GemmTile, int, double*);
PROBE

# disassemble FILE.cu: its SASS into FILE.sass.
disassemble() {
  local base="${1%.cu}"
  "$nvcc" "${flags[@]}" -cubin "$1" -o "$base.cubin"
  if ! "$nvdisasm" -c "$base.cubin" >"$base.sass" 2>"$tmp/nvdisasm.err"; then
    # Byte 8: the ELF ABI version; bytes 48-51: e_flags, little-endian.
    printf '\x07' | dd of="$base.cubin" bs=1 seek=8 conv=notrunc 2>/dev/null
    printf "$(printf '\\x%02x\\x05\\x%02x\\x00' "$arch" "$arch")" |
      dd of="$base.cubin" bs=1 seek=48 conv=notrunc 2>/dev/null
    "$nvdisasm" -c "$base.cubin" >"$base.sass" || { cat "$tmp/nvdisasm.err" >&2; exit 1; }
  fi
}
disassemble "$tmp/item_probe.cu"
disassemble "$tmp/gemm_probe.cu"

/usr/bin/python3 - "$tmp/item_probe.sass" "$tmp/gemm_probe.sass" <<'COUNT'
import collections, re, sys
kinds = {"0": "BF16", "2": "FP8", "3": "FP4"}
# The probes' own loads, stores, constants and control: not the arithmetic counted.
scaffold = {"LDG", "STG", "LDS", "STS", "LDC", "NOP", "EXIT", "BRA", "MOV", "S2R", "CS2R", "ATOMG"}


def functions(path):
    parts = re.split(r"\n//-+ \.text\.(\S+) -+\n", open(path).read())
    for name, body in zip(parts[1::2], parts[2::2]):
        ops = collections.Counter()
        for line in body.split("\n"):
            m = re.match(r"\s+/\*[0-9a-f]+\*/\s+(.*?);", line)
            if m:
                ops[re.sub(r"^@!?U?P\w+\s+", "", m.group(1).strip()).split()[0].split(".")[0]] += 1
        yield kinds[re.search(r"WeightKindE(\d)", name).group(1)], ops


# Bytes of weight an item reads (FP4: its 4 scale bytes as well).
item_bytes = {"BF16": 128, "FP8": 64, "FP4": 36}
print("decode item (64 products)  arithmetic  a product  a weight byte*  by opcode")
print("  (*with the kernel's 16 LDS + 2 STS an item)")
for kind, ops in functions(sys.argv[1]):
    arith = {k: v for k, v in ops.most_common() if k not in scaffold and not k.startswith("U")}
    n = sum(arith.values())
    print(f"  {kind:5} {n:29} {n / 64:10.2f} {(n + 18) / item_bytes[kind]:14.2f}  "
          + " ".join(f"{k}:{v}" for k, v in arith.items()))
print()
print("prompt step (128 products)  all instructions  a product")
print("  (the probe's own ~30 included; FP8's count includes its NaN recompute, inlined)")
for kind, ops in functions(sys.argv[2]):
    n = sum(ops.values())
    print(f"  {kind:5} {n:36} {n / 128:10.2f}  FFMA:{ops['FFMA']} F2F:{ops['F2F']} LDS:{ops['LDS']}")
COUNT

echo
echo "TiledKernel<kind, items loaded ahead>: registers, spills (ptxas, sm_$arch)"
"$nvcc" "${flags[@]}" -cubin engine/kernels/cuda/matvec_tiled.cu -o "$tmp/tiled.cubin" -Xptxas -v 2>&1 |
  awk '/Compiling entry function/ && /TiledKernel/ { match($0, /WeightKindE[0-9]ELi[0-9]/)
         k = substr($0, RSTART + 11, 1); p = substr($0, RSTART + 15, 1)
         name = (k == 0 ? "BF16" : k == 2 ? "FP8" : "FP4") ", " p; next }
       name != "" && /spill stores/ { spill = $9 }
       name != "" && /Used/ { print "  " name ": " $5 " registers, " spill " bytes spilled"; name = "" }'
