#!/usr/bin/env bash
# Copies files and folders out of a powered-off guest's disk without mounting it.
#
#   scripts/e2e/read-back.sh DISK.qcow2 OUTDIR /guest/path [/guest/path...]
#
# Each guest path lands at OUTDIR/<guest path>. The overlay is flattened to a
# temporary raw image, its journal replayed (the guest may not have shut down
# cleanly), then read with debugfs. Paths missing in the guest are skipped.
set -euo pipefail

disk=$1 outdir=$2
shift 2
raw=$(mktemp "${TMPDIR:-/tmp}/kubestation-e2e-readback.XXXXXX")
trap 'rm -f "$raw"' EXIT
qemu-img convert -O raw "$disk" "$raw"
e2fsck -p -E journal_only "$raw" >/dev/null 2>&1 || true

for path in "$@"; do
  parent=$outdir$(dirname "$path")
  mkdir -p "$parent"
  if debugfs -R "stat \"$path\"" "$raw" 2>/dev/null | grep -q 'Type: directory'; then
    debugfs -R "rdump \"$path\" \"$parent\"" "$raw" >/dev/null 2>&1
  elif debugfs -R "stat \"$path\"" "$raw" 2>/dev/null | grep -q 'Type: regular'; then
    debugfs -R "dump -p \"$path\" \"$outdir$path\"" "$raw" >/dev/null 2>&1
  fi
done
