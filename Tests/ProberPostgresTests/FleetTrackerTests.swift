import Dispatch
import Foundation
import Logging
import ProberCore
import ProberEngine
@testable import ProberPostgres
import ProberStorage
import ProberTestSupport
import Testing

/// The incident tracker in fleet mode against a real PostgreSQL database: two trackers with different
/// locations, as two probers would run them, deciding the same probes at the same moments.
@Suite("Fleet decisions on PostgreSQL")
struct FleetTrackerTests {
    /// Every second; one failure opens (minor), `for` 0, resolved after 2 s healthy; quorum: a majority.
    func spec(_ name: String) -> ProbeSpec {
        var s = ProbeSpec(name: name, target: .http(HTTPTarget(url: "http://127.0.0.1:9/\(name)")),
                          interval: .seconds(1), timeout: .milliseconds(500))
        s.incident.window = 2
        s.incident.minor = Threshold(latency: nil, failures: 1)
        s.incident.major = Threshold(latency: nil, failures: 2)
        s.incident.holdFor = .zero
        s.incident.resolveAfter = .seconds(2)
        return s
    }

    func sample(_ probe: String, _ at: Int64, ok: Bool) -> Sample {
        Sample(probe: probe, startedAt: at, failure: ok ? nil : Failure(.httpStatus, "got 503"),
               phases: Phases(total: ok ? 1_500 : 3_000), status: ok ? 200 : 503)
    }

    /// A database of the process's throwaway cluster, dropped by the caller.
    func database() throws -> (url: String, drop: () -> Void) {
        let cluster = try TestPostgres.shared()
        let name = try cluster.makeDatabase()
        return (cluster.socketURL(name), { cluster.dropDatabase(name) })
    }

