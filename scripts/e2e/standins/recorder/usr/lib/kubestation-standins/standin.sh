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
