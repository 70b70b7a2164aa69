#!/usr/bin/env bash
# Agent memory while its background YARA scanner sweeps: a real `haidang-agent run`, enrolled
# with a local `haidang-collector serve`, FIM watching a corpus directory and the scanner
# loading a rule directory, `cpu_share = 1.0` so the first sweep (at start) runs flat out. The
# agent's VmRSS is sampled every second until its log says "YARA sweep finished"; VmHWM (peak)
# is read at the end. The issue's goal: agent RSS <= 100 MB while scanning.
#
#   bench/bench-scan-rss.sh CORPUS_DIR RULES_DIR
#
# Environment (all optional):
#   SCAN_RSS_WORK     scratch directory, emptied first            (default /tmp/scanrss)
#   SCAN_RSS_TIMEOUT  seconds to wait for the sweep               (default 900)
#   HAIDANG_AGENT, HAIDANG_COLLECTOR
#                     release binaries to use instead of building them (otherwise
#                     `cargo build --release -p haidang-agent -p haidang-collector`)
#   CARGO_TARGET_DIR  where release binaries are built (default ~/.cache/haidang/target)
#
# The corpus and rules of bench/bench-yara.sh fit: $YARA_BENCH_WORK/corpus and
# $YARA_BENCH_WORK/rules after a run of it. The collector's own memory is not counted.
set -euo pipefail
cd "$(dirname "$0")/.."

CORPUS=$(realpath "${1:?usage: $0 CORPUS_DIR RULES_DIR}")
RULES=$(realpath "${2:?usage: $0 CORPUS_DIR RULES_DIR}")
WORK=${SCAN_RSS_WORK:-/tmp/scanrss}
TIMEOUT=${SCAN_RSS_TIMEOUT:-900}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/haidang/target}

if [ -n "${HAIDANG_AGENT:-}" ] && [ -n "${HAIDANG_COLLECTOR:-}" ]; then
    AGENT=$(realpath "$HAIDANG_AGENT")
    COLLECTOR=$(realpath "$HAIDANG_COLLECTOR")
else
    cargo build --release -p haidang-agent -p haidang-collector >&2
    AGENT=$CARGO_TARGET_DIR/release/haidang-agent
    COLLECTOR=$CARGO_TARGET_DIR/release/haidang-collector
fi

rm -rf "$WORK"
mkdir -p "$WORK"
COLLECTOR_PID="" AGENT_PID=""
cleanup() {
    [ -n "$AGENT_PID" ] && kill "$AGENT_PID" 2>/dev/null || true
    [ -n "$COLLECTOR_PID" ] && kill "$COLLECTOR_PID" 2>/dev/null || true
    wait 2>/dev/null || true
}
trap cleanup EXIT

"$COLLECTOR" serve --data "$WORK/collector" --quic 127.0.0.1:0 --http 127.0.0.1:0 >"$WORK/collector.banner" 2>"$WORK/collector.log" &
COLLECTOR_PID=$!
QUIC="" API=""
for _ in $(seq 100); do
    QUIC=$(awk '/QUIC \(agents\):/ {print $3}' "$WORK/collector.banner")
    API=$(awk '/HTTP \(API/ {print $NF}' "$WORK/collector.banner")
    [ -n "$QUIC" ] && [ -n "$API" ] && break
    kill -0 "$COLLECTOR_PID" 2>/dev/null || { cat "$WORK/collector.log" >&2; exit 2; }
    sleep 0.1
done
[ -n "$QUIC" ] || { echo "error: the collector did not print its addresses" >&2; exit 2; }
api() { HAIDANG_API_TOKEN=$(cat "$WORK/collector/api.token") "$COLLECTOR" --api "$API" "$@"; }
fingerprint=$(api ca fingerprint)
token=$(api token create --group bench --uses 1 --ttl 1h 2>/dev/null)
"$AGENT" enroll --server "$QUIC" --token "$token" --ca-fingerprint "$fingerprint" --state "$WORK/state" >/dev/null
printf '[fim]\npaths = ["%s"]\n[process]\nenabled = false\n[scan]\nyara_rules = ["%s"]\ncpu_share = 1.0\n' \
    "$CORPUS" "$RULES" >"$WORK/agent.toml"

LOAD=$(cut -d' ' -f1 /proc/loadavg)
START=$(date +%s)
NO_COLOR=1 "$AGENT" run --state "$WORK/state" --config "$WORK/agent.toml" 2>"$WORK/agent.log" &
AGENT_PID=$!
max_rss=0 samples=0 finished=""
while [ $(($(date +%s) - START)) -lt "$TIMEOUT" ]; do
    kill -0 "$AGENT_PID" 2>/dev/null || { echo "error: the agent stopped; see $WORK/agent.log" >&2; exit 2; }
    rss=$(awk '/^VmRSS/ {print $2}' "/proc/$AGENT_PID/status")
    samples=$((samples + 1))
    [ "$rss" -gt "$max_rss" ] && max_rss=$rss
    if grep -q 'YARA sweep finished' "$WORK/agent.log"; then
        finished=$(grep -m1 'YARA sweep finished' "$WORK/agent.log")
        break
    fi
    sleep 1
done
hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$AGENT_PID/status")
rss_end=$(awk '/^VmRSS/ {print $2}' "/proc/$AGENT_PID/status")
ELAPSED=$(($(date +%s) - START))
BYTES=$(find "$CORPUS" -type f -printf '%s\n' | awk '{s += $1} END {print s}')
FILES=$(find "$CORPUS" -type f | wc -l)
RULE_FILES=$(find "$RULES" -type f \( -name '*.yar' -o -name '*.yara' \) | wc -l)
{
    echo "haidang-agent run (FIM + background YARA scanner, cpu_share 1.0) over $FILES files ($((BYTES / 1000000)) MB), $RULE_FILES rule files; load average at start $LOAD"
    echo
    echo "| | value |"
    echo "|---|---:|"
    if [ -n "$finished" ]; then
        echo "| first sweep, from start to its log line | finished in ${ELAPSED} s |"
    else
        echo "| first sweep | not finished after ${ELAPSED} s |"
    fi
    echo "| peak RSS (VmHWM) | $((hwm / 1024)) MiB |"
    echo "| largest VmRSS sample (1 s) | $((max_rss / 1024)) MiB ($samples samples) |"
    echo "| VmRSS at the end | $((rss_end / 1024)) MiB |"
    echo
    echo "sweep log line: \`$(printf '%s' "$finished" | sed 's/\x1b\[[0-9;]*m//g')\`"
} | tee "$WORK/results.md"
