#!/usr/bin/env bash
# What the decode matvec's work item costs in GPU instructions, read off the SASS (no GPU needed):
# a probe kernel runs one item of the tiled kernel (engine/kernels/cuda/matvec_tiled_math.h:
# LoadItem then ItemChains, 64 products: FP8 64 weight bytes, FP4 32 and 4 scale bytes, BF16 128)
# and is compiled for sm_90 as the build compiles the backend (-O2 --fmad=false); its SASS is
# counted by opcode. Then ptxas's registers and spills of every TiledKernel variant. The issue
# rate bounds what a kernel can stream: an SM issues 4 warp instructions a clock (128 thread
# instructions), so N instructions a weight byte cap it at 128 / N bytes a clock per SM
# (docs/BENCHMARKS.md, "The decode matvec's instructions per weight byte", session 32).
#
# Needs nvdisasm, which the CUDA toolkit here (a trimmed nvcc) lacks: NVDISASM=path, else one on
# PATH or beside nvcc. Debian's non-free archive has one (bookworm: nvidia-cuda-toolkit 11.8);
# unpacked without installing:
#   apt-get download nvidia-cuda-toolkit && dpkg -x nvidia-cuda-toolkit_*.deb /opt/cudatk
#   NVDISASM=/opt/cudatk/usr/bin/nvdisasm scripts/sass-count.sh
# That nvdisasm predates the ELF header nvcc 13 writes (ABI version 8); the script gives a copy of
# the cubin the older header (ABI 7, flags sm | 0x500 | sm << 16), which it then reads.
# Usage: scripts/sass-count.sh [ARCH]   (default 90; the file, kernels and flags as built)
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

cat >"$tmp/item_probe.cu" <<'EOF'
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
EOF

"$nvcc" "${flags[@]}" -cubin "$tmp/item_probe.cu" -o "$tmp/probe.cubin"
if ! "$nvdisasm" -c "$tmp/probe.cubin" >"$tmp/probe.sass" 2>"$tmp/nvdisasm.err"; then
  # Byte 8: the ELF ABI version; bytes 48-51: e_flags, little-endian.
  printf '\x07' | dd of="$tmp/probe.cubin" bs=1 seek=8 conv=notrunc 2>/dev/null
  printf "$(printf '\\x%02x\\x05\\x%02x\\x00' "$arch" "$arch")" |
    dd of="$tmp/probe.cubin" bs=1 seek=48 conv=notrunc 2>/dev/null
  "$nvdisasm" -c "$tmp/probe.cubin" >"$tmp/probe.sass" || { cat "$tmp/nvdisasm.err" >&2; exit 1; }
fi

/usr/bin/python3 - "$tmp/probe.sass" <<'EOF'
import collections, re, sys
# Bytes of weight an item reads (FP4: its 4 scale bytes as well).
kinds = {"0": ("BF16", 128), "2": ("FP8", 64), "3": ("FP4", 36)}
# The probe's own loads, stores, constants and control: not the item's arithmetic. (The kernel
# reads the activation from shared memory, 16 LDS.128 an item, and stores 2 STS.128.)
scaffold = {"LDG", "STG", "LDS", "STS", "LDC", "NOP", "EXIT", "BRA", "MOV", "S2R", "CS2R", "ATOMG"}
text = open(sys.argv[1]).read()
parts = re.split(r"\n//-+ \.text\.(\S+) -+\n", text)
print("kind  item arithmetic  a product  a weight byte*  by opcode   (*with the kernel's 16 LDS + 2 STS an item)")
for name, body in zip(parts[1::2], parts[2::2]):
    ops = collections.Counter()
    for line in body.split("\n"):
        m = re.match(r"\s+/\*[0-9a-f]+\*/\s+(.*?);", line)
        if m:
            ops[re.sub(r"^@!?U?P\w+\s+", "", m.group(1).strip()).split()[0].split(".")[0]] += 1
    kind, nbytes = kinds[re.search(r"WeightKindE(\d)", name).group(1)]
    arith = {k: v for k, v in ops.most_common() if k not in scaffold and not k.startswith("U")}
    n = sum(arith.values())
    print(f"{kind:5} {n:16} {n / 64:10.2f} {(n + 18) / nbytes:14.2f}  "
          + " ".join(f"{k}:{v}" for k, v in arith.items()))
EOF

echo
echo "TiledKernel<kind, items loaded ahead>: registers, spills (ptxas, sm_$arch)"
"$nvcc" "${flags[@]}" -cubin engine/kernels/cuda/matvec_tiled.cu -o "$tmp/tiled.cubin" -Xptxas -v 2>&1 |
  awk '/Compiling entry function/ && /TiledKernel/ { match($0, /WeightKindE[0-9]ELi[0-9]/)
         k = substr($0, RSTART + 11, 1); p = substr($0, RSTART + 15, 1)
         name = (k == 0 ? "BF16" : k == 2 ? "FP8" : "FP4") ", " p; next }
       name != "" && /spill stores/ { spill = $9 }
       name != "" && /Used/ { print "  " name ": " $5 " registers, " spill " bytes spilled"; name = "" }'
