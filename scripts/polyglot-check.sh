#!/usr/bin/env bash
# Validates the Aider polyglot benchmark end to end (not in CI: it takes a while): for each
# language, the oracle (the reference solutions) must resolve every exercise and noop (the stubs)
# none. Prints one line per language (resolved counts and wall time) and exits 1 when either
# figure is off. Needs scripts/setup-eval-toolchains.sh and a build (build/dsagent).
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

count() {  # count SUMMARY KEY
  /usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"
}
mkdir -p "$OUT"
status=0
printf '%-11s %-9s %-9s %-8s %s\n' language oracle noop errors wall
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
  o="$OUT/$lang-oracle/summary.json" n="$OUT/$lang-noop/summary.json"
  [ -f "$o" ] && [ -f "$n" ] || { status=1; continue; }
  total=$(count "$o" total_instances)
  ro=$(count "$o" resolved_instances) rn=$(count "$n" resolved_instances)
  errors=$(( $(count "$o" error_instances) + $(count "$n" error_instances) ))
  printf '%-11s %-9s %-9s %-8s %ss\n' "$lang" "$ro/$total" "$rn/$total" "$errors" "$wall"
  [ "$ro" = "$total" ] && [ "$rn" = 0 ] || status=1
done
exit $status
