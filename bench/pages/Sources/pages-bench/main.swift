// pages-bench init DB TOTAL        creates a store with probe-0001 … probe-TOTAL registered in order (ids 1 …),
//                                  in 20 probe files, for gen_history to fill the first ones.
// pages-bench fill DB TOTAL FULL   gives probe-FULL+1 … probe-TOTAL one check a minute ago each, opens an
//                                  incident on every 500th probe, and runs maintenance until done.
// pages-bench page DB / | /probes/NAME   prints page 1 of / (or a probe page over 30 days), to weigh gzipped.
// pages-bench repeat DB ROUNDS [memory]  renders / (page 1, no cache) ROUNDS times and nothing else: for `perf
//                                  record`; with `memory`, the last checks come from memory as the daemon serves them.
// pages-bench measure DB ROUNDS    renders the pages in process from a read-only storage, as the daemon's
//                                  reader does (`/` cold twice: every last check from storage, then from memory as
//                                  the daemon has them), and prints the server time (median and max of ROUNDS, CPU
//                                  median and least) and the page weight before gzip of each.
import Dispatch
import Foundation
import ProberCore
import ProberStorage
import ProberStore
import ProberWeb

func probeName(_ i: Int) -> String { String(format: "probe-%04d", i) }

let args = CommandLine.arguments
guard args.count >= 4 else {
    FileHandle.standardError.write(Data("usage: pages-bench fill DB TOTAL FULL | measure DB ROUNDS\n".utf8))
    exit(2)
}
let now = Int64(Date().timeIntervalSince1970 * 1_000_000)

/// This thread's CPU time in ms: beside the wall time, it is what a busy machine disturbs least.
func cpuMilliseconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
    return Double(t.tv_sec) * 1e3 + Double(t.tv_nsec) / 1e6
}

