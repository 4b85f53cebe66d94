#!/bin/bash
# First-boot runner (cloud-init runcmd). Runs the stages listed in
# /etc/kubestation/stages in order, each as its own process under `timeout`
# with its deadline, and reports every start / ok / fail as a progress line on
# the serial console. Stops at the first failure. Ends with "complete done".
set -euo pipefail

LIB_DIR=${KUBESTATION_LIB_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}
STAGES_FILE=${KUBESTATION_STAGES_FILE:-/etc/kubestation/stages}
LOG_DIR=${KUBESTATION_LOG_DIR:-/var/log/kubestation}
RUN_DIR=${KUBESTATION_RUN_DIR:-/run/kubestation}
export KUBESTATION_ENV=${KUBESTATION_ENV:-/etc/kubestation/node.env}
export KUBESTATION_PROGRESS_LOG=${KUBESTATION_PROGRESS_LOG:-$LOG_DIR/progress.log}

# shellcheck source=/dev/null
source "$KUBESTATION_ENV"
export KUBESTATION_NODE
# shellcheck source-path=SCRIPTDIR source=lib/progress.sh
source "$LIB_DIR/lib/progress.sh"

mkdir -p "$LOG_DIR" "$RUN_DIR"
chmod 0700 "$LOG_DIR" "$RUN_DIR"

run_stage() {
  local stage=$1 deadline=$2 log="$LOG_DIR/$1.log" rc=0 reason outcome
  export KUBESTATION_SUMMARY_FILE="$RUN_DIR/$stage.summary"
  # What the stage is doing now (progress_doing), reported by the heartbeat as info lines.
  export KUBESTATION_DOING_FILE="$RUN_DIR/$stage.doing"
  # Why the stage failed, when it knows (fail_because): the fail line leads with it.
  export KUBESTATION_REASON_FILE="$RUN_DIR/$stage.reason"
  export KUBESTATION_STAGE_ENDS_AT=$(($(date +%s) + deadline))
  : >"$KUBESTATION_SUMMARY_FILE"
  : >"$KUBESTATION_REASON_FILE"
  progress_emit "$stage" start "deadline ${deadline}s"
  progress_heartbeat_start "$stage"
  # --kill-after: a stage that ignores SIGTERM is killed 20 s later.
  timeout --kill-after=20 "$deadline" bash "$LIB_DIR/stages/$stage.sh" >>"$log" 2>&1 || rc=$?
  progress_heartbeat_stop
  if ((rc == 0)); then
    progress_emit "$stage" ok "$(paste -sd ';' "$KUBESTATION_SUMMARY_FILE" | sed 's/;/; /g')"
    return 0
  fi
  if ((rc == 124 || rc == 137)); then outcome="timed out after ${deadline}s"; else outcome="exit code $rc"; fi
  reason=$(head -n 1 "$KUBESTATION_REASON_FILE")
  if [[ -n $reason ]]; then
    progress_fail "$stage" "$reason ($outcome, log $log)" "$log"
  else
    progress_fail "$stage" "$outcome (log $log)" "$log"
  fi
  return 1
}

last_summary=''
while read -r stage deadline; do
  [[ -z $stage || $stage == \#* ]] && continue
  if ! [[ $deadline =~ ^[0-9]+$ && -f $LIB_DIR/stages/$stage.sh ]]; then
    progress_emit "$stage" fail "stage is not installed or has no deadline (seed and scripts do not match)"
    exit 1
  fi
  run_stage "$stage" "$deadline" || exit 1
  last_summary=$(paste -sd ';' "$RUN_DIR/$stage.summary" | sed 's/;/; /g')
done <"$STAGES_FILE"

progress_emit complete 'done' "$last_summary"

# The node is configured for good: later boots must not run cloud-init again. Once the host
# has detached the seed CD, cloud-init would find no datasource, take the node for a new
# instance and replace the static addresses with DHCP on ens33 (and new SSH host keys).
touch "${KUBESTATION_CLOUD_INIT_DISABLED_FILE:-/etc/cloud/cloud-init.disabled}" || true

# The seed CD holds the cluster CA key and the join token. Ejecting it makes
# Workstation release the ISO so the host can delete it; build-vms detaches it
# from the .vmx the next time the VM is powered off.
if command -v eject >/dev/null 2>&1; then
  eject /dev/sr0 >/dev/null 2>&1 || true
fi
