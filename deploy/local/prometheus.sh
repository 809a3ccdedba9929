#!/usr/bin/env bash
# A local Prometheus for the local stack: scrapes `tusk api` (127.0.0.1:9100) and `tusk worker`
# (127.0.0.1:9101) every 5 s and evaluates Tusk's recording rules and alerts
# (deploy/prometheus/prometheus.yml, tusk-rules.yaml).
#
#   deploy/local/prometheus.sh start     start it detached (idempotent), wait for /-/ready
#   deploy/local/prometheus.sh stop      stop it (SIGTERM, then SIGKILL after 15 s); fine if not running
#   deploy/local/prometheus.sh status    running or not, its targets' health and firing alerts
#   deploy/local/prometheus.sh reload    re-read prometheus.yml and the rules
#   deploy/local/prometheus.sh install   install prometheus and promtool (Debian package) only
#
# Runs its own process (pid file .tusk/prometheus.pid, log .tusk/prometheus.log, data in
# ~/.cache/tusk/prometheus), never the Debian package's service, which is left disabled.
# Environment: TUSK_PROMETHEUS_LISTEN (default 127.0.0.1:9090), TUSK_PROMETHEUS_DATA.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

LISTEN="${TUSK_PROMETHEUS_LISTEN:-127.0.0.1:9090}"
DATA_DIR="${TUSK_PROMETHEUS_DATA:-$HOME/.cache/tusk/prometheus}"
CONFIG="$TUSK_ROOT/deploy/prometheus/prometheus.yml"
PID_FILE="$TUSK_RUN_DIR/prometheus.pid"
LOG_FILE="$TUSK_RUN_DIR/prometheus.log"
URL="http://$LISTEN"
READY_WAIT=60
STOP_WAIT=15

# install: the Debian package `prometheus` brings both /usr/bin/prometheus and /usr/bin/promtool.
# Its post-install would start (and enable) the packaged service on :9090; we keep it from
# starting and disable it, so that the only Prometheus on the port is ours.
install_prometheus() {
    if command -v prometheus >/dev/null && command -v promtool >/dev/null; then
        return
    fi
    local policy=/usr/sbin/policy-rc.d added_policy=0
    if [[ ! -e $policy && -w /usr/sbin ]]; then
        # Debian's standard switch for "install, do not start services" (removed right after).
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        added_policy=1
    fi
    local rc=0
    apt_install --no-install-recommends prometheus || rc=$?
    [[ $added_policy == 1 ]] && rm -f "$policy"
    ((rc == 0)) || die "apt-get install prometheus failed"
    if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null; then
        log "disabling the packaged prometheus service (deploy/local/prometheus.sh runs its own)"
        systemctl disable --now prometheus >/dev/null 2>&1 || true
    fi
    command -v prometheus >/dev/null && command -v promtool >/dev/null ||
        die "prometheus/promtool still missing after installing the Debian package"
}

# running_prometheus: print the pid from the pid file if that process is alive and is our
# Prometheus (this config file); fail otherwise.
running_prometheus() {
    local pid argv
    [[ -f $PID_FILE ]] || return 1
    pid=$(<"$PID_FILE")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    pid_alive "$pid" || return 1
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) == prometheus ]] || return 1
    mapfile -d "" -t argv 2>/dev/null <"/proc/$pid/cmdline" || return 1
    [[ " ${argv[*]} " == *" --config.file=$CONFIG "* ]] || return 1
    echo "$pid"
}

ready() { curl -fsS -o /dev/null --max-time 2 "$URL/-/ready" 2>/dev/null; }

show_log_tail() {
    printf '\n--- last lines of %s ---\n' "$LOG_FILE" >&2
    tail -n 30 "$LOG_FILE" >&2 2>/dev/null || true
}

