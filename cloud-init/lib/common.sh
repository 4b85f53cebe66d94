# shellcheck shell=bash
# Helpers for the stage scripts. Every stage runs as its own process under
# `timeout`, with stdout/stderr going to /var/log/kubestation/<stage>.log.
#
# node.env (rendered by kubestation) provides, among others: KUBESTATION_NODE,
# KUBESTATION_ROLE, KUBESTATION_USER, NODE_IP, K8S_MINOR, K8S_PATCH,
# K8S_PACKAGE_REPOSITORY, K8S_PACKAGE_KEY_URL, CONTAINERD_PACKAGE_SOURCE,
# CONTAINERD_PACKAGE_KEY_URL, CONTAINERD2_FIRST_MINOR, API_ENDPOINT, CNI_NAME,
# CNI_VXLAN_INTERFACE, FIREWALL_ENABLED, KUBEADM_CONFIG, CRI_SOCKET.

KUBESTATION_ENV=${KUBESTATION_ENV:-/etc/kubestation/node.env}
# shellcheck source=/dev/null
source "$KUBESTATION_ENV"
# shellcheck source-path=SCRIPTDIR source=progress.sh
source "$(dirname "${BASH_SOURCE[0]}")/progress.sh"
# shellcheck source-path=SCRIPTDIR source=network.sh
source "$(dirname "${BASH_SOURCE[0]}")/network.sh"
# shellcheck source-path=SCRIPTDIR source=apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/apt.sh"
# shellcheck source-path=SCRIPTDIR source=containerd-package.sh
source "$(dirname "${BASH_SOURCE[0]}")/containerd-package.sh"

export DEBIAN_FRONTEND=noninteractive
export LANG=C.UTF-8 LC_ALL=C.UTF-8

log() {
  printf '%s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*"
}

# One line the runner puts into the stage's "ok" progress line.
summary() {
  printf '%s\n' "$*" >>"${KUBESTATION_SUMMARY_FILE:-/dev/null}"
}

# What the stage is doing now ("apt: update"): the runner reports it as an info line.
doing() {
  progress_doing "$*"
}

# fail_because <reason>: logs the reason and makes it lead the stage's fail line; the caller exits.
fail_because() {
  log "$*"
  printf '%s\n' "$*" >"${KUBESTATION_REASON_FILE:-/dev/null}"
}

# Seconds left before this stage's deadline, minus a margin for reporting.
seconds_left() {
  local now
  now=$(date +%s)
  echo $((${KUBESTATION_STAGE_ENDS_AT:-$((now + 3600))} - now - 10))
}

# wait_until <what> <interval-seconds> <command...>: retries until the command succeeds
# or the stage deadline is near; fails with a message naming what it waited for.
wait_until() {
  local what=$1 interval=$2
  shift 2
  WAITING_SINCE=$(date -u +%H:%M:%SZ)
  doing "waiting for $what since $WAITING_SINCE"
  until "$@"; do
    if (($(seconds_left) <= interval)); then
      log "gave up waiting for $what: the stage deadline is reached"
      return 1
    fi
    sleep "$interval"
  done
}

# require_network <url>...: before the first download, checks the way out to these URLs; when
# there is none the stage fails at once with the cause (network.sh), exit code 20.
require_network() {
  local cause
  doing "network: checking the way out"
  if ! cause=$(network_check "$@"); then
    fail_because "$cause"
    exit 20
  fi
}

# apt_update_or_fail <url>...: apt-get update that fails the stage when a source could not be
# fetched (apt itself exits 0 then), naming the network cause when the check finds one, else
# apt's own complaint; exit code 21. The URLs are what the update fetches from.
apt_update_or_fail() {
  local problems cause
  problems=$(apt_update) && return 0
  if cause=$(network_check "$@"); then
    cause="apt-get update failed: $(head -n 1 <<<"$problems")"
  fi
  fail_because "$cause"
  exit 21
}

# kubeadm's output on stdin -> stdout unchanged, reporting the phase it is in ("[certs] ..."
# -> "kubeadm: phase certs"). Only the phase name is reported: kubeadm prints the token in some lines.
kubeadm_phases() {
  local line said=''
  while IFS= read -r line; do
    printf '%s\n' "$line"
    if [[ $line =~ ^\[([a-z][a-z0-9-]*)\] && ${BASH_REMATCH[1]} != "$said" ]]; then
      said=${BASH_REMATCH[1]}
      doing "kubeadm: phase $said"
    fi
  done
}

# "v1.37.2": the spec's patch, else what the installed kubeadm is.
kubernetes_version() {
  if [[ -n ${K8S_PATCH:-} ]]; then
    echo "v$K8S_PATCH"
  else
    kubeadm version -o short
  fi
}

# golden_cni_manifest <index> <url> -> stdout: the template's kept copy of the CNI manifest at
# <url> (the <index>th of the spec's), when the golden marker records that URL for the spec's
# CNI release and the copy is intact; nothing otherwise (the stage downloads it).
GOLDEN_CNI_DIR=${GOLDEN_CNI_DIR:-/var/lib/kubestation/golden-cni}
golden_cni_manifest() {
  [[ -r ${GOLDEN_MARKER:-/etc/kubestation/golden.json} ]] || return 0
  python3 - "${GOLDEN_MARKER:-/etc/kubestation/golden.json}" "$GOLDEN_CNI_DIR" "$CNI_NAME" "$CNI_VERSION" "$1" "$2" <<'PY'
import hashlib, json, os, sys
path, folder, name, version, index, url = sys.argv[1:7]
try:
    cni = json.load(open(path)).get("cni", {})
except (OSError, ValueError):
    sys.exit(0)
if cni.get("name") != name or cni.get("version") != version:
    sys.exit(0)
manifests = cni.get("manifests") or []
i = int(index) - 1
if i >= len(manifests) or manifests[i].get("url") != url:
    sys.exit(0)
kept = os.path.join(folder, os.path.basename(manifests[i].get("file", "")))
try:
    with open(kept, "rb") as f:
        intact = hashlib.sha256(f.read()).hexdigest() == manifests[i].get("sha256")
except OSError:
    sys.exit(0)
if intact:
    print(kept)
PY
}

# True when the template's golden marker says Kubernetes is already installed in the
# version the spec asks for (same minor; same patch when the spec pins one).
golden_has_kubernetes() {
  [[ -r ${GOLDEN_MARKER:-/etc/kubestation/golden.json} ]] || return 1
  python3 - "${GOLDEN_MARKER:-/etc/kubestation/golden.json}" "$K8S_MINOR" "${K8S_PATCH:-}" <<'PY'
import json, sys
path, minor, patch = sys.argv[1:4]
try:
    k = json.load(open(path)).get("kubernetes", {})
except (OSError, ValueError):
    sys.exit(1)
ok = k.get("minor") == minor and (not patch or k.get("version", "").lstrip("v") == patch)
sys.exit(0 if ok else 1)
PY
}
