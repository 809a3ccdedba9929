# shellcheck shell=bash
# Shared helpers for the local stack scripts (up.sh, down.sh, test.sh). Source it, don't run it.
#
# Provides: TUSK_ROOT (repo root), CARGO_TARGET_DIR (exported, shared between clones),
# port_free, stack_wipe, stack_vhost, start_bg, await_ready, tail_log (isolated stacks),
# log/warn/die, ensure_cargo, ensure_postgres, ensure_redis, ensure_rabbitmq, ensure_services,
# ensure_chromium, ensure_media_tools, ensure_s3,
# wait_http URL SECONDS [PID].
#
# The servers are only ever started (never stopped): PostgreSQL, Redis and RabbitMQ are probed
# first, installed from Debian packages if missing, started if not answering, then waited for.

# Repo root: this file lives in <root>/deploy/local/.
TUSK_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export TUSK_ROOT

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tusk/target}"

# How long to wait for each server to answer after starting it.
: "${TUSK_PG_WAIT:=60}"
: "${TUSK_REDIS_WAIT:=30}"
: "${TUSK_RABBITMQ_WAIT:=120}"

# --- logging ---------------------------------------------------------------------------------

# Colours only when stderr is a terminal.
if [[ -t 2 ]]; then
    _c_blue=$'\033[1;34m' _c_yellow=$'\033[1;33m' _c_red=$'\033[1;31m' _c_off=$'\033[0m'
else
    _c_blue='' _c_yellow='' _c_red='' _c_off=''
fi
log() { printf '%s==>%s %s\n' "$_c_blue" "$_c_off" "$*" >&2; }
warn() { printf '%swarning:%s %s\n' "$_c_yellow" "$_c_off" "$*" >&2; }
die() {
    printf '%serror:%s %s\n' "$_c_red" "$_c_off" "$*" >&2
    exit 1
}

# --- generic helpers ------------------------------------------------------------------------

# Run `apt-get update` at most once per script run, then install the given packages.
_apt_updated=0
apt_install() {
    command -v apt-get >/dev/null || die "apt-get not found; install $* by hand"
    if [[ $_apt_updated == 0 ]]; then
        log "apt-get update"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        _apt_updated=1
    fi
    log "apt-get install $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}

# wait_until SECONDS WHAT CMD...: run CMD every second until it succeeds; die after SECONDS.
wait_until() {
    local seconds=$1 what=$2
    shift 2
    local deadline=$((SECONDS + seconds))
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || die "$what did not answer within ${seconds}s"
        sleep 1
    done
}

# wait_http URL SECONDS [PID]: poll URL until it returns 2xx. Returns 0 when it does, 1 on
# timeout, 2 if PID (when given) exits first.
wait_http() {
    local url=$1 seconds=$2 pid=${3:-}
    local deadline=$((SECONDS + seconds))
    until curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; do
        if [[ -n $pid ]] && ! pid_alive "$pid"; then
            return 2
        fi
        ((SECONDS < deadline)) || return 1
        sleep 1
    done
}

# pid_alive PID: the process exists and is not a zombie.
pid_alive() {
    local pid=$1 state
    kill -0 "$pid" 2>/dev/null || return 1
    state=$(awk '/^State:/ {print $2}' "/proc/$pid/status" 2>/dev/null) || return 1
    [[ -n $state && $state != Z ]]
}

# --- cargo ------------------------------------------------------------------------------------

ensure_cargo() {
    if ! command -v cargo >/dev/null && [[ -f $HOME/.cargo/env ]]; then
        # shellcheck source=/dev/null
        source "$HOME/.cargo/env"
    fi
    command -v cargo >/dev/null || die "cargo not found (install Rust with rustup)"
    mkdir -p "$CARGO_TARGET_DIR"
}

# --- PostgreSQL -------------------------------------------------------------------------------

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432; }

