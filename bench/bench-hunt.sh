#!/usr/bin/env bash
# Hunt benchmark: `haidang-collector hunt` over raw EVTX files against rsigma 0.23.0 (the
# engine our rules crate embeds, as its own CLI) over the same events pre-flattened to JSON
# lines, both with SigmaHQ's three rule folders, in the same run.
#
#   bench/bench-hunt.sh
#
# rsigma cannot read these EVTX files itself (its EVTX input is a cargo feature the published
# binary is built without), and reads one rule path only: it gets a directory of symlinks to
# the three folders, and the events as JSON lines, flattened the way Windows logs are fed to
# Sigma engines outside a SIEM (System fields and attributes as `Channel`, `Provider_Name`, …,
# then EventData / UserData fields; names without spaces). The flattening is done once, before
# timing, by `evtx_dump` (the CLI of the evtx crate our reader uses, same version) and a short
# Python step, and is not counted against rsigma: the comparison is our whole path from raw
# EVTX against rsigma's evaluation alone.
#
# Environment (all optional):
#   HUNT_BENCH_EVTX   directory of .evtx files       (default: the EVTX attack samples, from
#                     scripts/testdata.sh evtx-attack-samples)
#   HUNT_BENCH_RULES  SigmaHQ checkout holding rules, rules-emerging-threats and
#                     rules-threat-hunting           (default: scripts/testdata.sh sigma)
#   HUNT_BENCH_WORK   scratch directory, emptied first (default /tmp/huntbench)
#   HUNT_BENCH_TOOLS  where rsigma and evtx_dump are installed, outside the repository
#                     (default /work/tools)
#   RUNS              timed runs per tool            (default 3)
#   REPEAT            also time both over the events REPEAT times (links to the same EVTX
#                     files; the flat JSON concatenated), where rule loading weighs less
#                     (default 10; 0 skips it)
#   QUIET_LOAD        before each timed run, wait (up to QUIET_WAIT seconds, default 120) for
#                     the 1-minute load average to fall below this (default: cores / 2); each
#                     row records the load it started with
#   CARGO_TARGET_DIR  where the release binary is built (default ~/.cache/haidang/target)
#   HAIDANG_COLLECTOR a release haidang-collector already built from this tree: skips the
#                     build (which waits for any other cargo holding the target's lock)
#
# Prints a Markdown summary at the end, also written to $HUNT_BENCH_WORK/results.md; raw
# outputs (/usr/bin/time -v, detections) stay in $HUNT_BENCH_WORK.
set -euo pipefail
cd "$(dirname "$0")/.."

EVTX=${HUNT_BENCH_EVTX:-$(scripts/testdata.sh evtx-attack-samples)}
SIGMA=${HUNT_BENCH_RULES:-$(scripts/testdata.sh sigma)}
WORK=${HUNT_BENCH_WORK:-/tmp/huntbench}
TOOLS=${HUNT_BENCH_TOOLS:-/work/tools}
RUNS=${RUNS:-3}
REPEAT=${REPEAT:-10}
QUIET_LOAD=${QUIET_LOAD:-$(awk -v n="$(nproc)" 'BEGIN {print n / 2}')}
QUIET_WAIT=${QUIET_WAIT:-120}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/haidang/target}
RSIGMA_VERSION=0.23.0
EVTX_VERSION=0.15.1

say() { printf '\n== %s\n' "$*" >&2; }

for tool in python3 /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "error: $tool is needed" >&2; exit 2; }
done
EVTX=$(realpath "$EVTX")
SIGMA=$(realpath "$SIGMA")

# --- tools, outside the repository -----------------------------------------------------------
RSIGMA=$TOOLS/rsigma/bin/rsigma
if ! "$RSIGMA" --version 2>/dev/null | grep -q "$RSIGMA_VERSION"; then
    say "installing rsigma $RSIGMA_VERSION under $TOOLS/rsigma"
    cargo install rsigma --version "$RSIGMA_VERSION" --locked --root "$TOOLS/rsigma" >&2
fi
EVTX_DUMP=$TOOLS/evtx/bin/evtx_dump
if ! "$EVTX_DUMP" --version 2>/dev/null | grep -q "$EVTX_VERSION"; then
    say "installing evtx_dump $EVTX_VERSION under $TOOLS/evtx"
    cargo install evtx --version "$EVTX_VERSION" --locked --root "$TOOLS/evtx" >&2
fi

HAIDANG=${HAIDANG_COLLECTOR:-}
if [ -z "$HAIDANG" ]; then
    say "building haidang-collector (release)"
    cargo build --release -p haidang-collector >&2
    HAIDANG=$CARGO_TARGET_DIR/release/haidang-collector
fi

rm -rf "$WORK"
mkdir -p "$WORK/runs" "$WORK/rules"
ROWS=$WORK/rows.tsv
: >"$ROWS"
RESULTS=$WORK/results.md
for folder in rules rules-emerging-threats rules-threat-hunting; do
    ln -s "$SIGMA/$folder" "$WORK/rules/$folder"
