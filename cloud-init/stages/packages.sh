#!/bin/bash
# Stage "packages": containerd, kubelet/kubeadm/kubectl from the spec's repository
# (pinned to the spec's patch when set, then held), and the tools the other stages
# use. A template whose golden marker already holds the right Kubernetes skips the
# Kubernetes packages. Before the first download the way out is checked, so a node
# without one fails at once with the cause; apt-get update is judged by what it fetched.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

base_packages=(containerd ethtool ufw open-vm-tools curl gpg ca-certificates conntrack)
kube_packages=(kubelet kubeadm kubectl)

missing=()
for package in "${base_packages[@]}"; do
  # containerd may come as Docker's containerd.io instead; either provides the binary.
  if [[ $package == containerd ]]; then
    command -v containerd >/dev/null || missing+=(containerd)
    continue
  fi
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done

golden=false
if golden_has_kubernetes && command -v kubeadm >/dev/null && command -v kubelet >/dev/null; then
  golden=true
fi

# What this stage downloads from: apt's sources, and the Kubernetes repository unless the template has it.
download_urls=() archive_urls=()
if ((${#missing[@]} > 0)) || [[ $golden == false ]]; then
  mapfile -t archive_urls < <(network_apt_source_urls)
  download_urls+=("${archive_urls[@]}")
fi
[[ $golden == true ]] || download_urls+=("$K8S_PACKAGE_REPOSITORY" "$K8S_PACKAGE_KEY_URL")
# The way out is checked only when something has to be downloaded: a node cloned from a
# matching golden template boots with no Internet at all.
if ((${#download_urls[@]} > 0)); then
  require_network "${download_urls[@]}"
  log "apt-get update"
  apt_update_or_fail "${archive_urls[@]}"
else
  log "the golden template holds every package: nothing to download, no network check"
fi

# containerd 2.x for Kubernetes CONTAINERD2_FIRST_MINOR and newer (lib/containerd-package.sh).
if ! containerd_package=$(containerd_choose_package "$K8S_MINOR" "$CONTAINERD_PACKAGE_SOURCE" "$CONTAINERD_PACKAGE_KEY_URL" \
  /etc/apt/keyrings/containerd-apt-keyring.gpg /etc/apt/sources.list.d/containerd.list); then
  fail_because "$containerd_package"
  exit 22
fi
install_now=()
for package in "${missing[@]}"; do
  [[ $package == containerd ]] || install_now+=("$package")
done
[[ -z $containerd_package ]] || install_now+=("$containerd_package")
if ((${#install_now[@]} > 0)); then
  log "installing ${install_now[*]}"
  apt_get install -y "${install_now[@]}"
fi

if [[ $golden == true ]]; then
  log "template already holds Kubernetes $K8S_MINOR (golden marker): not installing Kubernetes packages"
else
  log "Kubernetes repository $K8S_PACKAGE_REPOSITORY"
  install -d -m 0755 /etc/apt/keyrings
  keyring=/etc/apt/keyrings/kubernetes-apt-keyring.gpg
  doing "fetching the Kubernetes repository key"
  curl -fsSL --retry 5 --retry-delay 3 "$K8S_PACKAGE_KEY_URL" | gpg --dearmor --batch --yes -o "$keyring"
  chmod 0644 "$keyring"
  echo "deb [signed-by=$keyring] $K8S_PACKAGE_REPOSITORY /" >/etc/apt/sources.list.d/kubernetes.list
  apt_update_or_fail "${download_urls[@]}"
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
