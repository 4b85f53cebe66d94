#!/bin/bash
# Stage "wait-api": a worker waits for the control plane's API server to answer
# /readyz (anonymous access to it is allowed by Kubernetes' default RBAC).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

api_ready() {
  curl -ksf --max-time 5 "https://$API_ENDPOINT/readyz" >/dev/null
}
wait_until "https://$API_ENDPOINT/readyz" 5 api_ready
summary "API server https://$API_ENDPOINT is ready"
