import Foundation
import Logging
import ProberCore
import ProberEngine
import ProberStorage
import ProberStore
import ProberTestSupport
import Testing

/// Wall-clock steps while the daemon runs, through the tracker into a real SQLite file: incidents open and
/// resolve after `for` and `resolve_after` of monotonic time, whatever the wall clock does.
@Suite("Incident tracker: wall-clock steps")
final class IncidentTrackerClockStepTests {
    let t0: Int64 = 1_800_000_000_000_000
    let hour: Int64 = 3_600
    let directory: TemporaryDirectory

    init() throws { directory = try TemporaryDirectory() }

    deinit { directory.remove() }

    /// Window 5, minor at 2 failures, major at 4, `for` 20 s, `resolve_after` 60 s, every 10 s.
    func spec() -> ProbeSpec {
        var s = ProbeSpec(name: "api", target: .http(HTTPTarget(url: "http://127.0.0.1:9/health")),
                          interval: .seconds(10), timeout: .seconds(2))
        s.incident.window = 5
        s.incident.minor = Threshold(latency: nil, failures: 2)
        s.incident.major = Threshold(latency: nil, failures: 4)
        s.incident.holdFor = .seconds(20)
        s.incident.resolveAfter = .seconds(60)
        return s
    }

    /// A check `t` seconds into the run on the scheduler's monotonic timeline, labelled `step` seconds off.
    func sample(_ t: Int64, ok: Bool, step: Int64) -> Sample {
        Sample(probe: "api", startedAt: t0 + (t + step) * 1_000_000, failure: ok ? nil : Failure(.httpStatus, "got 503"),
               phases: Phases(total: ok ? 1_500 : 3_000), status: ok ? 200 : 503, monotonicAt: t0 + t * 1_000_000)
    }

    /// Fails for 60 s then passes for 240 s, the wall clock stepping by `step` seconds from `at` on.
    func run(stepping step: Int64, at: Int64) throws -> [Incident] {
        let store = try Store(path: directory.path + "/prober.db")
        let writer = SampleWriter(store: store)
        let tracker = IncidentTracker(store: store, logger: Logger(label: "test"))
        tracker.update(probes: [spec()], sinks: [])
        for t in stride(from: Int64(0), to: 300, by: 10) {
            let s = sample(t, ok: t >= 60, step: t >= at ? step : 0)
            writer.append(s)
            tracker.record(s)
        }
        tracker.sync()
        try writer.close()
        return try store.incidents(since: nil).map(\.incident)
    }

    /// (step, from) in seconds: none; an hour either way while degrading and while recovering; a year ahead.
    static let clockSteps: [(Int64, Int64)] = [(0, 0), (3_600, 20), (-3_600, 20), (3_600, 100), (-3_600, 100), (365 * 86_400, 40)]

    @Test("one incident opens, escalates and resolves on time", arguments: clockSteps)
    func steps(_ step: Int64, at: Int64) throws {
        let incidents = try run(stepping: step, at: at)
        try #require(incidents.count == 1)
        let incident = incidents[0]
        #expect(incident.updates.map(\.kind) == [.opened, .escalated, .monitoring, .resolved])
        // Opened at t=30 (degraded from t=10, held 20 s), labelled with that check's wall time.
        #expect(incident.updates.first?.createdAt == t0 + (30 + (at <= 30 ? step : 0)) * 1_000_000)
        // Healthy from t=90 (one failure left in the window), resolved 60 s later at t=150.
        #expect(incident.updates.last?.createdAt == t0 + (150 + (at <= 150 ? step : 0)) * 1_000_000)
    }
}
