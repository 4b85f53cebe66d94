#!/bin/bash
# Stage "containerd": the whole config.toml kubestation rendered for this
# containerd's major version (config version 3 for 2.x, 2 for 1.x), with the
# pause image kubeadm expects, then a restart and a check that CRI answers.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

containerd_version=$(containerd --version | awk '{print $3}')
major=${containerd_version#v}
major=${major%%.*}
if ! [[ $major =~ ^[0-9]+$ ]]; then
  log "cannot read containerd's version from: $(containerd --version)"
  exit 1
fi
if ((major >= 2)); then source_config=$CONTAINERD_CONFIG_V3; else source_config=$CONTAINERD_CONFIG_V2; fi

# The sandbox (pause) image kubeadm will check for; the rendered config carries a pinned default.
version=$(kubernetes_version)
sandbox=$(kubeadm config images list --kubernetes-version "$version" 2>/dev/null | grep '/pause:' | head -n 1 || true)
sandbox=${sandbox:-$PINNED_SANDBOX_IMAGE}

install -d -m 0755 /etc/containerd
tmp=$(mktemp /etc/containerd/.config.toml.XXXXXX)
sed "s|\"$PINNED_SANDBOX_IMAGE\"|\"$sandbox\"|" "$source_config" >"$tmp"
chmod 0644 "$tmp"
mv "$tmp" /etc/containerd/config.toml

systemctl enable containerd
systemctl restart containerd
wait_until "containerd's CRI socket" 2 crictl --runtime-endpoint "$CRI_SOCKET" info >/dev/null
if ! containerd config dump | grep -q 'SystemdCgroup = true'; then
  log "containerd did not take SystemdCgroup = true from /etc/containerd/config.toml"
  exit 1
fi
summary "containerd $containerd_version with config version $((major >= 2 ? 3 : 2)), SystemdCgroup, sandbox $sandbox"
