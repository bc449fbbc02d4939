import Foundation
import Logging
import ProberCore
import ProberEngine
@testable import ProberPostgres
import ProberStorage
import ProberTestSupport
import Testing

/// Fleet mode does not group (docs/incidents.md, "One incident per shared cause"): probes of one endpoint and
/// one explicit `incident.group` failing together keep one fleet incident each, as before.
@Suite("Fleet mode: no shared incidents")
struct FleetNoGroupingTests {
    @Test func probesOfOneGroupKeepAnIncidentEach() throws {
        let cluster = try TestPostgres.shared()
        let name = try cluster.makeDatabase()
        defer { cluster.dropDatabase(name) }
        let store = try PostgresStore(url: cluster.socketURL(name), site: "a")
        let tracker = IncidentTracker(store: store, logger: Logger(label: "a"), location: "a", sweepInterval: .seconds(3_600))
        #expect(tracker.fleetMode)
        let names = ["orders", "billing", "carts"]
        tracker.update(probes: names.map { name in
            var s = ProbeSpec(name: name, target: .tcp(TCPTarget(host: "db.internal", port: 5432)), interval: .seconds(1),
                              timeout: .milliseconds(500))
            s.incident.window = 2
            s.incident.minor = Threshold(latency: nil, failures: 1)
            s.incident.major = Threshold(latency: nil, failures: 2)
            s.incident.holdFor = .zero
            s.incident.grouping = .named("ledger")
            return s
        }, sinks: [])
        let t0 = Int64(Date().timeIntervalSince1970 * 1_000_000)
        for name in names {
            tracker.record(Sample(probe: name, startedAt: t0, failure: Failure(.connectRefused, "refused"), phases: Phases(total: 1_000)))
        }
        tracker.sync()
        let all = try store.incidents(since: nil)
        #expect(all.map(\.incident.probe).sorted() == names.sorted())
        #expect(all.allSatisfy { $0.incident.members.isEmpty && $0.incident.cause == nil })
    }
}
