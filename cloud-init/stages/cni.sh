#!/bin/bash
# Stage "cni": the pod network pinned in the spec. Manifests are fetched with
# curl (https or file://), or copied from a golden template that kept them, applied, then adjusted with the documents kubestation
# rendered: flannel gets the pod CIDR and --iface=<host-only NIC>; calico gets an
# Installation (VXLAN, pod CIDR, addresses from the host-only NIC).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
export KUBECONFIG=/etc/kubernetes/admin.conf

manifest_dir=/var/lib/kubestation/cni
install -d -m 0755 "$manifest_dir"
manifests=()
index=0
for url in $CNI_MANIFEST_URLS; do
  index=$((index + 1))
  target="$manifest_dir/$index-$(basename "$url")"
  kept=$(golden_cni_manifest "$index" "$url")
  if [[ -n $kept ]]; then
    log "$url: the golden template's copy ($kept)"
    cp "$kept" "$target"
  else
    log "fetching $url"
    curl -fsSL --retry 5 --retry-delay 3 -o "$target" "$url"
  fi
  manifests+=("$target")
done

case $CNI_NAME in
  flannel)
    for manifest in "${manifests[@]}"; do kubectl apply -f "$manifest"; done
    kubectl -n kube-flannel patch configmap kube-flannel-cfg --type merge --patch-file "$CNI_FLANNEL_CONFIGMAP_PATCH"
    if kubectl -n kube-flannel get daemonset kube-flannel-ds -o jsonpath='{.spec.template.spec.containers[0].args}' | grep -q -- '--iface='; then
      log "flannel already has an --iface argument"
    else
      kubectl -n kube-flannel patch daemonset kube-flannel-ds --type json --patch-file "$CNI_FLANNEL_DAEMONSET_PATCH"
    fi
    doing "waiting for the flannel DaemonSet to roll out since $(date -u +%H:%M:%SZ)"
    kubectl -n kube-flannel rollout status daemonset/kube-flannel-ds --timeout="$(seconds_left)s"
    ;;
  calico)
    # Server-side apply: the CRDs are too large for client-side apply's annotation.
    for manifest in "${manifests[@]}"; do kubectl apply --server-side --force-conflicts -f "$manifest"; done
    kubectl wait --for=condition=established crd/installations.operator.tigera.io --timeout=120s
    doing "waiting for the tigera-operator Deployment to roll out since $(date -u +%H:%M:%SZ)"
    kubectl -n tigera-operator rollout status deployment/tigera-operator --timeout="$(seconds_left)s"
    kubectl apply --server-side --force-conflicts -f "$CNI_CALICO_INSTALLATION"
    ;;
  *)
    log "unknown CNI $CNI_NAME"
    exit 1
    ;;
esac
summary "$CNI_NAME $CNI_VERSION applied"
