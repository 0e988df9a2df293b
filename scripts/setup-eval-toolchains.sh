#!/usr/bin/env bash
# Installs the toolchains the Aider polyglot benchmark's six languages need (`dsagent eval
# --format polyglot`, docs/evals.md), from Debian packages and npm only. Not needed for the core
# build or scripts/test.sh: without it the polyglot tests of missing languages skip.
# Idempotent: packages already present are not reinstalled; jest is installed once.
# Usage: scripts/setup-eval-toolchains.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/apt-lib.sh

PACKAGES=(
  python3-pytest  # python exercises
  catch2 libboost-date-time-dev libtbb-dev  # cpp: Catch2, gigasecond/meetup, parallel-letter-frequency
  ccache  # cpp: Catch2's main (test/tests-main.cpp, ~30 s a build) compiled once for every exercise
  golang-go  # go exercises: `go test` (GOPROXY=off: no module downloads)
  cargo rustc  # rust exercises: `cargo test --offline` with Debian's cargo (/usr/bin/cargo)
  librust-anyhow-dev librust-rand-dev librust-time-dev  # the three crates rust exercises depend on
  librust-thiserror-dev  # rust grep: its reference solution's manifest (.meta/Cargo-example.toml)
  default-jdk-headless junit5 libassertj-core-java  # java: javac + JUnit 5 console launcher, no Gradle
)
command -v npm >/dev/null 2>&1 || PACKAGES+=(nodejs npm)

install_missing_apt_packages setup-eval-toolchains "${PACKAGES[@]}"

# JavaScript: jest and the Babel preset every exercise's babel.config.js names, pinned, installed
# once into .deps/eval-js (ignored by git) and shared by all exercises (the test command links
# node_modules into the exercise, as Aider's npm-test.sh does).
JS_DIR=.deps/eval-js
JS_PACKAGES=(jest@29.7.0 babel-jest@29.7.0 @babel/core@7.25.2
             @exercism/babel-preset-javascript@0.2.1 core-js@3.37.1)
have=$(node -p "require('./$JS_DIR/node_modules/jest/package.json').version" 2>/dev/null || true)
if [ "$have" != "29.7.0" ] || [ ! -d "$JS_DIR/node_modules/@exercism/babel-preset-javascript" ]; then
  echo "setup-eval-toolchains: npm install ${JS_PACKAGES[*]} into $JS_DIR" >&2
  mkdir -p "$JS_DIR"
  [ -f "$JS_DIR/package.json" ] || echo '{"private": true}' > "$JS_DIR/package.json"
  npm install --no-audit --no-fund --loglevel=error --prefix "$JS_DIR" "${JS_PACKAGES[@]}" >&2
fi

echo "setup-eval-toolchains: go $(go version 2>/dev/null | awk '{print $3}'), cargo" \
  "$(/usr/bin/cargo --version 2>/dev/null | awk '{print $2}') (/usr/bin/cargo)," \
  "javac $(javac -version 2>&1 | awk '{print $2}'), jest $(node -p \
  "require('./$JS_DIR/node_modules/jest/package.json').version")" >&2
