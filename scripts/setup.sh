# Sourced by demo.sh and test.sh: make a virtual environment in .venv with the project installed.
# Works on a fresh Debian / Raspberry Pi OS machine with only Python 3.11+. It uses the system's
# Python (/usr/bin/python3, the one our users have: 3.11.2 on Debian 12 and Raspberry Pi OS bookworm),
# not whatever newer interpreter comes first on the PATH; PYTHON=… chooses another.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ -z "${PYTHON:-}" ]; then
  if [ -x /usr/bin/python3 ]; then PYTHON=/usr/bin/python3; else PYTHON=python3; fi
fi
EXTRAS=${1:-}

source scripts/debian.sh

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "setup: $PYTHON is $("$PYTHON" -V 2>&1 || echo missing); Python 3.11 or newer is needed" >&2
  exit 1
fi
# ensure_venv DIR PYTHON EXTRAS: DIR holds a venv of PYTHON with the project installed (with EXTRAS).
# A venv made by another interpreter (an older checkout, another PYTHON) is made anew.
ensure_venv() {
  local dir=$1 python=$2 extras=$3
  local want
  want="$("$python" -c 'import sys; print(sys.version)')"
  if [ -x "$dir/bin/python" ] && [ "$("$dir/bin/python" -c 'import sys; print(sys.version)' 2>/dev/null)" != "$want" ]; then
    echo "setup: $dir was made by another Python; making it anew with $python" >&2
    rm -rf "$dir"
  fi
  if [ ! -x "$dir/bin/python" ]; then
    if ! "$python" -c 'import ensurepip, venv' 2>/dev/null; then
      need_debian_packages python3-venv
    fi
    "$python" -m venv "$dir"
  fi
  local stamp=$dir/.installed$extras
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    "$dir/bin/python" -m pip install -q --upgrade pip
    "$dir/bin/python" -m pip install -q -e ".$extras"
    touch "$stamp"
  fi
}
ensure_venv .venv "$PYTHON" "$EXTRAS"
