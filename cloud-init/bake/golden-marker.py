#!/usr/bin/python3
"""Writes the golden marker, /etc/kubestation/golden.json: what a baked template holds.

Usage: golden-marker.py MARKER MINOR VERSION CONTAINERD_PACKAGE CNI_NAME CNI_VERSION CNI_DIR [MANIFEST_URL...]
with `crictl images -o json` on stdin. Package versions come from dpkg; each CNI manifest URL
(in order) is stored in CNI_DIR as "<n>-<basename>" by the bake and recorded with that file name
and its SHA-256 (in the guest CNI_DIR is /var/lib/kubestation/golden-cni).

Run by the golden bake (cloud-init/bake/bake.sh) and by the e2e image build
(scripts/e2e/build-image.sh), so both write the same shape (src/template/state.ts GoldenMarker).
"""
import datetime
import hashlib
import json
import os
import subprocess
import sys

BASE_PACKAGES = ("ethtool", "ufw", "open-vm-tools", "curl", "gpg", "ca-certificates", "conntrack")


def package_version(name):
    result = subprocess.run(["dpkg-query", "-W", "-f=${Version}", name], capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 else ""


def main():
    path, minor, version, containerd_package, cni_name, cni_version, cni_dir, *urls = sys.argv[1:]
    listed = json.load(sys.stdin).get("images") or []
    digests = {}
    for image in listed:
        digest = image.get("id") or ""
        for repo_digest in image.get("repoDigests") or []:
            if "@" in repo_digest:
                digest = repo_digest.split("@", 1)[1]
                break
        for tag in image.get("repoTags") or []:
            digests[tag] = digest
    manifests = []
    for index, url in enumerate(urls, start=1):
        file = "%d-%s" % (index, url.rstrip("/").rsplit("/", 1)[-1])
        with open(os.path.join(cni_dir, file), "rb") as f:
            manifests.append({"url": url, "file": file, "sha256": hashlib.sha256(f.read()).hexdigest()})
    marker = {
        "formatVersion": 1,
        "bakedAt": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "kubernetes": {
            "minor": minor,
            "version": version,
            "packages": {p: package_version(p) for p in ("kubelet", "kubeadm", "kubectl")},
        },
        "containerd": {"package": containerd_package, "version": package_version(containerd_package)},
        "cni": {"name": cni_name, "version": cni_version, "manifests": manifests},
        "images": sorted(digests),
        "imageDigests": dict(sorted(digests.items())),
        "basePackages": {p: package_version(p) for p in BASE_PACKAGES},
    }
    tmp = path + ".tmp"
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(tmp, "w") as f:
        json.dump(marker, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


main()
