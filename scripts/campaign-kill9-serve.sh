#!/usr/bin/env bash
# Crash campaign: `kill -9` of `dsagent serve --kv-dir` at random moments while it prefills
# prompts and writes their KV records (128-token blocks and checkpoints) to the persistent prefix
# store, on the tiny checkpoint (tests/data/v4-tiny). After each kill:
#   - `dsagent cache verify` must pass (records are written temp + fsync + rename, so none is torn);
#   - a fresh `dsagent serve` on the same store must answer the next prompt exactly as a server
#     without a store does (greedy decoding; on the tiny model a restored state is bit-exact).
# Every CORRUPT-th kill (default 5) also damages one stored record (truncates it or flips a byte
# in its payload): verify must then name it and exit 1, the next answer must still be exact (the
# record is skipped, never served — the serve log says so), and `cache verify --remove` must leave
# a store that verifies again.
# Every AIM-th kill (default 5; 0 = none) is aimed inside a record write: a random moment lands
# there rarely (a write takes ~1 ms of the window), so that server runs under strace with its
# fsync calls delayed by 2 s (long enough for the polling below, slow on a busy machine), and the
# kill comes as soon as a new temp file of the store appears, i.e. after the record's bytes are
# written and before the rename that publishes it.
# The temp file is left behind; it must never be read as a record. Needs strace (else skipped).
#   scripts/campaign-kill9-serve.sh [KILLS=50] [BUILD_DIR=build] [CORRUPT=5] [PROMPTS=4] [AIM=5]
# Prints one summary line; exits 1 if any check failed. KEEP=1 keeps the scratch dir.
set -uo pipefail
cd "$(dirname "$0")/.."
KILLS="${1:-50}"
BUILD="${2:-build}"
CORRUPT="${3:-5}"
PROMPTS="${4:-4}"
AIM="${5:-5}"
if [ "$AIM" -gt 0 ] && ! command -v strace >/dev/null; then
  echo "campaign-kill9-serve: strace is missing (apt-get install strace): no kill is aimed at a record write" >&2
  AIM=0
fi
BUILD="$(cd "$BUILD" && pwd)"
DSAGENT="$BUILD/dsagent"
PY=/usr/bin/python3
MODEL="$PWD/tests/data/v4-tiny"
TOKENIZER="$PWD/tests/data/v4-tiny-tokenizer/tokenizer.json"
[ -x "$DSAGENT" ] || { echo "campaign-kill9-serve: $DSAGENT is missing: ninja -C $BUILD dsagent" >&2; exit 2; }
WORK="$(mktemp -d "${TMPDIR:-/tmp}/dsagent-campaign-XXXXXX")"
SERVE_PID=""
cleanup() {
  if [ -n "$SERVE_PID" ]; then kill -9 "$SERVE_PID" 2>/dev/null; wait "$SERVE_PID" 2>/dev/null; fi
  if [ "${KEEP:-0}" = 1 ]; then echo "campaign: kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
export HOME="$WORK/home" XDG_CACHE_HOME="$WORK/cache" XDG_CONFIG_HOME="$WORK/config" \
  XDG_DATA_HOME="$WORK/data"
mkdir -p "$HOME"
KV="$WORK/kv"

# start_serve LOG [--kv-dir DIR]: starts `dsagent serve` and waits (bounded) for its port.
start_serve() {
  local log="$1"; shift
  ${WRAP:-} "$DSAGENT" serve --model "$MODEL" --tokenizer "$TOKENIZER" --port 0 --threads 1 \
    --ctx-size 4096 --model-id tiny "$@" 2>"$log" &
  SERVE_PID=$!
  [ -n "${PIDFILE:-}" ] && echo "$SERVE_PID" >"$PIDFILE"
  PORT=""
  for _ in $(seq 1 600); do
    PORT="$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log")"
    [ -n "$PORT" ] && return 0
    kill -0 "$SERVE_PID" 2>/dev/null || { echo "campaign-kill9-serve: serve died:" >&2; cat "$log" >&2; exit 2; }
    sleep 0.05
  done
  echo "campaign-kill9-serve: serve did not listen within 30 s" >&2; exit 2
}
stop_serve() {
  kill "$SERVE_PID" 2>/dev/null; wait "$SERVE_PID" 2>/dev/null; SERVE_PID=""
}

