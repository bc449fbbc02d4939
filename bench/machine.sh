# Sourced by the benchmarks: how busy this machine's cores were between two moments.
# machine_ticks: the machine's CPU time so far from /proc/stat, "busy idle steal" in ticks (busy: user, nice, system,
# irq, softirq; idle: idle and iowait). machine_share BEFORE AFTER: "busy B %, idle I %, stolen S %" of the time
# between. This machine is a virtual one: time the hypervisor gave another guest (steal) slows whatever is measured,
# and is not the benchmark's doing.
machine_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8, $5 + $6, $9 }' /proc/stat; }
machine_share() {
  awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " "); busy = y[1] - x[1]; idle = y[2] - x[2]; steal = y[3] - x[3]
    t = busy + idle + steal; if (t <= 0) { print "-"; exit }
    printf "busy %.0f %%, idle %.0f %%, stolen %.0f %%\n", 100 * busy / t, 100 * idle / t, 100 * steal / t }'
}
# busy_processes SECONDS: the processes that used more than 5 % of a core over SECONDS (pid, name, %), this shell's
# own excluded, or "none". A daemon left running from an earlier experiment skews every figure of a run.
busy_processes() {
  local clk before after; clk=$(getconf CLK_TCK)
  # pid, then utime + stime: the name, in parentheses, may hold spaces, so the fields are counted after its last ")".
  snap() { cat /proc/[0-9]*/stat 2>/dev/null | sed -E 's/^([0-9]+) \((.*)\) (.*)$/\1 \3/' | awk '{ print $1, $13 + $14 }'; }
  before=$(snap); sleep "$1"; after=$(snap)
  awk -v clk="$clk" -v s="$1" -v self=$$ 'NR == FNR { a[$1] = $2; next }
    ($1 in a) && $1 != self { pct = 100 * ($2 - a[$1]) / clk / s; if (pct > 5) print $1, pct }' <(echo "$before") <(echo "$after") |
    while read -r pid pct; do printf '%s %s %.0f %%\n' "$pid" "$(cat "/proc/$pid/comm" 2>/dev/null || echo '?')" "$pct"; done |
    paste -sd, - | sed 's/,/, /g; s/^$/none/'
}
