import ProberCore
import ProberTestSupport
import Testing

/// The fleet's incident from its locations' episodes under `incident.quorum`.
@Suite struct QuorumTests {
    typealias Target = FleetDecision.Target

    static func episode(_ location: String, _ status: Severity?, _ stage: ResolutionStage? = .investigating,
                        _ summary: String? = nil) -> LocationEpisode {
        LocationEpisode(location: location, status: status, stage: status == nil ? nil : stage, summary: summary)
    }

    @Test func requiredLocationsPerRule() {
        #expect(Quorum.majority.required(running: 1) == 1)
        #expect(Quorum.majority.required(running: 2) == 2)
        #expect(Quorum.majority.required(running: 3) == 2)
        #expect(Quorum.majority.required(running: 4) == 3)
        #expect(Quorum.majority.required(running: 0) == 1)
        #expect(Quorum.percent(50).required(running: 3) == 2)
        #expect(Quorum.percent(50).required(running: 4) == 2)
        #expect(Quorum.percent(1).required(running: 3) == 1)
        #expect(Quorum.percent(100).required(running: 3) == 3)
        #expect(Quorum.locations(2).required(running: 1) == 2, "a number is strict: fewer running locations open nothing")
    }

    @Test func parsing() {
        #expect(Quorum(parsing: "2") == .locations(2))
        #expect(Quorum(parsing: "50%") == .percent(50))
        #expect(Quorum(parsing: " Majority ") == .majority)
        for bad in ["0", "-1", "0%", "101%", "half", "", "2.5", "%"] { #expect(Quorum(parsing: bad) == nil, "\(bad)") }
        #expect(Quorum.percent(50).description == "50%")
    }

    @Test func oneLocationFailingOfThreeOpensNothingTwoOpenOneAndMajorNeedsTheQuorumToo() {
        let one = [Self.episode("a", .major), Self.episode("b", nil), Self.episode("c", nil)]
        #expect(FleetDecision.target(current: nil, locations: one, quorum: .majority) == nil)
        let two = [Self.episode("a", .major), Self.episode("b", .minor), Self.episode("c", nil)]
        #expect(FleetDecision.target(current: nil, locations: two, quorum: .majority) == Target(status: .minor, stage: .investigating))
        let twoMajor = [Self.episode("a", .major), Self.episode("b", .major), Self.episode("c", .minor)]
        #expect(FleetDecision.target(current: Target(status: .minor, stage: .investigating), locations: twoMajor, quorum: .majority)
            == Target(status: .major, stage: .investigating))
        // A quorum of one location: the same single location opens it.
        #expect(FleetDecision.target(current: nil, locations: one, quorum: .locations(1)) == Target(status: .major, stage: .investigating))
    }

    @Test func belowTheQuorumItMonitorsThenResolvesAndRelapsesOnTheSameIncident() {
        let open = Target(status: .major, stage: .investigating)
        let easing = [Self.episode("a", .major), Self.episode("b", .major, .monitoring), Self.episode("c", nil)]
        let monitoring = FleetDecision.target(current: open, locations: easing, quorum: .majority)
        #expect(monitoring == Target(status: .major, stage: .monitoring))
        // Still two in an episode: it keeps monitoring.
        #expect(FleetDecision.target(current: monitoring, locations: easing, quorum: .majority) == monitoring)
        let again = [Self.episode("a", .minor), Self.episode("b", .minor), Self.episode("c", nil)]
        #expect(FleetDecision.target(current: monitoring, locations: again, quorum: .majority) == Target(status: .minor, stage: .investigating))
        let over = [Self.episode("a", .minor, .monitoring), Self.episode("b", nil), Self.episode("c", nil)]
        #expect(FleetDecision.target(current: monitoring, locations: over, quorum: .majority) == nil)
    }

    /// With one location the fleet's incident is that location's, step for step, whatever it does.
    @Test func oneLocationIsFollowedExactly() {
        var random = SeededRandom(seed: 14)
        var local: Target?
        var fleet: Target?
        for step in 0..<2_000 {
            // A random legal move of one location's evaluator.
            switch (local?.stage, random.next() % 4) {
            case (nil, 0): local = Target(status: random.next() % 2 == 0 ? .minor : .major, stage: .investigating)
            case (.investigating?, 0):
                let flipped: Severity = local?.status == .minor ? .major : .minor
                local?.status = flipped
            case (.investigating?, 1): local?.stage = .monitoring
            case (.monitoring?, 0): local?.stage = .investigating
            case (.monitoring?, 1): local = nil
            default: break
            }
            let episode = LocationEpisode(location: "only", status: local?.status, stage: local?.stage)
            fleet = FleetDecision.target(current: fleet, locations: [episode], quorum: .majority)
            #expect(fleet == local, "step \(step)")
        }
    }

    @Test func theLocationsLineNamesWhoSeesWhat() {
        let line = FleetDecision.locationsLine([
            Self.episode("nyc-2", .major, .investigating, "connect 850 ms against its usual 12 ms"),
            Self.episode("sfo-1", nil), Self.episode("fra-1", .minor, .investigating, "3 of 10 checks timed out"),
        ])
        #expect(line == "failing from fra-1 and nyc-2 (2 of 3 locations); sfo-1 sees it healthy. fra-1: 3 of 10 checks timed out; nyc-2: connect 850 ms against its usual 12 ms")
        let recovering = FleetDecision.locationsLine([Self.episode("a", .minor, .monitoring), Self.episode("b", nil), Self.episode("c", nil)])
        #expect(recovering == "failing from no location (0 of 3); a sees it recovering; b and c see it healthy")
    }
}
