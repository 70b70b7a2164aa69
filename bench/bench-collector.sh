#!/usr/bin/env bash
# Collector benchmarks (issue 2, "Benchmarks"), on loopback, against fresh collectors:
#   1. enrollment rate          (haidang-loadgen enroll)
#   2. memory per idle agent    (haidang-loadgen idle, at 5,000 and 20,000 connections)
#   3. sustained ingest         (haidang-loadgen ingest: saturation, then paced at 100,000 events/s)
#   4. the agent at idle        (real `haidang-agent run`s side by side, 120 s)
# Builds release binaries, runs everything in a temporary directory and prints the figures;
# JSON results are kept in $OUT (default: the temporary directory, printed at the end).
#
# The load generator shares the machine with the collector, so every figure is taken with
# both on the same cores; the loadgen also reports how much CPU each side used.
#
# Environment: CARGO_TARGET_DIR, OUT, QUIET_WAIT (seconds to wait for an idle machine before
# each measurement, default 600), INGEST_SECONDS (default 30), AGENT_IDLE_SECONDS (default
# 120), IDLE_COUNTS (default "5000 20000"), ENROLL_COUNT (default 20000), ENROLL_RUNS
# (default 3), PHASES (which of the four to run, default "1 2 3 4"; 2 needs 1), BIN (a
# directory of release binaries already built from this tree: skips the build, which would
# otherwise wait for any other cargo holding the target directory's lock).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/haidang/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
QUIET_WAIT="${QUIET_WAIT:-600}"
INGEST_SECONDS="${INGEST_SECONDS:-30}"
AGENT_IDLE_SECONDS="${AGENT_IDLE_SECONDS:-120}"
IDLE_COUNTS="${IDLE_COUNTS:-5000 20000}"
ENROLL_COUNT="${ENROLL_COUNT:-20000}"
ENROLL_RUNS="${ENROLL_RUNS:-3}"
PHASES="${PHASES:-1 2 3 4}"
phase() { [[ " $PHASES " == *" $1 "* ]]; }

if [ -z "${BIN:-}" ]; then
    echo "== build (release)"
    cargo build --release --locked -p haidang-collector -p haidang-agent -p haidang-bench \
        --bin haidang-collector --bin haidang-agent --bin haidang-loadgen
    BIN="$CARGO_TARGET_DIR/release"
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/haidang-bench.XXXXXX")"
OUT="${OUT:-$WORK}"
mkdir -p "$OUT"
COLLECTOR_PID=""
AGENT_PIDS=""
SHM_DIR=""

cleanup() {
    [ -n "$AGENT_PIDS" ] && kill $AGENT_PIDS 2>/dev/null || true
    [ -n "$COLLECTOR_PID" ] && kill "$COLLECTOR_PID" 2>/dev/null || true
    wait 2>/dev/null || true
    [ -n "$SHM_DIR" ] && rm -rf "$SHM_DIR" || true
}
trap cleanup EXIT

echo "== machine"
echo "cpus:    $(nproc) ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'))"
echo "memory:  $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
echo "kernel:  $(uname -sr)"
echo "rustc:   $(rustc --version)"
echo "commit:  $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (with local changes)')"
echo "storage: $(df -h "$WORK" | awk 'NR==2 {print $1, $NF}') (temporary directory $WORK)"
echo "udp:     net.core.rmem_max=$(cat /proc/sys/net/core/rmem_max)"

# Percent of CPU time idle over the next 3 seconds.
idle_percent() {
    local a b
    a=($(head -1 /proc/stat))
    sleep 3
    b=($(head -1 /proc/stat))
    local total=0 i
    for i in 1 2 3 4 5 6 7 8; do total=$((total + b[i] - a[i])); done
    echo $(( 100 * (b[4] + b[5] - a[4] - a[5]) / (total > 0 ? total : 1) ))
}

# Benchmarks on a shared machine are only worth printing when nothing else runs.
wait_quiet() {
    local deadline=$((SECONDS + QUIET_WAIT)) idle
    while :; do
        idle=$(idle_percent)
        if [ "$idle" -ge 90 ]; then
            echo "(machine ${idle}% idle)"
            return
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "WARNING: the machine is only ${idle}% idle; other processes compete for the CPU, figures are pessimistic"
            return
        fi
        sleep 5
    done
}

# start_collector DATA: starts `serve` on free loopback ports; sets COLLECTOR_PID, QUIC, API.
start_collector() {
    local data="$1" log="$1.log" banner="$1.banner"
    # Every simulated agent comes from the one loopback address, so the per-source cap on
    # connections still handshaking (meant for one attacker) is raised to the whole fleet's.
    "$BIN/haidang-collector" serve --data "$data" --quic 127.0.0.1:0 --http 127.0.0.1:0 \
        --max-unauthenticated-connections 100000 --max-unauthenticated-per-source 100000 \
        >"$banner" 2>"$log" &
    COLLECTOR_PID=$!
    QUIC="" API=""
    for _ in $(seq 100); do
        QUIC=$(awk '/QUIC \(agents\):/ {print $3}' "$banner")
        API=$(awk '/HTTP \(API/ {print $NF}' "$banner")
        [ -n "$QUIC" ] && [ -n "$API" ] && break
        kill -0 "$COLLECTOR_PID" 2>/dev/null || { cat "$log"; echo "collector failed to start"; exit 1; }
        sleep 0.1
    done
    [ -n "$QUIC" ] || { echo "collector did not print its addresses"; exit 1; }
    TOKEN_FILE="$data/api.token"
}