done

# --- the same events as flat JSON lines, for rsigma (not timed) --------------------------------
say "flattening $EVTX to JSON lines with evtx_dump"
FLAT=$WORK/events.jsonl
find "$EVTX" -type f -name '*.evtx' -print0 | LC_ALL=C sort -z |
    xargs -0 -r -n 1 "$EVTX_DUMP" --no-confirm-overwrite -o jsonl 2>"$WORK/evtx_dump.err" |
    python3 -c '
import json, sys

def text(v):
    return v["#text"] if isinstance(v, dict) and "#text" in v else v

def fields(obj, out):
    for key, value in (obj or {}).items():
        if not key.startswith("#"):
            out[key.replace(" ", "")] = text(value)

for line in sys.stdin:
    line = line.strip()
    if not line.startswith("{"):
        continue
    event = json.loads(line).get("Event", {})
    flat = {}
    for key, value in (event.get("System") or {}).items():
        if isinstance(value, dict):
            if "#text" in value:
                flat[key] = value["#text"]
            for attr, v in (value.get("#attributes") or {}).items():
                flat[f"{key}_{attr}"] = v
        elif value is not None:
            flat[key] = value
    data = event.get("EventData")
    if isinstance(data, dict):
        fields(data, flat)
    user = event.get("UserData")
    if isinstance(user, dict):
        child = next((v for k, v in user.items() if isinstance(v, dict) and not k.startswith("#")), None)
        fields(child, flat)
    print(json.dumps(flat, ensure_ascii=False))
' >"$FLAT"
EVENTS=$(wc -l <"$FLAT")
FILES=$(find "$EVTX" -type f -name '*.evtx' | wc -l)
BYTES=$(find "$EVTX" -type f -name '*.evtx' -printf '%s\n' | awk '{s += $1} END {print s}')
FLAT_BYTES=$(stat -c %s "$FLAT")
say "$EVENTS events from $FILES files ($BYTES bytes of EVTX, $FLAT_BYTES bytes of JSON lines)"

# timed LABEL NAME CMD... : one row of $ROWS (bench/bench-timed.sh); every exit status is
# kept (the summary reports them).
. bench/bench-timed.sh
timed() { timed_run any "$@"; }

HAIDANG_ARGS=(hunt --format json --rules "$SIGMA/rules" --rules "$SIGMA/rules-emerging-threats"
    --rules "$SIGMA/rules-threat-hunting" "$EVTX")
RSIGMA_ARGS=(engine eval --quiet --output-format ndjson -r "$WORK/rules" -e "@$FLAT")
# Rule loading alone, the part of every run that does not depend on the events.
EMPTY=$WORK/empty
mkdir -p "$EMPTY"
: >"$WORK/empty.jsonl"

