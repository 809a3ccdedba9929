#!/usr/bin/env bash
# The live Prometheus check: every query Tusk's monitoring ships, evaluated by a real Prometheus
# against a real, briefly loaded Tusk. Takes about 2.5 minutes.
#
#   deploy/prometheus/live-check.sh
#
# 1. builds the release binary (a no-op when fresh) and starts an isolated stack of its own:
#    database tusk_live_check, Redis keys tusk_live_check:*, RabbitMQ vhost tusk-live-check with
#    queues tusk_live_check.*, `tusk api` on 127.0.0.1:3390 (admin 9390), `tusk worker` (admin
#    9391); logs in .tusk/live-check-*.log. Nothing it uses is shared with deploy/local/up.sh
#    (3000/9100/9101, database tusk, prefix tusk) or with the tests (tusk_test_*, vhost tusk-test).
# 2. starts its own Prometheus on 127.0.0.1:9392 (config and TSDB in a temp dir) scraping both
#    admin ports every second and evaluating helm/tusk/files/rules/tusk-rules.yaml every second;
# 3. puts a short load on the api (deploy/prometheus/live_load.py: sign-ups, follows, statuses,
#    home timelines, an SSE stream, 401/404/422s), then replays loadtests/scenarios/smoke.toml
#    with tusk-surge and checks that its report (.tusk/smoke-report/) has data in every section;
# 4. evaluates through Prometheus's HTTP API every dashboard panel query, every recording rule
#    (expr and recorded series), every alert expr, the prometheus-adapter queries the HPAs ask for
#    and the KEDA trigger query, both rendered from the chart (deploy/prometheus/live_check.py).
#    Panel, recording and autoscaling queries must return data; alert exprs must evaluate.
# 5. on exit, failure or not: stops its processes and removes its database, keys, vhost, temp dir.
#
# Environment: TUSK_LIVE_LOAD_SECONDS (default 25), TUSK_LIVE_SETTLE_SECONDS (default 15: the
# wait after the load, so that every rate window holds enough samples).
# Exits non-zero when a query fails or the stack does not come up.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../local/lib.sh"

NAME=tusk_live_check
DB_URL="postgres://postgres@127.0.0.1:5432/$NAME"
REDIS_PREFIX="$NAME:"
QUEUE_PREFIX="$NAME"
VHOST=tusk-live-check
API_LISTEN=127.0.0.1:3390
API_ADMIN=127.0.0.1:9390
WORKER_ADMIN=127.0.0.1:9391
PROM_LISTEN=127.0.0.1:9392
LOAD_SECONDS="${TUSK_LIVE_LOAD_SECONDS:-25}"
SETTLE_SECONDS="${TUSK_LIVE_SETTLE_SECONDS:-15}"
READY_WAIT=60
LOCK_FILE=/tmp/tusk-live-check.lock
LOG_PREFIX="$TUSK_RUN_DIR/live-check"
HERE="$TUSK_ROOT/deploy/prometheus"

# One live check at a time per machine (they share ports and names). fd 8: deploy/local/test.sh
# holds fd 9; neither is passed on to the processes started below.
mkdir -p "$TUSK_RUN_DIR"
exec 8>"$LOCK_FILE"
if ! flock -n 8; then
    log "another live check holds $LOCK_FILE; waiting (up to 5 minutes)"
    flock -w 300 8 || die "another live check still holds $LOCK_FILE"
fi

TMP=""
API_PID="" WORKER_PID="" PROM_PID=""

# --- cleanup, on every exit -------------------------------------------------------------------

# Its own vhost: deleting it removes the exchange and every queue (work, retry, parked).
wipe_state() { stack_wipe "$NAME" "$VHOST"; }

