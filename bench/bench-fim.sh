#!/usr/bin/env bash
# FIM benchmark: `haidang-agent fim baseline` against `aide --init` (Debian's aide, sha256
# plus the usual attributes p+i+n+u+g+s+m+c) on the same tree in the same run, cold (page
# cache dropped before each run, when the kernel lets us) and warm; then the same set of
# changes made to a scratch copy of a tree, found by `aide --check` and by
# `haidang-agent fim check`, and compared. The real tree is never modified.
#
#   bench/bench-fim.sh                   # as root: installs aide and time if missing
#
# Environment (all optional):
#   FIM_BENCH_TREE   tree timed for speed                 (default /usr)
#   FIM_BENCH_COPY   tree copied for the change test       (default /usr/share)
#   FIM_BENCH_WORK   scratch directory, emptied first      (default /tmp/fimbench)
#   AGENT_RUNS       haidang-agent runs per cache state    (default 3)
#   AIDE_WORKERS     also time `aide --init --workers=N` cold as a reference; 0 skips it
#                    (default: the number of cores)
#   QUIET_LOAD       before each timed run, wait (up to QUIET_WAIT seconds, default 120)
#                    for the 1-minute load average to fall below this (default: the number
#                    of cores / 2); every row records the load it started with
#   CARGO_TARGET_DIR where the release binary is built     (default ~/.cache/haidang/target)
#
# Prints a Markdown summary at the end, also written to $FIM_BENCH_WORK/results.md; raw
# outputs (/usr/bin/time -v, JSON reports) stay in $FIM_BENCH_WORK. Exits non-zero when the
# two tools do not find the same changes.
set -euo pipefail
cd "$(dirname "$0")/.."

TREE=${FIM_BENCH_TREE:-/usr}
COPY=${FIM_BENCH_COPY:-/usr/share}
WORK=${FIM_BENCH_WORK:-/tmp/fimbench}
AGENT_RUNS=${AGENT_RUNS:-3}
AIDE_WORKERS=${AIDE_WORKERS:-$(nproc)}
QUIET_LOAD=${QUIET_LOAD:-$(awk -v n="$(nproc)" 'BEGIN {print n / 2}')}
QUIET_WAIT=${QUIET_WAIT:-120}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/haidang/target}

say() { printf '\n== %s\n' "$*" >&2; }

# --- tools -------------------------------------------------------------------------------
need_apt=()
command -v aide >/dev/null || need_apt+=(aide)
[ -x /usr/bin/time ] || need_apt+=(time)
command -v python3 >/dev/null || need_apt+=(python3)
if [ ${#need_apt[@]} -gt 0 ]; then
    say "installing ${need_apt[*]}"
    [ "$(id -u)" = 0 ] || { echo "error: run as root to install ${need_apt[*]}" >&2; exit 2; }
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

say "building haidang-agent (release)"
cargo build --release -p haidang-agent >&2
AGENT=$CARGO_TARGET_DIR/release/haidang-agent

rm -rf "$WORK"
mkdir -p "$WORK/aide" "$WORK/agent" "$WORK/runs"
RESULTS=$WORK/results.md
ROWS=$WORK/rows.tsv
: >"$ROWS"

# --- cache state ---------------------------------------------------------------------------
drop_caches() { sync && echo 3 >/proc/sys/vm/drop_caches; }
if (drop_caches) 2>/dev/null; then
    MODES="cold warm"
else
    MODES="warm"
    say "cannot drop the page cache here (not root, or /proc/sys read-only): warm figures only"
fi

# Reads every file once: fills the cache for the warm runs, and sets each access time so that
# no timed run pays for relatime's once-a-day access-time updates (haidang-agent opens files
# with O_NOATIME; aide 0.18 does not).
warm_up() { find "$1" -xdev -type f -print0 | xargs -0 -r -n 256 -P 4 cat >/dev/null 2>&1 || true; }

# Bytes read from all disks so far (whole disks only: /sys/block lists no partitions).
disk_read() {
    local total=0 dev sectors
    for dev in /sys/block/*; do
        case ${dev##*/} in loop* | ram* | zram*) continue ;; esac
        sectors=$(awk '{print $3}' "$dev/stat" 2>/dev/null || echo 0)
        total=$((total + sectors * 512))
    done
    echo "$total"
}

# wait_quiet (bench/bench-timed.sh): the same wait for a quiet machine as the other benches.
. bench/bench-timed.sh

