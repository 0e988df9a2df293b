"""scripts/gpu-check.sh's test step on a stand-in test binary: failed tests are rerun under each
of the engine's switches back to earlier code paths, and the table names the switches a failure
passes under (the next lent GPU's first diagnosis, without another call)."""
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
        "localize: A.one: passes with DSAGENT_CUDA_FUSED_STEPS=off, all of them at once (10 runs)",
        "localize: A.two: passes with none of the switches (10 runs)",
    ]
    assert "\n".join(table) in proc.stdout
    runs = (tmp_path / "runs.txt").read_text().splitlines()
    # Once each in the main pass, then 10 times each failed test: 9 switches alone, all at once.
    assert sum(r.startswith("B.three") for r in runs) == 1
    assert sum(r.startswith("A.one") for r in runs) == 11
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
