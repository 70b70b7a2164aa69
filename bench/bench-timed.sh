# Sourced by the bench-*.sh scripts that compare a tool with its peer: one timed run.
#
#   wait_quiet
#
# Waits up to QUIET_WAIT seconds for the 1-minute load average to fall below QUIET_LOAD.
#
#   timed_run ACCEPT LABEL NAME CMD...
#
# Waits for quiet (wait_quiet), runs CMD under /usr/bin/time -v with its output in $WORK/runs/NAME.{out,err,time}, and appends
# to $ROWS: label, wall s, user s, sys s, peak RSS KiB, load at start, exit status, output
# lines. ACCEPT is the exit statuses that count as success ("0", "0|1", or "any"); any other
# stops the script with exit 2, naming the run's stderr.

wait_quiet() {
    local waited=0
    while awk -v q="$QUIET_LOAD" '{exit !($1 >= q)}' /proc/loadavg && [ "$waited" -lt "$QUIET_WAIT" ]; do
        sleep 5
        waited=$((waited + 5))
    done
}

timed_run() {
    local accept=$1 label=$2 name=$3
    shift 3
    wait_quiet
    local load rc=0
    load=$(cut -d' ' -f1 /proc/loadavg)
    /usr/bin/time -v -o "$WORK/runs/$name.time" "$@" >"$WORK/runs/$name.out" 2>"$WORK/runs/$name.err" || rc=$?
    if [ "$accept" != any ] && ! [[ "$rc" =~ ^($accept)$ ]]; then
        echo "error: $label exited $rc (expected $accept); see $WORK/runs/$name.err" >&2
        exit 2
    fi
    local report=$WORK/runs/$name.time wall user sys rss lines
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, t, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i]; print s}' "$report")
    user=$(awk -F': ' '/User time/ {print $2}' "$report")
    sys=$(awk -F': ' '/System time/ {print $2}' "$report")
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$report")
    lines=$(wc -l <"$WORK/runs/$name.out")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$wall" "$user" "$sys" "$rss" "$load" "$rc" "$lines" >>"$ROWS"
    printf '%-40s wall %7.2f s  user %7.2f s  sys %5.2f s  RSS %7d KiB  %6d lines  (load %s, exit %s)\n' \
        "$label" "$wall" "$user" "$sys" "$rss" "$lines" "$load" "$rc" >&2
}
