#!/usr/bin/env sh
# Copy the gateway's source (the Python packages and pyproject.toml) into the add-on's build context, where its
# Dockerfile installs it from: omnipower/src by default (ignored by git), or DEST. Run it before building the
# add-on, locally or with Home Assistant's builder, and before publishing this folder as the add-on repository.
#
#   deploy/home-assistant/vendor.sh [DEST]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
dest=${1:-$here/omnipower/src}
rm -rf "$dest"
mkdir -p "$dest"
tar -C "$root" --exclude=__pycache__ --exclude='*.pyc' -cf - pyproject.toml README.md omnipower meter_sim gateway |
    tar -C "$dest" -xf -
echo "$dest"
