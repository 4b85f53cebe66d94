# Sourced by every stand-in program: record the call, then honour the failure switch.
# Usage: standin_record PROGRAM "$@"
# shellcheck shell=sh
standin_record() {
  STANDIN=$1
  /usr/lib/kubestation-standins/record "$@"
  rc=$?
  if [ "$rc" -eq 3 ]; then
    echo "error execution phase preflight: kubestation e2e stand-in $STANDIN was told to fail (kubestation_e2e_fail on the kernel command line)" >&2
    exit 1
  elif [ "$rc" -ne 0 ]; then
    echo "kubestation e2e stand-in $STANDIN: the call recorder failed (exit $rc)" >&2
    exit 70
  fi
}

# standin_slow PROGRAM [SUBCOMMAND] -> stdout: seconds this call is told to take, 0 by default.
# Kernel command line kubestation_e2e_slow=PROGRAM[:SUBCOMMAND]@SECONDS[,...] (e.g.
# kubeadm:init@90,containerd:postinst@40): the e2e tests make stages long enough to report
# what they are doing.
standin_slow() {
  line=''
  read -r line </proc/cmdline 2>/dev/null || true
  for word in $line; do
    case "$word" in kubestation_e2e_slow=*) ;; *) continue ;; esac
    for entry in $(echo "${word#*=}" | tr ',' ' '); do
      case "$entry" in
        "$1@"*|"$1:$2@"*) echo "${entry##*@}"; return 0 ;;
      esac
    done
  done
  echo 0
}

# The stand-in image store: what containerd's k8s.io namespace would hold, one "REF DIGEST"
# per line (the digest is made from the reference, so the same image always has the same one).
STANDIN_IMAGES=/var/lib/containerd/kubestation-standin-images
# standin_image_add REF: "pulls" REF (kept once).
standin_image_add() {
  mkdir -p "$(dirname "$STANDIN_IMAGES")"
  touch "$STANDIN_IMAGES"
  awk -v ref="$1" '$1 == ref { found = 1 } END { exit !found }' "$STANDIN_IMAGES" || echo "$1 sha256:$(printf '%s' "$1" | sha256sum | cut -c1-64)" >>"$STANDIN_IMAGES"
}
# -> stdout: the store as `crictl images -o json` prints it (repoTags, repoDigests).
standin_images_json() {
  printf '{"images": ['
  sep=''
  if [ -f "$STANDIN_IMAGES" ]; then
    while read -r ref digest; do
      [ -n "$ref" ] || continue
      printf '%s{"id": "%s", "repoTags": ["%s"], "repoDigests": ["%s@%s"]}' "$sep" "$digest" "$ref" "${ref%:*}" "$digest"
      sep=', '
    done <"$STANDIN_IMAGES"
  fi
  printf ']}\n'
}
