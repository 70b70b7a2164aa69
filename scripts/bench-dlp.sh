#!/usr/bin/env bash
# DLP benchmark: `haidang-agent scan --dlp --json` over a generated mixed text corpus against
# ripgrep with the detectors' own patterns, in the same run; then document extraction over a
# generated set of docx/xlsx/pptx/odt/pdf/eml/zip files. The issue's goals: DLP scan MB/s per
# core >= 0.5x ripgrep's (while validating), agent RSS <= 100 MB; docs/s has no peer.
#
#   scripts/bench-dlp.sh               # as root the first time: installs ripgrep and time
#
# Environment (all optional):
#   DLP_BENCH_WORK    scratch directory, emptied first            (default /tmp/dlpbench)
#   DLP_BENCH_MB      text corpus size in MB (10^6 bytes)         (default 300)
#   DLP_BENCH_DOCS    number of generated documents               (default 2000)
#   HAIDANG_AGENT     a release haidang-agent binary to use instead of building one
#   DLP_BENCH_REUSE   1: keep the corpora of an earlier run in DLP_BENCH_WORK (same sizes)
#   RUNS              timed runs per command                      (default 3)
#   QUIET_LOAD        before each timed run, wait (up to QUIET_WAIT seconds, default 120) for
#                     the 1-minute load average to fall below this (default: cores / 2); each
#                     row records the load it started with
#   CARGO_TARGET_DIR  where the release binary is built (default ~/.cache/haidang/target)
#
# The corpus (scripts/dlp-corpus.py, fixed seed): Vietnamese prose in UTF-8 (every fifth file
# NFD), web/ssh/application logs and CSV lists, with planted CCCD, MST, phone, card, BHYT and
# e-mail values and markings, and decoys (unknown CCCD provinces, wrong MST check digits,
# wrong Luhn digits, order numbers, "mật khẩu", "MẶT TRẬN").
#
# ripgrep gets the detectors' patterns as written in dlp/src/detectors (ASCII mode,
# `(?-u:…)`, as the agent compiles them) plus the marking vocabulary of
# dlp/src/markings.rs, case-insensitive, with and without diacritics; see the pattern
# file written to $WORK/patterns.txt. It counts every match (--count-matches); the agent also
# canonicalises (NFC/NFKC, folding, legacy readings), validates (checksums, provinces,
# ranges), weighs context and aggregates. Per core: ripgrep -j1 against the agent pinned to
# one CPU (taskset; the agent sizes its thread pool from the affinity mask); MB/s per core is
# corpus bytes over CPU time (user + sys, children included). Wall: default threads, both.
set -euo pipefail
cd "$(dirname "$0")/.."

WORK=${DLP_BENCH_WORK:-/tmp/dlpbench}
MB=${DLP_BENCH_MB:-300}
DOCS=${DLP_BENCH_DOCS:-2000}
RUNS=${RUNS:-3}
QUIET_LOAD=${QUIET_LOAD:-$(awk -v n="$(nproc)" 'BEGIN {print n / 2}')}
QUIET_WAIT=${QUIET_WAIT:-120}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/haidang/target}

say() { printf '\n== %s\n' "$*" >&2; }

