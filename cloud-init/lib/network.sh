# shellcheck shell=bash
# Can this node get out? Checked before the first download, so a node without a way to the
# Internet fails within seconds with the cause, instead of apt retrying for half an hour.
# The causes and their fixes are src/progress/network-causes.ts; the line printed is
#
#   network <no-route|gateway|dns|repository>: <what was seen>
#
# Only tools of an Ubuntu 24.04 server image: ip (iproute2), ping (iputils-ping), getent,
# resolvectl, curl, timeout. Every probe is bounded; the whole check stays under ~80 s.

NETCHECK_RESOLVE_SECONDS=${NETCHECK_RESOLVE_SECONDS:-10}
NETCHECK_CONNECT_SECONDS=${NETCHECK_CONNECT_SECONDS:-8}
NETCHECK_HTTP_SECONDS=${NETCHECK_HTTP_SECONDS:-15}

# url -> stdout: its host ("" for file:, cdrom: and other local schemes).
network_url_host() {
  local url=$1 rest
  case $url in
    http://* | https://*) ;;
    *) return 0 ;;
  esac
  rest=${url#*://}
  rest=${rest%%/*}
  rest=${rest##*@}
  if [[ $rest == \[* ]]; then rest=${rest%%]*}; rest=${rest#[}; else rest=${rest%%:*}; fi
  printf '%s\n' "$rest"
}

# -> stdout: the base URLs of apt's configured sources (one-line and deb822 formats), one per line.
network_apt_source_urls() {
  local dir=${NETCHECK_APT_DIR:-/etc/apt} file
  for file in "$dir"/sources.list "$dir"/sources.list.d/*.list; do
    [[ -f $file ]] || continue
    sed -nE 's/^[[:space:]]*deb(-src)?[[:space:]]+(\[[^]]*\][[:space:]]+)?([^[:space:]]+).*/\3/p' "$file"
  done
  for file in "$dir"/sources.list.d/*.sources; do
    [[ -f $file ]] || continue
    # Stanzas with "Enabled: no" are skipped.
    awk 'BEGIN { RS = ""; IGNORECASE = 1 }
      !/(^|\n)Enabled:[[:space:]]*no/ {
        n = split($0, lines, "\n")
        for (i = 1; i <= n; i++) if (lines[i] ~ /^URIs:/) { sub(/^URIs:[[:space:]]*/, "", lines[i]); print lines[i] }
      }' "$file" | tr ' ' '\n' | sed '/^$/d'
  done
}

# -> stdout: the DNS servers the node uses (systemd-resolved's, else resolv.conf's), comma-separated.
network_dns_servers() {
  local servers=''
  if command -v resolvectl >/dev/null 2>&1; then
    servers=$(timeout 5 resolvectl dns 2>/dev/null | sed -E 's/^[^:]*:[[:space:]]*//' | tr ' ' '\n' | sed '/^$/d' | sort -u | paste -sd, - || true)
  fi
  if [[ -z $servers && -r /etc/resolv.conf ]]; then
    servers=$(awk '$1 == "nameserver" { print $2 }' /etc/resolv.conf | paste -sd, -)
  fi
  printf '%s\n' "${servers//,/, }"
}

# gateway -> true when it answers ping (3 tries, 2 s each).
network_gateway_answers() {
  timeout 8 ping -n -q -c 3 -W 2 "$1" >/dev/null 2>&1
}

# network_check <url>...: true when every http(s) URL's host resolves and answers; otherwise
# prints the cause line (above) on stdout, what it tried on stderr, and returns 1.
network_check() {
  local url host route gateway dev hosts=() seen=' ' detail dns answer
  for url in "$@"; do
    host=$(network_url_host "$url")
    [[ -n $host && $seen != *" $host "* ]] || continue
    hosts+=("$host")
    seen+="$host "
  done
  ((${#hosts[@]} > 0)) || return 0
  echo "network check: ${hosts[*]}" >&2

  route=$(ip -4 route show default 2>/dev/null | awk 'NR == 1')
  if [[ -z $route ]]; then
    detail=$(ip -4 -brief address show 2>/dev/null | awk '$1 != "lo" { printf "%s%s %s %s", sep, $1, $2, ($3 == "" ? "no address" : $3); sep = "; " }')
    echo "network no-route: no default route (${detail:-no network interface})"
    return 1
  fi
  gateway=$(awk '{ for (i = 1; i < NF; i++) if ($i == "via") { print $(i + 1); exit } }' <<<"$route")
  dev=$(awk '{ for (i = 1; i < NF; i++) if ($i == "dev") { print $(i + 1); exit } }' <<<"$route")
  echo "network check: default route: $route" >&2

  for host in "${hosts[@]}"; do
    if answer=$(timeout "$NETCHECK_RESOLVE_SECONDS" getent ahosts "$host" 2>/dev/null) && [[ -n $answer ]]; then
      echo "network check: $host resolves to $(awk 'NR == 1 { print $1 }' <<<"$answer")" >&2
      continue
    fi
    dns=$(network_dns_servers)
    if [[ -n $gateway ]] && ! network_gateway_answers "$gateway"; then
      echo "network gateway: the NAT gateway $gateway does not answer (no reply to ping on ${dev:-its interface}) and $host does not resolve"
    else
      echo "network dns: the gateway ${gateway:-(none, on-link route)} answers but the DNS servers ${dns:-(none configured)} do not resolve $host"
    fi
    return 1
  done

  seen=' '
  for url in "$@"; do
    host=$(network_url_host "$url")
    [[ -n $host && $seen != *" ${url%%://*}://$host "* ]] || continue
    seen+="${url%%://*}://$host "
    # Any HTTP answer (even 404) proves the path; only no answer at all is a failure.
    if answer=$(curl -sS -o /dev/null -w '%{http_code}' --connect-timeout "$NETCHECK_CONNECT_SECONDS" --max-time "$NETCHECK_HTTP_SECONDS" "$url" 2>&1); then
      echo "network check: $url answered HTTP ${answer}" >&2
      continue
    fi
    echo "network repository: $host resolves but $url does not answer (curl: ${answer##*curl: })"
    return 1
  done
}
