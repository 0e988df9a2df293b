#!/usr/bin/env bash
# Disk-full campaign for the persistent KV prefix store: `dsagent serve --kv-dir` with the store on
# a small filesystem that is full but for FREE bytes, FREE stepping through POINTS values from 0 to
# a little more than what the prompts' records take, so the disk fills while writing a block, a
# checkpoint, or not at all. With the disk full:
#   - every request is still answered, exactly as a server without a store answers it (a store
#     that cannot write is a cache miss, logged as "kv: ... No space left on device");
#   - no temp file or partial record is left, and `dsagent cache verify` passes (exit 0);
# then, with the space back, the same server stores the prompts again and a new server on the
# store gets cache hits and still answers exactly. The small filesystem is a size-limited tmpfs in
# a private user+mount namespace (unshare -Urm); where that is not allowed it exits 77 (skipped).
#   scripts/campaign-diskfull-kv.sh [POINTS=30] [BUILD_DIR=build]
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
MODEL="$PWD/tests/data/v4-tiny"
TOKENIZER="$PWD/tests/data/v4-tiny-tokenizer/tokenizer.json"
[ -x "$DSAGENT" ] || { echo "campaign-diskfull-kv: $DSAGENT is missing" >&2; exit 2; }
WORK="$(mktemp -d "${TMPDIR:-/tmp}/dsagent-campaign-XXXXXX")"
SERVE_PID=""
FS="$WORK/fs"
cleanup() {
  if [ -n "$SERVE_PID" ]; then kill -9 "$SERVE_PID" 2>/dev/null; wait "$SERVE_PID" 2>/dev/null; fi
  umount "$FS" 2>/dev/null
  if [ "${KEEP:-0}" = 1 ]; then echo "campaign: kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
export HOME="$WORK/home" XDG_CACHE_HOME="$WORK/cache" XDG_CONFIG_HOME="$WORK/config" \
  XDG_DATA_HOME="$WORK/data"
mkdir -p "$HOME" "$FS"
mount -t tmpfs -o size=2m campaign "$FS" 2>/dev/null || {
  echo "campaign-diskfull-kv: cannot mount a tmpfs (unshare -Urm not allowed here): skipped" >&2; exit 77; }

start_serve() {  # start_serve LOG ARGS...
  local log="$1"; shift
  "$DSAGENT" serve --model "$MODEL" --tokenizer "$TOKENIZER" --port 0 --threads 1 \
    --ctx-size 4096 --model-id tiny "$@" 2>"$log" &
  SERVE_PID=$!
  PORT=""
  for _ in $(seq 1 600); do
    PORT="$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log")"
    [ -n "$PORT" ] && return 0
    kill -0 "$SERVE_PID" 2>/dev/null || { wait "$SERVE_PID"; SERVE_RC=$?; SERVE_PID=""; return 1; }
    sleep 0.05
  done
  echo "campaign-diskfull-kv: serve did not listen within 30 s" >&2; exit 2
}
stop_serve() { kill "$SERVE_PID" 2>/dev/null; wait "$SERVE_PID" 2>/dev/null; SERVE_PID=""; }
PROMPTS=2
for n in $(seq 0 $((PROMPTS - 1))); do
  "$PY" - "$n" >"$WORK/prompt$n.json" <<'EOF'
import json, sys
n = int(sys.argv[1])
print(json.dumps({"model": "tiny", "max_tokens": 3, "temperature": 0, "messages": [
    {"role": "system", "content": " ".join(f"shared{i}" for i in range(40))},
    {"role": "user", "content": " ".join(f"p{n}w{i}" for i in range(15 + 30 * n))}]}))
EOF
done
ask() {
  curl -sS -f --max-time 120 -H 'Content-Type: application/json' \
    --data-binary @"$WORK/prompt$1.json" "http://127.0.0.1:$PORT/v1/chat/completions" |
    "$PY" -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["choices"][0]["message"]))'
}

# Expected answers (no store), and how many bytes the prompts' records take.
start_serve "$WORK/reference.log" --kv-dir "$FS/kv" || { cat "$WORK/reference.log" >&2; exit 2; }
for n in $(seq 0 $((PROMPTS - 1))); do ask "$n" >"$WORK/expected$n" || exit 2; done
stop_serve
full_bytes=$(du -sb "$FS/kv" | cut -f1)
rm -rf "${FS:?}"/*

failures=0; answered_full=0; store_errors=0; refused_start=0; hits_after=0
fail() { failures=$((failures + 1)); echo "campaign-diskfull-kv: free $free: $*" >&2; }
for i in $(seq 0 $((POINTS - 1))); do
  free=$(( i * (full_bytes + 16384) / POINTS ))
  rm -rf "${FS:?}"/*
  avail=$(df --output=avail -B1 "$FS" | tail -n 1)
  head -c $(( avail > free ? avail - free : 0 )) /dev/zero >"$FS/filler" 2>/dev/null
  log="$WORK/serve$i.log"
  if ! start_serve "$log" --kv-dir "$FS/kv"; then
    # Even the store's directory did not fit: serve refuses to start, saying why (exit 2).
    if [ "$SERVE_RC" = 2 ] && grep -q "No space left on device" "$log"; then
      refused_start=$((refused_start + 1))
    else
      fail "serve exited $SERVE_RC: $(tail -n 2 "$log")"; continue
    fi
  else
    for n in $(seq 0 $((PROMPTS - 1))); do
      got="$(ask "$n")" && [ "$got" = "$(cat "$WORK/expected$n")" ] ||
        fail "with the disk full, prompt $n answered ${got:-nothing}"
    done
    answered_full=$((answered_full + 1))
    grep -q "No space left on device" "$log" && store_errors=$((store_errors + 1))
    stop_serve
  fi
  if [ -n "$(find "$FS" -name '.*.tmp*' 2>/dev/null)" ]; then
    fail "temp files left behind: $(find "$FS" -name '.*.tmp*' | head -n 3)"
  fi
  if [ -d "$FS/kv" ] && ! "$DSAGENT" cache verify --kv-dir "$FS/kv" >"$WORK/verify$i" 2>&1; then
    fail "cache verify failed: $(tail -n 3 "$WORK/verify$i")"
  fi
  rm -f "$FS/filler"  # the space is back: the prompts are stored, and then served from the store
  start_serve "$log.2" --kv-dir "$FS/kv" || { fail "serve did not start with space back"; continue; }
  for n in $(seq 0 $((PROMPTS - 1))); do ask "$n" >/dev/null || fail "prompt $n failed with space back"; done
  stop_serve
  start_serve "$log.3" --kv-dir "$FS/kv" || { fail "serve did not start (3)"; continue; }
  for n in $(seq 0 $((PROMPTS - 1))); do
    got="$(ask "$n")" && [ "$got" = "$(cat "$WORK/expected$n")" ] ||
      fail "from the store, prompt $n answered ${got:-nothing}"
  done
  stop_serve
  grep -q "cache hit [1-9]" "$log.3" && hits_after=$((hits_after + 1))
  "$DSAGENT" cache verify --kv-dir "$FS/kv" >"$WORK/verify$i.after" 2>&1 ||
    fail "cache verify failed with space back: $(tail -n 3 "$WORK/verify$i.after")"
done
echo "campaign-diskfull-kv: $POINTS fill points (0..$((full_bytes + 16384)) bytes free) on a 2 MiB" \
  "tmpfs (unshare -Urm), $failures failed; $answered_full servers answered every prompt exactly on" \
  "the full disk ($store_errors of them logged a store that did not fit), $refused_start refused" \
  "to start; with the space back $hits_after of $POINTS served from the store"
[ "$failures" = 0 ]
