#!/bin/bash
# Stage "firewall": ufw with the rules kubestation rendered for this role
# (firewall.rules: "kind proto port from to comment"), then enabled.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

if [[ $FIREWALL_ENABLED != true ]]; then
  summary "ufw left as the image has it (firewall.enabled is false)"
  exit 0
fi

# ufw's stock before.rules accept ICMP echo-request; stop if this image's do not.
before_rules=${UFW_BEFORE_RULES:-/etc/ufw/before.rules}
if ! grep -q -- '-A ufw-before-input -p icmp --icmp-type echo-request -j ACCEPT' "$before_rules"; then
  log "$before_rules does not accept ICMP echo-request: ping to this node would be dropped"
  exit 1
fi

ufw default deny incoming
ufw default allow outgoing
ufw default deny routed
count=0
while read -r kind proto port from to comment; do
  [[ -z $kind || $kind == \#* ]] && continue
  case $kind in
    allow) args=(allow) ;;
    route) args=(route allow) ;;
    *) log "unknown rule kind $kind in $FIREWALL_RULES"; exit 1 ;;
  esac
  [[ $proto != any ]] && args+=(proto "$proto")
  args+=(from "$from" to "$to")
  [[ $port != - ]] && args+=(port "$port")
  args+=(comment "$comment")
  ufw "${args[@]}"
  count=$((count + 1))
done <"$FIREWALL_RULES"
ufw --force enable
ufw status verbose
summary "ufw active with $count rules"
