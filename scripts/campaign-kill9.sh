#!/usr/bin/env bash
# Crash campaign: `kill -9` of `dsagent run` at random moments (mid-stream, mid-tool,
# mid-trace-append), then `dsagent run --resume` until the session finishes. Each session must
# resume, its trace must read, and the conversation must hold every step exactly once
# (scripts/campaign_check_trace.py). Runs the real binary against the campaign server
# (tests/support/campaign_server_main.cc): STEPS bash steps, then a final answer.
#   scripts/campaign-kill9.sh [KILLS=50] [BUILD_DIR=build] [STEPS=4]
# Prints one summary line; exits 1 if any session failed a check. KEEP=1 keeps the scratch dir.
set -uo pipefail
cd "$(dirname "$0")/.."
KILLS="${1:-50}"
BUILD="${2:-build}"
STEPS="${3:-4}"
source scripts/campaign-lib.sh

start_server --steps "$STEPS" --step-command 'sleep 0.1; echo step-{k} >> steps.log'
SANDBOX=()
"$DSAGENT" doctor 2>/dev/null | grep -q 'sandbox for `run`: on' || SANDBOX=(--no-sandbox)

# One run to the end: checks the setup and sets the window the kills are drawn from.
new_repo "$WORK/base"
t0=$(date +%s%N)
(cd "$WORK/base" && "$DSAGENT" run --json "${SANDBOX[@]}" --trace "$WORK/base.jsonl" \
  "Do the campaign steps." >/dev/null 2>"$WORK/base.err") || {
  echo "campaign-kill9: the unkilled run failed:" >&2; cat "$WORK/base.err" >&2; exit 2; }
window_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
"$PY" scripts/campaign_check_trace.py "$WORK/base.jsonl" "$STEPS" >/dev/null || {
  echo "campaign-kill9: the unkilled run's trace fails the check" >&2; exit 2; }

failures=0; resumes=0; restarts=0; settled=0; settled_ran=0; killed_done=0
for i in $(seq 1 "$KILLS"); do
  repo="$WORK/r$i"; trace="$WORK/t$i.jsonl"
  new_repo "$repo"
  delay_ms=$(( (RANDOM * 32768 + RANDOM) % (window_ms + 1) ))
  (cd "$repo" && exec "$DSAGENT" run --json "${SANDBOX[@]}" --trace "$trace" \
    "Do the campaign steps." >/dev/null 2>"$WORK/e$i.0") &
  pid=$!
  sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
  kill -9 "$pid" 2>/dev/null || killed_done=$((killed_done + 1))  # it had already finished
  wait "$pid" 2>/dev/null
  ok=0
  for attempt in 1 2 3 4 5; do
    id="$(session_id "$trace")"
    if [ -z "$id" ]; then  # killed before the session was recorded: nothing to resume
      rm -f "$trace"; restarts=$((restarts + 1))
      (cd "$repo" && "$DSAGENT" run --json "${SANDBOX[@]}" --trace "$trace" \
        "Do the campaign steps." >/dev/null 2>"$WORK/e$i.$attempt")
    else
      resumes=$((resumes + 1))
      (cd "$repo" && "$DSAGENT" run --json "${SANDBOX[@]}" --resume "$id" --trace "$trace" \
        >/dev/null 2>"$WORK/e$i.$attempt")
    fi
    rc=$?
    if [ $rc = 0 ]; then ok=1; break; fi
    if grep -q "nothing left to continue" "$WORK/e$i.$attempt"; then
      if "$PY" scripts/campaign_check_trace.py "$trace" "$STEPS" >/dev/null; then ok=1; break; fi
      # Killed after session_start but before the task was recorded: the session holds no task.
      rm -f "$trace"; continue
    fi
    echo "campaign-kill9: kill $i: resume attempt $attempt exited $rc: $(tail -n 2 "$WORK/e$i.$attempt")" >&2
  done
  if [ $ok = 1 ] && facts="$("$PY" scripts/campaign_check_trace.py "$trace" "$STEPS" --steps-log "$repo/steps.log")"; then
    settled=$((settled + $("$PY" -c 'import json,sys; print(json.loads(sys.argv[1])["settled"])' "$facts")))
    settled_ran=$((settled_ran + $("$PY" -c 'import json,sys; print(json.loads(sys.argv[1])["settled_but_ran"])' "$facts")))
  else
    failures=$((failures + 1))
    echo "campaign-kill9: kill $i at ${delay_ms} ms: $(tail -n 1 "$WORK/e$i."* 2>/dev/null | tail -n 1)" >&2
    "$PY" scripts/campaign_check_trace.py "$trace" "$STEPS" >&2
  fi
done
echo "campaign-kill9: $KILLS kills in a ${window_ms} ms window, $failures failed; $resumes resumes," \
  "$restarts restarts (killed before the session was recorded), $killed_done already finished;" \
  "$settled interrupted tool calls settled, $settled_ran of them had run"
[ "$failures" = 0 ]
