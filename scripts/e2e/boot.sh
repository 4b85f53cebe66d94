#!/usr/bin/env bash
# Boots the e2e guest image once with a NoCloud seed ISO under QEMU (software emulation,
# no KVM), until the guest powers off or the timeout passes.
#
#   scripts/e2e/boot.sh --image DIR [--seed ISO] --disk OVERLAY.qcow2 --console FILE \
#       --mac 00:50:56:..:..:.. --mac 00:50:56:..:..:.. [--timeout SECONDS] \
#       [--append "KERNEL ARGS"] [--memory MiB] [--cpus N] [--reuse-disk yes] [--root golden.img]
#
# The root disk is a fresh qcow2 copy-on-write overlay on DIR/root.img, or on another image
# in DIR given with --root (golden.img: as a golden bake leaves a template; the base stays
# clean); with --reuse-disk yes the existing OVERLAY is booted again as it was left (a
# reboot). Without --seed the guest has no CD-ROM drive at all. Each --mac adds a virtio
# NIC on its own internal hub: no user-mode or tap networking, the guest reaches nothing.
# The serial console (ttyS0) goes to FILE.
# Exit: 0 when the guest powered off, 124 when QEMU was killed at the timeout,
# otherwise QEMU's own exit status.
# no_timer_check: on a loaded host, software emulation is too slow for the kernel's IO-APIC
# timer check, which then panics at boot; panic=1 (with -no-reboot) ends QEMU on any panic
# instead of leaving it spinning until the timeout.
set -euo pipefail

image='' seed='' disk='' console='' timeout=900 append='' memory=2048 cpus=2 reuse_disk=no root=root.img
macs=()
while [ $# -gt 0 ]; do
  case "$1" in
    --image) image=$2 ;;
    --seed) seed=$2 ;;
    --disk) disk=$2 ;;
    --console) console=$2 ;;
    --mac) macs+=("$2") ;;
    --timeout) timeout=$2 ;;
    --append) append=$2 ;;
    --memory) memory=$2 ;;
    --cpus) cpus=$2 ;;
    --reuse-disk) reuse_disk=$2 ;;
    --root) root=$2 ;;
    *) echo "boot.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift 2
done
for required in image disk console; do
  if [ -z "${!required}" ]; then echo "boot.sh: --$required is required" >&2; exit 2; fi
done

if [ "$reuse_disk" = yes ]; then
  if [ ! -f "$disk" ]; then echo "boot.sh: --reuse-disk yes but $disk does not exist" >&2; exit 2; fi
else
  rm -f "$disk"
  qemu-img create -q -f qcow2 -F raw -b "$(cd "$image" && pwd)/$root" "$disk"
fi
cdrom=()
if [ -n "$seed" ]; then cdrom=(-drive "file=$seed,if=ide,media=cdrom,readonly=on,format=raw"); fi

nics=()
for i in "${!macs[@]}"; do
  nics+=(-netdev "hubport,id=n$i,hubid=$i" -device "virtio-net-pci,netdev=n$i,mac=${macs[$i]}")
done

: >"$console"
qemu-system-x86_64 -nodefaults -machine pc -accel tcg -cpu max -smp "$cpus" -m "$memory" \
  -display none -monitor none -no-reboot \
  -kernel "$image/vmlinuz" -initrd "$image/initrd.img" \
  -append "root=/dev/vda rw console=ttyS0 no_timer_check panic=1 $append" \
  -drive "file=$disk,if=virtio,format=qcow2,cache=unsafe" \
  "${cdrom[@]}" \
  "${nics[@]}" \
  -serial "file:$console" &
qemu=$!

start=$(date +%s)
while kill -0 "$qemu" 2>/dev/null; do
  if [ $(( $(date +%s) - start )) -ge "$timeout" ]; then
    echo "boot.sh: guest still running after $timeout s; killing QEMU (pid $qemu)" >&2
    kill "$qemu" 2>/dev/null || true
    sleep 3
    kill -9 "$qemu" 2>/dev/null || true
    wait "$qemu" 2>/dev/null || true
    exit 124
  fi
  sleep 1
done
rc=0
wait "$qemu" || rc=$?
echo "boot.sh: guest stopped after $(( $(date +%s) - start )) s (QEMU exit $rc)" >&2
exit "$rc"