# Prompts: one shared opening (its blocks are stored once and shared), then a part of its own,
# so that every request writes new blocks and a new checkpoint: 340, 410, 490, 560... tokens.
prompt_body() {  # prompt_body N [SALT] -> the request JSON for prompt N (SALT makes it new)
  "$PY" - "$1" "${2:-}" <<'EOF'
import json, sys
n, salt = int(sys.argv[1]), sys.argv[2]
shared = " ".join(f"shared{i}{salt}" for i in range(40))
own = " ".join(f"p{n}w{i}{salt}" for i in range(15 + 15 * n))
print(json.dumps({"model": "tiny", "max_tokens": 3, "temperature": 0,
                  "messages": [{"role": "system", "content": shared},
                               {"role": "user", "content": own}]}))
EOF
}
for n in $(seq 0 $((PROMPTS - 1))); do prompt_body "$n" >"$WORK/prompt$n.json"; done
ask() {  # ask N -> the answer's text (exit 1 when the request fails)
  curl -sS -f --max-time 120 -H 'Content-Type: application/json' \
    --data-binary @"$WORK/prompt$1.json" "http://127.0.0.1:$PORT/v1/chat/completions" |
    "$PY" -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["choices"][0]["message"]))'
}

# The expected answers, from a server without a store; the window kills are drawn from is the
# time a server with an empty store takes to start and answer every prompt once.
start_serve "$WORK/reference.log"
for n in $(seq 0 $((PROMPTS - 1))); do
  ask "$n" >"$WORK/expected$n" || { echo "campaign-kill9-serve: reference request $n failed" >&2; exit 2; }
done
stop_serve
t0=$(date +%s%N)
start_serve "$WORK/timing.log" --kv-dir "$WORK/timing-kv"
for n in $(seq 0 $((PROMPTS - 1))); do ask "$n" >/dev/null || exit 2; done
window_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
stop_serve

failures=0; corrupted=0; skipped_logged=0; killed_writing=0; temp_left=0; aimed_kills=0
count_temps() { find "$KV" -name '.*.tmp*' 2>/dev/null | wc -l; }
# kill_aimed: waits (up to 60 s) for a temp file the store has not had before, then kills the
# server strace runs (strace's child), then strace.
kill_aimed() {
  local tracer=""
  for _ in $(seq 1 6000); do
    [ -s "$WORK/pid" ] && tracer="$(cat "$WORK/pid")"
    if [ -n "$tracer" ] && [ "$(count_temps)" -gt "$temp_left" ]; then
      pkill -9 -P "$tracer" 2>/dev/null && aimed_kills=$((aimed_kills + 1))
      return
    fi
    sleep 0.01
  done
  fail "no record write began within 60 s"
}
fail() { failures=$((failures + 1)); echo "campaign-kill9-serve: kill $i: $*" >&2; }
for i in $(seq 1 "$KILLS"); do
  # A server that answers the prompts in a random order until it is killed at a random moment.
  delay_ms=$(( (RANDOM * 32768 + RANDOM) % (window_ms + 1) ))
  temp_left=$(count_temps)  # `cache verify --remove` may have cleared some since the last kill
  aimed=""
  [ "$AIM" -gt 0 ] && [ $((i % AIM)) = 0 ] && aimed=1
  (
    [ -n "$aimed" ] && WRAP="strace -f --seccomp-bpf -qq -o /dev/null -e trace=fsync -e inject=fsync:delay_enter=2000000"
    PIDFILE="$WORK/pid" start_serve "$WORK/serve$i.log" --kv-dir "$KV"
    # An aimed kill needs a write to happen: a prompt that shares no block with the store comes first.
    [ -n "$aimed" ] && { prompt_body $((i % PROMPTS)) "a$i" >"$WORK/prompt$((1000 + i)).json"; ask $((1000 + i)) >/dev/null 2>&1; }
    for n in $(shuf -i 0-$((PROMPTS - 1))); do ask "$n" >/dev/null 2>&1 || true; done
    wait "$SERVE_PID"
  ) 2>/dev/null &  # (bash's "Killed" notices)
  runner=$!
  if [ -n "$aimed" ]; then
    kill_aimed
  else
    sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
  fi
  # (an aimed server is strace's child: killed first, so that it cannot outlive strace)
  [ -s "$WORK/pid" ] && { pkill -9 -P "$(cat "$WORK/pid")"; kill -9 "$(cat "$WORK/pid")"; } 2>/dev/null
  # The runner may still be waiting for the port or a reply: end it, then a server it started
  # after the first look.
  kill -9 "$runner" 2>/dev/null; wait "$runner" 2>/dev/null
  [ -s "$WORK/pid" ] && { pkill -9 -P "$(cat "$WORK/pid")"; kill -9 "$(cat "$WORK/pid")"; } 2>/dev/null
  rm -f "$WORK/pid"
  # A temp file that appeared with this kill: a record write it cut off.
  temps=$(count_temps)
  [ "$temps" -gt "$temp_left" ] && killed_writing=$((killed_writing + 1))

  if [ -d "$KV" ] && ! "$DSAGENT" cache verify --kv-dir "$KV" >"$WORK/verify$i" 2>&1; then
    fail "cache verify failed after the kill at ${delay_ms} ms: $(tail -n 3 "$WORK/verify$i")"
    "$DSAGENT" cache verify --kv-dir "$KV" --remove >/dev/null 2>&1
  fi
  damaged=""
  if [ "$CORRUPT" -gt 0 ] && [ $((i % CORRUPT)) = 0 ]; then
    damaged="$(find "$KV" -name '*.ckpt' -o -name '*.blk' 2>/dev/null | shuf -n 1)"
    if [ -n "$damaged" ]; then
      corrupted=$((corrupted + 1))
      size=$(stat -c %s "$damaged")
      if [ $((i / CORRUPT % 2)) = 0 ]; then
        truncate -s $((size / 2)) "$damaged"  # a torn record
      else                                    # a flipped byte in the payload
        "$PY" -c 'import sys
