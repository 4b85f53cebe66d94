#!/bin/bash
# Stage "packages": containerd, kubelet/kubeadm/kubectl from the spec's repository
# (pinned to the spec's patch when set, then held), and the tools the other stages
# use. A template whose golden marker already holds the right Kubernetes skips the
# Kubernetes packages.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

base_packages=(containerd ethtool ufw open-vm-tools curl gpg ca-certificates conntrack)
kube_packages=(kubelet kubeadm kubectl)

missing=()
for package in "${base_packages[@]}"; do
  # containerd may come as Docker's containerd.io instead; either provides the binary.
  if [[ $package == containerd ]] && command -v containerd >/dev/null; then continue; fi
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done

golden=false
if golden_has_kubernetes && command -v kubeadm >/dev/null && command -v kubelet >/dev/null; then
  golden=true
fi

if ((${#missing[@]} > 0)) || [[ $golden == false ]]; then
  log "apt-get update"
  apt_get update
fi
if ((${#missing[@]} > 0)); then
  log "installing ${missing[*]}"
  apt_get install -y "${missing[@]}"
fi

if [[ $golden == true ]]; then
  log "template already holds Kubernetes $K8S_MINOR (golden marker): not installing Kubernetes packages"
else
  log "Kubernetes repository $K8S_PACKAGE_REPOSITORY"
  install -d -m 0755 /etc/apt/keyrings
  keyring=/etc/apt/keyrings/kubernetes-apt-keyring.gpg
  curl -fsSL --retry 5 --retry-delay 3 "$K8S_PACKAGE_KEY_URL" | gpg --dearmor --batch --yes -o "$keyring"
  chmod 0644 "$keyring"
  echo "deb [signed-by=$keyring] $K8S_PACKAGE_REPOSITORY /" >/etc/apt/sources.list.d/kubernetes.list
  apt_get update
  wanted=()
  for package in "${kube_packages[@]}"; do
    if [[ -n $K8S_PATCH ]]; then wanted+=("$package=$K8S_PATCH-*"); else wanted+=("$package"); fi
  done
  apt-mark unhold "${kube_packages[@]}" >/dev/null 2>&1 || true
  log "installing ${wanted[*]}"
  apt_get install -y --allow-change-held-packages "${wanted[@]}"
fi
apt-mark hold "${kube_packages[@]}"
systemctl enable kubelet

kubeadm_version=$(kubeadm version -o short)
if [[ -n $K8S_PATCH && $kubeadm_version != "v$K8S_PATCH" ]]; then
  log "kubeadm is $kubeadm_version, the spec asks for v$K8S_PATCH"
  exit 1
fi
if [[ $kubeadm_version != v$K8S_MINOR.* ]]; then
  log "kubeadm is $kubeadm_version, the spec asks for $K8S_MINOR"
  exit 1
fi
summary "kubeadm $kubeadm_version$([[ $golden == true ]] && echo ' (from template)'), $(containerd --version | awk '{print $1, $3}')"