ensure_postgres() {
    if command -v pg_isready >/dev/null && pg_up; then
        log "PostgreSQL: running"
        return
    fi
    local fresh=0
    if ! command -v pg_ctlcluster >/dev/null || [[ -z $(ls -A /etc/postgresql 2>/dev/null) ]]; then
        apt_install postgresql
        fresh=1
    fi
    local version
    version=$(find /etc/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -n 1)
    [[ -n $version ]] || die "no PostgreSQL cluster under /etc/postgresql"
    if [[ $fresh == 1 ]]; then
        # A fresh Debian cluster asks for passwords over TCP; the local stack uses trust auth
        # (postgres@127.0.0.1 without a password), like the preconfigured machine.
        local hba="/etc/postgresql/$version/main/pg_hba.conf"
        log "PostgreSQL: setting trust auth for local TCP connections in $hba"
        sed -i -E 's/^(host\s+all\s+all\s+(127\.0\.0\.1\/32|::1\/128)\s+)\S+/\1trust/' "$hba"
        pg_ctlcluster --skip-systemctl-redirect "$version" main reload 2>/dev/null || true
    fi
    if ! pg_up; then
        log "PostgreSQL: starting cluster $version/main"
        pg_ctlcluster --skip-systemctl-redirect "$version" main start ||
            pg_up || die "PostgreSQL cluster $version/main failed to start (see /var/log/postgresql/)"
    fi
    wait_until "$TUSK_PG_WAIT" "PostgreSQL on 127.0.0.1:5432 (see /var/log/postgresql/)" pg_up
    log "PostgreSQL: running"
}

# --- Redis ------------------------------------------------------------------------------------

redis_up() { [[ $(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null) == PONG ]]; }

ensure_redis() {
    if command -v redis-cli >/dev/null && redis_up; then
        log "Redis: running"
        return
    fi
    command -v redis-server >/dev/null || apt_install redis-server
    if ! redis_up; then
        log "Redis: starting"
        redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no
    fi
    wait_until "$TUSK_REDIS_WAIT" "Redis on 127.0.0.1:6379" redis_up
    log "Redis: running"
}

# --- RabbitMQ ---------------------------------------------------------------------------------

rabbitmq_up() { timeout 30 rabbitmqctl -q status >/dev/null 2>&1; }

ensure_rabbitmq() {
    if command -v rabbitmqctl >/dev/null && rabbitmq_up; then
        log "RabbitMQ: running"
        return
    fi
    command -v rabbitmq-server >/dev/null || apt_install rabbitmq-server
    if ! rabbitmq_up; then
        log "RabbitMQ: starting (this takes a while)"
        rabbitmq-server -detached
        # await_startup fails straight away while the node's VM is still booting; retry it.
        wait_until "$TUSK_RABBITMQ_WAIT" "RabbitMQ (see /var/log/rabbitmq/)" \
            timeout 30 rabbitmqctl -q await_startup
    fi
    wait_until "$TUSK_RABBITMQ_WAIT" "RabbitMQ (see /var/log/rabbitmq/)" rabbitmq_up
    log "RabbitMQ: running"
}

ensure_services() {
    ensure_postgres
    ensure_redis
    ensure_rabbitmq
}

# Headless chromium and its WebDriver, for the browser test of the OAuth sign-in page
# (crates/tusk/tests/browser). Debian's packages, as the test expects them in /usr/bin.
ensure_chromium() {
    if [[ ! -x /usr/bin/chromium || ! -x /usr/bin/chromedriver ]]; then
        apt_install --no-install-recommends chromium chromium-driver
    fi
    log "chromium: $(/usr/bin/chromium --version 2>/dev/null || echo installed)"
}

# ffmpeg/ffprobe and heif-convert (Debian's), which the media workers run for GIFs, videos and
# HEIC photos (crates/tusk-media); ensure_s3s_fs: s3s-fs (crates.io), the S3-compatible server
# the S3 storage tests run against (ensure_s3).
TUSK_S3S_FS_VERSION=0.14.1 # the last release that builds on the workspace's Rust 1.95 (0.15+ need 1.96)
TUSK_TOOLS_DIR="$HOME/.cache/tusk/tools"
ensure_media_tools() {
    if ! command -v ffmpeg >/dev/null || ! command -v ffprobe >/dev/null; then
        apt_install --no-install-recommends ffmpeg
    fi
    # heif-enc comes along: the tests make their HEIC files with it
    command -v heif-convert >/dev/null || apt_install --no-install-recommends libheif-examples
    log "ffmpeg: $(ffmpeg -hide_banner -version 2>/dev/null | head -n 1)"
}

ensure_s3s_fs() {
    local s3s="$TUSK_TOOLS_DIR/bin/s3s-fs"
    if [[ ! -x $s3s || $("$s3s" --version 2>/dev/null) != *"$TUSK_S3S_FS_VERSION"* ]]; then
        ensure_cargo
        log "installing s3s-fs $TUSK_S3S_FS_VERSION into $TUSK_TOOLS_DIR/bin"
        # its own target dir: kept as a cache, and never mixed with the workspace's build
        CARGO_TARGET_DIR="$TUSK_TOOLS_DIR/s3s-fs-build" \
            cargo install s3s-fs --version "$TUSK_S3S_FS_VERSION" --locked --features binary \
            --root "$TUSK_TOOLS_DIR" 9>&- || die "could not install s3s-fs"
    fi
}

