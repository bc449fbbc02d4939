// store-bench init DB PROBES        creates an empty store with PROBES probes registered (probe-0001 …)
// store-bench ingest DB PROBES N    appends N samples through SampleWriter, interleaving PROBES probes,
//                                   and prints "samples_per_second <n>"; rows match ingest_c.c exactly.
// store-bench baseline DB PROBES      reads every probe's baseline (the day before now), prints ms per probe.
// store-bench autoref DB PROBES       reads every probe's automatic-threshold reference (as of now, then the mean over the day) and the
//                                   learning probes (`status`), prints ms per probe beside Store.baseline's.
// store-bench maintain DB 0 NOW_US  runs Store.maintain(now:) with the default retention until done and
//                                   prints its duration and report.
// store-bench archive DB 0 NOW_US   the same, on a file whose days are not archived yet: merges every probe's
//                                   days of blocks that ended an hour before NOW_US into archived days.
// store-bench breakdown DB 0        prints what the raw samples' bytes are made of (Store.sampleBreakdown).
// store-bench version12 DB 0        rewrites the archived days as a prober of version 12 wrote them (format 1)
//                                   and sets the file's version to 12, for a baseline build's history.
import Foundation
import ProberCore
import ProberStore

func probeName(_ i: Int) -> String { String(format: "probe-%04d", i) }

/// The same deterministic rows as `row()` in ingest_c.c.
func sample(_ i: Int, probes: Int) -> Sample {
    let probe = i % probes + 1
    let round = Int64(i / probes)
    let ts: Int64 = 1_700_000_000_000_000 + round * 30_000_000 + Int64(probe) * 1_000
    let h = Int64((UInt64(i) &* 2_654_435_761) & 0xFFFF_FFFF)
    if i % 50 == 0 {
        return Sample(probe: probeName(probe), startedAt: ts, failure: Failure(.timeout, "timeout"), phases: Phases(dns: 200, total: 5_000_000))
    }
    let dns = 200 + h % 300, connect = 500 + h % 700, tls = 2_000 + h % 3_000, processing = 20_000 + h % 50_000, transfer = 300 + h % 500
    return Sample(probe: probeName(probe), startedAt: ts,
                  phases: Phases(dns: dns, connect: connect, tls: tls, processing: processing, transfer: transfer,
                                 total: dns + connect + tls + processing + transfer),
                  status: 200, bytes: 1_234, ipFamily: .ipv4)
}

func register(_ store: Store, probes: Int) throws {
    try store.register((1...probes).map {
        ProbeSpec(name: probeName($0), target: .http(HTTPTarget(url: "https://service-\($0).example.test/health")))
    })
}

