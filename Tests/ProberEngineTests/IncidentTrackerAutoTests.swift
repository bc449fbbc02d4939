import Foundation
import Logging
import ProberCore
import ProberEngine
import ProberStorage
import ProberStore
import ProberTestSupport
import Testing

/// `latency: auto` through the tracker and a real SQLite file: the reference comes from the stored checks, and
/// a restart in the middle of a slow episode neither resolves it nor opens a second incident.
@Suite("Incident tracker: automatic thresholds")
struct IncidentTrackerAutoTests {
    let t0: Int64 = 1_800_000_000_000_000
    let directory: TemporaryDirectory

    init() throws { directory = try TemporaryDirectory() }

    /// Every 10 s, window 5, minor when slow (auto) or 3 failures, `for` 30 s, `resolve_after` 60 s.
    func spec() -> ProbeSpec {
        var s = ProbeSpec(name: "api", target: .http(HTTPTarget(url: "http://127.0.0.1:9/health")),
                          interval: .seconds(10), timeout: .seconds(5))
        s.incident.window = 5
        s.incident.minor = Threshold(latency: nil, failures: 3, autoLatency: true)
        s.incident.major = Threshold(latency: nil, failures: 5)
        s.incident.holdFor = .seconds(30)
        s.incident.resolveAfter = .seconds(60)
        return s
    }

    /// One process: a store, a writer and a tracker fed a check every 10 s in `[from, to)` of `ms` each.
    func run(_ from: Int64, _ to: Int64, ms: Int64) throws -> Store {
        let store = try Store(path: directory.path + "/prober.db")
        let writer = SampleWriter(store: store)
        let tracker = IncidentTracker(store: store, logger: Logger(label: "test"))
        tracker.update(probes: [spec()], sinks: [])
        for t in stride(from: from, to: to, by: 10) {
            let sample = Sample(probe: "api", startedAt: t0 + t * 1_000_000, phases: Phases(total: ms * 1_000), status: 200)
            writer.append(sample)
            tracker.record(sample)
        }
        tracker.sync()
        try writer.close()
        return store
    }

    @Test func learnsThenOpensOnceAndARestartKeepsTheEpisode() throws {
        defer { directory.remove() }
        // 40 fast checks: while learning, 2 s responses would open nothing.
        _ = try run(0, 400, ms: 100)
        var store = try run(400, 460, ms: 100)
        #expect(try store.incidents(since: nil).isEmpty)
        // Restarted: the reference (40 checks at 100 ms) applies; 2 s opens a minor incident after `for`.
        store = try run(460, 600, ms: 2_000)
        let opened = try store.incidents(since: nil)
        #expect(opened.count == 1)
        let incident = try #require(opened.first?.incident)
        #expect(incident.description.contains("20× its usual 100 ms"), "\(incident.description)")
        #expect(incident.updates.first?.evidence.contains("\"reference_checks\":") == true, "\(incident.updates.first?.evidence ?? "")")
        // Restarted in the middle of the slow episode: still the one incident, still open, nothing resolved.
        store = try run(600, 1_200, ms: 2_000)
        let after = try store.incidents(since: nil)
        #expect(after.count == 1)
        #expect(after.first?.incident.updates.map(\.kind) == [.opened])
    }
}