    @Test func twoLocationsRacingOpenExactlyOneIncidentPerProbe() throws {
        let (url, drop) = try database()
        defer { drop() }
        let stores = try ["a", "b"].map { try PostgresStore(url: url, site: $0) }
        // Sweeps every 200 ms race the checks' decisions too.
        let trackers = zip(["a", "b"], stores).map { location, store in
            IncidentTracker(store: store, logger: Logger(label: "fleet-" + location), location: location, sweepInterval: .milliseconds(200))
        }
        #expect(trackers.allSatisfy { $0.fleetMode })
        let names = (0..<20).map { "p\($0)" }
        for tracker in trackers { tracker.update(probes: names.map(spec), sinks: []) }

        // Both locations fail every probe at the same moment, each on its own queue: both see a quorum of two
        // degraded locations and try to open; one must lose.
        let t0 = Int64(Date().timeIntervalSince1970 * 1_000_000)
        DispatchQueue.concurrentPerform(iterations: 2) { i in
            for name in names { trackers[i].record(sample(name, t0, ok: false)) }
        }
        for tracker in trackers { tracker.sync() }

        let open = try stores[0].openIncidents()
        #expect(open.count == names.count)
        let all = try stores[0].incidents(since: nil)
        #expect(all.count == names.count, "a probe opened twice: \(all.map(\.incident.probe).sorted())")
        for incident in all {
            #expect(incident.incident.updates.map(\.kind) == [.opened])
            #expect(incident.incident.description.contains("Failing from a and b (2 of 2 locations)"), "\(incident.incident.description)")
        }
        // Both trackers show the fleet's incident, whichever opened it (the one that decided first, before the
        // other location failed, learns of it at its next sweep).
        #expect(waitUntil(timeout: .seconds(10)) {
            trackers.allSatisfy { $0.snapshot().values.filter { $0.incident != nil }.count == names.count }
        })

        // Healthy from both: each location goes to monitoring, then resolves 2 s later; the fleet's incident
        // follows once, however the two race.
        for second in 1...4 {
            let at = t0 + Int64(second) * 1_000_000
            DispatchQueue.concurrentPerform(iterations: 2) { i in
                for name in names { trackers[i].record(sample(name, at, ok: true)) }
            }
        }
        for tracker in trackers { tracker.sync() }
        let after = try stores[0].incidents(since: nil)
        #expect(after.count == names.count)
        for incident in after {
            #expect(incident.incident.updates.map(\.kind) == [.opened, .monitoring, .resolved], "\(incident.incident.probe)")
        }
        #expect(try stores[0].openIncidents().isEmpty)
    }

    /// Heartbeats wait to be published together, but never so long that the fleet stops counting the location as
    /// running the probe (a span after its last publication): with a 450 ms span the wait was a whole second, and
    /// a sweep in between decided quorum without this location.
    @Test func aShortSpansHeartbeatIsPublishedWithinItsSpan() throws {
        let cluster = try TestPostgres.shared()
        let name = try cluster.makeDatabase()
        defer { cluster.dropDatabase(name) }
        let url = cluster.socketURL(name)
        let store = try PostgresStore(url: url, site: "a")
        var fast = spec("fast")
        fast.interval = .milliseconds(150)
        fast.incident.window = 3
        let tracker = IncidentTracker(store: store, logger: Logger(label: "a"), location: "a", sweepInterval: .seconds(3_600))
        tracker.update(probes: [fast], sinks: [])
        let t0 = Int64(Date().timeIntervalSince1970 * 1_000_000)
        tracker.record(sample("fast", t0, ok: true))
        tracker.sync()
        func published() -> Int64? {
            Int64((try? cluster.psql("SELECT at FROM fleet_episodes WHERE location = 'a'", database: name))?
                .trimmingCharacters(in: .whitespacesAndNewlines) ?? "")
        }
        #expect(published() != nil, "published when the tracker took the probe")
        // A check a third of the span later, unchanged: a heartbeat, due now.
        let recorded = DispatchTime.now()
        tracker.record(sample("fast", t0 + 200_000, ok: true))
        #expect(waitUntil(timeout: .seconds(5)) { published() == t0 + 200_000 })
        let took = Double(DispatchTime.now().uptimeNanoseconds - recorded.uptimeNanoseconds) / 1e6
        #expect(took < 700, "published \(took) ms after the check; the fleet counts a location for 450 ms after its last")
    }

    @Test func oneLocationOfTwoOpensNothingUnderAMajorityAndOneOfTwoDoesAtFiftyPercent() throws {
        let (url, drop) = try database()
        defer { drop() }
        let a = try PostgresStore(url: url, site: "a"), b = try PostgresStore(url: url, site: "b")
        var half = spec("half")
        half.incident.quorum = .percent(50)
        let probes = [spec("majority"), half]
        let ta = IncidentTracker(store: a, logger: Logger(label: "a"), location: "a", sweepInterval: .seconds(3_600))
        let tb = IncidentTracker(store: b, logger: Logger(label: "b"), location: "b", sweepInterval: .seconds(3_600))
        ta.update(probes: probes, sinks: [])
        tb.update(probes: probes, sinks: [])
        let t0 = Int64(Date().timeIntervalSince1970 * 1_000_000)
        for probe in probes {
            ta.record(sample(probe.name, t0, ok: false))
            tb.record(sample(probe.name, t0, ok: true))
        }
        ta.sync()
        tb.sync()
        let open = try a.openIncidents()
        #expect(open.keys.sorted() == ["half"])
        #expect(open["half"]?.incident.description.contains("Failing from a (1 of 2 locations); b sees it healthy") == true)
        // Seen from one location only: that location's level shows it, the other's does not.
        #expect(ta.snapshot()["majority"]?.level == .minor)
        #expect(tb.snapshot()["majority"]?.level == .healthy)
    }

    @Test func episodesStorageRefusedArePublishedAndDecidedByTheNextSweep() throws {
        let (url, drop) = try database()
        defer { drop() }
        let a = try PostgresStore(url: url, site: "a"), b = try PostgresStore(url: url, site: "b")
        let ta = IncidentTracker(store: a, logger: Logger(label: "a"), location: "a", sweepInterval: .milliseconds(200))
        let tb = IncidentTracker(store: b, logger: Logger(label: "b"), location: "b", sweepInterval: .milliseconds(200))
        // Every 10 s: the one failing check of each location stays recent (30 s) while storage refuses it.
        var probe = spec("api")
        probe.interval = .seconds(10)
        ta.update(probes: [probe], sinks: [])
        tb.update(probes: [probe], sinks: [])
        // Another session holds the episodes table: every publication waits out the lock timeout and fails.
        let blocker = try PGConnection(url: url, password: nil, readOnly: false, lockTimeout: .seconds(5))
        try blocker.execute("BEGIN; LOCK TABLE fleet_episodes IN EXCLUSIVE MODE")
        let t0 = Int64(Date().timeIntervalSince1970 * 1_000_000)
        ta.record(sample("api", t0, ok: false))
        tb.record(sample("api", t0, ok: false))
        ta.sync()
        tb.sync()
        #expect(try a.openIncidents().isEmpty)
        // Nothing was held: once the table is free, a sweep publishes both episodes and the fleet opens one incident.
        try blocker.execute("ROLLBACK")
        #expect(waitUntil(timeout: .seconds(15)) { ((try? a.openIncidents()) ?? [:])["api"] != nil })
        ta.sync()
        tb.sync()
        let incidents = try a.incidents(since: nil)
        #expect(incidents.count == 1)
        #expect(incidents.first?.incident.updates.map(\.kind) == [.opened])
        #expect(incidents.first?.incident.description.contains("Failing from a and b (2 of 2 locations)") == true)
    }

    @Test func theLastLocationToDropAProbeResolvesItsIncident() throws {
        let (url, drop) = try database()
        defer { drop() }
        let a = try PostgresStore(url: url, site: "a"), b = try PostgresStore(url: url, site: "b")
        let ta = IncidentTracker(store: a, logger: Logger(label: "a"), location: "a", sweepInterval: .seconds(3_600))
        let tb = IncidentTracker(store: b, logger: Logger(label: "b"), location: "b", sweepInterval: .seconds(3_600))
        var probe = spec("api")
        probe.interval = .seconds(10)
        ta.update(probes: [probe], sinks: [])
        tb.update(probes: [probe], sinks: [])
        let t0 = Int64(Date().timeIntervalSince1970 * 1_000_000)
        ta.record(sample("api", t0, ok: false))
        tb.record(sample("api", t0, ok: false))
        ta.sync()
        tb.sync()
        #expect(try a.openIncidents()["api"] != nil)
        // b still runs it: a's leaving changes nothing.
        ta.update(probes: [], sinks: [])
        #expect(try a.openIncidents()["api"] != nil)
        // Nobody runs it: the last to leave resolves it.
        tb.update(probes: [], sinks: [])
        let incidents = try a.incidents(since: nil)
        #expect(incidents.count == 1)
        #expect(incidents.first?.incident.updates.map(\.kind) == [.opened, .resolved])
        #expect(incidents.first?.incident.updates.last?.description.contains("removed from the probe files of every location") == true)
    }

    @Test func aRestartedLocationContinuesItsEpisodeFromWhatItPublished() throws {
        let (url, drop) = try database()
        defer { drop() }
        let probe = spec("api")
        let t0 = Int64(Date().timeIntervalSince1970 * 1_000_000)
        do {
            let store = try PostgresStore(url: url, site: "a")
            let tracker = IncidentTracker(store: store, logger: Logger(label: "a"), location: "a", sweepInterval: .seconds(3_600))
            tracker.update(probes: [probe], sinks: [])
            tracker.record(sample("api", t0, ok: false))
            tracker.sync()
            #expect(try store.openIncidents()["api"] != nil)
        }
        let store = try PostgresStore(url: url, site: "a")
        let tracker = IncidentTracker(store: store, logger: Logger(label: "a"), location: "a", sweepInterval: .seconds(3_600))
        tracker.update(probes: [probe], sinks: [])
        // The rebuilt evaluator holds the episode: healthy checks take it to monitoring, then resolve it.
        for second in 1...4 { tracker.record(sample("api", t0 + Int64(second) * 1_000_000, ok: true)) }
        tracker.sync()
        let incidents = try store.incidents(since: nil)
        #expect(incidents.count == 1)
        #expect(incidents.first?.incident.updates.map(\.kind) == [.opened, .monitoring, .resolved])
    }
}