stop_collector() {
    kill "$COLLECTOR_PID" 2>/dev/null || true
    wait "$COLLECTOR_PID" 2>/dev/null || true
    COLLECTOR_PID=""
}

loadgen() {
    "$BIN/haidang-loadgen" --api "$API" --server "$QUIC" --token-file "$TOKEN_FILE" \
        --collector-pid "$COLLECTOR_PID" "$@"
}

phase_enroll() {
    echo
    echo "== 1. enrollment: $ENROLL_COUNT agents, 64 at a time, $ENROLL_RUNS runs on fresh collectors"
    local run save
    for run in $(seq "$ENROLL_RUNS"); do
        start_collector "$WORK/enroll-$run"
        wait_quiet
        # The first run's agents are kept for the idle-connection measurements.
        save=()
        [ "$run" = 1 ] && save=(--save "$WORK/identities.jsonl")
        loadgen --json-out "$OUT/enroll-$run.json" enroll --count "$ENROLL_COUNT" --concurrency 64 "${save[@]}"
        stop_collector
    done
}

phase_idle() {
    local n
    for n in $IDLE_COUNTS; do
        echo
        echo "== 2. memory per idle agent: $n connections (collector restarted, $ENROLL_COUNT agents enrolled)"
        start_collector "$WORK/enroll-1"
        wait_quiet
        loadgen --endpoints 8 --json-out "$OUT/idle-$n.json" \
            idle --connections "$n" --identities "$WORK/identities.jsonl" --settle 10 --hold 60
        stop_collector
    done
}

phase_ingest() {
    echo
    echo "== 3. ingest (one fresh store for the three runs)"
    start_collector "$WORK/ingest"
    wait_quiet
    echo "-- saturation: as fast as 64 agents with 8 batches of 1,000 events in flight each can go"
    loadgen --json-out "$OUT/ingest-saturation.json" ingest --agents 64 --events-per-batch 1000 --window 8 \
        --warmup 5 --seconds "$INGEST_SECONDS" --max-rate 1200000
    wait_quiet
    echo "-- paced at the target, 100,000 events/s: ack latency at that load"
    loadgen --json-out "$OUT/ingest-100k.json" ingest --agents 64 --events-per-batch 1000 --window 8 \
        --warmup 5 --seconds "$INGEST_SECONDS" --rate 100000
    wait_quiet
    echo "-- small batches (100 events, as a quiet agent sends them), saturation"
    loadgen --json-out "$OUT/ingest-small.json" ingest --agents 256 --events-per-batch 100 --window 8 \
        --warmup 5 --seconds "$INGEST_SECONDS" --max-rate 600000
    stop_collector
}

