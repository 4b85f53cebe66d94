#!/bin/bash
# Stage "nodes-ready": waits until every node of the spec has joined and is Ready.
# Only after this does the control plane print the final "complete done" line.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
export KUBECONFIG=/etc/kubernetes/admin.conf

# The VXLAN device appears once the CNI runs here (up to 2 minutes); udev applies the same
# fix whenever it is created later, this covers a device created before udev read the rule.
for _ in {1..24}; do
  ip link show "$CNI_VXLAN_INTERFACE" >/dev/null 2>&1 && break
  sleep 5
done
if ip link show "$CNI_VXLAN_INTERFACE" >/dev/null 2>&1; then
  ethtool -K "$CNI_VXLAN_INTERFACE" tx off || log "could not turn tx checksum offload off on $CNI_VXLAN_INTERFACE"
else
  log "$CNI_VXLAN_INTERFACE did not appear; the udev rule will fix its offload when it does"
fi

not_ready() {
  local node status pending=()
  for node in $EXPECTED_NODES; do
    status=$(kubectl get node "$node" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null || true)
    [[ $status == True ]] || pending+=("$node")
  done
  printf '%s' "${pending[*]}"
}

all_ready() {
  local pending
  pending=$(not_ready)
  if [[ -n $pending ]]; then
    log "not Ready yet: $pending"
    doing "waiting for $pending to be Ready since $WAITING_SINCE"
    kubectl get nodes -o wide 2>&1 || true
    return 1
  fi
}

wait_until "every node to be Ready" 10 all_ready
kubectl get nodes -o wide
summary "every node Ready: $EXPECTED_NODES"