start() {
    install_prometheus
    mkdir -p "$TUSK_RUN_DIR" "$DATA_DIR"
    local pid
    if pid=$(running_prometheus); then
        log "prometheus: already running (pid $pid, $URL)"
    else
        if ready; then
            die "something else already answers on $URL (the packaged service? try: systemctl disable --now prometheus); set TUSK_PROMETHEUS_LISTEN to use another address"
        fi
        promtool check config "$CONFIG" >/dev/null || die "invalid config: promtool check config $CONFIG"
        rm -f "$PID_FILE"
        printf '\n=== %s: starting prometheus\n' "$(date -Is)" >>"$LOG_FILE"
        # Own session: survives this shell and Ctrl-C. The inner shell writes its pid, then exec()s.
        # shellcheck disable=SC2016 # $$ and $1.. belong to the inner shell
        setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$PID_FILE" \
            prometheus \
            --config.file="$CONFIG" \
            --storage.tsdb.path="$DATA_DIR" \
            --storage.tsdb.retention.time=7d \
            --web.listen-address="$LISTEN" \
            --web.enable-lifecycle \
            </dev/null >>"$LOG_FILE" 2>&1 &
        local deadline=$((SECONDS + 5))
        until pid=$(running_prometheus); do
            pid=$(cat "$PID_FILE" 2>/dev/null) || pid=
            if [[ -n $pid ]] && ! pid_alive "$pid"; then
                show_log_tail
                die "prometheus exited right after starting (log: $LOG_FILE)"
            fi
            if ((SECONDS >= deadline)); then
                show_log_tail
                die "prometheus did not start (log: $LOG_FILE)"
            fi
            sleep 0.2
        done
        log "prometheus: started (pid $pid)"
    fi
    local rc=0
    wait_http "$URL/-/ready" "$READY_WAIT" "$pid" || rc=$?
    case $rc in
    0) log "prometheus: ready at $URL (config $CONFIG, data $DATA_DIR, log $LOG_FILE)" ;;
    2)
        show_log_tail
        die "prometheus exited before becoming ready (log: $LOG_FILE)"
        ;;
    *)
        show_log_tail
        die "prometheus not ready within ${READY_WAIT}s (log: $LOG_FILE)"
        ;;
    esac
}

stop() {
    local pid
    if ! pid=$(running_prometheus); then
        log "prometheus: not running"
        rm -f "$PID_FILE"
        return
    fi
    log "prometheus: stopping (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    await_exit prometheus "$pid" $((SECONDS + STOP_WAIT))
    rm -f "$PID_FILE"
}

status() {
    local pid
    if ! pid=$(running_prometheus); then
        echo "prometheus: not running"
        return 3
    fi
    if ! ready; then
        echo "prometheus: running (pid $pid) but not ready at $URL"
        return 1
    fi
    echo "prometheus: running (pid $pid), ready at $URL"
    # Targets and firing alerts, when python3 is there to read the API's JSON.
    if command -v python3 >/dev/null; then
        curl -fsS --max-time 5 "$URL/api/v1/targets" 2>/dev/null | python3 -c '
import json, sys
for t in json.load(sys.stdin)["data"]["activeTargets"]:
    line = "  target %s %s: %s" % (t["labels"].get("job", "?"), t["scrapeUrl"], t["health"])
    if t.get("lastError"):
        line += " (" + t["lastError"] + ")"
    print(line)
' || true
        curl -fsS --max-time 5 "$URL/api/v1/alerts" 2>/dev/null | python3 -c '
import json, sys
alerts = json.load(sys.stdin)["data"]["alerts"]
for a in alerts:
    labels = ", ".join("%s=%s" % kv for kv in sorted(a["labels"].items()) if kv[0] != "alertname")
    print("  alert %s (%s) %s" % (a["labels"]["alertname"], a["state"], labels))
if not alerts:
    print("  no alerts pending or firing")
' || true
    fi
}

reload() {
    running_prometheus >/dev/null || die "prometheus is not running"
    promtool check config "$CONFIG" >/dev/null || die "invalid config: promtool check config $CONFIG"
    curl -fsS -X POST --max-time 10 "$URL/-/reload" >/dev/null || die "reload failed (see $LOG_FILE)"
    log "prometheus: reloaded"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status) status ;;
reload) reload ;;
install) install_prometheus ;;
*)
    echo "usage: $0 start|stop|status|reload|install" >&2
    exit 2
    ;;
esac
