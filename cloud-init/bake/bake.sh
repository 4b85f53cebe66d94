#!/bin/bash
# kubestation golden bake, run once by cloud-init (runcmd) in the template VM.
#
# Checks the way out first (cloud-init/lib/network.sh: a fail line naming the cause),
# installs containerd (2.x for Kubernetes CONTAINERD2_FIRST_MINOR+, from the second source when the archive
# has only 1.x) and kubelet/kubeadm/kubectl for the cluster's Kubernetes minor, pre-pulls the control-plane and CNI images, writes
# /etc/kubestation/golden.json, then, once cloud-init has finished, wipes
# cloud-init's state and the machine id and powers off. The host follows the
# progress lines on the serial console (ttyS0) in the nodes' protocol
# (cloud-init/lib/progress.sh, src/progress/protocol.ts), node name "template":
#
#   stages packages, images, golden, seal; then `complete done`.
#   The marker (golden-marker.py) records the releases, package versions, the CNI manifests kept
#   in /var/lib/kubestation/golden-cni, and each image in containerd's k8s.io namespace with its digest.
#   `golden ok` carries golden.json (one line of JSON) as its message.
#
# A failure is reported (with the log tail) and the VM still seals and powers
# off, so the host never waits on a guest that has given up; golden.json is
# then not written.
set -Eeuo pipefail

# Every path below hangs off ROOT, empty in the guest; tests point it at a scratch folder.
ROOT="${KUBESTATION_BAKE_ROOT:-}"
# shellcheck source=/dev/null
. "$ROOT/etc/kubestation/bake.env"
: "${KUBERNETES_MINOR:?}" "${PACKAGE_REPOSITORY:?}" "${PACKAGE_KEY_URL:?}" "${CNI_NAME:?}" "${CNI_VERSION:?}"
: "${CONTAINERD_PACKAGE_SOURCE:?}" "${CONTAINERD_PACKAGE_KEY_URL:?}" "${CONTAINERD2_FIRST_MINOR:?}"
KUBERNETES_PATCH="${KUBERNETES_PATCH:-}"
CNI_MANIFEST_URLS="${CNI_MANIFEST_URLS:-}"

LOG="$ROOT/var/log/kubestation-bake.log"
MARKER="$ROOT/etc/kubestation/golden.json"
BAKE_LIB="$ROOT/usr/local/lib/kubestation-bake"
export KUBESTATION_NODE=template
export KUBESTATION_CONSOLE="$ROOT/dev/ttyS0"
export KUBESTATION_PROGRESS_LOG="$ROOT/var/log/kubestation-bake-progress.log"
# shellcheck source=SCRIPTDIR/../lib/progress.sh
. "$BAKE_LIB/progress.sh"
# The nodes' network check, apt reporting and containerd choice (cloud-init/lib/).
# shellcheck source=SCRIPTDIR/../lib/network.sh
. "$BAKE_LIB/network.sh"
# shellcheck source=SCRIPTDIR/../lib/apt.sh
. "$BAKE_LIB/apt.sh"
# shellcheck source=SCRIPTDIR/../lib/containerd-package.sh
. "$BAKE_LIB/containerd-package.sh"
export KUBESTATION_DOING_FILE="$ROOT/run/kubestation-bake.doing"
export NETCHECK_APT_DIR="$ROOT/etc/apt"
KEYRING="$ROOT/etc/apt/keyrings/kubernetes-apt-keyring.gpg"
CRI_SOCKET=unix:///run/containerd/containerd.sock
export DEBIAN_FRONTEND=noninteractive
APT_OPTS=(-o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confold -y -q)
# The tools a node's packages stage installs besides containerd and Kubernetes (cloud-init/stages/packages.sh).
BASE_PACKAGES=(ethtool ufw open-vm-tools curl gpg ca-certificates conntrack)
# Where the CNI manifests are kept, so a node's cni stage applies them without downloading.
CNI_DIR="$ROOT/var/lib/kubestation/golden-cni"

mkdir -p "$(dirname "$LOG")" "$(dirname "$KUBESTATION_DOING_FILE")"
exec >>"$LOG" 2>&1

stage=packages
# Why the bake failed, when it knows (the network check's cause); leads the fail line.
reason=''
begin() {
  stage="$1"
  progress_emit "$stage" start ""
  progress_heartbeat_start "$stage"
}
finish() {
  progress_heartbeat_stop
  progress_emit "$stage" ok "$1"
}

# Nodes add the Kubernetes repository with their own keyring when they need it; a second
# entry for the same URL with another signed-by would make apt refuse both, so none stays.
remove_bake_apt_source() {
  rm -f "$ROOT/etc/apt/sources.list.d/kubernetes.list" "$KEYRING"
}

seal_and_power_off() {
  # Runs outside cloud-init so cloud-init can finish writing its own state first;
  # the clean then leaves the template as a never-booted image would be.
  systemd-run --no-block --unit=kubestation-seal --description="kubestation: seal the template and power off" \
    /bin/sh -c 'cloud-init status --wait >/dev/null 2>&1; apt-get clean; cloud-init clean --logs --machine-id --configs network 2>/dev/null || cloud-init clean --logs --machine-id; rm -rf /var/log/kubestation-bake.log /var/log/kubestation-bake-progress.log /etc/kubestation/bake.env /usr/local/sbin/kubestation-bake /usr/local/lib/kubestation-bake; sync; systemctl poweroff'
}

BAKE_PID=$BASHPID
on_error() {
  local status=$? line=$1
  # set -E hands this trap to command substitutions and background helpers too; only the bake
  # itself reports and seals (a helper's failing command is its caller's to judge).
  [[ $BASHPID == "$BAKE_PID" ]] || return 0
  trap - ERR
  progress_heartbeat_stop
  progress_fail "$stage" "${reason:+$reason (}exit status $status at bake.sh line $line${reason:+)}" "$LOG"
  rm -f "$MARKER"
  remove_bake_apt_source
  seal_and_power_off
  exit "$status"
}
trap 'on_error $LINENO' ERR

