#!/usr/bin/env bash
# Validates the Aider polyglot benchmark end to end (not in CI: it takes a while): for each
# language, the oracle (the reference solutions) must resolve every exercise and noop (the stubs)
# none, except the exercises evals/polyglot/expected.tsv lists with their reason (refactoring
# exercises whose stub already passes; exercises whose tests cannot be named here), which are
# counted in their own columns. Prints one line per language (scripts/polyglot_check_table.py)
# and exits 1 when an exercise ends otherwise. Needs scripts/setup-eval-toolchains.sh and a build (build/dsagent).
# Usage: scripts/polyglot-check.sh [LANG...]        (default: all six)
# Env: POLYGLOT_DIR (default ../shared/datasets/polyglot-benchmark), JOBS (default 2),
#      OUT (default polyglot-check/<date>), DSAGENT (default build/dsagent).
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH="${POLYGLOT_DIR:-../shared/datasets/polyglot-benchmark}"
JOBS="${JOBS:-2}"
OUT="${OUT:-polyglot-check/$(date +%Y%m%d-%H%M%S)}"
DSAGENT="${DSAGENT:-build/dsagent}"
LANGS=("$@")
[ "${#LANGS[@]}" -gt 0 ] || LANGS=(cpp go java javascript python rust)
[ -x "$DSAGENT" ] || { echo "polyglot-check: no $DSAGENT (build first: scripts/setup.sh)" >&2; exit 2; }
[ -d "$BENCH" ] || { echo "polyglot-check: no benchmark at $BENCH (set POLYGLOT_DIR)" >&2; exit 2; }

mkdir -p "$OUT"
status=0
scripts/polyglot_check_table.py --header
for lang in "${LANGS[@]}"; do
  start=$(date +%s)
  for agent in oracle noop; do
    # One test-id cache per language: the noop run reuses the oracle run's gold runs.
    "$DSAGENT" eval --tasks "$BENCH/$lang" --format polyglot --agent "$agent" --jobs "$JOBS" \
      --out "$OUT/$lang-$agent" --test-ids-cache "$OUT/$lang-test-ids" --resume \
      > "$OUT/$lang-$agent.log" 2>&1 ||
      { echo "polyglot-check: $lang $agent failed, see $OUT/$lang-$agent.log" >&2; status=1; }
  done
  wall=$(( $(date +%s) - start ))
  [ -d "$OUT/$lang-oracle/results" ] && [ -d "$OUT/$lang-noop/results" ] || { status=1; continue; }
  scripts/polyglot_check_table.py --expected evals/polyglot/expected.tsv --lang "$lang" \
    --oracle "$OUT/$lang-oracle" --noop "$OUT/$lang-noop" --wall "$wall" || status=1
done
exit $status
