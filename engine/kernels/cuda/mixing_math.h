// The arithmetic of the mHC and compressor kernels (mixing_ops.h), `__host__ __device__` and
// operation for operation the CPU's (forward/hyper_connection.h ScaleMixes, SinkhornSplit,
// WeightedStreamSum, HcPost; forward/compressor.h PoolBlock), so the device-free tests run it on
// the host against the CPU code (tests/engine/kernels/cuda_forward_math_test.cc).
#pragma once

#include <cstdint>

#include "engine/kernels/cuda/device_math.h"

namespace dsagent::engine::kernels::cuda {

constexpr int kMaxHc = 8;  // streams the fixed-size arrays below hold (V4: 4)

// The factor the mixing products are multiplied by: rsqrt(fp32(ss / n) + eps), ss the sum of the
// hc*dim streams' fp32 squares in double.
DSAGENT_HD float StreamRmsFactor(double ss, int64_t n, float eps) {
  return RsqrtF(static_cast<float>(ss / static_cast<double>(n)) + eps);
}

// Stream j's pre and post weights from the mixes [(2+hc)*hc]: cpu::SinkhornSplit's first step.
DSAGENT_HD float HcPreWeight(const float* mixes, const float* scale, const float* base, int j,
                             float eps) {
  return SigmoidF(mixes[j] * scale[0] + base[j]) + eps;
}
DSAGENT_HD float HcPostWeight(const float* mixes, const float* scale, const float* base, int hc,
                              int j) {
  return 2.0f * SigmoidF(mixes[hc + j] * scale[1] + base[hc + j]);
}

// The comb part of cpu::SinkhornSplit for hc <= kMaxHc: mixes [(2+hc)*hc] -> comb [hc, hc] (the
// row softmax, then `iters` rounds of column and row normalisation).
DSAGENT_HD void SinkhornCombHc(const float* mixes, const float* scale, const float* base, int hc,
                               int iters, float eps, float* comb) {
  float c[kMaxHc * kMaxHc];
  for (int i = 0; i < hc * hc; ++i) c[i] = mixes[2 * hc + i] * scale[2] + base[2 * hc + i];
  // Row softmax (double, rounded once) + eps.
  for (int j = 0; j < hc; ++j) {
    float* row = c + j * hc;
    float mx = row[0];
    for (int k = 1; k < hc; ++k) {
      if (mx < row[k]) mx = row[k];
    }
    double e[kMaxHc];
    double sum = 0;
    for (int k = 0; k < hc; ++k) {
      sum += (e[k] = exp(static_cast<double>(row[k]) - static_cast<double>(mx)));
    }
    for (int k = 0; k < hc; ++k) row[k] = static_cast<float>(e[k] / sum) + eps;
  }
  // Each of the hc lines (line i: c[i * next + m * step], m ascending) divided by its sum
  // (double, rounded) + eps: the columns with (next, step) = (1, hc), the rows with (hc, 1).
  const auto normalise = [&](int next, int step) {
    for (int i = 0; i < hc; ++i) {
      float* line = c + i * next;
      double sum = 0;
      for (int m = 0; m < hc; ++m) sum += line[m * step];
      const float denom = static_cast<float>(sum) + eps;
      for (int m = 0; m < hc; ++m) line[m * step] /= denom;
    }
  };
  normalise(1, hc);
  for (int it = 1; it < iters; ++it) {
    normalise(hc, 1);
    normalise(1, hc);
  }
  for (int i = 0; i < hc * hc; ++i) comb[i] = c[i];
}

// cpu::SinkhornSplit for hc <= kMaxHc: mixes [(2+hc)*hc] -> pre [hc], post [hc], comb [hc, hc].
DSAGENT_HD void SinkhornSplitHc(const float* mixes, const float* scale, const float* base, int hc,
                                int iters, float eps, float* pre, float* post, float* comb) {
  for (int j = 0; j < hc; ++j) {
    pre[j] = HcPreWeight(mixes, scale, base, j, eps);
    post[j] = HcPostWeight(mixes, scale, base, hc, j);
  }
  SinkhornCombHc(mixes, scale, base, hc, iters, eps, comb);
}

// y[d] of the weighted stream sum: bf16(fp32(sum_j fp32(weight_j * h_j[d]))), h [hc, dim].
DSAGENT_HD float WeightedStreamValue(const float* h, const float* weight, int hc, int64_t dim,
                                     int64_t d) {
  double acc = 0;
  for (int j = 0; j < hc; ++j) acc += static_cast<double>(weight[j] * h[j * dim + d]);
  return RoundBf16(static_cast<float>(acc));
}

// HcPost's out_k[d] = bf16(post_k * f[d] + fp32(sum_j fp32(comb_jk * h_j[d]))), h [hc, dim].
DSAGENT_HD float HcPostValue(const float* f, const float* h, const float* post, const float* comb,
                             int hc, int64_t dim, int k, int64_t d) {
  double mix = 0;
  for (int j = 0; j < hc; ++j) mix += static_cast<double>(comb[j * hc + k] * h[j * dim + d]);
  return RoundBf16(post[k] * f[d] + static_cast<float>(mix));
}

// HcPost of column d of token t (hc <= kMaxHc streams of dim): f_td the sub-layer's output there;
// the stream values of the column are read before any is written, so out may alias h.
DSAGENT_HD void HcPostColumn(const float* f_td, const float* h, const float* post,
                             const float* comb, int64_t t, int hc, int64_t dim, int64_t d,
                             float* out) {
  float column[kMaxHc];
  for (int j = 0; j < hc; ++j) column[j] = h[(t * hc + j) * dim + d];
  for (int k = 0; k < hc; ++k) {
    out[(t * hc + k) * dim + d] =
        HcPostValue(f_td, column, post + t * hc, comb + t * hc * hc, hc, /*dim=*/1, k, /*d=*/0);
  }
}

// HcHead's stream weight: sigmoid(mix * scale + base) + eps.
DSAGENT_HD float HeadStreamWeight(float mix, float scale, float base, float eps) {
  return SigmoidF(mix * scale + base) + eps;
}

// One channel c of a compressor's pooled entry (cpu::PoolBlock): softmax over the n = ratio
// (2*ratio overlapping) candidates' gate logits, exp in double, weights rounded to fp32, times
// the values, summed in double. The exponentials are computed twice instead of stored (the same
// values), so a thread needs no array however large the ratio.
DSAGENT_HD float PoolChannel(const float* kv, const float* score, int64_t width, int64_t ratio,
                             int64_t head_dim, bool overlap, int64_t c) {
  const int64_t n = overlap ? 2 * ratio : ratio;
  const auto column = [&](int64_t i) {
    return i * width + ((overlap && i >= ratio) ? head_dim + c : c);
  };
  float mx = score[column(0)];
  for (int64_t i = 1; i < n; ++i) {
    if (mx < score[column(i)]) mx = score[column(i)];
  }
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    sum += exp(static_cast<double>(score[column(i)]) - static_cast<double>(mx));
  }
  double acc = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double e = exp(static_cast<double>(score[column(i)]) - static_cast<double>(mx));
    const float weight = static_cast<float>(e / sum);
    acc += static_cast<double>(kv[column(i)] * weight);
  }
  return static_cast<float>(acc);
}

}  // namespace dsagent::engine::kernels::cuda