let args = CommandLine.arguments
guard args.count >= 4, let probes = Int(args[3]) ?? (args[1] == "query" ? 0 : nil) else {
    FileHandle.standardError.write(Data("usage: store-bench init|ingest DB PROBES [N]\n".utf8))
    exit(2)
}
let store = try Store(path: args[2])
switch args[1] {
case "init":
    try register(store, probes: probes)
case "ingest":
    let n = Int(args[4])!
    try register(store, probes: probes)
    let samples = (0..<n).map { sample($0, probes: probes) }
    let writer = SampleWriter(store: store, configuration: .init(capacity: n, batchSize: 5_000), warning: { print("warning: \($0)") })
    let start = DispatchTime.now().uptimeNanoseconds
    for s in samples { writer.append(s) }
    try writer.close()
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    precondition(writer.statistics.written == n && writer.statistics.dropped == 0)
    print("samples_per_second \(Int(Double(n) / seconds))")
case "query":
    // store-bench query DB PROBE SINCE_SECONDS: in-process time of Store.history (no process start).
    let now = Int64(Date().timeIntervalSince1970 * 1_000_000)
    let since = now - Int64(args[4])! * 1_000_000
    for _ in 0..<5 {
        let start = DispatchTime.now().uptimeNanoseconds
        let h = try store.history(probe: args[3], since: since, until: now)!
        let ms = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        print(String(format: "history_ms %.2f", ms), h.sources.map(\.rawValue), h.summary.checks, h.buckets.count)
    }
case "baseline":
    // store-bench baseline DB PROBES: Store.baseline (the day before now) for every probe, as a mass outage
    // opening an incident on each would; prints the time per probe and the checks read.
    let now = Int64(Date().timeIntervalSince1970 * 1_000_000)
    var checks = 0
    let start = DispatchTime.now().uptimeNanoseconds
    for i in 1...probes { checks += try store.baseline(probe: probeName(i), until: now).checks }
    let ms = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
    print(String(format: "baseline_ms_per_probe %.2f checks_per_probe %d total_s %.2f", ms / Double(probes), checks / probes, ms / 1000))
case "autoref":
    // store-bench autoref DB PROBES: what the tracker reads per `latency: auto` probe every 5 min (the same hour on
    // the previous 7 days, else the day's baseline), beside Store.baseline measured in the same run; then
    // learningProbes (one query over every probe, what `status` adds).
    let now = Int64(Date().timeIntervalSince1970 * 1_000_000)
    func timed(_ body: () throws -> Int) rethrows -> (ms: Double, checks: Int) {
        let start = DispatchTime.now().uptimeNanoseconds
        let checks = try body()
        return (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6, checks)
    }
    var sameHour = 0
    for round in 1...2 {
        let base = try timed { try (1...probes).reduce(0) { $0 + (try store.baseline(probe: probeName($1), until: now).checks) } }
        let auto = try timed {
            try (1...probes).reduce(0) { total, i in
                let r = try store.autoReference(probe: probeName(i), location: nil, at: now)
                if r.sameHour { sameHour += 1 }
                return total + r.checks
            }
        }
        print(String(format: "round %d: baseline_ms_per_probe %.2f (%d checks)   auto_reference_ms_per_probe %.2f (%d checks, same hour: %d of %d)",
                     round, base.ms / Double(probes), base.checks / probes, auto.ms / Double(probes), auto.checks / probes,
                     sameHour / round, probes))
    }
    // A format 2 day is decoded up to the hour read, so the reference costs more late in the day: the mean of the
    // 24 hours before now (each with its 7 previous days; the oldest may be past the generated history).
    var hours: [Double] = []
    for h in 0..<24 {
        let at = now - Int64(h) * 3_600_000_000
        hours.append(try timed { try (1...probes).reduce(0) { $0 + (try store.autoReference(probe: probeName($1), location: nil, at: at).checks) } }.ms
            / Double(probes))
    }
    print(String(format: "auto_reference over the 24 hours before now: mean %.2f ms per probe (least %.2f, most %.2f)",
                 hours.reduce(0, +) / 24, hours.min()!, hours.max()!))
    let learning = try timed { try store.learningProbes(now: now).count }
    print(String(format: "learning_probes_ms %.2f (%d probes, %d learning, none with latency: auto)", learning.ms, probes, learning.checks))
case "maintain":
    let now = Int64(args[4])!
    let start = DispatchTime.now().uptimeNanoseconds
    var report = try store.maintain(now: now, policy: StoragePolicy(), budget: .seconds(600))
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    print(String(format: "maintain_ms %.0f", seconds * 1000), "rolled5m", report.rolled5m, "rolled1h", report.rolled1h,
          "pruned_raw", report.prunedSamples, "pruned5m", report.pruned5m, "transactions", report.transactions,
          "finished", report.finished)
    report = try store.maintain(now: now, policy: StoragePolicy())
    print("second_run_rolled5m", report.rolled5m, "pruned_raw", report.prunedSamples)
case "archive":
    let now = Int64(args[4])!
    let start = DispatchTime.now().uptimeNanoseconds
    let report = try store.maintain(now: now, policy: StoragePolicy(), budget: .seconds(3_600))
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    print(String(format: "archive_ms %.0f", seconds * 1000), "transactions", report.transactions, "finished", report.finished)
case "breakdown":
    for line in try store.sampleBreakdown() { print(line) }
case "version12":
    print("rewritten_days", try store.rewriteArchiveAsVersion12())
default:
    exit(2)
}
