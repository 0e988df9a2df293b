#!/usr/bin/env python3
"""Where a profiled decode step's GPU time goes: Nsight Compute's CSV of gpu__time_duration
(`ncu --csv --print-units base --metrics gpu__time_duration.sum ...`) summed by kernel.

    ncu_summary.py NCU.csv --steps N [--step-ms MS] [--top K]

--steps: how many steps the profile holds (the bench's --reps), so the figures are per step.
--step-ms: the step's time measured without the profiler in the same run; the summary then says
how much of it the kernels' own durations explain and how much is between them (launches, host
work, waits). Standard library only: it runs on the lent GPU machine (scripts/gpu-check.sh).
"""
import argparse
import collections
import csv
import io
import sys


def read_durations(path):
    """(kernel name, duration in ns) for each profiled launch; ncu's log lines before the CSV
    header (==PROF== ...) are skipped."""
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = f.read().splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith('"ID"')), None)
    if start is None:
        raise SystemExit(f"ncu_summary: no CSV header in {path} (did ncu profile anything?)")
    rows = csv.DictReader(io.StringIO("\n".join(lines[start:])))
    out = []
    for row in rows:
        if row.get("Metric Name") != "gpu__time_duration.sum":
            continue
        unit = row.get("Metric Unit", "ns")
        value = float(row["Metric Value"].replace(",", ""))
        scale = {"ns": 1.0, "nsecond": 1.0, "us": 1e3, "usecond": 1e3, "ms": 1e6, "msecond": 1e6}
        name = row.get("Kernel Name") or row.get("Function Name") or row.get("Demangled Name") or "?"
        out.append((name, value * scale.get(unit, 1.0)))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("csv")
    ap.add_argument("--steps", type=int, required=True)
    ap.add_argument("--step-ms", type=float, default=0.0)
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args()
    launches = read_durations(args.csv)
    if not launches:
        raise SystemExit("ncu_summary: no gpu__time_duration rows")
    total = collections.Counter()
    count = collections.Counter()
    for name, ns in launches:
        total[name] += ns
        count[name] += 1
    steps = max(args.steps, 1)
    kernel_us = sum(total.values()) / 1e3 / steps
    print(f"per step: {len(launches) / steps:.0f} kernel launches, {kernel_us:.1f} us of kernel time")
    if args.step_ms > 0:
        step_us = args.step_ms * 1e3
        print(f"  the step measured without the profiler: {step_us:.1f} us; kernels "
              f"{100 * kernel_us / step_us:.0f}%, between them {step_us - kernel_us:.1f} us")
    print(f"{'kernel':<48} {'launches':>8} {'us/step':>9} {'us each':>8} {'share':>6}")
    for name, ns in total.most_common(args.top):
        per_step = ns / 1e3 / steps
        print(f"{name[:48]:<48} {count[name] / steps:>8.1f} {per_step:>9.1f} "
              f"{ns / 1e3 / count[name]:>8.1f} {100 * per_step / kernel_us:>5.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
