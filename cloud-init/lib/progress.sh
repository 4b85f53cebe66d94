# shellcheck shell=bash
# Progress lines on the serial console — the guest half of src/progress/protocol.ts:
#
#   KUBESTATION 1 <cksum> <node> <stage> <event> <unix-ms> <message>
#
# <event> is start | ok | fail | done | info; `info` says what a running stage is doing.
# <cksum> is `cksum` of everything after "<cksum> "; <message> has %, tab, CR, LF and a
# final space percent-encoded, other control characters removed, and is left out
# (with its separating space) when empty. Secrets are redacted first.
#
# Reads KUBESTATION_NODE. Writes to KUBESTATION_CONSOLE (default /dev/ttyS0) and
# appends to KUBESTATION_PROGRESS_LOG (default /var/log/kubestation/progress.log).

# Longest log tail (bytes, before encoding) a fail line carries.
PROGRESS_TAIL_BYTES=${PROGRESS_TAIL_BYTES:-1500}
# A running stage reports what it is doing at least this often (seconds) ...
PROGRESS_INFO_EVERY=${PROGRESS_INFO_EVERY:-25}
# ... and a change of what it is doing, but not more often than this.
PROGRESS_INFO_MIN=${PROGRESS_INFO_MIN:-5}

# stdin -> stdout with join tokens, private keys and long base64 lines replaced.
progress_redact() {
  LC_ALL=C sed -E \
    -e '/-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/,/-----END [A-Z0-9 ]*PRIVATE KEY-----/c\<redacted private key>' \
    -e 's/^[[:space:]]*[A-Za-z0-9+\/=]{40,}[[:space:]]*$/<redacted base64>/' \
    -e 's/\b[a-z0-9]{6}\.[a-z0-9]{16}\b/<redacted token>/g'
}

# $1 -> stdout: the message field (single line).
progress_encode() {
  local m=$1
  m=${m//'%'/%25}
  m=${m//$'\t'/%09}
  m=${m//$'\r'/%0D}
  m=${m//$'\n'/%0A}
  m=$(printf '%s' "$m" | LC_ALL=C tr -d '\000-\010\013\014\016-\037\177')
  # A line must not end in a space: consoles and log viewers trim it.
  [[ $m == *' ' ]] && m="${m% }%20"
  printf '%s' "$m"
}

# stage event message -> stdout: one complete progress line (no newline).
progress_line() {
  local payload sum message
  payload="${KUBESTATION_NODE:?KUBESTATION_NODE is not set} $1 $2 $(date +%s%3N)"
  message=$(progress_encode "$3")
  [[ -n $message ]] && payload+=" $message"
  sum=$(printf '%s' "$payload" | LC_ALL=C cksum)
  printf 'KUBESTATION 1 %s %s' "${sum%% *}" "$payload"
}

# stage event message: print the line where the host reads it (console) and where people look (log).
progress_emit() {
  local line console=${KUBESTATION_CONSOLE:-/dev/ttyS0} log=${KUBESTATION_PROGRESS_LOG:-/var/log/kubestation/progress.log}
  line=$(progress_line "$1" "$2" "$3")
  # A missing serial port must not fail the boot: the log still has the line.
  { printf '%s\n' "$line" >>"$console"; } 2>/dev/null || true
  mkdir -p "$(dirname "$log")" && printf '%s\n' "$line" >>"$log"
}

# stdin -> stdout: the last lines that fit in $1 bytes, each whole (a reader sees no line
# cut at its start); a last line longer than that alone keeps its end, marked with "...".
progress_whole_lines() {
  LC_ALL=C awk -v max="$1" '
    { line[NR] = $0 }
    END {
      if (NR == 0) exit
      if (length(line[NR]) + 1 > max) { print "..." substr(line[NR], length(line[NR]) - max + 5); exit }
      first = NR; used = length(line[NR]) + 1
      while (first > 1 && used + length(line[first - 1]) + 1 <= max) { first--; used += length(line[first]) + 1 }
      for (i = first; i <= NR; i++) print line[i]
    }'
}

# stage reason logfile: a fail line naming the stage, with the redacted, bounded tail of its log.
progress_fail() {
  local tail=''
  if [[ -s $3 ]]; then
    tail=$(tail -n 20 "$3" | progress_redact | progress_whole_lines "$PROGRESS_TAIL_BYTES")
  fi
  progress_emit "$1" fail "$2${tail:+ | last log lines:
$tail}"
}

# stage message: an info line, what the running stage is doing ("apt: download 3 of 57").
progress_info() {
  progress_emit "$1" info "$2"
}

# text: what this stage is doing now, for the heartbeat to report (one line; no-op without
# KUBESTATION_DOING_FILE). Written whole, then renamed, so the heartbeat never reads half of it.
progress_doing() {
  local file=${KUBESTATION_DOING_FILE:-}
  [[ -n $file ]] || return 0
  # Reporting must never fail the work it reports on.
  { printf '%s\n' "${1//$'\n'/ }" >"$file.tmp" && mv -f "$file.tmp" "$file"; } 2>/dev/null || true
}

# stage started-at(unix s): runs until killed, reporting the stage's KUBESTATION_DOING_FILE as
# info lines: when it changes (at most every PROGRESS_INFO_MIN s) and at least every
# PROGRESS_INFO_EVERY s, "running for N s" when the stage has said nothing.
progress_heartbeat() {
  local stage=$1 last=$2 said='' text now
  # A background copy of the caller: its ERR trap and errexit (bake.sh's fail-and-seal) must not run here.
  trap - ERR EXIT
  set +eE
  while sleep 1; do
    now=$(date +%s)
    text=$(head -n 1 "${KUBESTATION_DOING_FILE:-/dev/null}" 2>/dev/null || true)
    if [[ -n $text && $text != "$said" ]] && ((now - last >= PROGRESS_INFO_MIN)); then
      :
    elif ((now - last >= PROGRESS_INFO_EVERY)); then
      [[ -n $text ]] || text="running for $((now - $2)) s"
    else
      continue
    fi
    progress_info "$stage" "$text"
    said=$text last=$now
  done
}

# stage: starts the heartbeat for a stage beginning now; PROGRESS_HEARTBEAT_PID is its pid.
progress_heartbeat_start() {
  if [[ -n ${KUBESTATION_DOING_FILE:-} ]]; then { : >"$KUBESTATION_DOING_FILE"; } 2>/dev/null || true; fi
  progress_heartbeat "$1" "$(date +%s)" &
  PROGRESS_HEARTBEAT_PID=$!
}

# Stops the heartbeat (before the stage's ok or fail line, so no info line follows it).
progress_heartbeat_stop() {
  [[ -n ${PROGRESS_HEARTBEAT_PID:-} ]] || return 0
  kill "$PROGRESS_HEARTBEAT_PID" 2>/dev/null || true
  wait "$PROGRESS_HEARTBEAT_PID" 2>/dev/null || true
  PROGRESS_HEARTBEAT_PID=''
}
