#!/usr/bin/env bash
# The API fuzz run: Schemathesis (PyPI) reads the OpenAPI document Tusk serves at
# /api/openapi.json and sends every operation generated requests, valid ones and invalid ones
# (wrong types, missing and extra fields, ids that are not numbers or do not exist, bodies of
# every content type the document names), with a user's bearer token. It fails on any 5xx, on
# a status code the document does not list for the operation, on a content type or a response
# body that does not match the document, and on a documented response header that is wrong.
#
#   deploy/fuzz/run.sh
#
# 1. installs Schemathesis (pinned) into ~/.cache/tusk/tools/fuzz-venv (idempotent);
# 2. builds the release binary (a no-op when fresh) and starts an isolated `tusk all`:
#    database tusk_fuzz, Redis keys tusk_fuzz:*, RabbitMQ vhost tusk-fuzz with queues tusk_fuzz.*,
#    API on 127.0.0.1:3490 (admin 9490), rate limits off; logs in .tusk/fuzz-*.log. Nothing it
#    uses is shared with deploy/local/up.sh, the live check or the tests;
# 3. registers an app, signs two users up (the fuzzer's token has every scope), each posts a
#    status, the fuzzer's account is locked and the other asks to follow it; half of the ids in
#    paths are drawn from these (Schemathesis dictionaries), so actions reach real rows;
# 4. runs `st run` against http://127.0.0.1:3490/api/openapi.json: TUSK_FUZZ_EXAMPLES examples
#    per operation (default 100) in each of the examples, coverage and fuzzing phases, with a
#    fixed seed (TUSK_FUZZ_SEED, default 20261122) so that a failure can be replayed. The SSE
#    streams are left out (they never end: a request would only time out); their 401s are
#    covered by the API tests. Report (JUnit) in .tusk/fuzz-report/;
# 5. on exit, failure or not: stops tusk and removes its database, keys and vhost.
# Exits non-zero on any failure. Loopback only. About 4,400 requests in 65-90 s on 2 cores once built.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../local/lib.sh"

NAME=tusk_fuzz
VHOST=tusk-fuzz
API_LISTEN=127.0.0.1:3490
API_ADMIN=127.0.0.1:9490
EXAMPLES="${TUSK_FUZZ_EXAMPLES:-100}"
SEED="${TUSK_FUZZ_SEED:-20261122}"
# pinned so that CI fuzzes with the same generator every run; bump on purpose
SCHEMATHESIS_VERSION="${SCHEMATHESIS_VERSION:-4.32.5}"
VENV="${TUSK_FUZZ_VENV:-$HOME/.cache/tusk/tools/fuzz-venv}"
LOCK_FILE=/tmp/tusk-fuzz.lock
LOG_PREFIX="$TUSK_RUN_DIR/fuzz"
REPORT_DIR="$TUSK_RUN_DIR/fuzz-report"

mkdir -p "$TUSK_RUN_DIR"
# One fuzz run at a time per machine (they share ports and names). fd 8, as the live check.
exec 8>"$LOCK_FILE"
if ! flock -n 8; then
    log "another fuzz run holds $LOCK_FILE; waiting (up to 5 minutes)"
    flock -w 300 8 || die "another fuzz run still holds $LOCK_FILE"
fi

TMP="" TUSK_PID=""

