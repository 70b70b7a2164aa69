#!/usr/bin/env bash
# The Windows agent under Wine (issue 15), indicative only: Wine is not Windows. Its
# wineserver does part of what the Windows kernel does (its CPU is counted separately), and
# drive Z: is this machine's ext4 seen through Wine's file layer, not NTFS.
#
#  1. FIM baseline of a generated tree (FILES files) with `haidang-agent.exe fim baseline`
#     under Wine against the Linux `haidang-agent fim baseline` on the same files, warm cache,
#     RUNS runs each, alternating.
#  2. Idle `run` of the Windows agent under Wine, enrolled with a collector on loopback,
#     watching a small folder with the process sensor on: RSS and CPU over IDLE_SECS after a
#     settling period; the Linux agent with the same configuration beside it for reference.
#
#   bench/bench-windows-agent.sh
#
# Environment (all optional):
#   FILES       files in the tree (default 50000), 100 per folder, 1–8 KiB each
#   RUNS        timed baselines per agent (default 3)
#   IDLE_SECS   length of the idle measurement (default 60)
#   SETTLE_SECS wait after start before measuring idle (default 20)
#   WORK        scratch folder, emptied first (default /tmp/winbench)
#   KEEP_TREE   1: keep the tree of an earlier run in WORK instead of making it again
#   CARGO_TARGET_DIR  where the release agents are built (default ~/.cache/haidang/target)
#
# Prints a Markdown summary, also written to $WORK/results.md; raw outputs stay in $WORK.
set -euo pipefail
cd "$(dirname "$0")/.."

FILES=${FILES:-50000}
RUNS=${RUNS:-3}
IDLE_SECS=${IDLE_SECS:-60}
SETTLE_SECS=${SETTLE_SECS:-20}
WORK=${WORK:-/tmp/winbench}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/haidang/target}
WINE=/usr/lib/wine/wine64
[ -x "$WINE" ] || WINE=$(command -v wine64)

say() { printf '\n== %s\n' "$*" >&2; }

if [ "${KEEP_TREE:-0}" = 1 ] && [ -d "$WORK/tree" ]; then
    find "$WORK" -mindepth 1 -maxdepth 1 ! -name tree ! -name tree-size.txt -exec rm -rf {} +
else
    rm -rf "$WORK"
fi
mkdir -p "$WORK"
RESULTS=$WORK/results.md
winpath() { printf 'Z:%s' "${1//\//\\}"; }

say "Wine prefix with the ProcessPrng shim (tests/wine/bcryptprimitives.c)"
export WINEPREFIX=$WORK/prefix WINEDEBUG=-all
"$WINE" wineboot --init >/dev/null 2>&1
# Wait for the wineserver wineboot started to go away, so that ours is the prefix's server.
/usr/lib/wine/wineserver -w
x86_64-w64-mingw32-gcc -O2 -shared -o "$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll" \
    tests/wine/bcryptprimitives.c tests/wine/bcryptprimitives.def -ladvapi32
# One wineserver for the whole run, started here so that its CPU can be read by pid.
/usr/lib/wine/wineserver -f -p &
WINESERVER=$!
trap 'kill "$WINESERVER" 2>/dev/null || true' EXIT
sleep 1
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TICK=$(getconf CLK_TCK)

if [ ! -d "$WORK/tree" ]; then
say "generating $FILES files"
python3 - "$WORK/tree" "$FILES" <<'EOF'
import os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(15)
for i in range(n):
    d = os.path.join(root, f"thư mục {i // 100:04d}")
    if i % 100 == 0:
        os.makedirs(d)
    with open(os.path.join(d, f"tệp {i:06d}.bin"), "wb") as f:
        f.write(rng.randbytes(rng.randint(1024, 8192)))
EOF
du -sb "$WORK/tree" | awk '{printf "%d bytes\n", $1}' >"$WORK/tree-size.txt"
fi
cat "$WORK/tree-size.txt" >&2

# Built after the tree is made, which can overlap a build already under way.
say "building the agents (release) and the collector (debug: it is only the agents' peer)"
cargo build --release --target x86_64-pc-windows-gnu -p haidang-agent >&2
cargo build --release -p haidang-agent >&2
cargo build -p haidang-collector >&2
EXE=$CARGO_TARGET_DIR/x86_64-pc-windows-gnu/release/haidang-agent.exe
AGENT=$CARGO_TARGET_DIR/release/haidang-agent
COLLECTOR=$CARGO_TARGET_DIR/debug/haidang-collector

# --- 1. FIM baseline -----------------------------------------------------------------------
baseline_linux() {
    rm -rf "$WORK/db-linux" && mkdir "$WORK/db-linux"
    /usr/bin/time -v "$AGENT" fim baseline --path "$WORK/tree" --db "$WORK/db-linux/fim.redb" --json \
        >"$WORK/linux-$1.json" 2>"$WORK/linux-$1.time"
}
baseline_wine() {
    rm -rf "$WORK/db-wine" && mkdir "$WORK/db-wine"
    local before after
    before=$(cpu_ticks "$WINESERVER")
    /usr/bin/time -v "$WINE" "$EXE" fim baseline --path "$(winpath "$WORK/tree")" \
        --db "$(winpath "$WORK/db-wine/fim.redb")" --json >"$WORK/wine-$1.json" 2>"$WORK/wine-$1.time"
    after=$(cpu_ticks "$WINESERVER")
    echo "$(((after - before) * 1000 / TICK))" >"$WORK/wine-$1.wineserver-ms"
}
say "warming the page cache (one untimed baseline each)"
baseline_linux warm && baseline_wine warm
for run in $(seq 1 "$RUNS"); do
    say "baseline run $run"
    baseline_linux "$run"
    baseline_wine "$run"
