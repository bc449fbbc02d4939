import Foundation
import Logging
import ProberCore
import ProberEngine
@testable import ProberPostgres
import ProberStorage
import ProberTestSupport
import Testing

/// Fleet mode and the prober's own network: a location whose canaries all fail publishes no degradation (it
/// sees nothing), so the fleet's quorum is decided by the others. Three trackers, as three probers would run
/// them, on a real PostgreSQL database.
@Suite("Fleet decisions with a location that lost its connectivity")
struct FleetConnectivityTests {
    func spec() -> ProbeSpec {
        var s = ProbeSpec(name: "api", target: .http(HTTPTarget(url: "http://127.0.0.1:9/api")), interval: .seconds(1),
                          timeout: .milliseconds(500))
        s.incident.window = 2
        s.incident.minor = Threshold(latency: nil, failures: 1)
        s.incident.major = Threshold(latency: nil, failures: 2)
        s.incident.holdFor = .zero
        return s
    }

    func sample(_ at: Int64, ok: Bool) -> Sample {
        Sample(probe: "api", startedAt: at, failure: ok ? nil : Failure(.connect, "Network is unreachable"),
               phases: Phases(total: 3_000), status: nil, monotonicAt: at)
    }

    /// Locations a, b and c check "api" for five seconds: a and b fail, c passes; `aLost`: a's checks are taken
    /// while its connectivity is lost. The incidents the fleet opened.
    func run(aLost: Bool) throws -> [StoredIncident] {
        let cluster = try TestPostgres.shared()
        let name = try cluster.makeDatabase()
        defer { cluster.dropDatabase(name) }
        let stores = try ["a", "b", "c"].map { try PostgresStore(url: cluster.socketURL(name), site: $0) }
        let trackers = zip(["a", "b", "c"], stores).map { location, store in
            IncidentTracker(store: store, logger: Logger(label: "fleet-" + location), location: location)
        }
        for tracker in trackers { tracker.update(probes: [spec()], sinks: []) }
        let t0 = Int64(Date().timeIntervalSince1970 * 1_000_000)
        for second in 0..<5 {
            let at = t0 + Int64(second) * 1_000_000
            trackers[0].record(sample(at, ok: false), quiet: aLost ? .connectivityLost : nil)
            trackers[1].record(sample(at, ok: false))
            trackers[2].record(sample(at, ok: true))
            for tracker in trackers { tracker.sync() }
        }
        return try stores[0].incidents(since: nil)
    }

    @Test func aLocationThatLostItsNetworkCountsForNoDegradation() throws {
        // With a's failures, two of three locations see "api" down: the majority opens one incident.
        #expect(try run(aLost: false).count == 1)
        // With a blind, only b sees it down: no majority, nothing opens.
        #expect(try run(aLost: true).isEmpty)
    }
}