# timed LABEL MODE NAME CMD... : runs CMD under /usr/bin/time -v, after dropping the cache
# (MODE cold) or reading $WARM_TREE (MODE warm), and appends label, mode, wall s, user s,
# sys s, peak RSS KiB, load, exit status and MB read from disk to $ROWS.
timed() {
    local label=$1 mode=$2 name=$3
    shift 3
    wait_quiet
    # Cold: nothing cached. Warm: everything read just before (this VM may page out file
    # pages nobody touched for a while, so a warm-up long before is not enough).
    if [ "$mode" = cold ]; then drop_caches; else warm_up "$WARM_TREE"; fi
    local load rc=0 before
    load=$(cut -d' ' -f1 /proc/loadavg)
    before=$(disk_read)
    /usr/bin/time -v -o "$WORK/runs/$name.time" "$@" >"$WORK/runs/$name.out" 2>"$WORK/runs/$name.err" || rc=$?
    local read_mb=$((($(disk_read) - before) / 1000000))
    local wall user sys rss
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, t, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i]; print s}' "$WORK/runs/$name.time")
    user=$(awk -F': ' '/User time/ {print $2}' "$WORK/runs/$name.time")
    sys=$(awk -F': ' '/System time/ {print $2}' "$WORK/runs/$name.time")
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/runs/$name.time")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$mode" "$wall" "$user" "$sys" "$rss" "$load" "$rc" \
        "$read_mb" >>"$ROWS"
    printf '%-40s %-5s wall %7.2f s  user %6.2f s  sys %6.2f s  RSS %7d KiB  disk %6d MB  (load %s, exit %s)\n' \
        "$label" "$mode" "$wall" "$user" "$sys" "$rss" "$read_mb" "$load" "$rc" >&2
}

aide_conf() { # FILE TREE DB_IN DB_OUT REPORT
    cat >"$1" <<EOF
# sha256 plus the usual attributes: permissions, inode, link count, owner, group, size,
# mtime, ctime.
database_in=file:$3
database_out=file:$4
gzip_dbout=no
log_level=warning
report_format=json
report_url=file:$5
Bench = p+i+n+u+g+s+m+c+sha256
$2 Bench
EOF
}

# --- speed: the same tree, aide --init and haidang-agent fim baseline ---------------------------
WARM_TREE=$TREE
aide_conf "$WORK/aide/speed.conf" "$TREE" "$WORK/aide/speed.db" "$WORK/aide/speed.db.new" "$WORK/aide/speed-report.json"
say "warming up: reading every file of $TREE once"
warm_up "$TREE"
for mode in $MODES; do
    say "$mode runs on $TREE"
    rm -f "$WORK/aide/speed.db.new"
    timed "aide --init" "$mode" "aide-$mode" aide --config="$WORK/aide/speed.conf" --init
    if [ "$mode" = cold ] && [ "$AIDE_WORKERS" -gt 0 ]; then
        rm -f "$WORK/aide/speed.db.new"
        timed "aide --init --workers=$AIDE_WORKERS" "$mode" "aide-w$AIDE_WORKERS-$mode" \
            aide --config="$WORK/aide/speed.conf" --init --workers="$AIDE_WORKERS"
    fi
    # What the disk alone allows: every file read (no hashing) by 32 parallel readers.
    timed "reference: cat every file (32 readers)" "$mode" "cat-$mode" \
        sh -c 'find "$1" -xdev -type f -print0 | xargs -0 -r -n 256 -P 32 cat >/dev/null' sh "$TREE"
    for i in $(seq 1 "$AGENT_RUNS"); do
        rm -f "$WORK/agent/speed.redb"
        timed "haidang-agent fim baseline" "$mode" "agent-$mode-$i" \
            "$AGENT" fim baseline --path "$TREE" --db "$WORK/agent/speed.redb" --json
    done
done
AIDE_ENTRIES=$(grep -vc '^[@#]' "$WORK/aide/speed.db.new" || true)
AGENT_STATS=$(cat "$WORK/runs/agent-warm-$AGENT_RUNS.out")

# --- changes: a scratch copy, the same changes, aide --check and haidang-agent fim check -------
T=$WORK/tree
say "change test: copying $COPY to $T"
cp -a "$COPY" "$T"
WARM_TREE=$T
aide_conf "$WORK/aide/tree.conf" "$T" "$WORK/aide/tree.db" "$WORK/aide/tree.db.new" "$WORK/aide/check.json"
timed "aide --init (copy)" warm aide-copy aide --config="$WORK/aide/tree.conf" --init
mv "$WORK/aide/tree.db.new" "$WORK/aide/tree.db"
timed "haidang-agent fim baseline (copy)" warm agent-copy \
    "$AGENT" fim baseline --path "$T" --db "$WORK/agent/tree.redb" --json