p, off = sys.argv[1], int(sys.argv[2])
with open(p, "r+b") as f:
    f.seek(off); b = f.read(1); f.seek(off); f.write(bytes([b[0] ^ 0x5a]))' "$damaged" $((size - 1 - (RANDOM % (size / 4))))
      fi
      if "$DSAGENT" cache verify --kv-dir "$KV" >"$WORK/verify$i.bad" 2>&1 ||
        ! grep -q "bad: $damaged" "$WORK/verify$i.bad"; then
        fail "cache verify did not report the damaged record $damaged: $(tail -n 2 "$WORK/verify$i.bad")"
      fi
    fi
  fi

  # The next server on this store answers exactly as one without a store.
  n=$(( RANDOM % PROMPTS ))
  start_serve "$WORK/next$i.log" --kv-dir "$KV"
  if ! got="$(ask "$n")"; then
    fail "the next request failed"
  elif [ "$got" != "$(cat "$WORK/expected$n")" ]; then
    fail "prompt $n answered $got, expected $(cat "$WORK/expected$n")"
  fi
  # The damaged record is that prompt's only if it lay on its chain; for the others, ask them all.
  if [ -n "$damaged" ]; then
    for m in $(seq 0 $((PROMPTS - 1))); do
      got="$(ask "$m")" && [ "$got" = "$(cat "$WORK/expected$m")" ] ||
        fail "with $damaged damaged, prompt $m answered ${got:-nothing}"
    done
    grep -q "kv: .*(skipped)" "$WORK/next$i.log" && skipped_logged=$((skipped_logged + 1))
  fi
  stop_serve
  if [ -n "$damaged" ]; then
    # Serving rewrote the damaged record where a request stored that prefix; remove the rest.
    "$DSAGENT" cache verify --kv-dir "$KV" --remove >/dev/null 2>&1
    "$DSAGENT" cache verify --kv-dir "$KV" >"$WORK/verify$i.after" 2>&1 ||
      fail "the store does not verify after --remove: $(tail -n 2 "$WORK/verify$i.after")"
  fi
done
records="$("$DSAGENT" cache stats --kv-dir "$KV" 2>/dev/null | head -n 1)"
echo "campaign-kill9-serve: $KILLS kills in a ${window_ms} ms window, $failures failed;" \
  "$aimed_kills aimed at a record write;" \
  "$killed_writing kills cut a record write (its temp file left behind, $(count_temps) left at the end; never read);" \
  "$corrupted records damaged on purpose (detected, never served; $skipped_logged skips logged);" \
  "store at the end: $records"
[ "$failures" = 0 ]
