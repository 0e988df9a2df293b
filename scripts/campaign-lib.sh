# Shared by scripts/campaign-*.sh (sourced, not run): a scratch directory, the campaign server
# (tests/support/campaign_server_main.cc) and an isolated environment for the dsagent binary.
# Expects BUILD (the build directory) to be set; sets WORK, PORT, SERVER_PID, DSAGENT.

BUILD="$(cd "$BUILD" && pwd)"
DSAGENT="$BUILD/dsagent"
CAMPAIGN_SERVER="$BUILD/tests/support/dsagent_campaign_server"
PY=/usr/bin/python3
for f in "$DSAGENT" "$CAMPAIGN_SERVER"; do
  [ -x "$f" ] || { echo "campaign: $f is missing: ninja -C $BUILD dsagent dsagent_campaign_server" >&2; exit 2; }
done
WORK="$(mktemp -d "${TMPDIR:-/tmp}/dsagent-campaign-XXXXXX")"
SERVER_PID=""
campaign_cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; fi
  if [ "${KEEP:-0}" = 1 ]; then echo "campaign: kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap campaign_cleanup EXIT

# start_server ARGS...: starts the campaign server and waits (bounded) for its port.
start_server() {
  "$CAMPAIGN_SERVER" --port-file "$WORK/port" --key campaign-key "$@" 2>"$WORK/server.err" &
  SERVER_PID=$!
  for _ in $(seq 1 200); do
    [ -s "$WORK/port" ] && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.err" >&2; exit 2; }
    sleep 0.05
  done
  PORT="$(cat "$WORK/port")"
  export DEEPSEEK_API_KEY=campaign-key DEEPSEEK_BASE_URL="http://127.0.0.1:$PORT"
}

# stop_server: SIGTERM; the server writes its --stats-file then.
stop_server() {
  kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; SERVER_PID=""
}

# An isolated HOME/XDG tree; quick retries so that a storm of faults takes seconds, not minutes.
mkdir -p "$WORK/home" "$WORK/data" "$WORK/config" "$WORK/cache"
export HOME="$WORK/home" XDG_DATA_HOME="$WORK/data" XDG_CONFIG_HOME="$WORK/config" \
  XDG_CACHE_HOME="$WORK/cache" DSAGENT_RETRY__INITIAL_BACKOFF_MS=20 DSAGENT_RETRY__MAX_BACKOFF_MS=200 \
  DSAGENT_REPO_MAP__TOKENS=0 GIT_AUTHOR_NAME=c GIT_AUTHOR_EMAIL=c@c GIT_COMMITTER_NAME=c \
  GIT_COMMITTER_EMAIL=c@c

# new_repo DIR: a one-commit git repository.
new_repo() {
  mkdir -p "$1" && git -C "$1" init -q && echo "hello" >"$1/README.md" &&
    git -C "$1" add -A && git -C "$1" commit -qm init
}

# session_id TRACE: the session id of a trace ("" when it has no complete session_start line).
session_id() {
  [ -s "$1" ] || return 0
  head -n 1 "$1" | "$PY" -c 'import json,sys
try: print(json.loads(sys.stdin.readline()).get("session_id",""))
except Exception: pass'
}
