import Foundation
import Logging
import ProberCore
import ProberEngine
@testable import ProberPostgres
import ProberStorage
import ProberTestSupport
import Testing

/// Silences in fleet mode: one row in the shared table silences the probe at every location, each location then
/// publishes no degradation, and the fleet opens nothing until the silence ends.
@Suite("Silences in a fleet on PostgreSQL")
struct FleetSilenceTests {
    /// Every second; one failure is minor, `for` 0; quorum: a majority (both of two locations).
    func spec() -> ProbeSpec {
        var s = ProbeSpec(name: "api", target: .http(HTTPTarget(url: "http://127.0.0.1:9/api")), interval: .seconds(1), timeout: .milliseconds(500))
        s.incident.window = 2
        s.incident.minor = Threshold(latency: nil, failures: 1)
        s.incident.major = Threshold(latency: nil, failures: 2)
        s.incident.holdFor = .zero
        s.incident.resolveAfter = .seconds(2)
        return s
    }

    @Test func aSharedSilenceHoldsEveryLocationBack() throws {
        let cluster = try TestPostgres.shared()
        let name = try cluster.makeDatabase()
        defer { cluster.dropDatabase(name) }
        let url = cluster.socketURL(name)
        let stores = try ["a", "b"].map { try PostgresStore(url: url, site: $0) }
        let trackers = zip(["a", "b"], stores).map { location, store in
            IncidentTracker(store: store, logger: Logger(label: "fleet-" + location), location: location, sweepInterval: .milliseconds(200))
        }
        for tracker in trackers { tracker.update(probes: [spec()], sinks: []) }

        let t0 = Int64(Date().timeIntervalSince1970 * 1_000_000)
        let silence = try stores[0].addSilence(NewSilence(probes: ["api"], reason: "deploy", startsAt: t0 - 1_000_000,
                                                          endsAt: t0 + 3_000_000, createdBy: "ops@host"))
        // Each prober's watcher reads the shared table (the first read is done when `start` returns).
        let watchers = zip(stores, trackers).map { store, tracker in
            SilenceWatcher(storage: store, every: .milliseconds(50), logger: Logger(label: "silences")) { tracker.silence($0) }
        }
        for watcher in watchers { watcher.start() }
        defer { for watcher in watchers { watcher.stop() } }

        func failEverywhere(_ second: Int64) {
            for tracker in trackers {
                tracker.record(Sample(probe: "api", startedAt: t0 + second * 1_000_000, failure: Failure(.httpStatus, "got 503"),
                                      phases: Phases(total: 3_000), status: 503))
            }
            for tracker in trackers { tracker.sync() }
        }
        for second: Int64 in 0..<3 { failEverywhere(second) }
        #expect(try stores[0].incidents(since: nil).isEmpty, "silenced at both locations: nothing opens")
        #expect(trackers.allSatisfy { $0.quietPeriods()["api"]?.silenceID == silence.id })

        failEverywhere(3)
        let incidents = try stores[0].incidents(since: nil)
        #expect(incidents.count == 1)
        #expect(incidents.first?.incident.createdAt == t0 + 3_000_000, "opened at the first check after the silence")
        #expect(incidents.first?.incident.updates.map(\.kind) == [.opened], "no note in fleet mode")
    }
}