switch args[1] {
case "init":
    let total = Int(args[3])!
    let storage = try Store(path: args[2], readOnly: false)
    try storage.register((1...total).map {
        ProbeSpec(name: probeName($0), target: .http(HTTPTarget(url: "https://service-\($0).example.test/health")),
                  source: SourceLocation(file: "probes/team-\($0 % 20).yaml", line: $0, column: 5))
    })
case "fill":
    let total = Int(args[3])!, full = Int(args[4])!
    let storage = try Store(path: args[2], readOnly: false)
    let recorder = storage.makeSampleRecorder(warning: { print("warning: \($0)") })
    if total > full {
        for i in (full + 1)...total {
            recorder.append(Sample(probe: probeName(i), startedAt: now - 60_000_000,
                                   phases: Phases(dns: 300, connect: 800, tls: 3_000, processing: 40_000, transfer: 500, total: 44_600),
                                   status: 200))
        }
    }
    try recorder.close()
    for i in stride(from: 500, through: total, by: 500) {
        let at = now - 3_600_000_000
        let text = "\(probeName(i)) is degraded. 5 of the last 10 checks failed since 10:00 UTC: 5 timed out."
        let incident = Incident(id: 0, probe: probeName(i), serviceID: nil, title: "\(probeName(i)): checks failing", description: text,
                                status: i % 1_000 == 0 ? .major : .minor, stage: .investigating, createdAt: at, updatedAt: at,
                                resolvedAt: nil, updates: [IncidentUpdate(kind: .opened, stage: .investigating, status: .minor,
                                                                          createdAt: at, description: text)])
        try storage.record(IncidentChange(incident: incident, update: incident.updates[0], tracking: OpenIncident(
            status: .minor, stage: .investigating, openedAt: at, degradedSince: at, failedChecks: 5, worstP95: nil, worstFailures: 5),
            outbox: []))
    }
    // Maintenance as the daemon runs it: sums gen_history's 1-hour rollups into days (schema v5).
    var passes = 0
    while try !storage.maintain(now: now, policy: StoragePolicy(), budget: .seconds(60)).finished { passes += 1 }
    print("filled: \(total) probes, \(total / 500) open incidents, maintained in \(passes + 1) calls")
case "measure":
    let rounds = Int(args[3])!
    let storage = try Store(path: args[2], readOnly: true, busyTimeout: .seconds(5))
    func measure(_ what: String, _ render: () throws -> HTML) rethrows {
        var times: [Double] = [], cpu: [Double] = []
        var bytes = 0
        for _ in 0..<rounds {
            let start = DispatchTime.now().uptimeNanoseconds, cpu0 = cpuMilliseconds()
            let page = try render()
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
            cpu.append(cpuMilliseconds() - cpu0)
            bytes = page.markup.utf8.count
        }
        times.sort()
        cpu.sort()
        print(String(format: "  %-44@ median %7.1f ms   max %7.1f ms  (CPU median %6.1f ms, least %6.1f ms)  %7.1f KB", what as NSString,
                     times[times.count / 2], times.last!, cpu[cpu.count / 2], cpu[0], Double(bytes) / 1_000))
    }
    let total = try storage.probeNames().count
    // A part's least time of ROUNDS (after one to warm up): on a shared machine the least is the most repeatable.
    func part(_ what: String, _ body: () throws -> Int) rethrows {
        _ = try body()
        var wall = Double.infinity, cpu = Double.infinity, n = 0
        for _ in 0..<rounds {
            let start = DispatchTime.now().uptimeNanoseconds, cpu0 = cpuMilliseconds()
            n = try body()
            wall = min(wall, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
            cpu = min(cpu, cpuMilliseconds() - cpu0)
        }
        print(String(format: "  part: %-38@ %7.1f ms  (CPU %6.1f ms, least of %d)  (%d)", what as NSString, wall, cpu, rounds, n))
    }
    // The daemon's last checks (`LatestSamples`): a copy of its rows, then a dictionary built from them, at each call.
    let rows = try storage.lastChecks().map { ($0.key, $0.value) }
    let remembered: StatusCache.RememberedChecks = {
        var out: [String: ProbeStatus.LastCheck] = [:]
        out.reserveCapacity(rows.count)
        for (name, check) in Array(rows) { out[name] = check }
        return out
    }
    let names = try storage.probeNames()
    // The first full probe: probe-0001 in this benchmark's own database, the first name in any other.
    let first = names.contains("probe-0001") ? "probe-0001" : names.first ?? "probe-0001"
    try part("last checks from memory") { remembered().count }
    try part("probeInfos") { try storage.probeInfos().count }
    try part("lastChecks") { try storage.lastChecks().count }
    try part("openIncidents") { try storage.openIncidents().count }
    try part("incidents(since: 90 d)") { try storage.incidents(since: now - 90 * 86_400_000_000).count }
    try part("overview(\(first), 90 d)") { try storage.overview(probes: [first], days: 90, now: now).count }
    try part("overview(\(first), 1 d)") { try storage.overview(probes: [first], days: 1, now: now).count }
    try part("history(\(first), 24 h, 1 h)") { try storage.history(probe: first, since: now - 86_400_000_000, until: now, every: 3_600_000_000, phase: .total)!.buckets.count }
    try part("overview(200 probes, 90 d)") { try storage.overview(probes: Array(names.prefix(200)), days: 90, now: now).count }
    try measure("/ (page 1 of \((total + 199) / 200)), no cache") { try StatusPage.render(.init(), storage: storage, now: now) }
    try measure("/ (page 1), no cache, last checks in memory") {
        try StatusPage.render(.init(), storage: storage, now: now, cache: StatusCache(remembered: remembered))
    }
    let cache = StatusCache()
    try measure("/ (page 1), shared cache as served") { try StatusPage.render(.init(), storage: storage, now: now, cache: cache) }
    var later = now
    try measure("/ (page 1), cache, listing expired") {
        later += StatusCache.listingLifetime
        return try StatusPage.render(.init(), storage: storage, now: later, cache: cache)
    }
    try measure("/?page=25") { try StatusPage.render(.init(page: 25), storage: storage, now: now) }
    try measure("/?name=probe-00") { try StatusPage.render(.init(name: "probe-00"), storage: storage, now: now) }
    try measure("/?state=degraded") { try StatusPage.render(.init(state: "degraded"), storage: storage, now: now) }
    try measure("/?file=probes/team-3.yaml") { try StatusPage.render(.init(file: "probes/team-3.yaml"), storage: storage, now: now) }
    for range in ["1h", "24h", "7d", "30d", "1y"] {
        let r = ProbePage.Range.named(range)
        try measure("/probes/\(first)?range=\(range)") {
            ProbePage.render(try ProbePage.load(first, range: r, storage: storage, now: now)!, range: r, now: now)
        }
    }
    try measure("/incidents") { try IncidentPages.list(storage: storage, now: now, openOnly: false) }
case "repeat":
    let storage = try Store(path: args[2], readOnly: true, busyTimeout: .seconds(5))
    let checks = try storage.lastChecks()
    let remembered: StatusCache.RememberedChecks? = args.count > 4 && args[4] == "memory" ? { @Sendable in checks } : nil
    var bytes = 0
    for _ in 0..<Int(args[3])! {
        bytes += try StatusPage.render(.init(), storage: storage, now: now, cache: StatusCache(remembered: remembered)).markup.utf8.count
    }
    print(bytes)
case "page":
    // pages-bench page DB PATH: the page's HTML on standard output (to weigh it gzipped: | gzip -c | wc -c).
    let storage = try Store(path: args[2], readOnly: true, busyTimeout: .seconds(5))
    if args[3] == "/" {
        print(try StatusPage.render(.init(), storage: storage, now: now).markup)
    } else {
        let r = ProbePage.Range.named("30d")
        print(ProbePage.render(try ProbePage.load(String(args[3].dropFirst("/probes/".count)), range: r, storage: storage, now: now)!,
                               range: r, now: now).markup)
    }
default:
    FileHandle.standardError.write(Data("unknown mode \(args[1])\n".utf8))
    exit(2)
}