if [ "$REPEAT" -gt 0 ]; then
    say "the same events $REPEAT times"
    for i in $(seq 1 "$REPEAT"); do
        mkdir -p "$WORK/repeat/$i"
        find "$EVTX" -type f -name '*.evtx' -print0 | while IFS= read -r -d '' f; do
            ln -s "$f" "$WORK/repeat/$i/$(printf '%s' "${f#"$EVTX"/}" | tr '/' '_')"
        done
        cat "$FLAT" >>"$WORK/events-repeat.jsonl"
    done
fi

say "timed runs ($RUNS each, alternating)"
timed "haidang-collector hunt, no events" haidang-load "$HAIDANG" hunt --format json --rules "$SIGMA/rules" \
    --rules "$SIGMA/rules-emerging-threats" --rules "$SIGMA/rules-threat-hunting" "$EMPTY"
timed "rsigma engine eval, no events" rsigma-load "$RSIGMA" engine eval --quiet --output-format ndjson \
    -r "$WORK/rules" -e "@$WORK/empty.jsonl"
for i in $(seq 1 "$RUNS"); do
    timed "haidang-collector hunt (EVTX)" "haidang-$i" "$HAIDANG" "${HAIDANG_ARGS[@]}"
    timed "rsigma engine eval (flat JSON)" "rsigma-$i" "$RSIGMA" "${RSIGMA_ARGS[@]}"
done
if [ "$REPEAT" -gt 0 ]; then
    for i in $(seq 1 "$RUNS"); do
        timed "haidang-collector hunt (EVTX) ×$REPEAT" "haidang-x-$i" "$HAIDANG" hunt --format json \
            --rules "$SIGMA/rules" --rules "$SIGMA/rules-emerging-threats" --rules "$SIGMA/rules-threat-hunting" \
            "$WORK/repeat"
        timed "rsigma engine eval (flat JSON) ×$REPEAT" "rsigma-x-$i" "$RSIGMA" engine eval --quiet \
            --output-format ndjson -r "$WORK/rules" -e "@$WORK/events-repeat.jsonl"
    done
fi

# --- report ------------------------------------------------------------------------------
CPU_MODEL=$(lscpu | awk -F': +' '/^Model name/ {print $2; exit}')
python3 - "$ROWS" "$WORK/runs" "$EVENTS" "$FILES" "$BYTES" "$FLAT_BYTES" "$(nproc)" "$CPU_MODEL" \
    "$(uname -r)" >"$RESULTS" <<'PY'
import collections, json, statistics, sys

rows_f, runs, events, files, evtx_bytes, flat_bytes, cores, cpu, kernel = sys.argv[1:10]
rows = [l.rstrip("\n").split("\t") for l in open(rows_f) if l.strip()]
out = []
p = out.append

p(f"{int(events):,} events in {int(files)} EVTX files ({int(evtx_bytes) / 2**20:.1f} MiB; "
  f"{int(flat_bytes) / 2**20:.1f} MiB as flat JSON lines). Machine: {cores} cores ({cpu}), Linux {kernel}.\n")
p("| run | wall s | user s | sys s | CPU s | peak RSS MiB | detections | exit | load avg before |")
p("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for label, wall, user, sys_, rss, load, rc, lines in rows:
    cpu_s = float(user) + float(sys_)
    p(f"| {label} | {float(wall):.2f} | {float(user):.2f} | {float(sys_):.2f} | {cpu_s:.2f} | {int(rss) / 1024:.0f} "
      f"| {int(lines):,} | {rc} | {load} |")

def med(label, col):
    vals = [float(r[col]) if col != "cpu" else float(r[2]) + float(r[3]) for r in rows if r[0] == label]
    return statistics.median(vals) if vals else float("nan")

ours, peer = "haidang-collector hunt (EVTX)", "rsigma engine eval (flat JSON)"
p("")
p(f"- median wall: haidang {med(ours, 1):.2f} s, rsigma {med(peer, 1):.2f} s: "
  f"**{med(ours, 1) / med(peer, 1):.2f}×** rsigma's wall (target < 0.5×)")
p(f"- median CPU (user + sys): haidang {med(ours, 'cpu'):.2f} s, rsigma {med(peer, 'cpu'):.2f} s: "
  f"**{med(ours, 'cpu') / med(peer, 'cpu'):.2f}×** rsigma's CPU (target ≤ 1×)")
rss = lambda label: max(int(r[4]) for r in rows if r[0] == label) / 1024
x_ours = next((r[0] for r in rows if r[0].startswith(ours + " ×")), None)
x_peer = next((r[0] for r in rows if r[0].startswith(peer + " ×")), None)
if x_ours and x_peer:
    n = x_ours.rsplit("×", 1)[1]
    p(f"- the events ×{n} ({int(events) * int(n):,}): wall **{med(x_ours, 1) / med(x_peer, 1):.2f}×**, "
      f"CPU **{med(x_ours, 'cpu') / med(x_peer, 'cpu'):.2f}×** rsigma's (haidang {med(x_ours, 1):.2f} s wall, "
      f"{med(x_ours, 'cpu'):.2f} s CPU, {rss(x_ours):.0f} MiB; rsigma {med(x_peer, 1):.2f} s, "
      f"{med(x_peer, 'cpu'):.2f} s, {rss(x_peer):.0f} MiB)")
p(f"- peak RSS: haidang {rss(ours):.0f} MiB, rsigma {rss(peer):.0f} MiB (target < 150 MB)")
p(f"- rule loading alone (no events): haidang {med('haidang-collector hunt, no events', 1):.2f} s wall / "
  f"{med('haidang-collector hunt, no events', 'cpu'):.2f} s CPU / {rss('haidang-collector hunt, no events'):.0f} MiB; "
  f"rsigma {med('rsigma engine eval, no events', 1):.2f} s / {med('rsigma engine eval, no events', 'cpu'):.2f} s / "
  f"{rss('rsigma engine eval, no events'):.0f} MiB")

# Which rules fired, per tool (last run of each).
def fired(name, key):
    c = collections.Counter()
    for line in open(f"{runs}/{name}.out"):
        d = json.loads(line)
        c[key(d)] += 1
    return c
last = sum(1 for x in rows if x[0] == ours)
h = fired(f"haidang-{last}", lambda d: d["rule"]["id"] or d["rule"]["title"])
r = fired(f"rsigma-{last}", lambda d: d.get("rule_id") or d.get("rule_title"))
both = set(h) & set(r)
p(f"- detections: haidang {sum(h.values()):,} ({len(h)} rules), rsigma {sum(r.values()):,} ({len(r)} rules); "
  f"{len(both)} rules fire in both, {len(set(h) - set(r))} only in haidang, {len(set(r) - set(h))} only in rsigma")
only_r = collections.Counter({k: v for k, v in r.items() if k not in h})
if only_r:
    p(f"- most frequent rsigma-only rules: " + ", ".join(f"`{k}` ×{v}" for k, v in only_r.most_common(5)))
only_h = collections.Counter({k: v for k, v in h.items() if k not in r})
if only_h:
    p(f"- most frequent haidang-only rules: " + ", ".join(f"`{k}` ×{v}" for k, v in only_h.most_common(5)))
print("\n".join(out))
PY
cat "$RESULTS"
