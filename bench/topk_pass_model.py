#!/usr/bin/python3
"""The work of the CUDA top-k's one-CTA kernel (engine/kernels/cuda/indexer_ops.cu, TopKKernel),
replayed on the host: not a timing, a count of what the kernel does, for the bf16 scores the
lightning indexer gives (docs/BENCHMARKS.md, "The indexer's top-k", session 37).

For each row: the radix passes it runs before it stops (the old rule: the chosen bucket taken
whole; the new: RadixCandidates <= TopKSortCapacity(k)), the reads of every score (the passes and
the gather), the loads a thread waits for one after another (one per score before; one per 8 with
ForEachKey), the shared-memory atomics (one per matching key before; CountPassKeys' runs now) and
how many of them land on pass 1's busiest counter. 1,024 threads; thread t reads scores t,
t + 1024, ...  Usage: /usr/bin/python3 bench/topk_pass_model.py [--k 512] [--seed 7]
"""
import argparse

import numpy as np

THREADS = 1024


def bf16(x):
    u = np.asarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    u = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16) << 16  # round to nearest even
    return u.astype(np.uint32).view(np.float32)


def keys_of(scores):
    """TopKKey: the ordered score bits, then the complemented index (attention_math.h)."""
    u = scores.view(np.uint32).astype(np.uint64)
    u = np.where(u == 0x80000000, 0, u)
    ordered = np.where(u & 0x80000000, (~u) & 0xFFFFFFFF, u | 0x80000000)
    index = np.arange(len(scores), dtype=np.uint64)
    return (ordered << np.uint64(32)) | ((~index) & np.uint64(0xFFFFFFFF))


def sort_capacity(k):
    length = 1
    while length < k:
        length *= 2
    return length if length >= 4096 else min(2 * length, 4096)


def replay(scores, k, capacity):
    """Passes, per-key atomics, run atomics, pass 1's busiest counter (per key, runs)."""
    key = keys_of(scores)
    prefix = mask = 0
    rank = k
    passes = per_key = runs = 0
    busiest = None
    for shift in range(56, -1, -8):
        match = (key & np.uint64(mask)) == np.uint64(prefix)
        byte = ((key >> np.uint64(shift)) & np.uint64(255)).astype(np.int64)
        histogram = np.bincount(byte[match], minlength=256)
        passes += 1
        per_key += int(match.sum())
        adds = np.zeros(256, dtype=np.int64)  # CountPassKeys: a thread's runs, then its warp's
        ends = []
        for t in range(THREADS):
            b = byte[t::THREADS][match[t::THREADS]]
            if len(b) == 0:
                ends.append(None)
                continue
            np.add.at(adds, b[:-1][b[1:] != b[:-1]], 1)
            ends.append(int(b[-1]))
        for w in range(THREADS // 32):
            last = [e for e in ends[32 * w:32 * w + 32] if e is not None]
            if len(set(last)) == 1:
                adds[last[0]] += 1
            else:
                for e in last:
                    adds[e] += 1
        runs += int(adds.sum())
        if busiest is None:
            busiest = (int(histogram.max()), int(adds.max()))
        left = rank  # RadixSelectBucket
        for bucket in range(255, -1, -1):
            if bucket == 0 or histogram[bucket] >= left:
                break
            left -= histogram[bucket]
        prefix |= bucket << shift
        mask |= 255 << shift
        rank = left
        if k - left + int(histogram[bucket]) <= capacity:
            break
    return passes, per_key, runs, busiest


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--k", type=int, default=512)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    print("| scores | passes | reads of every score | a thread's serial load waits | shared atomics "
          "| pass 1's busiest counter |")
    print("|---|---|---|---|---|---|")
    for n in (16384, 65536):
        for name, draw in (("bf16 normal", rng.normal(0, 1, n)),
                           ("bf16 abs(normal)", np.abs(rng.normal(0, 1, n)))):
            scores = bf16(draw)
            p0, a0, _, (b0, _) = replay(scores, args.k, args.k)
            p1, _, a1, (_, b1) = replay(scores, args.k, sort_capacity(args.k))
            per = n // THREADS
            print(f"| {n // 1024}K, {name} | {p0} -> {p1} | {p0 + 1} -> {p1 + 1} "
                  f"| {(p0 + 1) * per} -> {(p1 + 1) * ((per + 7) // 8)} | {a0:,} -> {a1:,} "
                  f"| {b0:,} -> {b1:,} |")


if __name__ == "__main__":
    main()
