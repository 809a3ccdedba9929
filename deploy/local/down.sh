#!/usr/bin/env bash
# Stop the local `tusk api` and `tusk worker` started by up.sh: SIGTERM, wait up to 15 s, then
# SIGKILL; remove the pid files; stop the local Prometheus. Fine if nothing runs. Leaves
# PostgreSQL, Redis and RabbitMQ alone.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STOP_WAIT=15

# Ask every running role to stop first, so they shut down in parallel.
declare -A pids=()
for role in api worker; do
    if pid=$(running_pid "$role"); then
        log "$role: stopping (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
        pids[$role]=$pid
    else
        log "$role: not running"
    fi
done

deadline=$((SECONDS + STOP_WAIT))
for role in "${!pids[@]}"; do
    await_exit "$role" "${pids[$role]}" "$deadline"
done

rm -f "$TUSK_RUN_DIR/api.pid" "$TUSK_RUN_DIR/worker.pid"

# the local Prometheus that up.sh started, if any
"$TUSK_ROOT/deploy/local/prometheus.sh" stop || true
