#!/usr/bin/env bash
# Builds (once) the Debian 12 root file system the e2e guest boots: debootstrap
# minbase, then the packages in guest-packages.txt installed with apt inside a
# chroot. Result: a tarball in the cache, keyed by this script + the package list
# (and beside it, <tarball>.seconds: how long the build took).
#
#   scripts/e2e/build-base.sh [CACHE_DIR]    prints the tarball's path
#
# Env: E2E_DEBIAN_MIRROR overrides the mirror (default: the one this machine's
# apt uses for bookworm, else http://deb.debian.org/debian).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo_root=$(cd "$here/../.." && pwd)
cache=${1:-$repo_root/.e2e-cache}
mkdir -p "$cache"

key=$(cat "$here/build-base.sh" "$here/guest-packages.txt" | sha256sum | cut -c1-16)
tarball=$cache/base-$key.tar
if [ -f "$tarball" ]; then
  echo "$tarball"
  exit 0
fi

# The mirror apt on this machine already uses for Debian (both sources.list formats).
find_mirror() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    grep -hoE '(URIs:[[:space:]]*|^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?)https?://[^[:space:]]+/debian/?([[:space:]]|$)' "$f" \
      | grep -oE 'https?://[^[:space:]]+' | head -n1 && return 0
  done
  return 1
}
mirror=${E2E_DEBIAN_MIRROR:-$(find_mirror || echo http://deb.debian.org/debian)}
mirror=${mirror%/}

packages=$(grep -vE '^[[:space:]]*(#|$)' "$here/guest-packages.txt" | tr '\n' ' ')
work=$(mktemp -d "$cache/base-$key.XXXXXX")
rootfs=$work/rootfs
# Unmount chroot file systems and remove the half-built tree on any exit.
cleanup() {
  local m
  for m in dev/pts dev proc sys; do
    if mountpoint -q "$rootfs/$m" 2>/dev/null; then umount -l "$rootfs/$m" || true; fi
  done
  rm -rf "$work"
}
trap cleanup EXIT

start=$(date +%s)
echo "build-base: debootstrap bookworm from $mirror into $rootfs" >&2
debootstrap --variant=minbase --arch=amd64 bookworm "$rootfs" "$mirror" >&2

# Keep services from starting inside the chroot while packages install.
printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
chmod 0755 "$rootfs/usr/sbin/policy-rc.d"
cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
mount -t proc proc "$rootfs/proc"
mount -t sysfs sysfs "$rootfs/sys"
mount --bind /dev "$rootfs/dev"
mount --bind /dev/pts "$rootfs/dev/pts"

echo "build-base: installing: $packages" >&2
# shellcheck disable=SC2086 # the package list is meant to split into words
chroot "$rootfs" env DEBIAN_FRONTEND=noninteractive LC_ALL=C \
  apt-get install -y --no-install-recommends $packages >&2
chroot "$rootfs" apt-get clean

for m in dev/pts dev proc sys; do umount -l "$rootfs/$m"; done
rm -f "$rootfs/usr/sbin/policy-rc.d"

tar -C "$rootfs" --numeric-owner --xattrs --xattrs-include='*' -cf "$work/base.tar" .
seconds=$(( $(date +%s) - start ))
echo "$seconds" >"$tarball.seconds"
mv "$work/base.tar" "$tarball"
echo "build-base: done in $seconds s" >&2
echo "$tarball"