# An S3-compatible server (s3s-fs) on 127.0.0.1:9310 (clear of the admin ports 9100/9101), for the S3 storage tests: access key
# `tusk`, secret `tusk-secret-key`, objects under ~/.cache/tusk/s3 (a bucket is a directory there;
# bucket `tusk-test` is created). Started detached if not answering (log ~/.cache/tusk/s3.log),
# never stopped.
TUSK_S3_ADDR=127.0.0.1:9310
TUSK_S3_ROOT="$HOME/.cache/tusk/s3"
s3_up() { curl -s -o /dev/null --max-time 2 "http://$TUSK_S3_ADDR/"; }
ensure_s3() {
    mkdir -p "$TUSK_S3_ROOT/tusk-test"
    # s3s-fs resolves every path against its working directory: one started from a directory
    # since deleted (an earlier CI clone) fails every request, so it is stopped and started anew
    local pid
    for pid in $(pgrep -f "$TUSK_TOOLS_DIR/bin/s3s-fs" || true); do
        if [[ $(readlink "/proc/$pid/cwd") == *" (deleted)" ]]; then
            log "s3s-fs: its working directory is gone; restarting it"
            kill "$pid" 2>/dev/null || true
            for _ in $(seq 50); do s3_up || break; sleep 0.2; done
        fi
    done
    if s3_up; then
        log "s3s-fs: running on $TUSK_S3_ADDR"
        return
    fi
    ensure_s3s_fs
    log "s3s-fs: starting on $TUSK_S3_ADDR"
    # from /, which outlives any clone this script runs from
    (cd / && setsid nohup "$TUSK_TOOLS_DIR/bin/s3s-fs" --host "${TUSK_S3_ADDR%:*}" --port "${TUSK_S3_ADDR##*:}" \
        --access-key tusk --secret-key tusk-secret-key "$TUSK_S3_ROOT" \
        </dev/null >>"$HOME/.cache/tusk/s3.log" 2>&1 8>&- 9>&- &)
    wait_until 30 "s3s-fs on $TUSK_S3_ADDR (see ~/.cache/tusk/s3.log)" s3_up
    log "s3s-fs: running on $TUSK_S3_ADDR"
}

# A 3-master Redis Cluster on loopback ports, for the tests that run the feed code on a cluster.
# Idempotent: nodes that answer are kept, a formed cluster is kept.
TUSK_CLUSTER_PORTS=(7101 7102 7103)
ensure_redis_cluster() {
    local dir="${TMPDIR:-/tmp}/tusk-redis-cluster" port nodes=()
    mkdir -p "$dir"
    for port in "${TUSK_CLUSTER_PORTS[@]}"; do
        nodes+=("127.0.0.1:$port")
        if [[ $(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null) != PONG ]]; then
            log "Redis Cluster: starting node on port $port"
            rm -f "$dir/nodes-$port.conf"
            redis-server --port "$port" --bind 127.0.0.1 --cluster-enabled yes \
                --cluster-config-file "$dir/nodes-$port.conf" --dir "$dir" \
                --save "" --appendonly no --daemonize yes --logfile "$dir/$port.log"
        fi
        wait_until 30 "Redis Cluster node $port" redis-cli -h 127.0.0.1 -p "$port" ping
    done
    if ! redis-cli -h 127.0.0.1 -p "${TUSK_CLUSTER_PORTS[0]}" cluster info 2>/dev/null | grep -q 'cluster_state:ok'; then
        log "Redis Cluster: creating it from ${nodes[*]}"
        for port in "${TUSK_CLUSTER_PORTS[@]}"; do
            redis-cli -h 127.0.0.1 -p "$port" flushall >/dev/null
            redis-cli -h 127.0.0.1 -p "$port" cluster reset hard >/dev/null
        done
        redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >/dev/null
        wait_until 30 "Redis Cluster state ok" \
            bash -c "redis-cli -h 127.0.0.1 -p ${TUSK_CLUSTER_PORTS[0]} cluster info | grep -q cluster_state:ok"
    fi
    TUSK_TEST_REDIS_CLUSTER_URL=$(printf 'redis://%s,' "${nodes[@]}")
    export TUSK_TEST_REDIS_CLUSTER_URL="${TUSK_TEST_REDIS_CLUSTER_URL%,}"
}

