#!/usr/bin/env bash
# Disk-full campaign: `dsagent run` with its sessions directory and trace on a small filesystem
# that is full but for FREE bytes, FREE stepping through POINTS values from 0 to a little more than
# a whole session's trace, so that the disk fills at every kind of moment (session start, request,
# response, tool result, end). Each run must end done (0) or with a trace error (exit 1) naming
# "No space left on device" — never a crash, never another code; its trace must read (a torn last
# line allowed); then, with the space back, `dsagent run --resume` must finish the session with
# every step exactly once (scripts/campaign_check_trace.py).
# The small filesystem is a size-limited tmpfs mounted in a private user+mount namespace
# (unshare -Urm). Where that is not allowed, the fallback is RLIMIT_FSIZE (ulimit -f, SIGXFSZ
# ignored, so writes past the limit fail with EFBIG instead of "No space left"), said in the summary.
#   scripts/campaign-diskfull.sh [POINTS=40] [BUILD_DIR=build]
# Prints one summary line; exits 1 if any run failed a check. KEEP=1 keeps the scratch dir.
set -uo pipefail
cd "$(dirname "$0")/.."
if [ -z "${CAMPAIGN_DISKFULL_NS:-}" ] && unshare -Urm true 2>/dev/null; then
  CAMPAIGN_DISKFULL_NS=1 exec unshare -Urm "$0" "$@"
fi
POINTS="${1:-40}"
BUILD="${2:-build}"
STEPS=3
source scripts/campaign-lib.sh

# Each step prints ~2 KB, so the trace grows in steps the free space can land between.
start_server --steps "$STEPS" --step-command 'head -c 2000 /dev/zero | tr "\0" x; echo " step-{k}"'
SANDBOX=()
"$DSAGENT" doctor 2>/dev/null | grep -q 'sandbox for `run`: on' || SANDBOX=(--no-sandbox)

FS="$WORK/fs"
mkdir -p "$FS"
MODE=tmpfs
if ! mount -t tmpfs -o size=2m campaign "$FS" 2>/dev/null; then MODE=fsize; fi

# One run with room to spare: the trace size sets the range of FREE.
new_repo "$WORK/base"
(cd "$WORK/base" && XDG_DATA_HOME="$FS/data" "$DSAGENT" run --json "${SANDBOX[@]}" \
  --trace "$FS/base.jsonl" "Do the campaign steps." >/dev/null 2>"$WORK/base.err") || {
  echo "campaign-diskfull: the run with room failed:" >&2; cat "$WORK/base.err" >&2; exit 2; }
full_bytes=$(stat -c %s "$FS/base.jsonl")
rm -rf "$FS"/*

failures=0; done_first=0; enospc=0; resumed=0
declare -A exits
for i in $(seq 0 $((POINTS - 1))); do
  free=$(( i * (full_bytes + 8192) / POINTS ))
  repo="$WORK/r$i"; trace="$FS/t.jsonl"
  new_repo "$repo"
  rm -rf "$FS"/*
  if [ $MODE = tmpfs ]; then
    # tmpfs counts whole pages: fill all but `free` bytes (rounded to pages) with a filler file.
    avail=$(df --output=avail -B1 "$FS" | tail -n 1)
    head -c $(( avail > free ? avail - free : 0 )) /dev/zero >"$FS/filler" 2>/dev/null
    (cd "$repo" && XDG_DATA_HOME="$FS/data" "$DSAGENT" run --json "${SANDBOX[@]}" --trace "$trace" \
      "Do the campaign steps." >/dev/null 2>"$WORK/e$i")
  else
    (cd "$repo" && trap '' XFSZ && ulimit -f $(( (free + 1023) / 1024 )) &&
      XDG_DATA_HOME="$FS/data" exec "$DSAGENT" run --json "${SANDBOX[@]}" --trace "$trace" \
      "Do the campaign steps." >/dev/null 2>"$WORK/e$i")
  fi
  rc=$?
  exits[$rc]=$(( ${exits[$rc]:-0} + 1 ))
  if [ $rc = 0 ]; then done_first=$((done_first + 1))
  elif [ $rc = 1 ] && grep -q -E "No space left on device|File too large" "$WORK/e$i"; then
    enospc=$((enospc + 1))
  else
    failures=$((failures + 1))
    echo "campaign-diskfull: free $free: exit $rc: $(tail -n 2 "$WORK/e$i")" >&2
    continue
  fi
  # The trace must read now (a torn last line allowed: the next writer cuts it off).
  if [ -s "$trace" ] && ! head -n -1 "$trace" | "$PY" -c 'import json,sys
for l in sys.stdin: json.loads(l)'; then
    failures=$((failures + 1)); echo "campaign-diskfull: free $free: the trace does not read" >&2
    continue
  fi
  rm -f "$FS/filler"  # the space is back
  if [ $rc != 0 ]; then
    id="$(session_id "$trace")"
    if [ -n "$id" ]; then
      resumed=$((resumed + 1))
      (cd "$repo" && XDG_DATA_HOME="$FS/data" "$DSAGENT" run --json "${SANDBOX[@]}" --resume "$id" \
        --trace "$trace" >/dev/null 2>"$WORK/r$i.err")
    else  # the disk filled before the session was recorded: start again
      rm -f "$trace"
      (cd "$repo" && XDG_DATA_HOME="$FS/data" "$DSAGENT" run --json "${SANDBOX[@]}" --trace "$trace" \
        "Do the campaign steps." >/dev/null 2>"$WORK/r$i.err")
    fi
    rrc=$?
    if [ $rrc != 0 ] && ! grep -q "nothing left to continue" "$WORK/r$i.err"; then
      failures=$((failures + 1))
      echo "campaign-diskfull: free $free: resume exited $rrc: $(tail -n 2 "$WORK/r$i.err")" >&2
      continue
    fi
  fi
  if ! out="$("$PY" scripts/campaign_check_trace.py "$trace" "$STEPS")"; then
    failures=$((failures + 1)); echo "campaign-diskfull: free $free: $out" >&2
  fi
done
[ $MODE = tmpfs ] && umount "$FS" 2>/dev/null
how="a 2 MiB tmpfs (unshare -Urm)"; [ $MODE = fsize ] && how="RLIMIT_FSIZE (no mount allowed here)"
echo "campaign-diskfull: $POINTS fill points (0..$((full_bytes + 8192)) bytes free) on $how," \
  "$failures failed; $done_first finished anyway, $enospc stopped on a full disk, $resumed resumed"
[ "$failures" = 0 ]
