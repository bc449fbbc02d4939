import Foundation
import Logging
import ProberCore
import ProberEngine
@testable import ProberPostgres
import ProberStorage
import ProberTestSupport
import Testing

/// A wave's baselines (docs/fleet.md, "A wave"): when many probes open at once, the tracker reads the baselines their
/// descriptions need in one query for the batch, not 26 statements per probe inside each evaluator step, and the
/// descriptions say the same as with each probe's own read.
@Suite("A wave's baselines on PostgreSQL")
struct FleetWaveBaselineTests {
    /// Every 10 s; one check over 500 ms opens (minor) at once.
    func spec(_ name: String, quorum: Quorum) -> ProbeSpec {
        var s = ProbeSpec(name: name, target: .http(HTTPTarget(url: "http://127.0.0.1:9/\(name)")),
                          interval: .seconds(10), timeout: .seconds(5))
        s.incident.window = 1
        s.incident.minor = Threshold(latency: .milliseconds(500), failures: 1)
        s.incident.major = Threshold(latency: nil, failures: 3)
        s.incident.holdFor = .zero
        s.incident.quorum = quorum
        return s
    }

    /// A passing check; the wave's are slow in connect.
    func sample(_ probe: String, _ at: Int64, slow: Bool) -> Sample {
        Sample(probe: probe, startedAt: at,
               phases: slow ? Phases(dns: 300, connect: 1_400_000, processing: 5_000, total: 1_406_000)
                   : Phases(dns: 300, connect: 800 + at / 1_000_000 % 7 * 100, processing: 5_000, total: 7_000),
               status: 200)
    }

    /// Three hours of passing checks of every probe, every 5 minutes, through location `a`'s recorder.
    func seed(_ store: PostgresStore, _ names: [String], until now: Int64) throws {
        let recorder = store.makeSampleRecorder(warning: { _ in })
        for name in names {
            for i in 1...36 { recorder.append(sample(name, now - Int64(i) * 300_000_000, slow: false)) }
        }
        try recorder.close()
    }

    /// The statements the tracker's store sent while one location's tracker took a wave of `probes` probes opening
    /// their episodes at once (quorum 2 of one location: no incident is written, so only the reads count).
    func waveStatements(probes: Int) throws -> Int {
        let cluster = try TestPostgres.shared()
        let database = try cluster.makeDatabase()
        defer { cluster.dropDatabase(database) }
        let store = try PostgresStore(url: cluster.socketURL(database), site: "a")
        let names = (0..<probes).map { "p\($0)" }
        let now = Int64(Date().timeIntervalSince1970 * 1_000_000)
        try seed(store, names, until: now)
        var logger = Logger(label: "wave-baselines")
        logger.logLevel = .error
        let tracker = IncidentTracker(store: store, logger: logger, location: "a", sweepInterval: .seconds(3_600))
        tracker.update(probes: names.map { spec($0, quorum: .locations(2)) }, sinks: [])
        let before = store.statementsSent
        tracker.record(contentsOf: names.map { IncidentTracker.Check(sample: sample($0, now, slow: true)) })
        tracker.sync()
        let sent = store.statementsSent - before
        #expect(try store.openIncidents().isEmpty, "one location of a quorum of two opened an incident")
        return sent
    }

    @Test func aWaveReadsItsBaselinesInAFixedNumberOfStatements() throws {
        let few = try waveStatements(probes: 2), many = try waveStatements(probes: 40)
        // Read in each probe's step, 40 probes took 38 × 26 statements more than 2 (the probe's id, its incidents, an
        // hour slice each).
        #expect(few == many, "a wave of 2 probes took \(few) statements, of 40 took \(many)")
    }

    @Test func descriptionsAreThoseOfEachProbesOwnBaseline() throws {
        let cluster = try TestPostgres.shared()
        let database = try cluster.makeDatabase()
        defer { cluster.dropDatabase(database) }
        let store = try PostgresStore(url: cluster.socketURL(database), site: "a")
        let names = (0..<20).map { "p\($0)" }
        let now = Int64(Date().timeIntervalSince1970 * 1_000_000)
        try seed(store, names, until: now)
        var logger = Logger(label: "wave-descriptions")
        logger.logLevel = .error
        let tracker = IncidentTracker(store: store, logger: logger, location: "a", sweepInterval: .seconds(3_600))
        let specs = names.map { spec($0, quorum: .locations(1)) }
        tracker.update(probes: specs, sinks: [])
        tracker.record(contentsOf: names.map { IncidentTracker.Check(sample: sample($0, now, slow: true)) })
        tracker.sync()

        let open = try store.openIncidents()
        #expect(open.count == names.count)
        for spec in specs {
            // What the evaluator says of the check with the probe's own baseline, read alone as before the batch read.
            let evaluator = Evaluator(policy: spec.incident, interval: spec.interval)
            let state = evaluator.rebuild(from: try store.recentSamples(probe: spec.name, limit: spec.incident.window),
                                          openIncident: nil)
            let (_, events) = evaluator.evaluate(state, sample(spec.name, now, slow: true)) { since in
                (try? store.baseline(probe: spec.name, until: since)) ?? Baseline()
            }
            let event = try #require(events.first)
            #expect(event.evidence.baseline.checks > 3, "\(spec.name): the seeded checks make its baseline")
            let own = IncidentWriter(probe: spec).description(event)
            let stored = try #require(open[spec.name]?.incident.updates.first?.description)
            #expect(stored.hasPrefix(own), "\(spec.name): \(stored) does not begin with \(own)")
        }
    }
}