# aide keeps whole seconds: let the clock move on so every change is visible to both.
sleep 1.1

CHANGES=$WORK/changes.tsv
: >"$CHANGES"
note() { printf '%s\t%s\n' "$1" "${2#"$T"/}" >>"$CHANGES"; }
# A directory of a few plain files to remove whole, chosen first so the other changes are
# made outside it.
d=""
while IFS= read -r cand; do
    n=$(find "$cand" -mindepth 1 | wc -l)
    plain=$(find "$cand" -mindepth 1 -maxdepth 1 -type f -links 1 | wc -l)
    if [ "$n" -ge 2 ] && [ "$n" -le 10 ] && [ "$n" = "$plain" ]; then d=$cand && break; fi
done < <(find "$T" -mindepth 2 -type d -links 2 -print | LC_ALL=C sort)
outside() { if [ -n "$d" ]; then grep -v -F "$d/"; else cat; fi; }
mapfile -t files < <(find "$T" -type f -links 1 -size +2k -print | outside | LC_ALL=C sort)
pick() { echo "${files[$(($1 * ${#files[@]} / 8))]}"; }
f=$(pick 0) && echo "appended by bench-fim" >>"$f" && note "content appended" "$f"
f=$(pick 1) && m=$(stat -c %Y "$f") && b=$(dd if="$f" bs=1 skip=100 count=1 status=none) &&
    { [ "$b" = X ] && c=Y || c=X; } && printf '%s' "$c" | dd of="$f" bs=1 seek=100 conv=notrunc status=none &&
    touch -m -d "@$m" "$f" && note "one byte changed, size and mtime kept" "$f"
f=$(pick 2) && chmod 0600 "$f" && note "chmod 600" "$f"
f=$(pick 3) && chown 12345:12345 "$f" && note "chown 12345:12345" "$f"
f=$(pick 4) && rm "$f" && note "deleted" "$f"
f=$(pick 5) && mv "$f" "$f.moved" && note "renamed to ${f##*/}.moved" "$f"
mkdir "$T/haidang-bench" && echo new >"$T/haidang-bench/new.txt" &&
    note "created (directory and file)" "$T/haidang-bench/new.txt"
l=$(find "$T" -type l -print | outside | LC_ALL=C sort | sed -n 1p)
if [ -n "$l" ]; then ln -sfn /nonexistent/bench-target "$l" && note "symlink retargeted" "$l"; fi
if [ -n "$d" ]; then rm -r "$d" && note "directory with $n files removed" "$d"; fi

say "checking"
timed "aide --check (copy)" warm aide-check aide --config="$WORK/aide/tree.conf" --check
timed "haidang-agent fim check (copy)" warm agent-check \
    "$AGENT" fim check --path "$T" --db "$WORK/agent/tree.redb" --json
cp "$WORK/runs/agent-check.out" "$WORK/agent/check.jsonl"

# --- report ------------------------------------------------------------------------------
status=0
python3 - "$ROWS" "$WORK/aide/check.json" "$WORK/agent/check.jsonl" "$CHANGES" "$T" \
    "$AIDE_ENTRIES" "$AGENT_STATS" "$TREE" >"$RESULTS" <<'PY' || status=$?
import json, statistics, sys

rows_f, aide_f, agent_f, changes_f, tree, aide_entries, agent_stats, speed_tree = sys.argv[1:9]
rows = [l.rstrip("\n").split("\t") for l in open(rows_f) if l.strip()]
stats = json.loads(agent_stats)
out = []
p = out.append

p(f"### Baseline of `{speed_tree}`\n")
p(f"{stats['entries']:,} paths ({stats['files']:,} files, {stats['bytes'] / 1e9:.2f} GB) for haidang-agent; "
  f"{int(aide_entries):,} entries in aide's database.\n")
p("| run | cache | wall s | user s | sys s | peak RSS MiB | read from disk MB | load avg before |")
p("|---|---|---:|---:|---:|---:|---:|---:|")
for label, mode, wall, user, sys_, rss, load, rc, read_mb in rows:
    flag = "" if rc == "0" or "check" in label else f" (exit {rc})"
    p(f"| {label}{flag} | {mode} | {float(wall):.2f} | {float(user):.2f} | {float(sys_):.2f} | {int(rss) / 1024:.1f} "
      f"| {int(read_mb):,} | {load} |")
