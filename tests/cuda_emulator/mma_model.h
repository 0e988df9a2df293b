// How the emulated tensor core sums an MMA's products (DSAGENT_CUDA_EMULATOR_MMA, README.md here).
//
// NVIDIA does not document the arithmetic inside its tensor cores' fp32 accumulation, and no GPU
// is at hand here to find it, so the emulator offers two ways to sum the dot product of one
// output, c + a[0] b[0] + ... + a[n-1] b[n-1]:
//   - `fma` (the default): fp32 fmas in k order, each rounded to nearest: IEEE arithmetic, one
//     order among many a device could take;
//   - `truncate:B:E`: a block fused multiply-add of the kind the published measurements describe
//     for V100 to H100 (Fasi, Higham, Mikaitis, Pranesh, "Numerical behavior of NVIDIA tensor
//     cores", PeerJ CS 2021; Khattak, Mikaitis, "Accurate models of NVIDIA tensor cores", 2025):
//     the products exact; B of them at a time together with the running sum, each aligned to the
//     largest of those B + 1 terms and cut toward zero to 24 + E bits below its leading bit; the
//     aligned terms added exactly; the block's sum cut toward zero to fp32 (one normalisation per
//     block). With E = 0 no bit beyond fp32's survives the alignment, the least precise member of
//     that family: a contract that holds under it is not at the mercy of the hardware's choices
//     within the family. It is a bound, not a bit-accurate model of any one GPU.
// Non-finite terms make the block's sum the IEEE sum of its terms (NaN and infinities propagate).
#pragma once

namespace dsagent_emu {

struct MmaModel {
  // 0: fp32 fmas in k order. Else the products summed per block of this many.
  int block = 0;
  // Bits kept below fp32's 24 when a block's terms are aligned (truncate only).
  int extra_bits = 0;
};

// Parses DSAGENT_CUDA_EMULATOR_MMA's value: "fma" or "truncate:B:E" (B in 1..64, E in 0..16;
// "truncate" alone is truncate:16:0). Returns false, leaving `model` alone, for anything else.
bool ParseMmaModel(const char* text, MmaModel* model);

// c + sum over k < n of a[k] * b[k], as `model` sums it.
float MmaDot(const MmaModel& model, const float* a, const float* b, int n, float c);

// The process's model, read once from DSAGENT_CUDA_EMULATOR_MMA (fma when unset); a value that
// does not parse stops the process with a message, as a typo would otherwise test nothing.
const MmaModel& ActiveMmaModel();

}  // namespace dsagent_emu
