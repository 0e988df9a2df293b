"""Prints the verdicts of a `dsagent eval` run directory, for the eval campaigns to compare: one
line per task "id status resolved", then summary.json's id lists.
Usage: campaign_eval_verdicts.py RUN_DIR"""
import json
import pathlib
import sys

out = pathlib.Path(sys.argv[1])
for p in sorted((out / "results").glob("*.json")):
    r = json.loads(p.read_text())
    print(r["instance_id"], r["status"], r["resolved"])
s = json.loads((out / "summary.json").read_text())
for k in ("resolved_ids", "unresolved_ids", "empty_patch_ids", "error_ids"):
    print(k, s.get(k))
