#!/usr/bin/env bash
# Builds (once) the e2e guest image: the cached Debian base (build-base.sh) plus
#  - the stand-in packages (standins/) in signed flat apt repositories:
#    /opt/kubestation-e2e/archive/ (containerd 2.x; always configured, like Ubuntu's archive),
#    /opt/kubestation-e2e/apt/ (`deb [signed-by=…] file:///opt/kubestation-e2e/apt/ /`,
#    kubelet/kubeadm/kubectl/cri-tools; key at Release.key there, like pkgs.k8s.io), and, not
#    configured, archive-containerd1/ (containerd 1.7, like noble-updates before 2.x) and
#    docker/ (containerd.io 2.x, like Docker's repository; key at Release.key there),
#  - the guest tweaks in guest/ (cloud-init datasource + netplan renderer, the report
#    and power-off hook, a stand-in API server for workers, a stand-in flannel manifest
#    at /opt/kubestation-e2e/cni/kube-flannel.yml), no Debian apt sources (the guest
#    has no network),
# as an ext4 image made with `mke2fs -d` (no loop mounts), with its kernel and initrd
# beside it, and golden.img: the same image as a golden bake leaves a template (stand-in
# packages installed, images in the stand-in store, the CNI manifest kept, golden.json).
# Cached under a key hashed from everything that goes in.
#
#   scripts/e2e/build-image.sh [CACHE_DIR]    prints the image directory:
#     root.img  golden.img  vmlinuz  initrd.img  apt-key.asc (the stand-in repo's signing key)
#     image.json (key, kernel, build seconds of this step and of the base)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo_root=$(cd "$here/../.." && pwd)
cache=${1:-$repo_root/.e2e-cache}
mkdir -p "$cache"

# Stand-in versions, shaped like the real packages' (pkgs.k8s.io v1.37, Ubuntu containerd 2.2).
kube_upstream=1.37.0
kube_version=$kube_upstream-1.1
containerd_upstream=2.2.1
containerd_version=$containerd_upstream-0kubestation1
# The containerd stand-in is also built as Ubuntu's 1.7 (noble-updates before 2.x) and as
# Docker's containerd.io 2.x, whose packaged config.toml disables the CRI plugin.
containerd1_upstream=1.7.28
containerd1_version=$containerd1_upstream-0ubuntu1~24.04.1kubestation1
containerd_io_upstream=2.1.5
containerd_io_version=$containerd_io_upstream-1~ubuntu.24.04~noble

# The golden variant's CNI (as a cluster.yaml would pin it; test/e2e/support/rig.ts names the same)
# and the image verify runs (src/verify/workload.ts).
golden_cni_version=v0.28.9
golden_cni_url=https://github.com/flannel-io/flannel/releases/download/$golden_cni_version/kube-flannel.yml
golden_verify_image=registry.k8s.io/e2e-test-images/agnhost:2.52

start=$(date +%s)
base=$("$here/build-base.sh" "$cache")
key=$( { echo "$base"; cat "$here/build-image.sh";
         cat "$repo_root/cloud-init/bake/golden-marker.py";
         find "$here/guest" "$here/standins" -type f | LC_ALL=C sort | xargs cat; } | sha256sum | cut -c1-16)
out=$cache/image-$key
if [ -f "$out/image.json" ]; then
  echo "$out"
  exit 0
fi

