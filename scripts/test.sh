#!/usr/bin/env bash
# Set up and run the whole test suite: lint (ruff), types (mypy), unit, property-based and
# integration tests (these start their own Mosquitto and NATS; Debian's mosquitto, nats-server, mbpoll, rtl-433 and
# chromium, and podman, runc and debootstrap for the container tests, are installed if missing). Runs on the
# system's Python (/usr/bin/python3: 3.11.2 on Debian 12 and Raspberry Pi OS bookworm), and the integration tests
# once more on Python 3.13 when one is present.
# Extra arguments go to pytest (the main run).
source "$(dirname "$0")/setup.sh" "[dev]"
missing=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
command -v mbpoll >/dev/null 2>&1 || missing+=(mbpoll)  # independent Modbus master for conformance tests
command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || missing+=(nats-server)  # its MQTT listener
command -v rtl_433 >/dev/null 2>&1 || missing+=(rtl-433)  # independent wireless M-Bus decoder (format B CRCs)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)  # the status page's tests run in headless Chromium
# the container tests: podman with runc, and debootstrap for the base image (deploy/build-base.sh)
command -v podman >/dev/null 2>&1 || missing+=(podman)
command -v runc >/dev/null 2>&1 || [ -x /usr/sbin/runc ] || missing+=(runc)
command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || missing+=(debootstrap)
need_debian_packages "${missing[@]}"

echo "== python: $(.venv/bin/python -c 'import sys; print(sys.executable, sys.version.split()[0])')"
echo "== ruff" && .venv/bin/ruff check .
echo "== mypy" && .venv/bin/mypy

# Python 3.13 (Debian 13, Raspberry Pi OS trixie): the first working interpreter among these.
py313=
for candidate in "${PYTHON313:-}" python3.13 /usr/bin/python3.13 /usr/local/bin/python3.13 \
    "$(pyenv root 2>/dev/null || echo /nonexistent)"/versions/3.13*/bin/python3.13; do
  if [ -n "$candidate" ] && "$candidate" -c 'import sys, venv; sys.exit(sys.version_info[:2] != (3, 13))' \
      2>/dev/null; then
    py313=$candidate
    break
  fi
done
py313_log=
if [ -n "$py313" ]; then
  ensure_venv .venv-3.13 "$py313" "[dev]"
  # Beside the main run (the integration tests mostly wait on sockets): its output follows the main run's.
  py313_log=$(mktemp)
  # Not the NATS clusters: started by both runs at once they raced for ports (seen in CI rehearsals).
  .venv-3.13/bin/python -m pytest -q -m "integration and not nats" -p no:cacheprovider >"$py313_log" 2>&1 &
  py313_pid=$!
else
  echo "== no Python 3.13 here: integration tests on 3.13 skipped"
fi
# The slow tests (the benchmarks at their smallest, a warped year) and the container tests (podman builds: about two
# minutes the first time, seconds once the images are cached) run beside the rest on the second core; with
# arguments, pytest runs just what they say.
slow_log=
main_args=("$@")
if [ $# -eq 0 ]; then
  slow_log=$(mktemp)
  .venv/bin/python -m pytest -q -m "slow or container" -p no:cacheprovider >"$slow_log" 2>&1 &
  slow_pid=$!
  main_args=(-m "not slow and not container")
fi
echo "== pytest on $(.venv/bin/python -V)"
status=0
.venv/bin/python -m pytest "${main_args[@]}" || status=$?
# A run beside the main one: wait for it, show its output after the main run's, keep the first failure.
collect() {  # PID LOG TITLE
  local side=0
  wait "$1" || side=$?
  echo "== pytest, $3"
  cat "$2"
  rm -f "$2"
  if [ "$status" -eq 0 ]; then status=$side; fi
}
if [ -n "$slow_log" ]; then collect "$slow_pid" "$slow_log" "the slow and container tests on $(.venv/bin/python -V)"; fi
if [ -n "$py313_log" ]; then collect "$py313_pid" "$py313_log" "integration tests on $(.venv-3.13/bin/python -V)"; fi
exit "$status"
