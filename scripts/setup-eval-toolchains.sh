#!/usr/bin/env bash
# Installs the toolchains the Aider polyglot benchmark's six languages need (`dsagent eval
# --format polyglot`, docs/evals.md), from Debian packages and npm only. Not needed for the core
# build: without it the polyglot tests of missing languages skip. scripts/test.sh (CI) installs
# the languages it tests (docs/BENCHMARKS.md has the time each adds).
# Idempotent: packages already present are not reinstalled; jest is installed once.
# Usage: scripts/setup-eval-toolchains.sh [LANG...]     (default: all six)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/apt-lib.sh

LANGS=("$@")
[ "${#LANGS[@]}" -gt 0 ] || LANGS=(cpp go java javascript python rust)
PACKAGES=()
JS=0
for lang in "${LANGS[@]}"; do
  case "$lang" in
    python) PACKAGES+=(python3-pytest) ;;
    # Catch2; Boost.Date_Time (gigasecond, meetup); TBB (parallel-letter-frequency); ccache:
    # Catch2's main (test/tests-main.cpp, ~30 s a build) compiled once for every exercise.
    cpp) PACKAGES+=(catch2 libboost-date-time-dev libtbb-dev ccache) ;;
    go) PACKAGES+=(golang-go) ;;  # `go test` (GOPROXY=off: no module downloads)
    # `cargo test --offline` with Debian's cargo (/usr/bin/cargo); the crates the exercises'
    # manifests name (thiserror: grep's reference solution, .meta/Cargo-example.toml).
    rust) PACKAGES+=(cargo rustc librust-anyhow-dev librust-rand-dev librust-time-dev
                     librust-thiserror-dev) ;;
    # javac + JUnit 5 console launcher + AssertJ, no Gradle.
    java) PACKAGES+=(default-jdk-headless junit5 libassertj-core-java) ;;
    javascript) JS=1 ;;
    *) echo "setup-eval-toolchains: unknown language '$lang' (cpp go java javascript python rust)" >&2
       exit 2 ;;
  esac
done
[ "$JS" = 0 ] || command -v npm >/dev/null 2>&1 || PACKAGES+=(nodejs npm)

[ "${#PACKAGES[@]}" = 0 ] || install_missing_apt_packages setup-eval-toolchains "${PACKAGES[@]}"

# JavaScript: jest and the Babel preset every exercise's babel.config.js names, pinned, installed
# once into .deps/eval-js (ignored by git) and shared by all exercises (the test command links
# node_modules into the exercise, as Aider's npm-test.sh does).
JS_DIR=.deps/eval-js
if [ "$JS" = 1 ]; then
  JS_PACKAGES=(jest@29.7.0 babel-jest@29.7.0 @babel/core@7.25.2
               @exercism/babel-preset-javascript@0.2.1 core-js@3.37.1)
  have=$(node -p "require('./$JS_DIR/node_modules/jest/package.json').version" 2>/dev/null || true)
  if [ "$have" != "29.7.0" ] || [ ! -d "$JS_DIR/node_modules/@exercism/babel-preset-javascript" ]; then
    echo "setup-eval-toolchains: npm install ${JS_PACKAGES[*]} into $JS_DIR" >&2
    mkdir -p "$JS_DIR"
    [ -f "$JS_DIR/package.json" ] || echo '{"private": true}' > "$JS_DIR/package.json"
    npm install --no-audit --no-fund --loglevel=error --prefix "$JS_DIR" "${JS_PACKAGES[@]}" >&2
  fi
fi

echo "setup-eval-toolchains: go $(go version 2>/dev/null | awk '{print $3}'), cargo" \
  "$(/usr/bin/cargo --version 2>/dev/null | awk '{print $2}') (/usr/bin/cargo)," \
  "javac $(javac -version 2>&1 | awk '{print $2}'), jest $(node -p \
  "require('./$JS_DIR/node_modules/jest/package.json').version" 2>/dev/null)" >&2
