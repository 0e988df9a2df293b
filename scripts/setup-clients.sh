#!/usr/bin/env bash
# Installs the coding clients that `dsagent serve` is tested behind (clients_e2e_test:
# tests/agent/cli/{claude_code,codex,opencode}_e2e_test.cc), pinned, from the npm registry into
# .deps/clients (ignored by git; about 1.2 GB, most of it the clients' native binaries). Not needed
# for the core build or scripts/test.sh: without it those tests skip and say so.
# All three run offline against a local `dsagent serve` with a dummy key:
#   Claude Code (`claude -p`), ANTHROPIC_BASE_URL, Anthropic Messages;
#   Codex CLI (`codex exec`; npm ships its native binary), a custom model provider with
#     wire_api = "responses", OpenAI Responses;
#   OpenCode (`opencode run`; npm ships its native binary), an @ai-sdk/openai-compatible provider,
#     OpenAI Chat Completions.
# Idempotent: a client already at its pinned version is not fetched again.
# Usage: scripts/setup-clients.sh
set -euo pipefail
cd "$(dirname "$0")/.."

command -v npm >/dev/null 2>&1 || { . scripts/apt-lib.sh; install_missing_apt_packages setup-clients nodejs npm; }

CLIENTS=("@anthropic-ai/claude-code@2.1.332" "@openai/codex@0.171.0" "opencode-ai@1.18.33")
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
for bin in claude codex opencode; do
  echo "setup-clients: $bin $("$DIR/node_modules/.bin/$bin" --version 2>/dev/null || echo '(does not run)')" >&2
done