need_apt=()
command -v rg >/dev/null || need_apt+=(ripgrep)
[ -x /usr/bin/time ] || need_apt+=(time)
command -v taskset >/dev/null || need_apt+=(util-linux)
if [ ${#need_apt[@]} -gt 0 ]; then
    say "installing ${need_apt[*]}"
    [ "$(id -u)" = 0 ] || { echo "error: run as root to install ${need_apt[*]}" >&2; exit 2; }
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
command -v python3 >/dev/null || { echo "error: python3 is needed" >&2; exit 2; }

if [ -n "${HAIDANG_AGENT:-}" ]; then
    AGENT=$(realpath "$HAIDANG_AGENT")
else
    say "building haidang-agent (release)"
    cargo build --release -p haidang-agent >&2
    AGENT=$CARGO_TARGET_DIR/release/haidang-agent
fi

if [ "${DLP_BENCH_REUSE:-0}" = 1 ] && [ -f "$WORK/manifest-text.json" ] && [ -f "$WORK/manifest-docs.json" ]; then
    say "reusing the corpora in $WORK"
    rm -rf "$WORK/runs"
else
    rm -rf "$WORK"
    mkdir -p "$WORK"
    say "generating a ${MB} MB text corpus and ${DOCS} documents"
    python3 scripts/dlp-corpus.py text "$WORK/text" "$MB" >/dev/null
    python3 scripts/dlp-corpus.py docs "$WORK/docs" "$DOCS" >/dev/null
fi
mkdir -p "$WORK/runs"
TEXT_BYTES=$(find "$WORK/text" -type f -printf '%s\n' | awk '{s += $1} END {print s}')
DOCS_BYTES=$(find "$WORK/docs" -type f -printf '%s\n' | awk '{s += $1} END {print s}')

# The detectors' patterns, as compiled by the agent (RegexBuilder::unicode(false)).
PATTERNS=$WORK/patterns.txt
cat >"$PATTERNS" <<'EOF'
(?-u:\b(?:[0-9]{9}|[0-9]{10}|[0-9]{12})\b)
(?-u:\b([A-Z]{2}) ?([1-5]) ?([0-9]{2}) ?([0-9]{10})\b)
(?-u:(?:(?:\+|\b00)84[ .\-]?\(?0?\)?|\b0)((?:[ .\-]?[0-9]){9,10})\b)
(?-u:\b01(?:2[0-9]|6[2-9]|8[68]|99)[ .\-]?[0-9]{3}[ .\-]?[0-9]{4}\b)
(?-u:\b(?:[0-9][ \-]?){15,18}[0-9]\b)
000201
(?-u:\b[A-Z][0-9]{7}\b)
(?-u:[A-Z0-9<]{9}[0-9]VNM[0-9]{6}[0-9][MF<][0-9]{6}[0-9][A-Z0-9<]{14}[0-9<][0-9])
(?-u:I[A-Z<]VNM[A-Z0-9<]{9}[0-9<][A-Z0-9<]{15})
(?-u:[0-9]{6}[0-9][MF<][0-9]{6}[0-9][A-Z<]{3}[A-Z0-9<]{11}[0-9])
(?-u:\b([1-9][0-9])[ \-]?([A-Z]{1,2}[0-9]?)[ \-]?([0-9]{3}\.?[0-9]{2}|[0-9]{4})\b)
(?-u:\b[A-Za-z0-9._%+\-]+@(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}\b)
(?i:tuyệt mật|tối mật|độ mật|tài liệu thu hồi|chỉ người có tên mới được bóc bì|giải mật|bản sao số|bản sao bí mật nhà nước|sao, chụp bí mật nhà nước|sao chụp bí mật nhà nước|bí mật nhà nước|thời hạn bảo vệ bí mật nhà nước|gia hạn thời hạn bảo vệ|lưu hành nội bộ|xem xong trả lại|không phổ biến|mật)
(?i:tuyet mat|toi mat|do mat|tai lieu thu hoi|chi nguoi co ten moi duoc boc bi|giai mat|ban sao so|ban sao bi mat nha nuoc|sao, chup bi mat nha nuoc|sao chup bi mat nha nuoc|bi mat nha nuoc|thoi han bao ve bi mat nha nuoc|gia han thoi han bao ve|luu hanh noi bo|xem xong tra lai|khong pho bien)
EOF

# timed LABEL NAME EXPECTED_EXIT CMD... : one row of $ROWS (scripts/bench-timed.sh).
ROWS=$WORK/rows.tsv
: >"$ROWS"
. scripts/bench-timed.sh
timed() {
    local label=$1 name=$2 expect=$3
    shift 3
    timed_run "$expect" "$label" "$name" "$@"
}

say "warming the page cache"
cat "$WORK"/text/*/* "$WORK"/docs/* >/dev/null

RG=(rg --no-ignore --hidden --no-config --count-matches -f "$PATTERNS")
# Single-core first, then default threads; the agent and ripgrep alternate.
say "timed runs ($RUNS each, alternating)"
for i in $(seq 1 "$RUNS"); do
    timed "agent scan --dlp, 1 CPU" "agent-1cpu-$i" 1 taskset -c 0 "$AGENT" scan --dlp --json "$WORK/text"
    timed "rg -j1" "rg-j1-$i" 0 "${RG[@]}" -j1 "$WORK/text"
done
for i in $(seq 1 "$RUNS"); do
    timed "agent scan --dlp, $(nproc) CPUs" "agent-all-$i" 1 "$AGENT" scan --dlp --json "$WORK/text"
    timed "rg, default threads" "rg-all-$i" 0 "${RG[@]}" "$WORK/text"
done
for i in $(seq 1 "$RUNS"); do
    timed "agent scan --dlp docs, 1 CPU" "docs-1cpu-$i" 1 taskset -c 0 "$AGENT" scan --dlp --json "$WORK/docs"
    timed "agent scan --dlp docs, $(nproc) CPUs" "docs-all-$i" 1 "$AGENT" scan --dlp --json "$WORK/docs"
done

# --- report ------------------------------------------------------------------------------
CPU_MODEL=$(lscpu | awk -F': +' '/^Model name/ {print $2; exit}')
RESULTS=$WORK/results.md
python3 - "$ROWS" "$WORK" "$TEXT_BYTES" "$DOCS_BYTES" "$(nproc)" "$CPU_MODEL" "$(uname -r)" \
    "$(rg --version | head -1)" >"$RESULTS" <<'PY'
import collections, glob, json, statistics, sys

rows_f, work, text_bytes, docs_bytes, cores, cpu, kernel, rg_version = sys.argv[1:9]
text_bytes, docs_bytes = int(text_bytes), int(docs_bytes)
text = json.load(open(f"{work}/manifest-text.json"))
docs = json.load(open(f"{work}/manifest-docs.json"))
rows = [l.rstrip("\n").split("\t") for l in open(rows_f) if l.strip()]
out = []
p = out.append

p(f"Text corpus: {text['files']} files, {text_bytes / 1e6:.1f} MB; documents: {docs['files']} files "
  f"({', '.join(f'{v} {k}' for k, v in sorted(docs['per_kind'].items()))}), {docs_bytes / 1e6:.1f} MB. "
  f"Machine: {cores} cores ({cpu}), Linux {kernel}; {rg_version}.\n")
p("| run | wall s | user s | sys s | CPU s | MB/s (wall) | MB/s per core (CPU) | peak RSS MiB | output lines | load avg before |")
p("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for label, wall, user, sys_, rss, load, rc, lines in rows:
    size = docs_bytes if "docs" in label else text_bytes
    cpu_s = float(user) + float(sys_)
    p(f"| {label} | {float(wall):.2f} | {float(user):.2f} | {float(sys_):.2f} | {cpu_s:.2f} | "
      f"{size / 1e6 / float(wall):.1f} | {size / 1e6 / cpu_s:.1f} | {int(rss) / 1024:.0f} | {int(lines):,} | {load} |")

def med(label, what):
    vals = []
    for r in rows:
        if r[0] != label:
            continue
        vals.append(float(r[1]) if what == "wall" else float(r[2]) + float(r[3]))
    return statistics.median(vals)

def rss(label):
    return max(int(r[4]) for r in rows if r[0] == label) / 1024

a1, r1 = "agent scan --dlp, 1 CPU", "rg -j1"
an, rn = f"agent scan --dlp, {cores} CPUs", "rg, default threads"
d1, dn = "agent scan --dlp docs, 1 CPU", f"agent scan --dlp docs, {cores} CPUs"
mb = text_bytes / 1e6
p("")
p(f"- **per core** (median CPU time, 1 CPU each): agent {mb / med(a1, 'cpu'):.1f} MB/s, "
  f"ripgrep -j1 {mb / med(r1, 'cpu'):.1f} MB/s: **{med(r1, 'cpu') / med(a1, 'cpu'):.2f}×** ripgrep (goal ≥ 0.5×)")
p(f"- per core, by wall time of the 1-CPU runs: agent {mb / med(a1, 'wall'):.1f} MB/s, ripgrep {mb / med(r1, 'wall'):.1f} MB/s: "
  f"{med(r1, 'wall') / med(a1, 'wall'):.2f}×")
p(f"- **wall, default threads**: agent {mb / med(an, 'wall'):.1f} MB/s, ripgrep {mb / med(rn, 'wall'):.1f} MB/s: "
  f"**{med(rn, 'wall') / med(an, 'wall'):.2f}×**; per core by CPU time: agent {mb / med(an, 'cpu'):.1f}, ripgrep {mb / med(rn, 'cpu'):.1f} MB/s")
n = docs["files"]
p(f"- **documents**: {n / med(dn, 'wall'):.0f} docs/s and {docs_bytes / 1e6 / med(dn, 'wall'):.1f} MB/s wall on {cores} CPUs; "
  f"{n / med(d1, 'wall'):.0f} docs/s ({docs_bytes / 1e6 / med(d1, 'wall'):.1f} MB/s) on 1 CPU; "
  f"{n / med(dn, 'cpu'):.0f} docs per CPU-second")
p(f"- **peak RSS** (largest process, /usr/bin/time): agent text {rss(a1):.0f} / {rss(an):.0f} MiB (1 / {cores} CPUs), "
  f"documents {rss(d1):.0f} / {rss(dn):.0f} MiB; ripgrep {rss(r1):.0f} / {rss(rn):.0f} MiB (goal ≤ 100 MB for the agent)")

# What each found (last run of each).
last = sum(1 for r in rows if r[0] == a1)
matches = 0
for line in open(f"{work}/runs/rg-j1-{last}.out"):
    matches += int(line.rsplit(":", 1)[1])
found = collections.Counter()
unscanned = 0
for line in open(f"{work}/runs/agent-1cpu-{last}.out"):
    d = json.loads(line)
    if d["kind"] == "dlp":
        found[d["detector"]] += d["count"]
    else:
        unscanned += 1
p(f"- ripgrep: {matches:,} pattern matches. Agent: " + ", ".join(f"{k} {v:,}" for k, v in sorted(found.items()))
  + f" (validated instances); {unscanned} not inspected")
p(f"- planted in the text corpus (valid values, decoys not counted): " + ", ".join(f"{k} {v:,}" for k, v in sorted(text["planted"].items())))
dfound = collections.Counter()
dun = 0
for line in open(f"{work}/runs/docs-all-{last}.out"):
    d = json.loads(line)
    if d["kind"] == "dlp":
        dfound[d["detector"]] += d["count"]
    else:
        dun += 1
p(f"- documents, agent: " + ", ".join(f"{k} {v:,}" for k, v in sorted(dfound.items())) + f"; {dun} parts not inspected")
print("\n".join(out))
PY
cat "$RESULTS"
