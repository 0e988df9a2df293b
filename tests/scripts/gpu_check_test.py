"""scripts/gpu-check.sh's own steps, without a GPU: the test step on a stand-in test binary (failed
tests rerun under each of the engine's switches back to earlier code paths, the table naming the
switches a failure passes under: the next lent GPU's first diagnosis, without another call), and
pack's check that the device tool can carry the checkout."""
import os
import pathlib
import subprocess
import tarfile

ROOT = pathlib.Path(__file__).resolve().parents[2]

# A gtest-like binary: A.one fails unless the fused steps are off, A.two always fails, B.three
# passes. Each run appends its test and switches to a log, so the test sees what was run.
FAKE = r"""#!/bin/bash
if [ "$1" = --gtest_list_tests ]; then printf 'A.\n  one\n  two\nB.\n  three\n'; exit 0; fi
f=${1#--gtest_filter=}
echo "$f ${DSAGENT_CUDA_FUSED_STEPS:-} ${DSAGENT_CUDA_PDL:-} ${CUDA_LAUNCH_BLOCKING:-}" >>"$RUN_LOG"
case "$f" in
  A.one) [ "${DSAGENT_CUDA_FUSED_STEPS:-}" = off ] && exit 0; echo "Failure: one"; exit 1;;
  A.two) echo "Failure: two"; exit 1;;
  B.three) exit 0;;
esac
exit 3
"""


def run_tests(tmp_path, fake_text):
    fake = tmp_path / "fake_test"
    fake.write_text(fake_text)
    fake.chmod(0o755)
    out = tmp_path / "out"
    env = dict(os.environ, RUN_LOG=str(tmp_path / "runs.txt"))
    script = f'source "{ROOT}/scripts/gpu-check.sh"; SECONDS=0; run_tests "{fake}" "{out}"'
    proc = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True,
                          timeout=120)
    return proc, out


def test_failed_tests_are_rerun_under_each_switch_and_the_table_names_the_ones_that_pass(tmp_path):
    proc, out = run_tests(tmp_path, FAKE)
    assert proc.returncode != 0, proc.stdout
    table = (out / "localize.txt").read_text().splitlines()
    assert table == [
        "localize: A.one: passes with DSAGENT_CUDA_FUSED_STEPS=off, all of them at once (12 runs)",
        "localize: A.two: passes with none of the switches (12 runs)",
    ]
    assert "\n".join(table) in proc.stdout
    runs = (tmp_path / "runs.txt").read_text().splitlines()
    # Once each in the main pass, then 12 times each failed test: 11 switches alone, all at once.
    assert sum(r.startswith("B.three") for r in runs) == 1
    assert sum(r.startswith("A.one") for r in runs) == 13
    assert "A.one off  " in runs and "A.one   1" in runs and "A.one off off 1" in runs
    with tarfile.open(out / "tests.tgz") as tgz:
        names = tgz.getnames()
    assert "tests/localize/A.one_DSAGENT_CUDA_FUSED_STEPS-off.txt" in names
    assert "tests/localize/A.two_all.txt" in names


def test_a_run_without_failures_reruns_nothing(tmp_path):
    proc, out = run_tests(tmp_path, FAKE.replace("exit 1;;", "exit 0;;"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not (out / "localize.txt").exists()
    assert len((tmp_path / "runs.txt").read_text().splitlines()) == 3


def check_carry(repo):
    script = f'source "{repo}/scripts/gpu-check.sh"; check_carry'
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)


def test_pack_refuses_a_checkout_the_device_tool_cannot_carry(tmp_path):
    """The tracked files, the untracked ones git does not ignore and the pack count toward the
    device tool's 64 MiB; ignored files do not."""
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    (repo / "scripts" / "gpu-check.sh").write_text((ROOT / "scripts" / "gpu-check.sh").read_text())
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / ".gitignore").write_text("ignored.bin\n.gpu-check/\n")
    mib = 1 << 20
    for name, size in (("tracked.bin", 30 * mib), ("untracked.bin", 10 * mib),
                       ("ignored.bin", 40 * mib)):
        with open(repo / name, "wb") as f:
            f.truncate(size)  # sparse: apparent size is what the tool counts
    subprocess.run(["git", "-C", str(repo), "add", "tracked.bin", ".gitignore",
                    "scripts/gpu-check.sh"], check=True)
    (repo / ".gpu-check").mkdir()
    with open(repo / ".gpu-check" / "pack.txz", "wb") as f:
        f.truncate(20 * mib)
    ok = check_carry(repo)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "carries 60 MiB of its 64" in ok.stdout
    with open(repo / ".gpu-check" / "pack.txz", "wb") as f:
        f.truncate(23 * mib)
    refused = check_carry(repo)
    assert refused.returncode != 0
    assert "carries 63 MiB" in refused.stdout
    assert "CMAKE_CUDA_ARCHITECTURES=90-real" in refused.stderr
