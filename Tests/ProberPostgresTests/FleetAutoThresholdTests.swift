import Foundation
import Logging
import ProberCore
import ProberEngine
@testable import ProberPostgres
import ProberStorage
import ProberTestSupport
import Testing

/// `latency: auto` in a fleet: each location's reference is its own checks', so a location far from the
/// target (usually slow) does not call its usual latency an incident, and a near one (usually fast) does.
@Suite("Fleet: automatic thresholds per location")
struct FleetAutoThresholdTests {
    @Test func eachLocationJudgesAgainstItsOwnReference() throws {
        let cluster = try TestPostgres.shared()
        let name = try cluster.makeDatabase()
        defer { cluster.dropDatabase(name) }
        let url = cluster.socketURL(name)
        let near = try PostgresStore(url: url, site: "near"), far = try PostgresStore(url: url, site: "far")

        var spec = ProbeSpec(name: "api", target: .http(HTTPTarget(url: "http://127.0.0.1:9/")), interval: .seconds(10),
                             timeout: .seconds(5))
        spec.incident.window = 2
        spec.incident.minor = Threshold(latency: nil, failures: 1, autoLatency: true)
        spec.incident.major = Threshold(latency: nil, failures: 2)
        spec.incident.holdFor = .zero
        spec.incident.quorum = .percent(50)
        try near.register([spec])

        // An hour of history: 2 ms from near, 400 ms from far (the reference takes the newest 60 of an hour).
        let t0 = Int64(Date().timeIntervalSince1970 * 1_000_000)
        func sample(_ at: Int64, ms: Int64) -> Sample {
            Sample(probe: "api", startedAt: at, phases: Phases(total: ms * 1_000), status: 200)
        }
        for (store, ms) in [(near, Int64(2)), (far, Int64(400))] {
            let recorder = store.makeSampleRecorder(warning: { _ in })
            for i in 1...360 { recorder.append(sample(t0 - Int64(i) * 10_000_000, ms: ms)) }
            try recorder.close()
        }
        #expect(try near.autoReference(probe: "api", location: "near", at: t0) == AutoReference(p95: 2_000, checks: 60))
        #expect(try near.autoReference(probe: "api", location: "far", at: t0) == AutoReference(p95: 400_000, checks: 60))

        let trackers = [(near, "near"), (far, "far")].map { store, location in
            IncidentTracker(store: store, logger: Logger(label: location), location: location, sweepInterval: .seconds(3_600))
        }
        for tracker in trackers {
            tracker.update(probes: [spec], sinks: [])
            // Both now see 300 ms.
            tracker.record(sample(t0, ms: 300))
            tracker.record(sample(t0 + 10_000_000, ms: 300))
            tracker.sync()
        }
        #expect(trackers[0].snapshot()["api"]?.level == .minor)
        #expect(trackers[1].snapshot()["api"]?.level == .healthy)
        let open = try #require(try near.openIncidents()["api"])
        #expect(open.incident.description.contains("150× its usual 2 ms"), "\(open.incident.description)")
        #expect(open.incident.description.contains("automatic threshold 52 ms"), "\(open.incident.description)")
    }
}
