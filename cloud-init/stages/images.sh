#!/bin/bash
# Stage "images": the control plane images kubeadm init needs, pulled ahead so
# kubeadm's own health-check timeouts are not spent downloading. Images already
# in containerd (a golden template) are not pulled again.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

version=$(kubernetes_version)
mapfile -t wanted < <(kubeadm config images list --kubernetes-version "$version")
present=$(crictl --runtime-endpoint "$CRI_SOCKET" images -o json | python3 -c 'import json,sys; print("\n".join(t for i in json.load(sys.stdin)["images"] for t in i.get("repoTags") or []))')
missing=()
for image in "${wanted[@]}"; do
  grep -qxF "$image" <<<"$present" || missing+=("$image")
done
if ((${#missing[@]} == 0)); then
  summary "all ${#wanted[@]} images for $version already present"
  exit 0
fi
log "pulling ${missing[*]}"
# One at a time, so the progress lines can say which (kubeadm config images pull is silent until done).
count=0
for image in "${missing[@]}"; do
  count=$((count + 1))
  doing "images: pulling $count of ${#missing[@]} $image"
  crictl --runtime-endpoint "$CRI_SOCKET" pull "$image"
done
summary "pulled ${#missing[@]} of ${#wanted[@]} images for $version"
