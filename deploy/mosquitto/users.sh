#!/bin/sh
# Create the broker users of omnipower.acl's three roles with generated passwords.
#
#   users.sh PASSWD_FILE OUT_DIR
#
# Adds `omnipower`, `homeassistant` and `viewer` to PASSWD_FILE (created when absent) where they are
# missing; a user that exists keeps its password. Writes, mode 0600:
#   OUT_DIR/gateway.env         the gateway's login (OMNIPOWER_MQTT__USERNAME/PASSWORD), for systemd's
#                               EnvironmentFile= or compose's env_file
#   OUT_DIR/broker-users.txt    every user created now with its password (for Home Assistant's MQTT
#                               integration and the viewer); appended to, never overwritten
# Passwords go to mosquitto_passwd on standard input, never on a command line. POSIX sh, so that it
# also runs inside the eclipse-mosquitto container (see deploy/README.md).
set -eu

if [ $# -ne 2 ]; then
  echo "usage: $0 PASSWD_FILE OUT_DIR" >&2
  exit 2
fi
passwd_file=$1
out_dir=$2
command -v mosquitto_passwd >/dev/null 2>&1 || {
  echo "users.sh: mosquitto_passwd not found (Debian package: mosquitto)" >&2
  exit 127
}

umask 077
mkdir -p "$out_dir"
[ -e "$passwd_file" ] || : >"$passwd_file"

generate() { head -c 18 /dev/urandom | base64 | tr '+/' '-_'; }

created=0
for user in omnipower homeassistant viewer; do
  if grep -q "^$user:" "$passwd_file"; then
    echo "users.sh: broker user '$user' exists in $passwd_file; password kept"
    continue
  fi
  password=$(generate)
  printf '%s\n%s\n' "$password" "$password" | mosquitto_passwd "$passwd_file" "$user" >/dev/null
  printf '%s %s\n' "$user" "$password" >>"$out_dir/broker-users.txt"
  if [ "$user" = omnipower ]; then
    printf 'OMNIPOWER_MQTT__USERNAME=omnipower\nOMNIPOWER_MQTT__PASSWORD=%s\n' "$password" >"$out_dir/gateway.env"
  fi
  created=$((created + 1))
done
if [ "$created" -gt 0 ]; then
  echo "users.sh: created $created broker user(s); their passwords are in $out_dir/broker-users.txt"
fi
