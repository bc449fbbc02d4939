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