cleanup() {
    local rc=$?
    set +e
    trap - EXIT INT TERM
    local pid deadline=$((SECONDS + 15))
    for pid in "$PROM_PID" "$WORKER_PID" "$API_PID"; do
        [[ -n $pid ]] && kill -TERM "$pid" 2>/dev/null
    done
    [[ -n $PROM_PID ]] && await_exit "live-check prometheus" "$PROM_PID" "$deadline"
    [[ -n $WORKER_PID ]] && await_exit "live-check worker" "$WORKER_PID" "$deadline"
    [[ -n $API_PID ]] && await_exit "live-check api" "$API_PID" "$deadline"
    [[ -n $TMP ]] && rm -rf "$TMP"
    log "removing database $NAME, Redis keys ${REDIS_PREFIX}*, RabbitMQ vhost $VHOST"
    wipe_state || warn "cleanup of database/keys/vhost incomplete"
    if ((rc == 0)); then
        log "live check passed"
    else
        warn "live check FAILED (exit $rc); logs: ${LOG_PREFIX}-*.log"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- 0. prerequisites ----------------------------------------------------------------------------

for addr in "$API_LISTEN" "$API_ADMIN" "$WORKER_ADMIN" "$PROM_LISTEN"; do
    port_free "$addr" || die "$addr is in use (a live check killed without cleanup? stop what listens there)"
done
ensure_services 8>&- 9>&-
ensure_cargo
command -v prometheus >/dev/null || "$TUSK_ROOT/deploy/local/prometheus.sh" install 8>&- 9>&-
PY=python3
if ! python3 -c 'import yaml' 2>/dev/null; then
    PY="${TUSK_TOOLS_DIR:-$HOME/.cache/tusk/tools}/venv/bin/python"
    if ! [[ -x $PY ]] || ! "$PY" -c 'import yaml' 2>/dev/null; then
        die "python3 has no PyYAML (apt-get install python3-yaml, or run deploy/tools/install-helm.sh)"
    fi
fi
TMP=$(mktemp -d "${TMPDIR:-/tmp}/tusk-live-check.XXXXXX")

# --- 1. build, the isolated stack ------------------------------------------------------------------

log "building (cargo build --release -p tusk -p tusk-surge)"
(cd "$TUSK_ROOT" && cargo build --release -p tusk -p tusk-surge) 8>&- 9>&-
BUILT_BIN="$CARGO_TARGET_DIR/release/tusk"
[[ -x $BUILT_BIN && -x $CARGO_TARGET_DIR/release/tusk-surge ]] || die "build finished but a binary is missing"
# Private snapshots: another build sharing the target dir may re-link the files at any moment.
BIN="$TMP/tusk"
ln -f "$BUILT_BIN" "$BIN" 2>/dev/null || cp "$BUILT_BIN" "$BIN"
SURGE="$TMP/tusk-surge"
ln -f "$CARGO_TARGET_DIR/release/tusk-surge" "$SURGE" 2>/dev/null || cp "$CARGO_TARGET_DIR/release/tusk-surge" "$SURGE"

log "wiping what an earlier live check may have left"
wipe_state
stack_vhost "$VHOST"

export DATABASE_URL="$DB_URL" REDIS_URL=redis://127.0.0.1:6379 TUSK_REDIS_PREFIX="$REDIS_PREFIX" \
    AMQP_URL="amqp://guest:guest@127.0.0.1:5672/$VHOST" TUSK_QUEUE_PREFIX="$QUEUE_PREFIX" \
    TUSK_QUEUE_TYPE=classic TUSK_MEDIA_ROOT="$TMP/media" TUSK_POLL_INTERVAL_MS=500 TUSK_LOG_FORMAT=json RUST_LOG=info \
    RUST_LIB_BACKTRACE=0 TUSK_DOMAIN="$API_LISTEN" TUSK_SHUTDOWN_DELAY=0
unset OTEL_EXPORTER_OTLP_ENDPOINT OTEL_EXPORTER_OTLP_TRACES_ENDPOINT

log "migrating database $NAME"
"$BIN" migrate >"$LOG_PREFIX-migrate.log" 2>&1 8>&- 9>&- || { tail_log migrate; die "tusk migrate failed"; }

# one client address plays every user of the load: rate limits off
start_bg api env TUSK_LISTEN="$API_LISTEN" TUSK_ADMIN_LISTEN="$API_ADMIN" \
    TUSK_RATE_LIMIT_SIGNUPS=off TUSK_RATE_LIMIT_AUTHENTICATED=off TUSK_RATE_LIMIT_UNAUTHENTICATED=off \
    TUSK_RATE_LIMIT_STATUSES=off TUSK_RATE_LIMIT_FOLLOWS=off "$BIN" api
API_PID=$STARTED_PID
# Small fan-out batches, so that the followers of the load's popular users span several
# deliver_batch jobs (the default 1000 would let the plan job write every feed itself).
start_bg worker env TUSK_ADMIN_LISTEN="$WORKER_ADMIN" TUSK_FANOUT_BATCH=10 "$BIN" worker
WORKER_PID=$STARTED_PID
log "api (pid $API_PID) and worker (pid $WORKER_PID) started; waiting for /readyz"
await_ready api "http://$API_ADMIN/readyz" "$API_PID"
await_ready worker "http://$WORKER_ADMIN/readyz" "$WORKER_PID"

# --- 2. Prometheus -------------------------------------------------------------------------------

cat >"$TMP/prometheus.yml" <<YAML
# generated by deploy/prometheus/live-check.sh
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - $TUSK_ROOT/helm/tusk/files/rules/tusk-rules.yaml
scrape_configs:
  - job_name: tusk-api
    static_configs:
      - targets: ["$API_ADMIN"]
  - job_name: tusk-worker
    static_configs:
      - targets: ["$WORKER_ADMIN"]
YAML
promtool check config "$TMP/prometheus.yml" >/dev/null || die "generated config invalid: promtool check config"
start_bg prometheus prometheus --config.file="$TMP/prometheus.yml" --storage.tsdb.path="$TMP/data" \
    --storage.tsdb.retention.time=1h --web.listen-address="$PROM_LISTEN"
PROM_PID=$STARTED_PID
await_ready prometheus "http://$PROM_LISTEN/-/ready" "$PROM_PID"
# Both targets scraped before the load starts: a counter that moves before its first scrape
# (30 sign-ups take well under a second) shows no rate at all.
scraped() {
    curl -fsS --max-time 2 "http://$PROM_LISTEN/api/v1/query" \
        --data-urlencode 'query=count(up{job=~"tusk-.*"} == 1) == 2' | grep -q '"value"'
}
wait_until 30 "Prometheus scraping both admin ports (http://$PROM_LISTEN/targets)" scraped
sleep 2

# --- 3. load -------------------------------------------------------------------------------------

log "load: ${LOAD_SECONDS}s on http://$API_LISTEN (deploy/prometheus/live_load.py)"
"$PY" "$HERE/live_load.py" "http://$API_LISTEN" --seconds "$LOAD_SECONDS" 8>&- 9>&-

# The smoke surge replay on the same stack (more load for Prometheus, and CI's check that the
# load tester works end to end): its report must have data in every section.
REPORT_DIR="$TUSK_RUN_DIR/smoke-report"
rm -rf "$REPORT_DIR"
log "smoke replay: loadtests/scenarios/smoke.toml, report in $REPORT_DIR"
"$SURGE" replay "$TUSK_ROOT/loadtests/scenarios/smoke.toml" --target "http://$API_LISTEN" \
    --admin "http://$API_ADMIN,http://$WORKER_ADMIN" --out "$REPORT_DIR" 8>&- 9>&-
python3 "$TUSK_ROOT/loadtests/check_report.py" "$REPORT_DIR"

# The autoscalers' queries as the chart renders them, while Prometheus keeps scraping.
chart_args=()
HELM_DIR=$("$TUSK_ROOT/deploy/tools/install-helm.sh" 2>"$TMP/install-helm.err" 8>&- 9>&- | tail -n1) || HELM_DIR=""
if [[ -n $HELM_DIR && -x $HELM_DIR/helm ]]; then
    render() {
        "$HELM_DIR/helm" template tusk "$TUSK_ROOT/helm/tusk" --namespace tusk \
            --set config.TUSK_QUEUE_PREFIX="$QUEUE_PREFIX" "$@"
    }
    render --set worker.autoscaling.mode=keda --show-only templates/worker-autoscaling.yaml >"$TMP/keda.yaml" ||
        die "helm template (worker.autoscaling.mode=keda) failed"
    render --set worker.autoscaling.mode=hpa --set api.autoscaling.enabled=true \
        --show-only templates/worker-autoscaling.yaml --show-only templates/api-hpa.yaml >"$TMP/hpa.yaml" ||
        die "helm template (worker.autoscaling.mode=hpa) failed"
    chart_args=(--keda "$TMP/keda.yaml" --hpa "$TMP/hpa.yaml")
else
    warn "no helm (deploy/tools/install-helm.sh failed: $(tail -n1 "$TMP/install-helm.err")); using the chart's default KEDA query from _helpers.tpl"
fi

log "letting Prometheus scrape and evaluate for ${SETTLE_SECONDS}s more"
sleep "$SETTLE_SECONDS"
for role_pid in "api $API_PID" "worker $WORKER_PID" "prometheus $PROM_PID"; do
    read -r role pid <<<"$role_pid"
    pid_alive "$pid" || { tail_log "$role"; die "$role exited during the check"; }
done

# --- 4. the queries --------------------------------------------------------------------------------

log "evaluating every query through http://$PROM_LISTEN/api/v1/query"
"$PY" "$HERE/live_check.py" --prometheus "http://$PROM_LISTEN" --queue-prefix "$QUEUE_PREFIX" \
    "${chart_args[@]}" 8>&- 9>&-
