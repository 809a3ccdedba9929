#!/usr/bin/env bash
# Start the local Tusk stack: make sure PostgreSQL, Redis and RabbitMQ run, build the release
# binary, migrate, then start `tusk api` and `tusk worker` in the background (pid files and logs
# in .tusk/), a local Prometheus with Tusk's rules (TUSK_PROMETHEUS=0 skips it), and finally the
# main job: a 40 s smoke surge replay with tusk-surge, report in .tusk/smoke/ (TUSK_SMOKE=0 skips
# it). Idempotent: whatever is already running is left alone; a dead process is restarted.
# Stop with deploy/local/down.sh.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

READY_WAIT=60
API_LISTEN="${TUSK_LISTEN:-0.0.0.0:3000}"
API_ADMIN=127.0.0.1:9100
WORKER_ADMIN=127.0.0.1:9101

export TUSK_LOG_FORMAT="${TUSK_LOG_FORMAT:-pretty}"
# Keep startup errors short in the logs: no backtraces on returned errors (panics still get
# them when RUST_BACKTRACE is set).
export RUST_LIB_BACKTRACE="${RUST_LIB_BACKTRACE:-0}"

ensure_services
# ffmpeg and heif-convert: the worker processes GIFs, videos and HEIC photos with them
ensure_media_tools
ensure_cargo

log "building (cargo build --release -p tusk, target dir $CARGO_TARGET_DIR)"
(cd "$TUSK_ROOT" && cargo build --release -p tusk)
BUILT_BIN="$CARGO_TARGET_DIR/release/tusk"
[[ -x $BUILT_BIN ]] || die "build finished but $BUILT_BIN is missing"

# Run a snapshot of the binary, not $BUILT_BIN itself: any other release build sharing the target
# dir (another clone, or a workspace-wide `cargo test --release`, whose feature set differs)
# re-links that path to a different binary at any moment. A hard link pins this build's file.
TUSK_BIN="$TUSK_RUN_DIR/bin/tusk"
snapshot_binary() {
    local built=$1 snap=$2 tmp
    [[ $(stat -c %d:%i "$built") == "$(stat -c %d:%i "$snap" 2>/dev/null)" ]] && return
    cmp -s "$built" "$snap" && return # an up-to-date copy (when a hard link was impossible)
    mkdir -p "$(dirname "$snap")"
    tmp="$snap.new.$$"
    ln -f "$built" "$tmp" 2>/dev/null || cp "$built" "$tmp"
    mv -f "$tmp" "$snap"
}
snapshot_binary "$BUILT_BIN" "$TUSK_BIN"

log "migrating (tusk migrate)"
"$TUSK_BIN" migrate

# fail ROLE WHY: show the end of ROLE's log (this run's part only) and exit 1.
fail() {
    local role=$1 why=$2
    printf '\n--- end of %s ---\n' "$TUSK_RUN_DIR/$role.log" >&2
    awk '/^=== .*: starting tusk / { run = "" } { run = run $0 "\n" } END { printf "%s", run }' \
        "$TUSK_RUN_DIR/$role.log" | tail -n 40 >&2 || true
    die "$role $why (full log: $TUSK_RUN_DIR/$role.log)"
}

# start ROLE ENV...: start `tusk ROLE` detached (own session, survives this shell and Ctrl-C)
# with the given extra environment, unless it is already running.
start() {
    local role=$1 pid
    shift
    if pid=$(running_pid "$role"); then
        log "$role: already running (pid $pid)"
        if [[ $(stat -L -c %d:%i "/proc/$pid/exe" 2>/dev/null) != "$(stat -c %d:%i "$TUSK_BIN")" ]]; then
            warn "$role runs an older build; run deploy/local/down.sh and up.sh to restart it"
        fi
        return
    fi
    rm -f "$TUSK_RUN_DIR/$role.pid"
    printf '\n=== %s: starting tusk %s\n' "$(date -Is)" "$role" >>"$TUSK_RUN_DIR/$role.log"
    # The inner shell writes its own pid, then exec()s tusk, which keeps that pid.
    # shellcheck disable=SC2016 # $$ and $1.. belong to the inner shell
    env "$@" setsid bash -c 'echo $$ >"$1"; exec "$2" "$3"' _ \
        "$TUSK_RUN_DIR/$role.pid" "$TUSK_BIN" "$role" \
        </dev/null >>"$TUSK_RUN_DIR/$role.log" 2>&1 &
    local deadline=$((SECONDS + 5))
    until pid=$(running_pid "$role"); do
        pid=$(cat "$TUSK_RUN_DIR/$role.pid" 2>/dev/null) || pid=
        if [[ -n $pid ]] && ! pid_alive "$pid"; then
            fail "$role" "exited right after starting"
        fi
        ((SECONDS < deadline)) || fail "$role" "did not start"
        sleep 0.2
    done
    log "$role: started (pid $pid)"
}

