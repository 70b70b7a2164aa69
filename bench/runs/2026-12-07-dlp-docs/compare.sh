#!/usr/bin/env bash
# compare.sh BEFORE AFTER WORK: two haidang-agent builds over the same corpora, alternating
# with ripgrep (the pattern file bench/bench-dlp.sh writes), RUNS times each (default 5):
#   text, 1 CPU:   before, rg -j1, after            (taskset -c 0; per-core MB/s from CPU time)
#   documents:     before, after                   (default threads; docs/s from wall time)
# then the findings of the last runs, by detector and confidence, before and after.
# WORK holds text/ and docs/ (bench/dlp-corpus.py text WORK/text MB, docs WORK/docs COUNT) and
# patterns.txt; rows go to WORK/rows.tsv (bench/bench-timed.sh columns), outputs to WORK/runs.
set -euo pipefail
BEFORE=$(realpath "$1"); AFTER=$(realpath "$2"); WORK=$(realpath "$3")
RUNS=${RUNS:-5}; QUIET_LOAD=${QUIET_LOAD:-100}; QUIET_WAIT=${QUIET_WAIT:-0}
cd "$(dirname "$0")/../../.."
ROWS=$WORK/rows.tsv; : >"$ROWS"; mkdir -p "$WORK/runs"
. bench/bench-timed.sh
RG=(rg --no-ignore --hidden --no-config --count-matches -f "$WORK/patterns.txt")
cat "$WORK"/text/*/* "$WORK"/docs/* >/dev/null
for i in $(seq 1 "$RUNS"); do
    timed_run "0|1" "before text 1cpu" "before-text-$i" taskset -c 0 "$BEFORE" scan --dlp --json "$WORK/text"
    timed_run 0 "rg -j1" "rg-$i" taskset -c 0 "${RG[@]}" -j1 "$WORK/text"
    timed_run "0|1" "after text 1cpu" "after-text-$i" taskset -c 0 "$AFTER" scan --dlp --json "$WORK/text"
done
for i in $(seq 1 "$RUNS"); do
    timed_run any "before docs" "before-docs-$i" "$BEFORE" scan --dlp --json "$WORK/docs"
    timed_run any "after docs" "after-docs-$i" "$AFTER" scan --dlp --json "$WORK/docs"
done
python3 - "$WORK" "$RUNS" <<'PY'
import collections, json, statistics, sys, glob, os
work, runs = sys.argv[1], int(sys.argv[2])
rows = [l.rstrip("\n").split("\t") for l in open(f"{work}/rows.tsv") if l.strip()]
size = lambda d: sum(os.path.getsize(p) for p in glob.glob(f"{work}/{d}/**", recursive=True) if os.path.isfile(p))
text_mb, docs_n = size("text") / 1e6, len([p for p in os.listdir(f"{work}/docs") if not p.endswith(".json")])
def med(label, what):
    v = [float(r[1]) if what == "wall" else float(r[2]) + float(r[3]) for r in rows if r[0] == label]
    return statistics.median(v)
print(f"text corpus {text_mb:.1f} MB; {docs_n} documents; {runs} alternating runs, medians")
for who in ("before", "after"):
    cpu = med(f"{who} text 1cpu", "cpu")
    print(f"{who}: text {text_mb / cpu:.1f} MB/s per core (CPU {cpu:.2f} s), "
          f"{med('rg -j1', 'cpu') / cpu:.2f}x ripgrep -j1 ({text_mb / med('rg -j1', 'cpu'):.1f} MB/s); "
          f"documents {docs_n / med(f'{who} docs', 'wall'):.0f} docs/s wall, {docs_n / med(f'{who} docs', 'cpu'):.0f} per CPU-s")
def findings(name):
    c = collections.Counter(); unscanned = collections.Counter()
    for line in open(f"{work}/runs/{name}.out"):
        d = json.loads(line)
        if d["kind"] == "dlp":
            c[(d["detector"], "count")] += d["count"]
            c[(d["detector"], "files")] += 1
            c[(d["detector"], d["confidence"])] += 1
        else:
            unscanned[d.get("reason", "?").split(":")[0]] += 1
    return c, unscanned
for corpus in ("text", "docs"):
    b, bu = findings(f"before-{corpus}-{runs}"); a, au = findings(f"after-{corpus}-{runs}")
    print(f"\n{corpus}: detector, files before, after, distinct values before, after; files by confidence before -> after")
    for det in sorted({k[0] for k in b} | {k[0] for k in a}):
        conf = lambda c: {k: c[(det, k)] for k in ("low", "medium", "high", "critical") if c[(det, k)]}
        print(f"  {det:8} {b[(det, 'files')]:7} {a[(det, 'files')]:7} {b[(det, 'count')]:9} {a[(det, 'count')]:9}  {conf(b)} -> {conf(a)}")
    print(f"  not scanned: before {dict(bu)}, after {dict(au)}")
PY
