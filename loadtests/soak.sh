#!/usr/bin/env bash
# The soak benchmark (not a CI test): the nov-2022-exodus surge replayed over 10 minutes against
# the local stack, with the api's and the worker's resident memory scraped every few seconds.
# Memory must level off: the report's "Memory" section gives each tier's first and last minute
# and its slope over the second half (summary.json: rss_trend), and memory.png the curve.
#
#   loadtests/soak.sh [SECONDS]      # default 600; report in .tusk/soak/
#
# Brings the stack up with deploy/local/up.sh (without its smoke replay) if it is not up.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../deploy/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../deploy/local/lib.sh"

DURATION="${1:-600}"
OUT="$TUSK_RUN_DIR/soak"
API=http://127.0.0.1:3000
ADMINS=http://127.0.0.1:9100,http://127.0.0.1:9101

if ! curl -fsS -o /dev/null "http://127.0.0.1:9100/readyz" 2>/dev/null; then
    TUSK_SMOKE=0 "$TUSK_ROOT/deploy/local/up.sh"
fi
(cd "$TUSK_ROOT" && cargo build --release -p tusk-surge)
log "soak: nov-2022-exodus over ${DURATION}s; report in $OUT"
"$CARGO_TARGET_DIR/release/tusk-surge" replay "$TUSK_ROOT/loadtests/scenarios/nov-2022-exodus.toml" \
    --duration "$DURATION" --target "$API" --admin "$ADMINS" --out "$OUT"
python3 - "$OUT/summary.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
for tier in ("api", "worker"):
    t = (s.get("rss_trend") or {}).get(tier)
    if t:
        print(f"{tier} RSS: first minute {t['first_minute_mib']:.1f} MiB, last minute {t['last_minute_mib']:.1f} MiB, "
              f"second half {t['second_half_slope_mib_per_min']:+.2f} MiB/min")
print(f"requests {s['totals']['count']}, errors {s['totals']['errors']}, sign-ups {s['signups']['total']}")
PY