begin packages
# Before the first download: a template without a way out fails now, naming the cause.
mapfile -t download_urls < <(network_apt_source_urls)
download_urls+=("$PACKAGE_REPOSITORY" "$PACKAGE_KEY_URL")
progress_doing "network: checking the way out"
reason=$(network_check "${download_urls[@]}") || false
install -d -m 0755 "$(dirname "$KEYRING")" "$ROOT/etc/apt/sources.list.d" "$(dirname "$MARKER")"
curl -fsSL --retry 5 --retry-connrefused "$PACKAGE_KEY_URL" | gpg --batch --yes --dearmor -o "$KEYRING"
echo "deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.gpg] $PACKAGE_REPOSITORY /" >"$ROOT/etc/apt/sources.list.d/kubernetes.list"
# apt-get update exits 0 when every source failed: judged by what it fetched (lib/apt.sh).
if ! problems=$(apt_update); then
  reason=$(network_check "${download_urls[@]}") || true
  reason=${reason:-apt-get update failed: $(head -n 1 <<<"$problems")}
  false
fi
# containerd 2.x for Kubernetes CONTAINERD2_FIRST_MINOR and newer, from the second source when the archive has only 1.x.
containerd_package=$(containerd_choose_package "$KUBERNETES_MINOR" "$CONTAINERD_PACKAGE_SOURCE" "$CONTAINERD_PACKAGE_KEY_URL" \
  "$ROOT/etc/apt/keyrings/containerd-apt-keyring.gpg" "$ROOT/etc/apt/sources.list.d/containerd.list") || { reason=$containerd_package; false; }
containerd_package=${containerd_package:-containerd}
# A re-bake for another release replaces packages an earlier bake put on hold.
HOLD_OPTS=(--allow-change-held-packages --allow-downgrades)
if [ -n "$KUBERNETES_PATCH" ]; then
  # The repository's Debian revision (e.g. 1.37.2-1.1) for the pinned release.
  deb_version=$(apt-cache madison kubeadm | awk -v v="$KUBERNETES_PATCH" '$3 ~ "^"v"-" { print $3; exit }')
  [ -n "$deb_version" ] || { echo "kubeadm $KUBERNETES_PATCH is not in $PACKAGE_REPOSITORY" >&2; false; }
  apt-get "${APT_OPTS[@]}" "${HOLD_OPTS[@]}" install "${BASE_PACKAGES[@]}" "$containerd_package" "kubelet=$deb_version" "kubeadm=$deb_version" "kubectl=$deb_version"
else
  apt-get "${APT_OPTS[@]}" "${HOLD_OPTS[@]}" install "${BASE_PACKAGES[@]}" "$containerd_package" kubelet kubeadm kubectl
fi
apt-mark hold kubelet kubeadm kubectl >/dev/null
systemctl enable --now containerd
package_version() { dpkg-query -W -f='${Version}' "$1"; }
kubernetes_version=$(kubeadm version -o short)
kubernetes_version=${kubernetes_version#v}
finish "kubeadm $kubernetes_version, $containerd_package $(package_version "$containerd_package")"

begin images
kubeadm config images pull --kubernetes-version "v$kubernetes_version" --cri-socket "$CRI_SOCKET"
# The CNI's manifests are kept (a node applies these copies) and their images pulled.
rm -rf "$CNI_DIR"
install -d -m 0755 "$CNI_DIR"
index=0
for url in $CNI_MANIFEST_URLS; do
  index=$((index + 1))
  manifest="$CNI_DIR/$index-$(basename "$url")"
  curl -fsSL --retry 5 --retry-connrefused -o "$manifest" "$url"
  sed -n 's/^[[:space:]-]*image:[[:space:]]*["'\'']\{0,1\}\([^"'\''[:space:]]*\).*/\1/p' "$manifest" |
    sort -u |
    while read -r image; do
      crictl --runtime-endpoint "$CRI_SOCKET" pull "$image" >/dev/null
    done
done
# The image verify's test pods run (src/verify/workload.ts).
[ -z "${VERIFY_IMAGE:-}" ] || crictl --runtime-endpoint "$CRI_SOCKET" pull "$VERIFY_IMAGE" >/dev/null
# The enabled add-ons' images (src/addons/catalog.ts): their pods start from these when build-vms applies them.
for image in ${ADDON_IMAGES:-}; do
  crictl --runtime-endpoint "$CRI_SOCKET" pull "$image" >/dev/null
done
images_json=$(crictl --runtime-endpoint "$CRI_SOCKET" images -o json)
finish "$(python3 -c 'import json,sys; print(len({t for i in json.load(sys.stdin)["images"] for t in i.get("repoTags") or []}))' <<<"$images_json") images"

begin golden
# The marker: releases, package versions, the kept CNI manifests and each image with its digest.
# shellcheck disable=SC2086 # the manifest URLs are meant to split into words
python3 "$BAKE_LIB/golden-marker.py" "$MARKER" "$KUBERNETES_MINOR" "$kubernetes_version" "$containerd_package" \
  "$CNI_NAME" "$CNI_VERSION" "$CNI_DIR" $CNI_MANIFEST_URLS <<<"$images_json"
finish "$(python3 -c 'import json, sys; print(json.dumps(json.load(open(sys.argv[1])), separators=(",", ":")))' "$MARKER")"

begin seal
progress_heartbeat_stop
remove_bake_apt_source
progress_emit complete "done" "template baked: Kubernetes $kubernetes_version"
seal_and_power_off
