# shellcheck shell=bash
# apt-get for the first-boot stages and the golden bake: waits for other apt/dpkg users
# (unattended-upgrades on first boot), bounded retries and timeouts, and reports what it is
# doing through progress_doing (progress.sh): "apt: update (file 3 of 7)", "apt: download 12
# of 57", "apt: unpack kubelet (40%)", "apt: configure containerd (60%)".

APT_OPTIONS=(-o DPkg::Lock::Timeout=600 -o Acquire::Retries=3 -o Acquire::http::Timeout=30 -o Acquire::https::Timeout=30)

# what: reads apt's status lines (APT::Status-Fd) on stdin and reports the latest step.
apt_status_reader() {
  local what=$1 kind package percent text said='' now
  while IFS=: read -r kind package percent text; do
    now=''
    case $kind in
      dlstatus)
        [[ $text =~ ([0-9]+)\ of\ ([0-9]+) ]] || continue
        if [[ $what == update ]]; then
          now="apt: update (file ${BASH_REMATCH[1]} of ${BASH_REMATCH[2]})"
        else
          now="apt: download ${BASH_REMATCH[1]} of ${BASH_REMATCH[2]}"
        fi
        ;;
      pmstatus)
        [[ $package != dpkg-exec ]] || continue
        case $text in
          'Preparing to configure'* | Configuring* | Installing*) now="apt: configure $package (${percent%%.*}%)" ;;
          Preparing* | Unpacking*) now="apt: unpack $package (${percent%%.*}%)" ;;
          Removing*) now="apt: remove $package (${percent%%.*}%)" ;;
          *) continue ;;
        esac
        ;;
      *) continue ;;
    esac
    if [[ $now != "$said" ]]; then
      progress_doing "$now"
      said=$now
    fi
  done
}

# apt-get with the options above, reporting its progress. Everything else as apt-get.
apt_get() {
  local what=install
  [[ " $* " == *' update '* ]] && what=update
  progress_doing "apt: $what"
  apt-get "${APT_OPTIONS[@]}" -o APT::Status-Fd=3 "$@" 3> >(apt_status_reader "$what")
}

# apt-get update, judged by what it fetched: it exits 0 even when every source failed (only
# "W: Failed to fetch" lines). apt's output goes to stderr (the log); on failure the lines
# that say what failed go to stdout and it returns 1.
apt_update() {
  local out rc=0 problems
  out=$(mktemp)
  apt_get update >"$out" 2>&1 || rc=$?
  cat "$out" >&2
  problems=$(grep -E '^(Err:[0-9]+ |W: Failed to fetch|W: Some index files failed|W: GPG error|E: )' "$out" || true)
  rm -f "$out"
  if ((rc != 0)) || [[ -n $problems ]]; then
    printf '%s\n' "${problems:-apt-get update exited with code $rc}"
    return 1
  fi
}
