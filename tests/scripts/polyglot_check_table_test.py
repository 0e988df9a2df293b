"""scripts/polyglot_check_table.py: exercises judged against evals/polyglot/expected.tsv."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "scripts", "polyglot_check_table.py")
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import polyglot_check_table as table  # noqa: E402

EXPECTED = ("# comment\n"
            "go/ledger\tstub-passes\trefactoring exercise\n"
            "go/counter\tungradable\tno tests\n")


def write_run(root, agent, verdicts):
    """verdicts: {exercise: "resolved" | "no" | "error"} -> RUN/results/*.json."""
    results = root / agent / "results"
    results.mkdir(parents=True)
    for ex, v in verdicts.items():
        r = {"instance_id": f"polyglot__go-{ex}", "resolved": v == "resolved",
             "status": {"resolved": "RESOLVED_FULL", "no": "RESOLVED_NO", "error": "error"}[v],
             "error": "gold run reported no tests (exit 0)\nmore" if v == "error" else ""}
        (results / f"polyglot__go-{ex}.json").write_text(json.dumps(r))
    return str(root / agent)


def run(tmp_path, oracle, noop):
    (tmp_path / "expected.tsv").write_text(EXPECTED)
    return subprocess.run(
        [sys.executable, SCRIPT, "--expected", str(tmp_path / "expected.tsv"), "--lang", "go",
         "--oracle", write_run(tmp_path, "oracle", oracle),
         "--noop", write_run(tmp_path, "noop", noop), "--wall", "12"],
        capture_output=True, text=True)


def test_listed_exercises_count_in_their_own_columns(tmp_path):
    p = run(tmp_path,
            {"bob": "resolved", "ledger": "resolved", "counter": "error"},
            {"bob": "no", "ledger": "resolved", "counter": "error"})
    assert p.returncode == 0, p.stderr
    # oracle over the 2 gradable, noop over the 1 whose stub fails; 1 stub-passes, 1 ungradable.
    assert p.stdout.split() == ["go", "3", "2/2", "0/1", "1", "1", "2", "12s"]
    assert p.stderr == ""


def test_an_unlisted_noop_resolve_or_oracle_miss_fails_with_its_reason(tmp_path):
    p = run(tmp_path, {"bob": "error", "grep": "resolved"}, {"bob": "no", "grep": "resolved"})
    assert p.returncode == 1
    assert p.stdout.split()[:4] == ["go", "2", "1/2", "1/2"]
    assert ("go/bob: oracle error, expected resolved: gold run reported no tests (exit 0)"
            in p.stderr)
    assert "go/grep: noop resolved, expected not resolved" in p.stderr


def test_a_listed_exercise_that_no_longer_behaves_so_fails(tmp_path):
    # ledger's stub now fails (noop not resolved); counter now resolves under the oracle.
    p = run(tmp_path, {"ledger": "resolved", "counter": "resolved"},
            {"ledger": "no", "counter": "no"})
    assert p.returncode == 1
    assert "go/ledger: noop RESOLVED_NO, expected resolved (stub-passes)" in p.stderr
    assert "go/counter: oracle resolved, expected not resolved (ungradable)" in p.stderr


def test_the_expected_file_is_checked(tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("go/ledger\tflaky\twhy\n")
    with pytest.raises(ValueError, match="bad.tsv:1"):
        table.load_expected(str(bad))
    # The project's own list parses, and every line names a language folder.
    listed = table.load_expected(os.path.join(ROOT, "evals", "polyglot", "expected.tsv"))
    assert listed
    for key in listed:
        assert key.split("/")[0] in ("cpp", "go", "java", "javascript", "python", "rust"), key
