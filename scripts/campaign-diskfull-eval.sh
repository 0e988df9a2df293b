#!/usr/bin/env bash
# Disk-full campaign for `dsagent eval` outputs: the run directory (--out: repository copies, task
# workspaces, results, logs, trajectories, summary, report) on a small filesystem that is full but
# for FREE bytes, FREE stepping through POINTS values from 0 to a little more than a whole run
# takes with its workspaces kept. Each run must exit 0, or 1 naming "No space left on device";
# every file under results/ must parse and no temp file may be left; then, with the space back,
# `dsagent eval --resume` must exit 0 with the verdicts of a run that had room (each task's status
# and resolved flag, summary.json's id lists). Tasks: two Python smoke tasks graded with the oracle
# agent, one with its gold patch removed (mixed verdicts). The small filesystem is a size-limited
# tmpfs in a private user+mount namespace (unshare -Urm); where that is not allowed it exits 77.
#   scripts/campaign-diskfull-eval.sh [POINTS=30] [BUILD_DIR=build]
# Prints one summary line; exits 1 if any check failed. KEEP=1 keeps the scratch dir.
set -uo pipefail
cd "$(dirname "$0")/.."
if [ -z "${CAMPAIGN_DISKFULL_NS:-}" ] && unshare -Urm true 2>/dev/null; then
  CAMPAIGN_DISKFULL_NS=1 exec unshare -Urm "$0" "$@"
fi
POINTS="${1:-30}"
BUILD="$(cd "${2:-build}" && pwd)"
DSAGENT="$BUILD/dsagent"
PY=/usr/bin/python3
[ -x "$DSAGENT" ] || { echo "campaign-diskfull-eval: $DSAGENT is missing" >&2; exit 2; }
WORK="$(mktemp -d "${TMPDIR:-/tmp}/dsagent-campaign-XXXXXX")"
FS="$WORK/fs"
cleanup() {
  umount "$FS" 2>/dev/null
  if [ "${KEEP:-0}" = 1 ]; then echo "campaign: kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
export HOME="$WORK/home" XDG_CACHE_HOME="$WORK/cache" XDG_CONFIG_HOME="$WORK/config" \
  XDG_DATA_HOME="$WORK/data" GIT_AUTHOR_NAME=c GIT_AUTHOR_EMAIL=c@c GIT_COMMITTER_NAME=c \
  GIT_COMMITTER_EMAIL=c@c
mkdir -p "$HOME" "$FS"
mount -t tmpfs -o size=4m campaign "$FS" 2>/dev/null || {
  echo "campaign-diskfull-eval: cannot mount a tmpfs (unshare -Urm not allowed here): skipped" >&2; exit 77; }

SUITE="$WORK/suite"
mkdir -p "$SUITE"
cp -r evals/suites/smoke/py-clamp evals/suites/smoke/py-roman "$SUITE/"
"$PY" -c 'import json,sys; p=sys.argv[1]; t=json.load(open(p)); t["patch"]=""; json.dump(t,open(p,"w"))' \
  "$SUITE/py-roman/task.json"
eval_run() { "$DSAGENT" eval --tasks "$SUITE" --agent oracle --jobs 2 --out "$FS/run" "$@"; }
verdicts() { "$PY" scripts/campaign_eval_verdicts.py "$1"; }

eval_run --keep-workspaces >/dev/null 2>"$WORK/base.err" || {
  echo "campaign-diskfull-eval: the run with room failed:" >&2; cat "$WORK/base.err" >&2; exit 2; }
verdicts "$FS/run" >"$WORK/expected" || exit 2
full_bytes=$(du -s -B1 "$FS/run" | cut -f1)  # pages, as tmpfs counts them
rm -rf "${FS:?}"/*

failures=0; done_first=0; enospc=0
declare -A exits
fail() { failures=$((failures + 1)); echo "campaign-diskfull-eval: free $free: $*" >&2; }
for i in $(seq 0 $((POINTS - 1))); do
  free=$(( i * (full_bytes + 65536) / POINTS ))
  rm -rf "${FS:?}"/*
  avail=$(df --output=avail -B1 "$FS" | tail -n 1)
  head -c $(( avail > free ? avail - free : 0 )) /dev/zero >"$FS/filler" 2>/dev/null
  eval_run >/dev/null 2>"$WORK/e$i"
  rc=$?
  exits[$rc]=$(( ${exits[$rc]:-0} + 1 ))
  if [ $rc = 0 ]; then done_first=$((done_first + 1))
  elif [ $rc = 1 ] && grep -q "No space left on device" "$WORK/e$i"; then enospc=$((enospc + 1))
  else fail "exit $rc: $(tail -n 2 "$WORK/e$i")"; fi
  for r in "$FS"/run/results/*.json; do
    [ -e "$r" ] || continue
    "$PY" -c 'import json,sys; json.load(open(sys.argv[1]))' "$r" 2>/dev/null || fail "$r does not parse"
  done
  temps="$(find "$FS/run" -name '.*.tmp*' 2>/dev/null | head -n 3)"
  [ -z "$temps" ] || fail "temp files left behind: $temps"
  rm -f "$FS/filler"  # the space is back
  if ! eval_run --resume >/dev/null 2>"$WORK/r$i"; then
    fail "--resume failed: $(tail -n 2 "$WORK/r$i")"; continue
  fi
  if ! verdicts "$FS/run" >"$WORK/got$i" 2>&1 || ! cmp -s "$WORK/expected" "$WORK/got$i"; then
    fail "other verdicts after --resume:"; diff "$WORK/expected" "$WORK/got$i" >&2
  fi
done
echo "campaign-diskfull-eval: $POINTS fill points (0..$((full_bytes + 65536)) bytes free) on a 4 MiB" \
  "tmpfs (unshare -Urm), $failures failed; $done_first finished anyway, $enospc stopped with exit 1" \
  "and \"No space left on device\"; each then resumed with space back"
[ "$failures" = 0 ]
