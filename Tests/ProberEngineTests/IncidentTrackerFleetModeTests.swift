import Foundation
import Logging
import ProberCore
@testable import ProberEngine
import ProberStore
import ProberTestSupport
import Testing

/// Fleet mode needs shared storage: with SQLite a location changes nothing. (The fleet itself is tested against
/// PostgreSQL in ProberPostgresTests.)
@Suite("Incident tracker: fleet mode")
struct IncidentTrackerFleetModeTests {
    @Test func sqliteWithALocationIsNotAFleet() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(path: directory.path + "/prober.db")
        #expect(!IncidentTracker(store: store, logger: Logger(label: "test"), location: "a").fleetMode)
        #expect(!IncidentTracker(store: store, logger: Logger(label: "test")).fleetMode)
    }

    typealias Target = FleetDecision.Target

    @Test(arguments: [
        (nil, nil, nil),
        (nil, Target(status: .minor, stage: .investigating), IncidentEvent.Kind.opened),
        (Target(status: .minor, stage: .investigating), Target(status: .major, stage: .investigating), .escalated),
        (Target(status: .major, stage: .investigating), Target(status: .minor, stage: .investigating), .deescalated),
        (Target(status: .major, stage: .investigating), Target(status: .major, stage: .monitoring), .monitoring),
        (Target(status: .minor, stage: .monitoring), Target(status: .major, stage: .investigating), .relapsed),
        (Target(status: .minor, stage: .monitoring), nil, .resolved),
        (Target(status: .minor, stage: .investigating), Target(status: .minor, stage: .investigating), nil),
    ] as [(Target?, Target?, IncidentEvent.Kind?)])
    func transitionKinds(_ current: Target?, _ target: Target?, _ kind: IncidentEvent.Kind?) {
        #expect(IncidentTracker.transition(from: current, to: target) == kind)
    }

    @Test func spanIsTheWindowAtLeastThreeIntervals() {
        var spec = ProbeSpec(name: "api", target: .http(HTTPTarget(url: "http://127.0.0.1:9/")), interval: .seconds(10), timeout: .seconds(1))
        spec.incident.window = 10
        #expect(IncidentTracker.span(spec) == 100_000_000)
        spec.incident.window = 1
        #expect(IncidentTracker.span(spec) == 30_000_000)
    }
}
