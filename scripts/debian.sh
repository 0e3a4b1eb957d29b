# Sourced by setup.sh and test.sh: install missing Debian packages, or say exactly what is missing.
#
# As root: apt-get. With sudo: through sudo (it may ask for the password). Otherwise (a plain user on
# a server without sudo), one line names the packages and the command to install them, and the script
# stops with status 3, having changed nothing.
need_debian_packages() {
  [ $# -gt 0 ] || return 0
  if [ "$(id -u)" -eq 0 ]; then
    echo "setup: installing Debian packages: $*" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null && return 0
  elif command -v sudo >/dev/null 2>&1; then
    echo "setup: installing Debian packages with sudo: $*" >&2
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null && return 0
  fi
  echo "setup: missing Debian packages: $*; install them as root with: apt-get install $*" >&2
  exit 3
}
