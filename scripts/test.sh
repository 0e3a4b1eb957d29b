#!/usr/bin/env bash
# Set up and run the whole test suite: lint (ruff), types (mypy), unit, property-based and
# integration tests (these start their own Mosquitto; Debian's mosquitto and mbpoll are installed
# if missing).
# Extra arguments go to pytest.
source "$(dirname "$0")/setup.sh" "[dev]"
missing=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
command -v mbpoll >/dev/null 2>&1 || missing+=(mbpoll)  # independent Modbus master for conformance tests
if [ ${#missing[@]} -gt 0 ]; then
  apt_install "${missing[@]}"
fi
echo "== ruff" && .venv/bin/ruff check .
echo "== mypy" && .venv/bin/mypy
echo "== pytest" && exec .venv/bin/python -m pytest "$@"
