#!/usr/bin/env bash
# Run the workspace tests against the local servers: make sure PostgreSQL, Redis and RabbitMQ
# run, look for unused dependencies (cargo machete), wipe what earlier test runs left (RabbitMQ
# vhost tusk-test, databases tusk_test_*, Redis keys tusk_test_*), then `cargo test --release --workspace "$@"`, then the monitoring checks
# (deploy/prometheus/check.sh), the Helm chart tests (deploy/k8s/test-chart.sh) and the live
# Prometheus check (deploy/prometheus/live-check.sh: a real Prometheus scraping a loaded stack
# evaluates every dashboard, rule and autoscaling query) and the API fuzz run (deploy/fuzz/run.sh:
# Schemathesis against /api/openapi.json: no 5xx, nothing the OpenAPI document does not say);
# exits non-zero if any of them failed.
# Test runs from all clones on this machine share those names, so they take turns (a lock file).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TEST_VHOST=tusk-test
LOCK_FILE=/tmp/tusk-test.lock

# One test run at a time per machine: wiping would pull the rug from under a concurrent run.
exec 9>"$LOCK_FILE"
if ! flock -n 9; then
    log "another test run holds $LOCK_FILE; waiting for it to finish"
    flock 9
fi

# Servers started from here must not inherit fd 9, or they would hold the lock forever.
ensure_services 9>&-
ensure_cargo

status=0

# Unused dependencies first (seconds, before the long run): cargo-machete lists every
# dependency no source file of its crate names. A finding fails the run; the other checks still
# run. False positives are named in the crate's [package.metadata.cargo-machete] ignored.
CARGO_MACHETE_VERSION=0.9.2
if [[ $(cargo-machete --version 2>/dev/null) != "$CARGO_MACHETE_VERSION" ]]; then
    log "installing cargo-machete $CARGO_MACHETE_VERSION into ~/.cargo/bin"
    # its own target dir: kept as a cache, and never mixed with the workspace's build
    CARGO_TARGET_DIR="$HOME/.cache/tusk/tools/cargo-machete-build" \
        cargo install cargo-machete --version "$CARGO_MACHETE_VERSION" --locked 9>&- ||
        warn "could not install cargo-machete"
fi
log "cargo machete (unused dependencies)"
(cd "$TUSK_ROOT" && cargo machete) 9>&- || { warn "cargo machete: unused dependencies, or it did not run"; status=1; }

# promtool: the telemetry tests lint the /metrics exposition with it
command -v promtool >/dev/null || "$TUSK_ROOT/deploy/local/prometheus.sh" install
# chromium + chromedriver: crates/tusk/tests/browser signs in through the OAuth page
ensure_chromium 9>&-
# ffmpeg (the media workers transcode GIFs and videos) and the S3-compatible server the S3
# storage tests use (s3s-fs, bucket tusk-test)
ensure_media_tools 9>&-
ensure_s3 9>&-
export TUSK_TEST_S3_ENDPOINT="${TUSK_TEST_S3_ENDPOINT:-http://$TUSK_S3_ADDR}"
export TUSK_TEST_S3_BUCKET="${TUSK_TEST_S3_BUCKET:-tusk-test}"
# Mastodon.py and toot (PyPI), megalodon (npm): the third-party clients crates/tusk/tests/api/clients.rs
# drives through whole flows
"$TUSK_ROOT/deploy/clients/install.sh" 9>&-
export TUSK_TEST_CLIENTS_PYTHON="${TUSK_TEST_CLIENTS_PYTHON:-$HOME/.cache/tusk/tools/clients-venv/bin/python}"
export TUSK_TEST_TOOT_PYTHON="${TUSK_TEST_TOOT_PYTHON:-$HOME/.cache/tusk/tools/toot-venv/bin/python}"
export TUSK_TEST_CLIENTS_NODE="${TUSK_TEST_CLIENTS_NODE:-$HOME/.cache/tusk/tools/clients-node}"

log "RabbitMQ: recreating vhost $TEST_VHOST"
if rabbitmqctl -q list_vhosts name | grep -qxF "$TEST_VHOST"; then
    rabbitmqctl -q delete_vhost "$TEST_VHOST"
fi
rabbitmqctl -q add_vhost "$TEST_VHOST"
rabbitmqctl -q set_permissions -p "$TEST_VHOST" guest ".*" ".*" ".*"

log "PostgreSQL: dropping databases tusk_test_*"
psql -h 127.0.0.1 -U postgres -d postgres -X -q -v ON_ERROR_STOP=1 <<'SQL'
SELECT format('DROP DATABASE %I WITH (FORCE)', datname)
FROM pg_database
WHERE datname LIKE 'tusk\_test\_%'
\gexec
SQL

ensure_redis_cluster 9>&-
log "Redis Cluster: flushing its nodes (they serve the tests only)"
for port in "${TUSK_CLUSTER_PORTS[@]}"; do
    redis-cli -h 127.0.0.1 -p "$port" flushall >/dev/null
done

log "media: deleting what earlier test runs stored (S3 bucket tusk-test, local directories)"
rm -rf "${TUSK_S3_ROOT:?}/tusk-test/"* "${TMPDIR:-/tmp}/tusk-test-media" "${TMPDIR:-/tmp}/tusk-faults-media"

log "Redis: deleting keys tusk_test_*"
redis-cli -h 127.0.0.1 -p 6379 --scan --pattern 'tusk_test_*' |
    xargs -r -d '\n' -n 500 redis-cli -h 127.0.0.1 -p 6379 del >/dev/null

export TUSK_TEST_AMQP_URL="${TUSK_TEST_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/$TEST_VHOST}"

log "cargo test --release --workspace $*"
# 9>&-: test processes must not inherit (and keep holding) the lock.
(cd "$TUSK_ROOT" && cargo test --release --workspace "$@") 9>&- || status=$?
log "cargo test exited with status $status"

for check in deploy/prometheus/check.sh deploy/k8s/test-chart.sh deploy/prometheus/live-check.sh deploy/fuzz/run.sh; do
    log "$check"
    (cd "$TUSK_ROOT" && bash "$check") 9>&- || { warn "$check failed"; status=1; }
done
exit "$status"