work=$(mktemp -d "$cache/image-$key.XXXXXX")
rootfs=$work/rootfs
cleanup() {
  if mountpoint -q "$rootfs/proc" 2>/dev/null; then umount -l "$rootfs/proc" || true; fi
  if [ -d "$rootfs/tmp/gnupg" ]; then chroot "$rootfs" gpgconf --homedir /tmp/gnupg --kill all || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$rootfs" "$work/out"
tar -C "$rootfs" --numeric-owner --xattrs --xattrs-include='*' -xf "$base"

# --- stand-in packages -> two signed flat apt repositories -------------------------------
# /opt/kubestation-e2e/archive/ stands in for Ubuntu's archive (containerd) and is always
# configured, as the archive is on Ubuntu; /opt/kubestation-e2e/apt/ stands in for
# pkgs.k8s.io (kubelet, kubeadm, kubectl, cri-tools) and is only used when the seed adds it.
debs=$work/debs
mkdir -p "$debs"
# build_standin SOURCE-DIR DEB [containerd package] [containerd upstream] [containerd version]
build_standin() {
  local src=$1 deb=$2 cpackage=${3:-containerd} cupstream=${4:-$containerd_upstream} cversion=${5:-$containerd_version} pkg
  pkg=$work/pkgs/$(basename "$deb" .deb)
  mkdir -p "$pkg"
  cp -a "$src/." "$pkg/"
  find "$pkg" -type f -exec sed -i \
    -e "s/@VERSION@/$kube_version/g" -e "s/@UPSTREAM@/$kube_upstream/g" \
    -e "s/@CONTAINERD_PACKAGE@/$cpackage/g" \
    -e "s/@CONTAINERD_VERSION@/$cversion/g" -e "s/@CONTAINERD_UPSTREAM@/$cupstream/g" \
    -e "s/@RECORDER_VERSION@/1.0/g" {} +
  rm -f "$pkg/README.md"
  if [ "$cpackage" = containerd.io ]; then
    # Like Docker's package: replaces Ubuntu's containerd and ships a config.toml without CRI.
    printf 'Conflicts: containerd\nReplaces: containerd\nProvides: containerd\n' >>"$pkg/DEBIAN/control"
    mkdir -p "$pkg/etc/containerd"
    printf '#   Copyright 2018-2022 Docker Inc. (kubestation e2e stand-in of its packaged file)\ndisabled_plugins = ["cri"]\n' \
      >"$pkg/etc/containerd/config.toml"
    echo /etc/containerd/config.toml >"$pkg/DEBIAN/conffiles"
  fi
  dpkg-deb --root-owner-group -Zgzip --build "$pkg" "$deb" >&2
}
for src in "$here"/standins/*/; do
  build_standin "${src%/}" "$debs/$(basename "$src").deb"
done
build_standin "$here/standins/containerd" "$debs/containerd1.deb" containerd "$containerd1_upstream" "$containerd1_version"
build_standin "$here/standins/containerd" "$debs/containerd.io.deb" containerd.io "$containerd_io_upstream" "$containerd_io_version"
repos=$rootfs/opt/kubestation-e2e
mkdir -p "$repos/archive" "$repos/apt" "$repos/archive-containerd1" "$repos/docker"
cp "$debs/containerd.deb" "$debs/recorder.deb" "$repos/archive/"
cp "$debs/kubeadm.deb" "$debs/kubelet.deb" "$debs/kubectl.deb" "$debs/cri-tools.deb" "$debs/recorder.deb" "$repos/apt/"
# Not configured in the image: a test seed points apt at them.
cp "$debs/containerd1.deb" "$debs/recorder.deb" "$repos/archive-containerd1/"
cp "$debs/containerd.io.deb" "$debs/recorder.deb" "$repos/docker/"
# Index and sign with the guest's own apt-ftparchive and gpg (no host tools needed).
# shellcheck disable=SC2016 # expanded by the shell inside the chroot
chroot "$rootfs" sh -ec '
  export GNUPGHOME=/tmp/gnupg
  mkdir -m 0700 -p "$GNUPGHOME"
  gpg --batch --quiet --pinentry-mode loopback --passphrase "" \
    --quick-gen-key "kubestation e2e stand-in repository <e2e@kubestation.invalid>" ed25519 sign never
  for repo in archive apt archive-containerd1 docker; do
    cd /opt/kubestation-e2e/$repo
    apt-ftparchive packages . >Packages
    gzip -9kn Packages
    apt-ftparchive -o APT::FTPArchive::Release::Origin=kubestation-e2e \
      -o "APT::FTPArchive::Release::Label=kubestation e2e stand-ins ($repo)" release . >/tmp/Release
    mv /tmp/Release Release
    gpg --batch --quiet --armor --export >Release.key
    gpg --batch --quiet --clearsign -o InRelease Release
    gpg --batch --quiet -abs -o Release.gpg Release
  done
  gpg --batch --quiet --export >/usr/share/keyrings/kubestation-e2e-archive.gpg
  gpgconf --kill all
  rm -rf "$GNUPGHOME"
' >&2
echo "deb [signed-by=/usr/share/keyrings/kubestation-e2e-archive.gpg] file:///opt/kubestation-e2e/archive/ /" \
  >"$rootfs/etc/apt/sources.list.d/kubestation-e2e-archive.list"
chmod -R a+rX "$repos"
cp "$repos/apt/Release.key" "$work/out/apt-key.asc"

# --- guest tweaks ------------------------------------------------------------------------
cp -a "$here/guest/." "$rootfs/"
# No Debian sources: the guest cannot reach them (only the stand-in archive above and
# whatever the seed adds).
rm -f "$rootfs/etc/apt/sources.list"
echo kubestation-e2e >"$rootfs/etc/hostname"
chroot "$rootfs" systemctl enable systemd-networkd.service systemd-resolved.service \
  kubestation-e2e-report.service kubestation-e2e-fake-api.service >&2
# TLS for the stand-in API server a worker's seed polls (self-signed; curl -k).
mkdir -p "$rootfs/opt/kubestation-e2e/fake-api"
chroot "$rootfs" openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
  -subj "/CN=kubestation e2e stand-in API server" \
  -keyout /opt/kubestation-e2e/fake-api/tls.key -out /opt/kubestation-e2e/fake-api/tls.crt 2>/dev/null
# Nothing else may hold apt's lock or wake up during a test boot.
chroot "$rootfs" systemctl mask apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer \
  fstrim.timer >&2

# A swap file in fstab, as Ubuntu Server's installer leaves one: the seed's first boot must turn
# swap off for good. Random content, not zeros: mke2fs -d would store zero blocks as holes, and
# the kernel refuses a swap file with holes.
head -c 64M /dev/urandom >"$rootfs/swap.img"
chmod 0600 "$rootfs/swap.img"
chroot "$rootfs" mkswap /swap.img >&2
echo '/swap.img none swap sw 0 0' >>"$rootfs/etc/fstab"

cp "$rootfs"/boot/vmlinuz-* "$work/out/vmlinuz"
cp "$rootfs"/boot/initrd.img-* "$work/out/initrd.img"
kernel=$(basename "$rootfs"/boot/vmlinuz-*)
mke2fs -q -t ext4 -L e2e-root -d "$rootfs" "$work/out/root.img" 4G >&2

# --- the golden variant: golden.img ------------------------------------------------------
# The same image after what the golden bake (cloud-init/bake/bake.sh) leaves in a template:
# containerd and kubelet/kubeadm/kubectl installed and held, the control-plane, CNI and verify
# images in the (stand-in) image store, the CNI manifest kept, and golden.json written by the
# bake's own marker writer. Its CNI manifest is recorded under an https URL the guest cannot
# reach, so a node that tried to download it would fail.
golden_cni_dir=/var/lib/kubestation/golden-cni
cp "$repo_root/cloud-init/bake/golden-marker.py" "$rootfs/tmp/golden-marker.py"
mkdir -p "$rootfs$golden_cni_dir" "$rootfs/etc/kubestation"
echo "deb [signed-by=/usr/share/keyrings/kubestation-e2e-archive.gpg] file:///opt/kubestation-e2e/apt/ /" \
  >"$rootfs/etc/apt/sources.list.d/kubernetes.list"
printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
chmod 0755 "$rootfs/usr/sbin/policy-rc.d"
mount -t proc proc "$rootfs/proc" # the stand-ins' recorder reads /proc/uptime
chroot "$rootfs" env DEBIAN_FRONTEND=noninteractive LC_ALL=C sh -ec "
  apt-get update -q
  apt-get install -y -q --no-install-recommends containerd kubelet kubeadm kubectl
  apt-mark hold kubelet kubeadm kubectl
  kubeadm config images pull --kubernetes-version v$kube_upstream
  for image in \$(sed -n 's/^[[:space:]-]*image:[[:space:]]*\([^[:space:]]*\).*/\1/p' /opt/kubestation-e2e/cni/kube-flannel.yml | sort -u) $golden_verify_image; do
    crictl pull \$image >/dev/null
  done
  cp /opt/kubestation-e2e/cni/kube-flannel.yml $golden_cni_dir/1-kube-flannel.yml
  crictl images -o json | python3 /tmp/golden-marker.py /etc/kubestation/golden.json \
    ${kube_upstream%.*} $kube_upstream containerd flannel $golden_cni_version $golden_cni_dir $golden_cni_url
  apt-get clean
" >&2
umount "$rootfs/proc"
rm -f "$rootfs/etc/apt/sources.list.d/kubernetes.list" "$rootfs/usr/sbin/policy-rc.d" "$rootfs/tmp/golden-marker.py"
# The stand-ins' calls during this build are not a test boot's.
rm -rf "$rootfs/var/log/kubestation-standins"
mke2fs -q -t ext4 -L e2e-root -d "$rootfs" "$work/out/golden.img" 4G >&2

seconds=$(( $(date +%s) - start ))
base_seconds=$(cat "$base.seconds" 2>/dev/null || echo 0)
printf '{"key":"%s","base":"%s","kernel":"%s","kubernetesStandinVersion":"%s","containerdStandinVersion":"%s","buildSeconds":%d,"baseBuildSeconds":%d}\n' \
  "$key" "$(basename "$base")" "$kernel" "$kube_version" "$containerd_version" "$seconds" "$base_seconds" >"$work/out/image.json"
rm -rf "$out"
mv "$work/out" "$out"
echo "build-image: $out in $seconds s" >&2
# Older images and bases (other keys) not touched for an hour are dead weight (GBs each).
find "$cache" -maxdepth 1 \( -name 'image-*' -o -name 'base-*.tar' \) -mmin +60 \
  ! -name "image-$key" ! -name "$(basename "$base")" -exec rm -rf {} + 2>/dev/null || true
find "$cache" -maxdepth 1 -name 'base-*.tar.seconds' -mmin +60 ! -name "$(basename "$base").seconds" -delete 2>/dev/null || true
echo "$out"
