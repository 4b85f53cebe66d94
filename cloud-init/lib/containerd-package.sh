# shellcheck shell=bash
# Which containerd package a node installs. Kubernetes from CONTAINERD2_FIRST_MINOR on no longer
# supports containerd 1.x; Ubuntu 24.04's archive has carried 1.7 and 2.x over time. For such a
# Kubernetes with containerd older than 2.0 installed or offered, containerd.io 2.x comes from a
# second source (Docker's repository by default). Its packaged /etc/containerd/config.toml
# disables the CRI plugin; the containerd stage replaces that file with a full configuration.
# Needs apt.sh and network.sh.

# The last minor before CONTAINERD2_FIRST_MINOR (e.g. "1.35" before "1.36"): the newest Kubernetes that runs on containerd 1.x.
last_minor_on_containerd1() {
  local first_major first_minor
  IFS=. read -r first_major first_minor _ <<<"${CONTAINERD2_FIRST_MINOR:?is set by kubestation in node.env and bake.env}"
  echo "$first_major.$((first_minor - 1))"
}

# minor ("1.37") -> true when that Kubernetes needs containerd 2.0 or newer: CONTAINERD2_FIRST_MINOR
# or newer (node.env / bake.env, rendered from FIRST_MINOR_NEEDING_CONTAINERD2 in src/config/defaults.ts).
kubernetes_needs_containerd2() {
  local major minor first_major first_minor
  IFS=. read -r major minor _ <<<"$1"
  IFS=. read -r first_major first_minor _ <<<"${CONTAINERD2_FIRST_MINOR:?is set by kubestation in node.env and bake.env}"
  ((major > first_major || (major == first_major && minor >= first_minor)))
}

# Debian version or `containerd --version` field -> upstream version ("1:1.7.28-0ubuntu1" -> "1.7.28").
containerd_upstream() {
  local v=${1#v}
  v=${v#*:}
  printf '%s\n' "${v%%[-+~]*}"
}

# package -> apt's candidate version, empty when there is none.
apt_candidate() {
  apt-cache policy "$1" 2>/dev/null | awk '$1 == "Candidate:" && $2 != "(none)" { print $2 }'
}

# containerd_choose_package <kubernetes minor> <apt source "URI suite [components]"> <key URL> <keyring> <list file>
# Prints the package to install (containerd or containerd.io), or nothing when the installed
# containerd is new enough. When the archive's is too old, adds the second source (key, list,
# apt-get update) first. Fails (reason on stdout, return 1) when no 2.x build can be had.
containerd_choose_package() {
  local k8s=$1 source=$2 key_url=$3 keyring=$4 list=$5 have='' where uri problems cause offered
  if command -v containerd >/dev/null 2>&1; then
    have=$(containerd_upstream "$(containerd --version | awk '{ print $3 }')") where=installed
  else
    have=$(apt_candidate containerd) where='offered by the archive'
    [[ -z $have ]] || have=$(containerd_upstream "$have")
  fi
  if ! kubernetes_needs_containerd2 "$k8s" || [[ ${have%%.*} =~ ^[0-9]+$ && ${have%%.*} -ge 2 ]]; then
    [[ $where == installed ]] || echo containerd
    return 0
  fi
  echo "containerd ${have:-(none)} $where is too old for Kubernetes $k8s (needs 2.0 or newer): adding $source for containerd.io" >&2
  uri=${source%% *}
  if ! cause=$(network_check "$uri" "$key_url"); then
    echo "$cause"
    return 1
  fi
  install -d -m 0755 "$(dirname "$keyring")" "$(dirname "$list")"
  if ! curl -fsSL --retry 3 --retry-delay 2 "$key_url" | gpg --dearmor --batch --yes -o "$keyring"; then
    echo "the signing key of the containerd 2 source could not be fetched from $key_url"
    return 1
  fi
  chmod 0644 "$keyring"
  echo "deb [signed-by=$keyring] $source" >"$list"
  if ! problems=$(apt_update); then
    echo "apt-get update failed: $(head -n 1 <<<"$problems")"
    return 1
  fi
  offered=$(apt_candidate containerd.io)
  [[ -z $offered ]] || offered=$(containerd_upstream "$offered")
  if [[ -z $offered || ! ${offered%%.*} =~ ^[0-9]+$ || ${offered%%.*} -lt 2 ]]; then
    echo "Kubernetes $k8s needs containerd 2.0 or newer; containerd ${have:-(none)} is $where and $source offers ${offered:+containerd.io $offered}${offered:-no containerd.io}: set kubernetes.containerRuntime.packageRepository to a source with containerd 2.x, or kubernetes.version to $(last_minor_on_containerd1) or older"
    return 1
  fi
  echo containerd.io
}
