#!/usr/bin/env bash
# Install (or update) omnipower-gateway as a systemd service on Raspberry Pi OS / Debian.
# Run from a clone of the repository:  sudo deploy/install.sh   (see --help)
set -euo pipefail

readonly APP=omnipower-gateway
readonly SVC_USER=omnipower
readonly PREFIX=/opt/omnipower-gateway
readonly VENV=$PREFIX/venv
readonly ETC_DIR=/etc/omnipower-gateway
readonly CONFIG=$ETC_DIR/config.yaml
readonly ENV_FILE=$ETC_DIR/environment
readonly STATE_DIR=/var/lib/omnipower-gateway
readonly UNIT=/etc/systemd/system/$APP.service
readonly LINK=/usr/local/bin/$APP
readonly MOSQ_DIR=/etc/mosquitto
readonly MOSQ_SNIPPET=$MOSQ_DIR/conf.d/omnipower.conf
readonly MOSQ_PASSWD=$MOSQ_DIR/passwd
readonly MOSQ_ACL=$MOSQ_DIR/omnipower.acl
readonly BROKER_SECRETS=$ETC_DIR/broker
readonly MQTT_USER=omnipower

DEPLOY_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC_DIR=$(dirname "$DEPLOY_DIR")
readonly DEPLOY_DIR SRC_DIR