# CPU ticks (utime + stime) of a process, read with shell builtins only.
cpu_ticks() {
    local stat
    read -r stat <"/proc/$1/stat"
    stat=${stat##*) }
    set -- $stat
    echo $((${12} + ${13}))
}

# Agents run side by side over the same interval, so they see the same activity from the
# rest of the machine:
#   full        the target's configuration: FIM on an empty temporary directory, process sensor
#   full-tmpfs  the same with the directory on a tmpfs: fanotify marks a whole filesystem, so
#               this one does not hear the writes others make on the disk's filesystem
#   fim         the file sensor alone, on an empty directory of the disk's filesystem
#   process     the process sensor alone
#   bare        neither sensor: the fixed cost (heartbeat, status file, uplink)
# On a machine others use, the sensors record and react to what those others do.
phase_agent() {
    echo
    echo "== 4. the agent at idle, ${AGENT_IDLE_SECONDS} s"
    start_collector "$WORK/agents"
    local fingerprint kind dir watched token kinds="full fim process bare"
    api_cli() { HAIDANG_API_TOKEN=$(cat "$TOKEN_FILE") "$BIN/haidang-collector" --api "$API" "$@"; }
    fingerprint=$(api_cli ca fingerprint)
    if [ -d /dev/shm ] && SHM_DIR=$(mktemp -d /dev/shm/haidang-bench.XXXXXX 2>/dev/null); then
        kinds="full full-tmpfs fim process bare"
    fi
    declare -A pids=() c0=() c1=() s0=()
    for kind in $kinds; do
        dir="$WORK/agent-$kind"
        watched="$dir/watched"
        [ "$kind" = full-tmpfs ] && watched="$SHM_DIR/watched"
        mkdir -p "$dir" "$watched"
        case $kind in
            full*) printf '[fim]\npaths = ["%s"]\n[process]\nenabled = true\n' "$watched" ;;
            fim) printf '[fim]\npaths = ["%s"]\n[process]\nenabled = false\n' "$watched" ;;
            process) printf '[process]\nenabled = true\n' ;;
            bare) printf '[process]\nenabled = false\n' ;;
        esac >"$dir/agent.toml"
        token=$(api_cli token create --group bench --uses 1 --ttl 1h 2>/dev/null)
        "$BIN/haidang-agent" enroll --server "$QUIC" --token "$token" --ca-fingerprint "$fingerprint" \
            --state "$dir/state" >/dev/null
    done
    wait_quiet
    for kind in $kinds; do
        dir="$WORK/agent-$kind"
        "$BIN/haidang-agent" run --state "$dir/state" --config "$dir/agent.toml" 2>"$dir/agent.log" &
        pids[$kind]=$!
        AGENT_PIDS="$AGENT_PIDS $!"
    done
    sleep 15 # start-up: first connection, process table, baseline of the empty directory
    last_seq() { "$BIN/haidang-agent" status --json --state "$WORK/agent-$1/state" | jq -r .last_seq 2>/dev/null || echo 0; }
    for kind in $kinds; do s0[$kind]=$(last_seq "$kind"); done
    # No sampling loop while measuring: every process this script started would be an event
    # for the process sensors. /proc is read once at each end.
    local t0 t1 hz secs pid rss hwm ticks events cpu
    t0=$(date +%s.%N)
    for kind in $kinds; do c0[$kind]=$(cpu_ticks "${pids[$kind]}"); done
    sleep "$AGENT_IDLE_SECONDS"
    for kind in $kinds; do c1[$kind]=$(cpu_ticks "${pids[$kind]}"); done
    t1=$(date +%s.%N)
    hz=$(getconf CLK_TCK)
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}')
    for kind in $kinds; do
        pid=${pids[$kind]}
        rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
        hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
        ticks=$((c1[$kind] - c0[$kind]))
        events=$(($(last_seq "$kind") - s0[$kind]))
        cpu=$(awk -v c="$ticks" -v hz="$hz" -v s="$secs" 'BEGIN {printf "%.3f", 100 * c / hz / s}')
        echo "agent $kind: CPU ${cpu}% of a core over ${secs} s ($ticks ticks of 1/${hz} s);" \
            "RSS ${rss} KiB (peak ${hwm} KiB); ${events} events recorded"
        printf '{"benchmark":"agent_idle","agent":"%s","seconds":%s,"cpu_percent":%s,"rss_kib":%s,"peak_rss_kib":%s,"events_recorded":%s}\n' \
            "$kind" "$secs" "$cpu" "$rss" "$hwm" "$events" >"$OUT/agent-idle-$kind.json"
    done
    "$BIN/haidang-agent" status --state "$WORK/agent-full/state" | sed 's/^/  /' || true
    kill $AGENT_PIDS 2>/dev/null || true
    wait $AGENT_PIDS 2>/dev/null || true
    AGENT_PIDS=""
    stop_collector
}

phase 1 && phase_enroll
phase 2 && phase_idle
phase 3 && phase_ingest
phase 4 && phase_agent

echo
echo "== summary (targets from issue 2)"
summary() { [ -f "$2" ] && jq -r "$1" "$2" || true; }
if command -v jq >/dev/null; then
    for f in "$OUT"/enroll-*.json; do
        summary '"enrollment:        \(.enrollments_per_sec) agents/s (target ≥ 1,000); latency p50 \(.latency.p50_ms) ms, p99 \(.latency.p99_ms) ms; collector \(.collector_cpu_ms_per_enrollment) ms CPU each"' "$f"
    done
    for n in $IDLE_COUNTS; do
        summary '"idle connections:  \(.connections): \(.kib_per_connection) KiB per connection (target ≤ 64 KiB); \(.alive_after_hold) alive after the hold"' "$OUT/idle-$n.json"
    done
    summary '"ingest saturation: \(.events_per_sec) events/s (target ≥ 100,000); per-second min \(.per_second_min); ack p50 \(.ack_latency.p50_ms) ms, p99 \(.ack_latency.p99_ms) ms"' "$OUT/ingest-saturation.json"
    summary '"ingest at 100k/s:  \(.events_per_sec) events/s; ack p50 \(.ack_latency.p50_ms) ms, p99 \(.ack_latency.p99_ms) ms, max \(.ack_latency.max_ms) ms"' "$OUT/ingest-100k.json"
    summary '"ingest, 100/batch: \(.events_per_sec) events/s; ack p50 \(.ack_latency.p50_ms) ms, p99 \(.ack_latency.p99_ms) ms"' "$OUT/ingest-small.json"
    for f in "$OUT"/agent-idle-*.json; do
        summary '"agent idle, \(.agent): CPU \(.cpu_percent)% of a core (target ≤ 0.2%); RSS \(.rss_kib) KiB, peak \(.peak_rss_kib) KiB (target ≤ 20 MB); \(.events_recorded) events recorded"' "$f"
    done
else
    echo "(install jq for a summary; the figures are above)"
fi
echo "JSON results: $OUT"
