#!/bin/bash
# Stage "os": swap off for good, kernel modules and sysctls loaded and persisted,
# names resolving. The files themselves (/etc/modules-load.d, /etc/sysctl.d,
# /etc/hosts, the VXLAN udev rule) were written by cloud-init's write_files.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

log "swap off now and after reboots"
swapoff -a
# Drop every swap line from fstab (a copy of the original stays beside it).
if grep -Eq '^[^#[:space:]]+[[:space:]]+[^[:space:]]+[[:space:]]+swap[[:space:]]' /etc/fstab; then
  cp -p /etc/fstab /etc/fstab.kubestation-orig
  sed -i -E '/^[^#[:space:]]+[[:space:]]+[^[:space:]]+[[:space:]]+swap[[:space:]]/d' /etc/fstab
fi
mapfile -t swap_units < <(systemctl list-units --type=swap --all --plain --no-legend | awk '{print $1}')
systemctl mask swap.target "${swap_units[@]}"
if [[ -n $(swapon --show --noheadings) ]]; then
  log "swap is still active:"; swapon --show
  exit 1
fi

log "kernel modules"
mapfile -t modules < <(grep -Ev '^[[:space:]]*(#|$)' /etc/modules-load.d/kubestation.conf)
for module in "${modules[@]}"; do
  modprobe "$module"
done

log "sysctl"
sysctl --system >/dev/null
while IFS='=' read -r key value; do
  key=$(echo "$key" | xargs) value=$(echo "$value" | xargs)
  [[ -z $key || $key == \#* ]] && continue
  actual=$(sysctl -n "$key")
  if [[ $actual != "$value" ]]; then
    log "sysctl $key is $actual, expected $value"
    exit 1
  fi
done </etc/sysctl.d/90-kubestation.conf

log "names"
if [[ $(hostname) != "$KUBESTATION_NODE" ]]; then
  log "hostname is $(hostname), expected $KUBESTATION_NODE"
  exit 1
fi
if ! getent hosts "$KUBESTATION_NODE" | grep -qwF "$NODE_IP"; then
  log "$KUBESTATION_NODE does not resolve to $NODE_IP: $(getent hosts "$KUBESTATION_NODE" || echo unresolved)"
  exit 1
fi

# The udev rule for the CNI's VXLAN device is on disk; make udev read it before the device appears.
udevadm control --reload || true

summary "swap off, modules ${modules[*]} loaded, sysctls applied, $KUBESTATION_NODE = $NODE_IP"
