#!/usr/bin/env bash
# Stop the local `tusk api` and `tusk worker` started by up.sh: SIGTERM, wait up to 15 s, then
# SIGKILL; remove the pid files. Fine if nothing runs. Leaves PostgreSQL, Redis and RabbitMQ alone.
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
    pid=${pids[$role]}
    while pid_alive "$pid" && ((SECONDS < deadline)); do
        sleep 0.2
    done
    if pid_alive "$pid"; then
        warn "$role did not exit within ${STOP_WAIT}s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    else
        log "$role: stopped"
    fi
done

rm -f "$TUSK_RUN_DIR/api.pid" "$TUSK_RUN_DIR/worker.pid"
