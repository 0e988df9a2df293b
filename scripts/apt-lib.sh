# Shared by scripts/setup.sh, setup-eval-toolchains.sh and setup-clients.sh (sourced, not run).
# install_missing_apt_packages TAG PACKAGE...: installs the Debian packages that are not installed
# yet (with sudo unless root; `apt-get update` only when something is missing). TAG prefixes the
# message that names them.
install_missing_apt_packages() {
  local tag="$1"
  shift
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ "${#missing[@]}" -gt 0 ] || return 0
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "$tag: installing ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}
