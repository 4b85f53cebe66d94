#!/bin/bash
# Stage "kubeadm-join": joins with the JoinConfiguration kubestation rendered
# (bootstrap token + the cluster CA's public key pin).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

if [[ -f /etc/kubernetes/kubelet.conf ]]; then
  log "/etc/kubernetes/kubelet.conf exists: this node joined before, not joining again"
else
  kubeadm join --config "$KUBEADM_CONFIG" 2>&1 | kubeadm_phases
fi
summary "$KUBESTATION_NODE joined the cluster at https://$API_ENDPOINT"
