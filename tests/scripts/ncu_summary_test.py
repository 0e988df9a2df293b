"""scripts/ncu_summary.py: Nsight Compute's gpu__time_duration CSV summed per kernel and step."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "scripts", "ncu_summary.py")

HEADER = ('"ID","Process ID","Process Name","Host Name","Kernel Name","Context","Stream",'
          '"Block Size","Grid Size","Device","CC","Section Name","Metric Name","Metric Unit",'
          '"Metric Value"')


def row(i, kernel, unit, value):
    return (f'"{i}","1","bench","host","{kernel}","1","7","(256, 1, 1)","(64, 1, 1)","0","9.0",'
            f'"Command line profiler metrics","gpu__time_duration.sum","{unit}","{value}"')


def run(tmp_path, lines, *args):
    csv = tmp_path / "ncu.csv"
    csv.write_text("\n".join(lines) + "\n")
    return subprocess.run([sys.executable, SCRIPT, str(csv), *args], capture_output=True,
                          text=True, check=False)


def test_sums_each_kernel_per_step_largest_first(tmp_path):
    # Two steps: attention 90 us each, the tiled matvec 3 launches of 10 us each per step (one
    # of them reported in microseconds, with a thousands separator in another).
    lines = ["==PROF== Connected to process 1", "block ratio 4 at 512 tokens: 2.0 ms/token", HEADER]
    for step in range(2):
        base = 4 * step
        lines.append(row(base, "SparseAttentionKernel", "nsecond", "90,000"))
        lines.append(row(base + 1, "TiledKernel", "nsecond", "10000"))
        lines.append(row(base + 2, "TiledKernel", "usecond", "10"))
        lines.append(row(base + 3, "TiledKernel", "ns", "10000"))
    r = run(tmp_path, lines, "--steps", "2", "--step-ms", "0.5")
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert out[0] == "per step: 4 kernel launches, 120.0 us of kernel time"
    assert "500.0 us; kernels 24%, between them 380.0 us" in out[1]
    body = [line.split() for line in out[3:]]
    assert [b[0] for b in body] == ["SparseAttentionKernel", "TiledKernel"]
    assert body[0][1:4] == ["1.0", "90.0", "90.0"]  # launches, us/step, us each
    assert body[1][1:4] == ["3.0", "30.0", "10.0"]
    assert body[0][4] == "75.0%" and body[1][4] == "25.0%"


def test_other_metrics_are_ignored_and_a_missing_header_is_an_error(tmp_path):
    other = row(0, "TiledKernel", "nsecond", "5").replace("gpu__time_duration.sum", "sm__cycles")
    r = run(tmp_path, [HEADER, other, row(1, "TiledKernel", "nsecond", "8000")], "--steps", "1")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == "per step: 1 kernel launches, 8.0 us of kernel time"
    r = run(tmp_path, ["==PROF== Disconnected", "no kernels were profiled"], "--steps", "1")
    assert r.returncode != 0
    assert "no CSV header" in r.stderr
