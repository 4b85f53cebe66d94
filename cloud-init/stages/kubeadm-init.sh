#!/bin/bash
# Stage "kubeadm-init": kubeadm init with the documents kubestation rendered
# (the cluster CA is already in /etc/kubernetes/pki), then kubectl for root and
# the lab user. The only value filled in here is the Kubernetes version when the
# spec names just a minor: the installed kubeadm's own version.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

if [[ -f /etc/kubernetes/admin.conf ]]; then
  log "/etc/kubernetes/admin.conf exists: this node was initialised before, not running kubeadm init again"
else
  version=$(kubernetes_version)
  config=/run/kubestation/kubeadm-init.yaml
  (umask 077 && sed "s|$VERSION_PLACEHOLDER|$version|" "$KUBEADM_CONFIG" >"$config")
  # --skip-token-print: the join token stays out of this log.
  kubeadm init --config "$config" --skip-token-print 2>&1 | kubeadm_phases
  rm -f "$config"
fi

home=$(getent passwd "$KUBESTATION_USER" | cut -d: -f6)
install -d -m 0700 -o "$KUBESTATION_USER" -g "$KUBESTATION_USER" "$home/.kube"
install -m 0600 -o "$KUBESTATION_USER" -g "$KUBESTATION_USER" /etc/kubernetes/admin.conf "$home/.kube/config"
install -d -m 0700 /root/.kube
install -m 0600 /etc/kubernetes/admin.conf /root/.kube/config

export KUBECONFIG=/etc/kubernetes/admin.conf
wait_until "the API server" 3 kubectl get --raw /readyz >/dev/null
summary "control plane $(kubectl version -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["serverVersion"]["gitVersion"])') at https://$API_ENDPOINT"
