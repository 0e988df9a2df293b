#!/usr/bin/python3
"""One language's row of scripts/polyglot-check.sh: the oracle and noop verdicts of a polyglot
run, judged against evals/polyglot/expected.tsv (the exercises that cannot end "oracle resolves,
noop does not" for reasons of the exercise itself, each with its category and reason).

Every exercise must end as its category says: unlisted ones oracle resolved and noop not;
`stub-passes` ones (refactoring exercises whose stub already passes) resolved by both;
`ungradable` ones (the gold run cannot name the tests here) resolved by neither. The row counts
the oracle over the gradable exercises and noop over the gradable ones whose stub fails, and
shows the two categories in their own columns, so the acceptance "oracle all, noop none" reads
directly. Exits 1 when an exercise ends otherwise (named on stderr, with its error).

Usage: polyglot_check_table.py --expected TSV --lang LANG --oracle RUN --noop RUN [--wall S]
       polyglot_check_table.py --header
"""
import argparse
import json
import os
import sys

CATEGORIES = ("stub-passes", "ungradable")
HEADER = ("language", "exercises", "oracle", "noop", "stub passes", "ungradable", "errors",
          "wall")


def load_expected(path):
    """{"lang/exercise": (category, reason)} from the TSV (# comments, tab-separated)."""
    out = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.split("\t")
            if len(parts) != 3 or parts[1] not in CATEGORIES:
                raise ValueError(f"{path}:{n}: want 'lang/exercise<TAB>{'|'.join(CATEGORIES)}"
                                 f"<TAB>reason', got {line!r}")
            out[parts[0]] = (parts[1], parts[2])
    return out


def load_results(run_dir, lang):
    """{"exercise": result} from RUN/results/polyglot__<lang>-<exercise>.json."""
    prefix = f"polyglot__{lang}-"
    out = {}
    results = os.path.join(run_dir, "results")
    for name in sorted(os.listdir(results)):
        if not name.endswith(".json"):
            continue
        with open(os.path.join(results, name), encoding="utf-8") as f:
            r = json.load(f)
        iid = r.get("instance_id", "")
        if iid.startswith(prefix):
            out[iid[len(prefix):]] = r
    return out


def verdict(r):
    return "resolved" if r.get("resolved") else r.get("status", "missing")


def judge(lang, oracle, noop, expected):
    """(row dict, [problem lines]) for one language."""
    problems = []
    exercises = sorted(set(oracle) | set(noop))
    counts = {"stub-passes": 0, "ungradable": 0}
    oracle_ok = noop_resolved = errors = 0
    for ex in exercises:
        o, n = oracle.get(ex, {}), noop.get(ex, {})
        category = expected.get(f"{lang}/{ex}", ("", ""))[0]
        want_oracle = category != "ungradable"
        want_noop = category == "stub-passes"
        errors += (o.get("status") == "error") + (n.get("status") == "error")
        if category:
            counts[category] += 1
        if category != "ungradable" and o.get("resolved"):
            oracle_ok += 1
        if not category and n.get("resolved"):
            noop_resolved += 1
        for agent, r, want in (("oracle", o, want_oracle), ("noop", n, want_noop)):
            if bool(r.get("resolved")) != want:
                why = (r.get("error") or "").splitlines()[:1]
                problems.append(f"{lang}/{ex}: {agent} {verdict(r)}, expected "
                                f"{'resolved' if want else 'not resolved'}"
                                f"{' (' + category + ')' if category else ''}"
                                f"{': ' + why[0] if why else ''}")
    gradable = len(exercises) - counts["ungradable"]
    row = {
        "language": lang,
        "exercises": len(exercises),
        "oracle": f"{oracle_ok}/{gradable}",
        "noop": f"{noop_resolved}/{gradable - counts['stub-passes']}",
        "stub passes": counts["stub-passes"],
        "ungradable": counts["ungradable"],
        "errors": errors,
    }
    return row, problems


def format_row(values):
    widths = (11, 10, 8, 8, 12, 11, 7, 6)
    return " ".join(str(v).ljust(w) for v, w in zip(values, widths)).rstrip()


def main(argv):
    p = argparse.ArgumentParser()
    p.add_argument("--header", action="store_true")
    p.add_argument("--expected")
    p.add_argument("--lang")
    p.add_argument("--oracle")
    p.add_argument("--noop")
    p.add_argument("--wall", default="")
    a = p.parse_args(argv)
    if a.header:
        print(format_row(HEADER))
        return 0
    expected = load_expected(a.expected)
    row, problems = judge(a.lang, load_results(a.oracle, a.lang), load_results(a.noop, a.lang),
                          expected)
    print(format_row([row[h] for h in HEADER[:-1]] + [f"{a.wall}s" if a.wall else ""]))
    for line in problems:
        print(f"polyglot-check: {line}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
