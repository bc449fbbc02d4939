import Foundation
import Logging
import ProberCore
import ProberDelivery
import ProberEngine
import ProberStorage
import ProberStore
import ProberTestSupport
import Testing

/// A restart after a day-long stop, with the checks before it written with their old times into a real
/// SQLite file: the rebuilt tracker does not take them (nor the day without checks) as evidence of now.
@Suite("Incident tracker: restart after downtime")
final class IncidentTrackerRestartTests {
    let t0: Int64 = 1_800_000_000_000_000
    let day: Int64 = 86_400
    let directory: TemporaryDirectory

    init() throws { directory = try TemporaryDirectory() }

    deinit { directory.remove() }

    /// Window 10, minor at 3 failures, `for` 1 min, `resolve_after` 5 min, every 10 s.
    func spec() -> ProbeSpec {
        var s = ProbeSpec(name: "api", target: .http(HTTPTarget(url: "http://127.0.0.1:9/health")),
                          interval: .seconds(10), timeout: .seconds(2))
        s.incident.window = 10
        s.incident.minor = Threshold(latency: nil, failures: 3)
        s.incident.major = Threshold(latency: nil, failures: 10)
        s.incident.holdFor = .seconds(60)
        s.incident.resolveAfter = .seconds(300)
        return s
    }

    func sample(_ t: Int64, ok: Bool) -> Sample {
        Sample(probe: "api", startedAt: t0 + t * 1_000_000, failure: ok ? nil : Failure(.httpStatus, "got 503"),
               phases: Phases(total: ok ? 1_500 : 3_000), status: ok ? 200 : 503)
    }

    /// One process: a store, a writer and a tracker fed `checks` (seconds after t0, passing or not).
    func run(_ checks: [(Int64, Bool)]) throws -> Store {
        let store = try Store(path: directory.path + "/prober.db")
        let writer = SampleWriter(store: store)
        let tracker = IncidentTracker(store: store, logger: Logger(label: "test"))
        tracker.update(probes: [spec()], sinks: [])
        for (t, ok) in checks {
            writer.append(sample(t, ok: ok))
            tracker.record(sample(t, ok: ok))
        }
        tracker.sync()
        try writer.close()
        return store
    }

    func every(_ from: Int64, _ to: Int64, ok: Bool) -> [(Int64, Bool)] { stride(from: from, to: to, by: 10).map { ($0, ok) } }

    @Test("3 failures before a day-long stop open nothing when checks resume healthy")
    func staleFailures() throws {
        _ = try run(every(0, 70, ok: true) + every(70, 100, ok: false))
        let store = try run(every(100 + day, 100 + day + 600, ok: true))
        #expect(try store.incidents(since: nil).isEmpty)
    }

    @Test("an incident in monitoring before a day-long stop resolves `resolve_after` after the restart")
    func monitoringAfterStop() throws {
        let first = try run(every(0, 100, ok: false) + every(100, 250, ok: true))
        #expect(try first.openIncidents()["api"]?.incident.stage == .monitoring)
        let restart = t0 + (250 + day) * 1_000_000
        let store = try run(every(250 + day, 250 + day + 400, ok: true))
        let incident = try #require(try store.incidents(since: nil).first).incident
        #expect(incident.stage == .resolved)
        #expect(incident.resolvedAt == restart + 300_000_000)
    }
}
