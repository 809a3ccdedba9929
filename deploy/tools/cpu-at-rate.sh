#!/usr/bin/env bash
# The CPU a home read costs at a fixed rate, per process: runs `tusk-surge bench home` with one
# step at RATE reads/s (a 30 s step of the trivial endpoint first, then the home timeline's),
# reads utime+stime of the api, the load generator and Redis from /proc over 15 s of the home
# step, prints the cores each used, and stops the bench. A same-run A/B of two builds is this,
# run in turns with each build's `tusk` binary (BENCHMARKS.md, issue 13's third pass):
#
#   for i in 1 2 3 4; do for bin in /tmp/tusk-base /tmp/tusk-new; do
#       deploy/tools/cpu-at-rate.sh 2000 "$bin"; done; done
#
# Usage: cpu-at-rate.sh RATE TUSK_BIN [LOG]
set -euo pipefail

rate=${1:?usage: cpu-at-rate.sh RATE TUSK_BIN [LOG]}
bin=${2:?usage: cpu-at-rate.sh RATE TUSK_BIN [LOG]}
log=${3:-$(mktemp -t cpu-at-rate.XXXXXX.log)}
surge="${CARGO_TARGET_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/target}/release/tusk-surge"
name=$(basename "$bin")

setsid "$surge" bench home --tusk-bin "$bin" --start-rate "$rate" --max-rate "$rate" --step-secs 30 \
    >"$log" 2>&1 &
bench=$!
stop() {
    kill -- -"$bench" 2>/dev/null || true
    wait "$bench" 2>/dev/null || true
}
trap stop EXIT

until grep -q "GET /api/v1/timelines/home" "$log"; do
    kill -0 "$bench" 2>/dev/null || { cat "$log"; exit 1; }
    sleep 1
done
sleep 6
api=$(pgrep -f "$name api" | head -1)
redis=$(pgrep -x redis-server | head -1)
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
a0=$(ticks "$api") s0=$(ticks "$bench") r0=$(ticks "$redis")
sleep 15
a1=$(ticks "$api") s1=$(ticks "$bench") r1=$(ticks "$redis")
hz=$(getconf CLK_TCK)
cores() { awk -v d="$1" -v hz="$hz" 'BEGIN {printf "%.3f", d / hz / 15}'; }
echo "$name at $rate home reads/s, cores over 15 s: api $(cores $((a1 - a0))) load generator $(cores $((s1 - s0))) redis $(cores $((r1 - r0)))"
