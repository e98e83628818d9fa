#!/usr/bin/env bash
# Make a local Python base image for building the celeriac image where no registry is
# reachable (the test machines): a minimal Debian bookworm made with debootstrap, imported
# into podman as localhost/celeriac-base:<key>. <key> is this script's own hash, so editing
# the recipe makes a new base and an unchanged one is built once per machine (~1 min).
# Prints the image name. Needs root (debootstrap), podman and debootstrap.
# Not for production images: build those FROM the real python:3.11-slim (the Dockerfile's
# default BASE).
set -euo pipefail
key=$(sha256sum "$0" | cut -c1-12)
image="localhost/celeriac-base:${key}"
if podman image exists "$image"; then
  echo "$image"
  exit 0
fi
mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
mirror=${mirror:-http://deb.debian.org/debian}
cache="${XDG_CACHE_HOME:-$HOME/.cache}/celeriac"
mkdir -p "$cache"
rootfs=$(mktemp -d "$cache/rootfs.XXXXXX")
trap 'rm -rf "$rootfs"' EXIT
# python3-venv brings python3 and ensurepip's wheels (pip, setuptools): what the
# Dockerfile's "python3 -m venv" needs; nothing else is installed.
debootstrap --variant=minbase --include=python3,python3-venv bookworm "$rootfs" "$mirror" \
  >"$cache/debootstrap.log" 2>&1 || { tail -20 "$cache/debootstrap.log" >&2; exit 1; }
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
# python:3.11-slim has "python" and "python3" on PATH; Debian's python3 has no "python".
ln -sf python3 "$rootfs/usr/bin/python"
tar --numeric-owner -C "$rootfs" -c . | podman import --quiet \
  --change 'ENV LANG=C.UTF-8' \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["python3"]' - "$image" >/dev/null
echo "$image"