cleanup() {
    local rc=$?
    set +e
    trap - EXIT INT TERM
    if [[ -n $TUSK_PID ]]; then
        kill -TERM "$TUSK_PID" 2>/dev/null
        await_exit "fuzz tusk" "$TUSK_PID" $((SECONDS + 15))
    fi
    [[ -n $TMP ]] && rm -rf "$TMP"
    log "removing database $NAME, Redis keys $NAME:*, RabbitMQ vhost $VHOST"
    stack_wipe "$NAME" "$VHOST" || warn "cleanup of database/keys/vhost incomplete"
    if ((rc == 0)); then
        log "fuzz run passed"
    else
        warn "fuzz run FAILED (exit $rc); logs: $LOG_PREFIX-*.log, report: $REPORT_DIR"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- 1. Schemathesis ------------------------------------------------------------------------------

if ! "$VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('schemathesis') != '$SCHEMATHESIS_VERSION')" 2>/dev/null; then
    command -v python3 >/dev/null || apt_install python3
    python3 -c 'import venv, ensurepip' 2>/dev/null || apt_install python3-venv
    log "installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

# --- 2. build, the isolated stack -----------------------------------------------------------------

for addr in "$API_LISTEN" "$API_ADMIN"; do
    port_free "$addr" || die "$addr is in use (a fuzz run killed without cleanup? stop what listens there)"
done
ensure_services 8>&- 9>&-
ensure_cargo
TMP=$(mktemp -d "${TMPDIR:-/tmp}/tusk-fuzz.XXXXXX")

log "building (cargo build --release -p tusk)"
(cd "$TUSK_ROOT" && cargo build --release -p tusk) 8>&- 9>&-
# a private snapshot: another build sharing the target dir may re-link the file at any moment
BIN="$TMP/tusk"
ln -f "$CARGO_TARGET_DIR/release/tusk" "$BIN" 2>/dev/null || cp "$CARGO_TARGET_DIR/release/tusk" "$BIN"

log "wiping what an earlier fuzz run may have left"
stack_wipe "$NAME" "$VHOST"
stack_vhost "$VHOST"

export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$NAME" REDIS_URL=redis://127.0.0.1:6379 \
    TUSK_REDIS_PREFIX="$NAME:" AMQP_URL="amqp://guest:guest@127.0.0.1:5672/$VHOST" TUSK_QUEUE_PREFIX="$NAME" \
    TUSK_QUEUE_TYPE=classic TUSK_MEDIA_ROOT="$TMP/media" TUSK_LOG_FORMAT=json RUST_LOG=info,tusk_api=warn RUST_LIB_BACKTRACE=0 \
    TUSK_DOMAIN="$API_LISTEN" TUSK_SHUTDOWN_DELAY=0 TUSK_LISTEN="$API_LISTEN" TUSK_ADMIN_LISTEN="$API_ADMIN" \
    TUSK_RATE_LIMIT_SIGNUPS=off TUSK_RATE_LIMIT_AUTHENTICATED=off TUSK_RATE_LIMIT_UNAUTHENTICATED=off \
    TUSK_RATE_LIMIT_STATUSES=off TUSK_RATE_LIMIT_FOLLOWS=off
unset OTEL_EXPORTER_OTLP_ENDPOINT OTEL_EXPORTER_OTLP_TRACES_ENDPOINT

log "migrating database $NAME"
"$BIN" migrate >"$LOG_PREFIX-migrate.log" 2>&1 8>&- 9>&- || { tail_log migrate; die "tusk migrate failed"; }
start_bg tusk "$BIN" all
TUSK_PID=$STARTED_PID
await_ready tusk "http://$API_ADMIN/readyz" "$TUSK_PID"

# --- 3. a user, a token, a status -----------------------------------------------------------------

API="http://$API_LISTEN"
# json_field NAME: read a string field of the JSON object on stdin
json_field() { python3 -c "import json, sys; print(json.load(sys.stdin)['$1'])"; }
post() { curl -fsS --max-time 10 "$@"; }

app=$(post "$API/api/v1/apps" -F client_name=fuzz -F redirect_uris=urn:ietf:wg:oauth:2.0:oob \
    -F 'scopes=read write follow push')
client_id=$(json_field client_id <<<"$app")
client_secret=$(json_field client_secret <<<"$app")
app_token=$(post "$API/oauth/token" -F grant_type=client_credentials -F "client_id=$client_id" \
    -F "client_secret=$client_secret" -F 'scope=read write follow push' | json_field access_token)
# sign_up NAME: a user's token
sign_up() {
    post "$API/api/v1/accounts" -H "Authorization: Bearer $app_token" -F "username=$1" \
        -F "email=$1@example.org" -F password=fuzz-password-1 -F agreement=true | json_field access_token
}
# as TOKEN CURL-ARGS...: a request as that user
as() { local token=$1; shift; post -H "Authorization: Bearer $token" "$@"; }
user_token=$(sign_up fuzzer)
other_token=$(sign_up other)
user_id=$(as "$user_token" "$API/api/v1/accounts/verify_credentials" | json_field id)
other_id=$(as "$other_token" "$API/api/v1/accounts/verify_credentials" | json_field id)
user_status=$(as "$user_token" "$API/api/v1/statuses" -F 'status=Hello, fuzzer' | json_field id)
other_status=$(as "$other_token" "$API/api/v1/statuses" -F 'status=Hello from the other one' | json_field id)
# the fuzzer's account is locked and `other` asks to follow it: a follow request to answer
as "$user_token" -X PATCH "$API/api/v1/accounts/update_credentials" -F locked=true >/dev/null
as "$other_token" -X POST "$API/api/v1/accounts/$user_id/follow" >/dev/null
log "users fuzzer ($user_id, locked, one follow request) and other ($other_id) signed up, a status each;" \
    "fuzzing with fuzzer's token (scopes: read write follow push)"

# Half of the ids in paths are these real ones (Schemathesis dictionaries), so that the actions
# reach real accounts, statuses and requests instead of stopping at 404; the other half are
# generated as before.
CONFIG="$TMP/schemathesis.toml"
cat >"$CONFIG" <<TOML
[dictionaries.accounts]
values = ["$user_id", "$other_id"]
[dictionaries.statuses]
values = ["$user_status", "$other_status"]
[dictionaries.requests]
values = ["$other_id"]

[[operations]]
include-path-regex = '^/api/v1/accounts/\{id\}'
parameters = { "path.id" = { dictionary = "accounts", probability = 0.5 } }
[[operations]]
include-path-regex = '^/api/v1/statuses/\{id\}'
parameters = { "path.id" = { dictionary = "statuses", probability = 0.5 } }
[[operations]]
include-path-regex = '^/api/v1/follow_requests/\{id\}'
parameters = { "path.id" = { dictionary = "requests", probability = 0.5 } }
TOML

# --- 4. the fuzz run ------------------------------------------------------------------------------

rm -rf "$REPORT_DIR"
log "schemathesis: $EXAMPLES examples per operation and phase, seed $SEED, against $API/api/openapi.json"
started=$SECONDS
"$VENV/bin/st" --config-file "$CONFIG" run "$API/api/openapi.json" \
    --header "Authorization: Bearer $user_token" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
    --phases examples,coverage,fuzzing \
    --mode all \
    --max-examples "$EXAMPLES" \
    --seed "$SEED" \
    --generation-database none \
    --workers 2 \
    --request-timeout 10 \
    --max-redirects 0 \
    --exclude-path-regex '^/api/v1/streaming/(user|public)' \
    --suppress-health-check all \
    --report junit --report-dir "$REPORT_DIR" \
    --no-color 8>&- 9>&-
log "schemathesis passed in $((SECONDS - started))s"
pid_alive "$TUSK_PID" || { tail_log tusk; die "tusk exited during the fuzz run"; }