# await_exit NAME PID DEADLINE: wait until PID (already sent SIGTERM) exits or SECONDS reaches
# DEADLINE, then SIGKILL it if it still runs.
await_exit() {
    local name=$1 pid=$2 deadline=$3
    while pid_alive "$pid" && ((SECONDS < deadline)); do
        sleep 0.2
    done
    if pid_alive "$pid"; then
        warn "$name did not exit in time; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    else
        log "$name: stopped"
    fi
}

# --- tusk processes (api, worker) -------------------------------------------------------------

TUSK_RUN_DIR="$TUSK_ROOT/.tusk"

# running_pid ROLE: print the pid from .tusk/ROLE.pid if that process is alive and is
# `tusk ROLE`; fail otherwise (no pid file, stale pid, or the pid now belongs to someone else).
running_pid() {
    local role=$1 pid_file="$TUSK_RUN_DIR/$1.pid" pid argv
    [[ -f $pid_file ]] || return 1
    pid=$(<"$pid_file")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    pid_alive "$pid" || return 1
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) == tusk ]] || return 1
    # argv must be "<path>/tusk ROLE ...".
    mapfile -d "" -t argv 2>/dev/null <"/proc/$pid/cmdline" || return 1
    [[ ${argv[1]:-} == "$role" ]] || return 1
    echo "$pid"
}

# --- isolated stacks (deploy/prometheus/live-check.sh, deploy/fuzz/run.sh) ---------------------
#
# A check that runs its own `tusk` on the shared servers uses names of its own: database NAME,
# Redis keys NAME:*, RabbitMQ vhost VHOST (queues inside it), loopback ports nothing else uses.

# port_free HOST:PORT: nothing accepts connections there.
port_free() { ! (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null; }

# stack_wipe NAME VHOST: drop database NAME, Redis keys NAME:*, RabbitMQ vhost VHOST (with every
# exchange and queue in it).
stack_wipe() {
    local name=$1 vhost=$2
    PGOPTIONS='-c client_min_messages=warning' psql -h 127.0.0.1 -U postgres -d postgres -X -q -v ON_ERROR_STOP=1 \
        -c "DROP DATABASE IF EXISTS $name WITH (FORCE)" >/dev/null
    redis-cli -h 127.0.0.1 -p 6379 --scan --pattern "${name}:*" |
        xargs -r -d '\n' -n 500 redis-cli -h 127.0.0.1 -p 6379 del >/dev/null
    if rabbitmqctl -q list_vhosts name | grep -qxF "$vhost"; then
        rabbitmqctl -q delete_vhost "$vhost" >/dev/null
    fi
}

# stack_vhost VHOST: create the vhost, open to guest.
stack_vhost() {
    rabbitmqctl -q add_vhost "$1" >/dev/null
    rabbitmqctl -q set_permissions -p "$1" guest ".*" ".*" ".*" >/dev/null
}

# The processes of a stack log to ${LOG_PREFIX}-ROLE.log (LOG_PREFIX set by the caller).

# tail_log ROLE: the end of a log, on stderr.
tail_log() {
    printf '\n--- last lines of %s-%s.log ---\n' "$LOG_PREFIX" "$1" >&2
    tail -n 30 "$LOG_PREFIX-$1.log" >&2 2>/dev/null || true
}

# start_bg ROLE CMD...: start CMD in the background (log ${LOG_PREFIX}-ROLE.log, without the
# lock fds 8 and 9); sets STARTED_PID.
start_bg() {
    local role=$1
    shift
    printf '=== %s: starting %s\n' "$(date -Is)" "$*" >"$LOG_PREFIX-$role.log"
    "$@" </dev/null >>"$LOG_PREFIX-$role.log" 2>&1 8>&- 9>&- &
    STARTED_PID=$!
}

# await_ready ROLE URL PID: wait up to READY_WAIT seconds (default 60) for URL; die, with the
# end of the log, if PID exits first or time runs out.
await_ready() {
    local rc=0 wait=${READY_WAIT:-60}
    wait_http "$2" "$wait" "$3" || rc=$?
    case $rc in
    0) log "$1: ready" ;;
    2) tail_log "$1" && die "$1 exited before becoming ready" ;;
    *) tail_log "$1" && die "$1 not ready after ${wait}s ($2)" ;;
    esac
}
