#!/usr/bin/env bash
# Installs the coding clients that `dsagent serve` is tested behind (tests/agent/cli/
# clients_e2e_test.cc), pinned, from the npm registry into .deps/clients (ignored by git). Not needed
# for the core build or scripts/test.sh: without it those tests skip and say so.
# Claude Code (`claude -p`) runs fully offline against a local ANTHROPIC_BASE_URL with a dummy key.
# Idempotent: a client already at its pinned version is not fetched again.
# Usage: scripts/setup-clients.sh
set -euo pipefail
cd "$(dirname "$0")/.."

command -v npm >/dev/null 2>&1 || { . scripts/apt-lib.sh; install_missing_apt_packages setup-clients nodejs npm; }

CLIENTS=("@anthropic-ai/claude-code@2.1.332")
DIR=.deps/clients
for pkg in "${CLIENTS[@]}"; do
  name="${pkg%@*}"
  want="${pkg##*@}"
  have=$(node -p "require('./$DIR/node_modules/$name/package.json').version" 2>/dev/null || true)
  if [ "$have" != "$want" ]; then
    echo "setup-clients: npm install $pkg into $DIR" >&2
    mkdir -p "$DIR"
    [ -f "$DIR/package.json" ] || echo '{"private": true}' > "$DIR/package.json"
    npm install --no-audit --no-fund --loglevel=error --prefix "$DIR" "$pkg" >&2
  fi
done
echo "setup-clients: claude $("$DIR/node_modules/.bin/claude" --version 2>/dev/null || echo '(does not run)')" >&2