done
field() { grep -F "$2" "$1" | awk -F': ' '{print $2}'; }
wall_s() { field "$1" "Elapsed (wall clock)" | awk -F: '{ if (NF == 3) print $1 * 3600 + $2 * 60 + $3; else print $1 * 60 + $2 }'; }
{
    echo "| run | agent | files | wall s | user+sys s | wineserver CPU s | peak RSS MiB |"
    echo "|---|---|---|---|---|---|---|"
    for run in $(seq 1 "$RUNS"); do
        for side in linux wine; do
            t=$WORK/$side-$run.time
            cpu=$(awk -v u="$(field "$t" "User time")" -v s="$(field "$t" "System time")" 'BEGIN {printf "%.2f", u + s}')
            ws=-
            [ "$side" = wine ] && ws=$(awk -v m="$(cat "$WORK/wine-$run.wineserver-ms")" 'BEGIN {printf "%.2f", m / 1000}')
            rss=$(awk -v k="$(field "$t" "Maximum resident set size")" 'BEGIN {printf "%.1f", k / 1024}')
            files=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["files"])' "$WORK/$side-$run.json")
            echo "| $run | $side | $files | $(wall_s "$t") | $cpu | $ws | $rss |"
        done
    done
} >"$RESULTS"

# --- 2. idle run ---------------------------------------------------------------------------
say "idle: a collector on loopback, both agents enrolled"
mkdir -p "$WORK/idle/watched"
"$COLLECTOR" serve --data "$WORK/idle/collector" --quic 127.0.0.1:0 --http 127.0.0.1:0 \
    >"$WORK/idle/collector.out" 2>"$WORK/idle/collector.log" &
COLLECTOR_PID=$!
trap 'kill "$WINESERVER" "$COLLECTOR_PID" ${WIN_PID:-} ${LIN_PID:-} 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do grep -q "HTTP (API" "$WORK/idle/collector.out" 2>/dev/null && break; sleep 0.2; done
QUIC=$(sed -n 's/.*QUIC (agents): *//p' "$WORK/idle/collector.out" | tr -d ' ')
HTTP=$(sed -n 's|.*HTTP (API, /metrics, /healthz): http://||p' "$WORK/idle/collector.out" | tr -d ' ')
export HAIDANG_API_TOKEN
HAIDANG_API_TOKEN=$(cat "$WORK/idle/collector/api.token")
admin() { "$COLLECTOR" --api "http://$HTTP" "$@"; }
FINGERPRINT=$(admin ca fingerprint)
printf '[fim]\npaths = [%s]\n[uplink]\nheartbeat_interval = "30s"\n' "'$(winpath "$WORK/idle/watched")'" >"$WORK/idle/wine.toml"
printf '[fim]\npaths = ["%s"]\n[uplink]\nheartbeat_interval = "30s"\n' "$WORK/idle/watched" >"$WORK/idle/linux.toml"
"$WINE" "$EXE" enroll --server "$QUIC" --token "$(admin token create --group bench --uses 1 --ttl 1h)" \
    --ca-fingerprint "$FINGERPRINT" --state "$(winpath "$WORK/idle/state-wine")" >&2
"$AGENT" enroll --server "$QUIC" --token "$(admin token create --group bench --uses 1 --ttl 1h)" \
    --ca-fingerprint "$FINGERPRINT" --state "$WORK/idle/state-linux" >&2
RUST_LOG=info "$WINE" "$EXE" run --state "$(winpath "$WORK/idle/state-wine")" --config "$(winpath "$WORK/idle/wine.toml")" \
    2>"$WORK/idle/wine-agent.log" &
WIN_PID=$!
RUST_LOG=info "$AGENT" run --state "$WORK/idle/state-linux" --config "$WORK/idle/linux.toml" \
    2>"$WORK/idle/linux-agent.log" &
LIN_PID=$!
say "settling for $SETTLE_SECS s, then measuring for $IDLE_SECS s"
sleep "$SETTLE_SECS"
tr '\0' ' ' <"/proc/$WIN_PID/cmdline" >"$WORK/idle/wine-process.txt"
w0=$(cpu_ticks "$WIN_PID") l0=$(cpu_ticks "$LIN_PID") s0=$(cpu_ticks "$WINESERVER")
load=$(cut -d' ' -f1 /proc/loadavg)
sleep "$IDLE_SECS"
w1=$(cpu_ticks "$WIN_PID") l1=$(cpu_ticks "$LIN_PID") s1=$(cpu_ticks "$WINESERVER")
rss() { awk '/^VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
pct() { awk -v t="$1" -v hz="$TICK" -v s="$IDLE_SECS" 'BEGIN {printf "%.3f", t / hz / s * 100}'; }
{
    echo
    echo "Idle over $IDLE_SECS s after $SETTLE_SECS s (1-minute load at the start: $load):"
    echo
    echo "| agent | RSS MiB | CPU % of a core | wineserver CPU % |"
    echo "|---|---|---|---|"
    echo "| Windows agent under Wine | $(rss "$WIN_PID") | $(pct $((w1 - w0))) | $(pct $((s1 - s0))) |"
    echo "| Linux agent | $(rss "$LIN_PID") | $(pct $((l1 - l0))) | - |"
} >>"$RESULTS"
admin agents list >"$WORK/idle/agents.txt" 2>&1 || true
cat "$RESULTS"
