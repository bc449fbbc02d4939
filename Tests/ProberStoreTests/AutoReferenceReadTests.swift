import ProberCore
@testable import ProberStore
import ProberStorage
import ProberTestSupport
import Testing

/// Issue 16 item 2: the automatic thresholds' reference reads each day's hour once (an archived day decoded once,
/// not once a quarter) and takes exactly the checks a read of each quarter took.
@Suite struct AutoReferenceReadTests {
    let day: Int64 = 86_400_000_000
    let hour: Int64 = 3_600_000_000
    /// A Monday at 00:00 UTC.
    let start: Int64 = 1_700_438_400_000_000

    /// What `sameHourChecks` did before: one read per quarter, newest first, its first `perSlice` passing checks
    /// outside the incidents.
    func quarterByQuarter(_ store: Store, probe id: Int64, at: Int64) throws -> (checks: [PackedPhases], days: Int) {
        try store.read { db in
            let slices = AutoReferenceSlices(at: at)
            let excluded = try store.incidentSpans(of: id, from: slices.from, until: at, db)
            var checks: [PackedPhases] = []
            var days: Set<Int> = []
            for slice in slices.slices {
                var taken = 0
                try store.forEachSample(probe: id, from: slice.start, to: slice.end, newestFirst: true, db) { sample in
                    guard sample.reason == 0, sample.hasPhases else { return true }
                    if excluded.contains(where: { $0.contains(sample.ts) }) { return true }
                    checks.append(PackedPhases(sample.phases))
                    days.insert(slice.day)
                    taken += 1
                    return taken < AutoReferenceSlices.perSlice
                }
            }
            return (checks, days.count)
        }
    }

    /// Nine days of a probe whose interval changes (so quarters hold from a few to 90 checks), with failures, checks
    /// without phases, a gap, an incident, days archived and the last in blocks, late samples laid over an archived
    /// day: at times across the last day (hours across midnight included) both reads take the same checks.
    @Test func theHourReadTakesTheSameChecksAsAReadOfEachQuarter() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(path: directory.path + "/prober.db")
        var random = SeededRandom(seed: 16)
        var samples: [Sample] = []
        var ts = start
        while ts < start + 9 * day {
            let interval: Int64 = [10_000_000, 30_000_000, 60_000_000, 300_000_000][Int((ts - start) / (5 * hour)) % 4]
            ts += interval + Int64.random(in: 0..<3_000, using: &random)
            if (ts - start) % day > 20 * hour && (ts - start) % day < 21 * hour && (ts - start) / day == 4 { continue }   // a gap
            let failed = Int.random(in: 0..<12, using: &random) == 0
            let bare = Int.random(in: 0..<40, using: &random) == 0
            let processing = random.latency(median: 40_000)
            samples.append(Sample(probe: "api", startedAt: ts, failure: failed ? Failure(.timeout, "timed out") : nil,
                                  phases: bare ? Phases() : Phases(dns: 300, processing: processing, total: 300 + processing),
                                  status: failed ? nil : 200))
        }
        try store.write { try store.insert(samples, $0) }
        let now = start + 8 * day + 2 * hour
        try store.queue.sync { try store.fold(before: now) }
        while try !store.maintain(now: now, policy: StoragePolicy(), budget: .seconds(600)).finished {}
        #expect(try store.read { try $0.scalar("SELECT count(*) FROM sample_archive") } == 8)
        // Late samples folded beside an archived day: a reader lays them over it.
        let late = (0..<5).map { Sample(probe: "api", startedAt: start + 5 * day + 13 * hour + Int64($0) * 61_000_000,
                                        phases: Phases(total: 1_000 + Int64($0)), status: 200) }
        try store.write { try store.insert(late, $0) }
        try store.queue.sync { try store.fold(before: now) }

        let episode = start + 3 * day + 13 * hour + 20 * 60_000_000
        let incident = Incident(id: 0, probe: "api", serviceID: nil, title: "API: slow", description: "opened", status: .minor,
                                stage: .investigating, createdAt: episode, updatedAt: episode, resolvedAt: nil, updates: [])
        var tracking = OpenIncident(status: .minor, stage: .investigating, openedAt: episode, degradedSince: episode,
                                    failedChecks: 0, worstP95: nil, worstFailures: 0)
        let incidentID = try store.openIncident(incident, tracking: tracking, outbox: [])
        tracking.stage = .resolved
        try store.appendUpdate(incidentID: incidentID, IncidentUpdate(kind: .resolved, stage: .resolved, status: .minor,
                                                                       createdAt: episode + hour / 3, description: "resolved"),
                               tracking: tracking, outbox: [])

        var ats = [start + 8 * day + 13 * hour + 17 * 60_000_000, start + 8 * day + 10 * 60_000_000,
                   start + 8 * day + day - 10 * 60_000_000, start + 8 * day + 20 * hour + 30 * 60_000_000]
        ats += (0..<12).map { _ in start + 8 * day + Int64.random(in: 0..<day, using: &random) }
        var sameHour = 0
        for at in ats {
            let before = try quarterByQuarter(store, probe: 1, at: at)
            let after = try store.read { db in
                let slices = AutoReferenceSlices(at: at)
                return try store.sameHourChecks(probe: 1, slices, excluding: try store.incidentSpans(of: 1, from: slices.from, until: at, db), db)
            }
            #expect(after.checks == before.checks, "at \(at)")
            #expect(after.days == before.days, "at \(at)")
            let reference = try store.autoReference(probe: "api", location: nil, at: at)
            if reference.sameHour {
                sameHour += 1
                #expect(reference == AutoReference(Baseline(before.checks, oldest: at, until: at), sameHour: true))
            }
        }
        #expect(sameHour >= ats.count / 2)
    }

    /// The last archived day is kept decoded only as far as the last read needed: reads of a day's hours in any order
    /// (forwards, backwards, past the end, across midnight) give what the whole history filtered gives.
    @Test func readsOfAnArchivedDayUpToTheirEndGiveEverySampleInRange() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(path: directory.path + "/prober.db")
        let samples = makeSamples(probe: "api", start: start + 7_777, interval: 40_000_000, count: 3 * 2_160, failureRate: 0.1, seed: 3)
        try store.write { try store.insert(samples, $0) }
        let now = start + 3 * day + 2 * hour
        try store.queue.sync { try store.fold(before: now) }
        while try !store.maintain(now: now, policy: StoragePolicy(), budget: .seconds(600)).finished {}
        #expect(try store.read { try $0.scalar("SELECT count(*) FROM sample_archive") } == 3)
        let all = try store.read { try store.samples(probe: 1, from: .min, to: .max, $0) }
        #expect(all.map(\.ts) == samples.map(\.startedAt))
        var ranges = (0..<30).map { h in (start + Int64(h) * hour, start + Int64(h + 1) * hour) }
        ranges += ranges.reversed() + [(start + day - hour, start + day + hour), (start + 5 * hour, start + 5 * hour),
                                       (start - day, start + 3 * day + 1), (start + day + 3, start + day + 4)]
        var random = SeededRandom(seed: 5)
        ranges += (0..<40).map { _ in
            let from = start + Int64.random(in: -hour...(3 * day), using: &random)
            return (from, from + Int64.random(in: 0...(day / 2), using: &random))
        }
        for (from, to) in ranges {
            let read = try store.read { try store.samples(probe: 1, from: from, to: to, $0) }
            #expect(read.map { "\($0)" } == all.filter { $0.ts >= from && $0.ts < to }.map { "\($0)" }, "\(from)..<\(to)")
        }
    }
}
