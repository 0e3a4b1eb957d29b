#!/usr/bin/env bash
# Make the container base image `localhost/omnipower-base:bookworm` without an image registry: a Debian
# bookworm minbase made with debootstrap from the Debian mirror, imported with `podman import`. It stands in
# for the bases the build files name (python:3.11-slim-bookworm or debian:bookworm for deploy/Containerfile,
# Home Assistant's base-debian images for the add-on), which are themselves Debian bookworm.
#
#   deploy/build-base.sh            make it unless it exists (idempotent; prints the image name)
#   deploy/build-base.sh --force    make it anew
#
# Needs root and the Debian packages debootstrap and podman (installed when missing, see scripts/debian.sh).
# MIRROR=… chooses another Debian mirror; IMAGE=… another image name.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/debian.sh

IMAGE=${IMAGE:-localhost/omnipower-base:bookworm}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
force=0
case "${1:-}" in
  --force) force=1 ;;
  "") ;;
  *) echo "usage: $0 [--force]" >&2; exit 64 ;;
esac

missing=()
command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || missing+=(debootstrap)
command -v podman >/dev/null 2>&1 || missing+=(podman)
command -v runc >/dev/null 2>&1 || [ -x /usr/sbin/runc ] || missing+=(runc)
need_debian_packages "${missing[@]}"
export PATH=$PATH:/usr/sbin:/sbin

if [ "$force" -eq 0 ] && podman image exists "$IMAGE"; then
  echo "$IMAGE"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "build-base: debootstrap needs root (it makes device nodes and chroots)" >&2
  exit 3
fi

work=$(mktemp -d /var/tmp/omnipower-base.XXXXXX)
trap 'rm -rf "$work"' EXIT
# minbase: the Essential packages and apt, like debian:bookworm-slim; ca-certificates for pip's HTTPS.
echo "build-base: debootstrap bookworm from $MIRROR (a minute or two)" >&2
debootstrap --variant=minbase --include=ca-certificates bookworm "$work/root" "$MIRROR" >"$work/debootstrap.log" 2>&1 || {
  tail -20 "$work/debootstrap.log" >&2
  exit 1
}
# The host's own CAs (/usr/local/share/ca-certificates: e.g. a proxy's that re-signs HTTPS, as on this project's
# machines) go into the image, and pip is told to use the system's store rather than its own bundle. The image
# is local (never pushed), so it trusts what its host trusts.
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
  cp /usr/local/share/ca-certificates/*.crt "$work/root/usr/local/share/ca-certificates/"
  chroot "$work/root" update-ca-certificates >/dev/null 2>&1
fi
# Smaller, and no stale package lists in the image (builds run apt-get update first, as on Docker's images).
rm -rf "$work/root"/var/lib/apt/lists/* "$work/root"/var/cache/apt/*.bin "$work/root"/var/cache/apt/archives/*.deb
tar -C "$work/root" --numeric-owner -cf "$work/root.tar" .
podman import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
  --change 'CMD ["/bin/bash"]' \
  --message "Debian bookworm minbase (debootstrap from $MIRROR)" \
  "$work/root.tar" "$IMAGE" >/dev/null
echo "$IMAGE"