usage() {
  cat <<EOF
Usage: sudo $0 [--no-mosquitto]
       sudo $0 --uninstall
       $0 --help

Installs omnipower-gateway from this clone ($SRC_DIR) as a systemd service on
Raspberry Pi OS / Debian 12 or later. Safe to run again: updates the program and the unit,
never overwrites your configuration.

  1. apt: python3 python3-venv mosquitto mosquitto-clients (only the missing ones)
  2. system user '$SVC_USER': no login shell, home $STATE_DIR, group dialout
  3. $VENV: the project pip-installed from this clone;
     command $LINK
  4. $CONFIG from deploy/config.example.yaml (only when absent);
     $ENV_FILE for secrets, mode 0640 root:$SVC_USER (only when absent)
  5. Mosquitto: $MOSQ_SNIPPET and $MOSQ_ACL (only when absent and the
     broker has no listener/authentication of its own): loopback listener, no anonymous access,
     roles for the gateway, Home Assistant and a read-only viewer; their users with generated
     passwords (listed in $BROKER_SECRETS/broker-users.txt, root only); the gateway's login goes
     into $ENV_FILE
  6. $UNIT; systemctl daemon-reload, enable --now, restart on update
     (skipped with a message when systemd is not running, e.g. in a container)

Options:
  --no-mosquitto  no local broker: use one elsewhere (e.g. Home Assistant's Mosquitto add-on)
                  and set mqtt.host in $CONFIG
  --uninstall     stop and disable the service; remove the venv, the unit and $LINK.
                  Keeps $ETC_DIR, $STATE_DIR (the meter's memory),
                  the user '$SVC_USER' and Mosquitto.
  -h, --help      show this help

Update later:  git pull && sudo deploy/install.sh
EOF
}

say()  { printf '==> %s\n' "$*"; }
info() { printf '    %s\n' "$*"; }
warn() { printf 'WARNING: %s\n' "$*" >&2; }
die()  { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

have_systemd() { [ -d /run/systemd/system ]; }

BUILD_DIR=
cleanup() { if [ -n "$BUILD_DIR" ]; then rm -rf "$BUILD_DIR"; fi; }
trap cleanup EXIT

pkg_installed() {
  [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" = "install ok installed" ]
}

# --- install steps -------------------------------------------------------------------------------

install_packages() {
  local want=(python3 python3-venv) missing=() pkg
  if [ "$WITH_MOSQUITTO" = yes ]; then want+=(mosquitto mosquitto-clients); fi
  for pkg in "${want[@]}"; do
    pkg_installed "$pkg" || missing+=("$pkg")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    say "Debian packages: ${want[*]} already installed"
    return
  fi
  say "Installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
}

check_python() {
  if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    die "python3 is $(python3 -V 2>&1); omnipower-gateway needs Python 3.11 or newer (Debian 12 bookworm or later)"
  fi
}

create_user() {
  if getent passwd "$SVC_USER" >/dev/null; then
    say "System user '$SVC_USER' exists"
  else
    say "Creating system user '$SVC_USER'"
    useradd --system --user-group --home-dir "$STATE_DIR" --no-create-home \
      --shell /usr/sbin/nologin --comment "omnipower-gateway service" "$SVC_USER"
  fi
  if id -nG "$SVC_USER" | tr ' ' '\n' | grep -qx dialout; then
    info "'$SVC_USER' is in group dialout (serial ports)"
  else
    info "adding '$SVC_USER' to group dialout (serial ports for a real meter)"
    usermod -a -G dialout "$SVC_USER"
  fi
  # systemd (StateDirectory=) manages this directory too; creating it here makes the home exist.
  install -d -m 0750 -o "$SVC_USER" -g "$SVC_USER" "$STATE_DIR"
}

install_venv() {
  if [ ! -x "$VENV/bin/python" ]; then
    say "Creating virtual environment $VENV"
    install -d -m 0755 "$PREFIX"
    python3 -m venv "$VENV"
  else
    say "Virtual environment $VENV exists"
  fi
  # Build from a copy so that no root-owned build/ or *.egg-info lands in the clone.
  BUILD_DIR=$(mktemp -d)
  tar -C "$SRC_DIR" --exclude=./.git --exclude=./.venv --exclude=./build --exclude=./dist \
    --exclude=./data --exclude='*.egg-info' --exclude='__pycache__' --exclude=./.mypy_cache \
    --exclude=./.ruff_cache --exclude=./.pytest_cache --exclude=./.hypothesis \
    -cf - . | tar -C "$BUILD_DIR" -xf -
  say "Installing $APP from $SRC_DIR into $VENV (this takes a while on a Pi)"
  export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  # pip always reinstalls a project given as a directory, so an update with an unchanged version
  # number still gets the new code; dependencies are upgraded only where pyproject.toml needs it.
  "$VENV/bin/python" -m pip install --quiet --upgrade "$BUILD_DIR"
  rm -rf "$BUILD_DIR"
  BUILD_DIR=
  info "installed: $("$VENV/bin/$APP" --version)"
  if [ -e "$LINK" ] && [ "$(readlink "$LINK" || true)" != "$VENV/bin/$APP" ]; then
    warn "$LINK exists and is not ours; leaving it alone"
  else
    ln -sfn "$VENV/bin/$APP" "$LINK"
    info "command: $LINK"
  fi
}

install_config() {
  install -d -m 0750 -o root -g "$SVC_USER" "$ETC_DIR"
  if [ -e "$CONFIG" ]; then
    say "Keeping existing $CONFIG (not overwritten)"
  else
    say "Installing $CONFIG from deploy/config.example.yaml"
    install -m 0640 -o root -g "$SVC_USER" "$DEPLOY_DIR/config.example.yaml" "$CONFIG"
  fi
  # Check the file with the installed program (warn only: the service would refuse to start).
  if ! "$VENV/bin/python" - "$CONFIG" <<'PY'
import sys
from pathlib import Path
from gateway.config import ConfigError, load_settings
try:
    load_settings(Path(sys.argv[1]))
except ConfigError as exc:
    print(exc, file=sys.stderr)
    sys.exit(1)
PY
  then
    warn "$CONFIG is not valid (see above); fix it, then: systemctl restart $APP"
  fi
}

# Is the broker already configured by someone else (a listener or password file of its own)?
mosquitto_configured() {
  local files=("$MOSQ_DIR/mosquitto.conf")
  local f
  for f in "$MOSQ_DIR"/conf.d/*.conf; do
    [ -e "$f" ] && [ "$f" != "$MOSQ_SNIPPET" ] && files+=("$f")
  done
  grep -Eqs '^[[:space:]]*(listener|port|password_file|allow_anonymous)[[:space:]]' "${files[@]}"
}

MOSQ_CHANGED=no
MQTT_PASSWORD=

# The broker users of the three roles (omnipower.acl): created once by users.sh with generated
# passwords; the list of them stays in $BROKER_SECRETS (root only), the gateway's login goes into
# $ENV_FILE. A user that exists keeps its password.
create_broker_users() {
  install -d -m 0700 -o root -g root "$BROKER_SECRETS"
  local before=0
  [ -e "$BROKER_SECRETS/broker-users.txt" ] && before=$(wc -l <"$BROKER_SECRETS/broker-users.txt")
  sh "$DEPLOY_DIR/mosquitto/users.sh" "$MOSQ_PASSWD" "$BROKER_SECRETS"
  chown mosquitto:mosquitto "$MOSQ_PASSWD"  # Mosquitto 2 reads the file as user mosquitto
  chmod 0600 "$MOSQ_PASSWD"
  if [ -e "$BROKER_SECRETS/broker-users.txt" ] && [ "$(wc -l <"$BROKER_SECRETS/broker-users.txt")" -gt "$before" ]; then
    MOSQ_CHANGED=yes
    info "broker users and their generated passwords: $BROKER_SECRETS/broker-users.txt (root only)"
  fi
  if [ -e "$BROKER_SECRETS/gateway.env" ] && [ ! -e "$ENV_FILE" ]; then
    MQTT_PASSWORD=$(sed -n 's/^OMNIPOWER_MQTT__PASSWORD=//p' "$BROKER_SECRETS/gateway.env")
  elif [ -e "$ENV_FILE" ] && [ "$MOSQ_CHANGED" = yes ]; then
    warn "$ENV_FILE exists: make sure OMNIPOWER_MQTT__USERNAME/PASSWORD there match the broker user" \
      "'$MQTT_USER' (its password: $BROKER_SECRETS/broker-users.txt)"
  fi
}

configure_mosquitto() {
  if [ "$WITH_MOSQUITTO" = no ]; then
    say "Mosquitto: skipped (--no-mosquitto); set mqtt.host in $CONFIG"
    return
  fi
  if [ -e "$MOSQ_SNIPPET" ]; then
    say "Keeping existing $MOSQ_SNIPPET"
    if ! grep -Eqs '^[[:space:]]*acl_file[[:space:]]' "$MOSQ_SNIPPET"; then
      warn "$MOSQ_SNIPPET has no ACL: every broker user can operate the breaker and overwrite the" \
        "gateway's topics. Compare with deploy/mosquitto/omnipower.conf and omnipower.acl."
    fi
  elif ! grep -Eqs '^[[:space:]]*include_dir[[:space:]]+/etc/mosquitto/conf\.d' "$MOSQ_DIR/mosquitto.conf"; then
    warn "$MOSQ_DIR/mosquitto.conf does not include conf.d/; Mosquitto left unchanged" \
      "(see deploy/mosquitto/omnipower.conf)"
    return
  elif mosquitto_configured; then
    warn "Mosquitto already has its own listener/authentication settings; left unchanged." \
      "Compare with deploy/mosquitto/omnipower.conf and make sure the gateway can log in."
    return
  else
    say "Installing $MOSQ_SNIPPET (loopback listener on 1883, passwords and ACL roles, persistence)"
    install -m 0644 "$DEPLOY_DIR/mosquitto/omnipower.conf" "$MOSQ_SNIPPET"
    if [ ! -e "$MOSQ_ACL" ]; then
      install -m 0644 "$DEPLOY_DIR/mosquitto/omnipower.acl" "$MOSQ_ACL"
    fi
    MOSQ_CHANGED=yes
  fi
  if ! grep -Eq '^[[:space:]]*password_file[[:space:]]+/etc/mosquitto/passwd[[:space:]]*$' "$MOSQ_SNIPPET"; then
    info "$MOSQ_SNIPPET does not use $MOSQ_PASSWD (e.g. the local-only anonymous variant): no broker user"
  else
    create_broker_users
  fi
  if [ "$MOSQ_CHANGED" = yes ]; then
    if have_systemd; then
      say "Restarting Mosquitto"
      systemctl enable --quiet mosquitto
      systemctl restart mosquitto || warn "Mosquitto did not start: journalctl -u mosquitto"
    else
      info "systemd is not running: restart Mosquitto yourself"
    fi
  fi
}

install_env_file() {
  if [ -e "$ENV_FILE" ]; then
    say "Keeping existing $ENV_FILE (not overwritten)"
    return
  fi
  say "Creating $ENV_FILE (mode 0640, root:$SVC_USER)"
  local tmp
  tmp=$(mktemp)
  {
    echo "# Secrets and overrides for omnipower-gateway (read by systemd: EnvironmentFile=)."
    echo "# KEY=value lines, no quotes needed; variables win over $CONFIG."
    echo "# After changes: sudo systemctl restart $APP"
    if [ -n "$MQTT_PASSWORD" ]; then
      echo "# Broker user created by deploy/install.sh in $MOSQ_PASSWD (all users: $BROKER_SECRETS):"
      echo "OMNIPOWER_MQTT__USERNAME=$MQTT_USER"
      echo "OMNIPOWER_MQTT__PASSWORD=$MQTT_PASSWORD"
    else
      echo "#OMNIPOWER_MQTT__USERNAME=$MQTT_USER"
      echo "#OMNIPOWER_MQTT__PASSWORD=change-me"
    fi
    echo "#OMNIPOWER_MQTT__HOST=192.168.1.10"
    echo "#OMNIPOWER_LOG_LEVEL=DEBUG"
  } >"$tmp"
  install -m 0640 -o root -g "$SVC_USER" "$tmp" "$ENV_FILE"
  rm -f "$tmp"
}

install_unit() {
  if [ -e "$UNIT" ] && cmp -s "$DEPLOY_DIR/$APP.service" "$UNIT"; then
    say "Unit $UNIT is up to date"
  else
    say "Installing $UNIT (local changes belong in: systemctl edit $APP)"
    install -m 0644 "$DEPLOY_DIR/$APP.service" "$UNIT"
  fi
  if ! have_systemd; then
    warn "systemd is not running (PID 1 is '$(ps -p 1 -o comm= 2>/dev/null || echo unknown)')," \
      "e.g. in a container: skipped daemon-reload, enable and start. Start by hand:" \
      "sudo -u $SVC_USER env OMNIPOWER_DATA_DIR=$STATE_DIR $VENV/bin/$APP run --config $CONFIG"
    return
  fi
  local was_active=no
  systemctl is-active --quiet "$APP" && was_active=yes
  systemctl daemon-reload
  systemctl enable --now "$APP"
  if [ "$was_active" = yes ]; then
    say "Restarting $APP (new version)"
    systemctl restart "$APP"
  fi
  sleep 3
  if systemctl is-active --quiet "$APP"; then
    say "$APP is running"
  else
    warn "$APP is not running; see: journalctl -u $APP -n 50"
  fi
}

do_install() {
  if [ ! -f "$SRC_DIR/pyproject.toml" ] || [ ! -f "$DEPLOY_DIR/$APP.service" ]; then
    die "run this script from a clone of the repository (deploy/install.sh next to pyproject.toml)"
  fi
  install_packages
  check_python
  create_user
  install_venv
  install_config
  configure_mosquitto
  install_env_file
  install_unit
  cat <<EOF

Done.
  configuration  $CONFIG    (then: sudo systemctl restart $APP)
  secrets        $ENV_FILE
  meter memory   $STATE_DIR
  logs           journalctl -u $APP -f
Home Assistant: Settings > Devices & services > Add integration > MQTT, broker = this Pi
(the broker listens on loopback only: for Home Assistant on another machine, open the LAN or TLS
listener in $MOSQ_SNIPPET), port 1883, user 'homeassistant', password from:
  sudo cat $BROKER_SECRETS/broker-users.txt
A read-only user 'viewer' is there too (mosquitto_sub -u viewer -P … -t 'omnipower/#' -v).
EOF
}

do_uninstall() {
  say "Uninstalling $APP"
  if have_systemd; then
    systemctl disable --now "$APP" 2>/dev/null || true
  else
    info "systemd is not running: nothing to stop"
  fi
  if [ -e "$UNIT" ]; then
    rm -f "$UNIT"
    info "removed $UNIT"
  fi
  if have_systemd; then
    systemctl daemon-reload
    systemctl reset-failed "$APP" 2>/dev/null || true
  fi
  if [ "$(readlink "$LINK" 2>/dev/null || true)" = "$VENV/bin/$APP" ]; then
    rm -f "$LINK"
    info "removed $LINK"
  fi
  if [ -d "$PREFIX" ]; then
    rm -rf "$VENV"
    rmdir "$PREFIX" 2>/dev/null || true
    info "removed $VENV"
  fi
  cat <<EOF

Kept (remove by hand if you want them gone):
  $ETC_DIR          configuration and secrets
  $STATE_DIR        the meter's permanent memory (registers, peaks, breaker position)
  user '$SVC_USER'                   sudo userdel $SVC_USER
  Mosquitto and $MOSQ_SNIPPET, user '$MQTT_USER' in $MOSQ_PASSWD
EOF
}

# --- main ------------------------------------------------------------------------------------------

ACTION=install
WITH_MOSQUITTO=yes
while [ $# -gt 0 ]; do
  case $1 in
    -h|--help) usage; exit 0 ;;
    --uninstall) ACTION=uninstall ;;
    --no-mosquitto) WITH_MOSQUITTO=no ;;
    *) die "unknown argument: $1 (see $0 --help)" ;;
  esac
  shift
done

[ "$(id -u)" -eq 0 ] || die "run as root: sudo $0"
if ! command -v apt-get >/dev/null || ! command -v dpkg-query >/dev/null; then
  die "this installer is for Raspberry Pi OS / Debian (apt); see deploy/README.md for containers"
fi

case $ACTION in
  install) do_install ;;
  uninstall) do_uninstall ;;
esac