p("")
for mode in ("cold", "warm"):
    aide = [float(r[2]) for r in rows if r[0] == "aide --init" and r[1] == mode]
    agent = [float(r[2]) for r in rows if r[0] == "haidang-agent fim baseline" and r[1] == mode]
    if aide and agent:
        med = statistics.median(agent)
        rss = max(int(r[5]) for r in rows if r[0] == "haidang-agent fim baseline" and r[1] == mode) / 1024
        p(f"- **{mode}**: aide --init {aide[0]:.1f} s; haidang-agent median {med:.2f} s of {len(agent)} "
          f"(runs: {', '.join(f'{a:.2f}' for a in agent)}); **{aide[0] / med:.1f}× faster** "
          f"(worst run {aide[0] / max(agent):.1f}×); agent peak RSS {rss:.1f} MiB")
    cat = [r for r in rows if r[0].startswith("reference: cat") and r[1] == mode]
    if cat:
        p(f"- {mode}, reading every file without hashing (32 parallel `cat`) took {float(cat[0][2]):.2f} s")
    if mode == "cold" and agent:
        mb = statistics.median(int(r[8]) for r in rows if r[0] == "haidang-agent fim baseline" and r[1] == mode)
        p(f"- cold, haidang-agent read {mb:,.0f} MB from disk, {mb / statistics.median(agent):,.0f} MB/s on average")
    workers = [r for r in rows if r[0].startswith("aide --init --workers") and r[1] == mode]
    if workers and agent:
        p(f"- {mode}, against `{workers[0][0]}` ({float(workers[0][2]):.1f} s, not aide's default): "
          f"{float(workers[0][2]) / statistics.median(agent):.1f}×")

# Both reports, reduced to (kind, path) with kind added | removed | changed.
aide = json.load(open(aide_f))
aide_set, dir_times = set(), []
for kind in ("added", "removed", "changed"):
    for path, flags in (aide.get(kind) or {}).items():
        details = set((aide.get("details") or {}).get(path, {}))
        if kind == "changed" and flags.startswith("d") and details <= {"modify_time", "change_time", "link_count"}:
            dir_times.append(path)  # a directory's times (and link count) move with its entries
            continue
        aide_set.add((kind, path))
agent_set, agent_desc = set(), {}
for line in open(agent_f):
    e = json.loads(line)
    if e["action"] == "created":
        agent_set.add(("added", e["path"]))
    elif e["action"] == "deleted":
        agent_set.add(("removed", e["path"]))
    elif e["action"] == "renamed":
        agent_set |= {("removed", e["old_path"]), ("added", e["path"])}
    else:
        agent_set.add(("changed", e["path"]))
    agent_desc[e["path"]] = e["action"] + (f" ({', '.join(e['changed'])})" if e["changed"] else "")
    if e.get("old_path"):
        agent_desc[e["old_path"]] = f"renamed to {e['path'].rsplit('/', 1)[-1]}"

def rel(path):
    return path[len(tree) + 1:] if path.startswith(tree + "/") else path

p(f"\n### Changes to a copy of the tree (`{tree}`)\n")
p("| change made | path |")
p("|---|---|")
for line in open(changes_f):
    what, path = line.rstrip("\n").split("\t")
    p(f"| {what} | `{path}` |")
p("\n| path | aide --check | haidang-agent fim check |")
p("|---|---|---|")
for kind, path in sorted(aide_set | agent_set, key=lambda k: (k[1], k[0])):
    a = (aide.get(kind) or {}).get(path, "—") if (kind, path) in aide_set else "—"
    h = agent_desc.get(path, "—") if (kind, path) in agent_set else "—"
    p(f"| `{rel(path)}` | {kind} `{a.strip()}` | {h} |")
p("")
if dir_times:
    p(f"aide also lists {len(dir_times)} directories whose mtime/ctime (and link count) moved because an "
      f"entry in them was added or removed ({', '.join(f'`{rel(d)}`' for d in sorted(dir_times))}); haidang-agent reports the "
      "entry itself and does not report a directory's mtime.\n")
same = aide_set == agent_set
p(f"**Same changes found: {'yes' if same else 'NO'}** ({len(agent_set)} added/removed/changed paths).")
if not same:
    p(f"\nOnly aide: {sorted(aide_set - agent_set)}\n\nOnly haidang-agent: {sorted(agent_set - aide_set)}")
print("\n".join(out))
sys.exit(0 if same else 1)
PY
cat "$RESULTS"
exit $status
