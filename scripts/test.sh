#!/usr/bin/env bash
# Set up and run the whole test suite: lint (ruff), types (mypy), unit, property-based and
# integration tests (these start their own Mosquitto; Debian's mosquitto is installed if missing).
# Extra arguments go to pytest.
source "$(dirname "$0")/setup.sh" "[dev]"
if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then
  apt_install mosquitto
fi
echo "== ruff" && .venv/bin/ruff check .
echo "== mypy" && .venv/bin/mypy
echo "== pytest" && exec .venv/bin/python -m pytest "$@"