# api and worker share the local media directory (the local backend: one machine)
MEDIA_ROOT="${TUSK_MEDIA_ROOT:-$HOME/.cache/tusk/media}"
# Pin each role's listen addresses so the ports below hold even if TUSK_ADMIN_LISTEN is set.
# Locally one address plays every user of the smoke surge, so the rate limits are off unless
# set in the environment (production defaults: README, Rate limits).
start api TUSK_LISTEN="$API_LISTEN" TUSK_ADMIN_LISTEN="0.0.0.0:${API_ADMIN##*:}" \
    TUSK_RATE_LIMIT_SIGNUPS="${TUSK_RATE_LIMIT_SIGNUPS:-off}" \
    TUSK_RATE_LIMIT_SIGN_INS="${TUSK_RATE_LIMIT_SIGN_INS:-off}" \
    TUSK_RATE_LIMIT_AUTHENTICATED="${TUSK_RATE_LIMIT_AUTHENTICATED:-off}" \
    TUSK_RATE_LIMIT_UNAUTHENTICATED="${TUSK_RATE_LIMIT_UNAUTHENTICATED:-off}" \
    TUSK_RATE_LIMIT_STATUSES="${TUSK_RATE_LIMIT_STATUSES:-off}" \
    TUSK_RATE_LIMIT_FOLLOWS="${TUSK_RATE_LIMIT_FOLLOWS:-off}" \
    TUSK_RATE_LIMIT_MEDIA="${TUSK_RATE_LIMIT_MEDIA:-off}" TUSK_MEDIA_ROOT="$MEDIA_ROOT"
start worker TUSK_ADMIN_LISTEN="0.0.0.0:${WORKER_ADMIN##*:}" TUSK_MEDIA_ROOT="$MEDIA_ROOT"

log "waiting for readiness (up to ${READY_WAIT}s)"
deadline=$((SECONDS + READY_WAIT))
for role_admin in "api $API_ADMIN" "worker $WORKER_ADMIN"; do
    read -r role admin <<<"$role_admin"
    pid=$(running_pid "$role") || fail "$role" "exited before becoming ready"
    left=$((deadline - SECONDS))
    ((left > 0)) || left=1
    rc=0
    wait_http "http://$admin/readyz" "$left" "$pid" || rc=$?
    case $rc in
    0) log "$role: ready" ;;
    2) fail "$role" "exited before becoming ready" ;;
    *) fail "$role" "not ready after ${READY_WAIT}s (http://$admin/readyz)" ;;
    esac
done

# Prometheus with Tusk's rules, scraping both admin ports (TUSK_PROMETHEUS=0 skips it).
prometheus=""
if [[ ${TUSK_PROMETHEUS:-1} == 1 ]]; then
    if "$TUSK_ROOT/deploy/local/prometheus.sh" start; then
        prometheus="  prometheus:     http://127.0.0.1:9090  (rules and alerts: deploy/prometheus/)"
    else
        warn "Prometheus did not start; Tusk runs without it"
    fi
fi

# The main job: rehearse a surge against what just came up (TUSK_SMOKE=0 skips it).
smoke=""
if [[ ${TUSK_SMOKE:-1} == 1 ]]; then
    log "smoke surge: tusk-surge replay loadtests/scenarios/smoke.toml (40 s)"
    (cd "$TUSK_ROOT" && cargo build --release -p tusk-surge)
    if "$CARGO_TARGET_DIR/release/tusk-surge" replay "$TUSK_ROOT/loadtests/scenarios/smoke.toml" \
        --target "http://127.0.0.1:${API_LISTEN##*:}" --admin "http://$API_ADMIN,http://$WORKER_ADMIN" \
        --out "$TUSK_RUN_DIR/smoke"; then
        smoke="  smoke surge:    $TUSK_RUN_DIR/smoke/report.html"
    else
        warn "the smoke surge replay failed; Tusk is up all the same"
    fi
fi

cat <<INFO

Tusk is up.
  API:            http://localhost:${API_LISTEN##*:}
  api admin:      http://localhost:${API_ADMIN##*:}/metrics  (/healthz, /readyz)
  worker admin:   http://localhost:${WORKER_ADMIN##*:}/metrics  (/healthz, /readyz)
  logs:           $TUSK_RUN_DIR/api.log, $TUSK_RUN_DIR/worker.log
  stop:           deploy/local/down.sh
$prometheus
$smoke
INFO
