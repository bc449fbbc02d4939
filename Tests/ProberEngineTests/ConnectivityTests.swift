import Foundation
import Logging
import ProberCore
@testable import ProberEngine
import ProberStorage
import ProberStore
import ProberTestSupport
import Testing

/// The connectivity canaries between the checks and the tracker: tables of canary and probe checks through the
/// real `Pipeline` (a SQLite store, the tracker, the monitor), and the incidents and log lines they leave.
@Suite struct ConnectivityTests {
    static let t0: Int64 = 1_800_000_000_000_000

    /// One check in a table: a canary's (`canary`: which one) or the probe's, at `t` seconds.
    enum Check {
        case canary(Int, ok: Bool, at: Int64)
        case probe(String, ok: Bool, at: Int64)
    }

    static func canaries(_ n: Int) -> [ProbeSpec] {
        (0..<n).map { i in
            Connectivity.canary(.tcp(TCPTarget(host: "10.0.0.\(i + 1)", port: 53)), interval: .seconds(5), timeout: .seconds(2),
                                source: SourceLocation(file: "probes/net.yaml", line: 2 + i, column: 7))
        }
    }

    static func spec(_ name: String = "api", host: String = "127.0.0.1") -> ProbeSpec {
        var s = ProbeSpec(name: name, target: .tcp(TCPTarget(host: host, port: 9)), interval: .seconds(10), timeout: .seconds(2))
        s.incident.window = 5
        s.incident.minor = Threshold(latency: nil, failures: 2)
        s.incident.major = Threshold(latency: nil, failures: 4)
        s.incident.holdFor = .seconds(20)
        s.incident.resolveAfter = .seconds(60)
        return s
    }

    static func sample(_ check: Check, canaries: [ProbeSpec], reason: FailureReason = .connect) -> Sample {
        let (name, ok, t): (String, Bool, Int64)
        switch check {
        case .canary(let i, let o, let at): (name, ok, t) = (canaries[i].name, o, at)
        case .probe(let p, let o, let at): (name, ok, t) = (p, o, at)
        }
        return Sample(probe: name, startedAt: t0 + t * 1_000_000, failure: ok ? nil : Failure(reason, "Network is unreachable"),
                      phases: Phases(connect: 200, total: 300), monotonicAt: t0 + t * 1_000_000)
    }

    /// A store, tracker and monitor wired as the daemon wires them, fed `checks` in order.
    struct Run {
        let store: Store
        let writer: SampleWriter
        let monitor: ConnectivityMonitor
        let log: Locked<[CapturingLogHandler.Entry]>

        init(_ directory: TemporaryDirectory, canaries: [ProbeSpec], probes: [ProbeSpec], checks: [Check],
             reason: FailureReason = .connect) throws {
            store = try Store(path: directory.path + "/prober.db")
            writer = SampleWriter(store: store)
            let (logger, log) = CapturingLogHandler.logger()
            self.log = log
            let tracker = IncidentTracker(store: store, logger: logger)
            tracker.update(probes: probes, sinks: [])
            monitor = ConnectivityMonitor(canaries: canaries, probes: probes, logger: logger)
            let pipeline = Pipeline(writer: writer, tracker: tracker, connectivity: monitor)
            for check in checks { pipeline.record(ConnectivityTests.sample(check, canaries: canaries, reason: reason)) }
            tracker.sync()
            try writer.flush()
        }

        func incidents() throws -> [Incident] { try store.incidents(since: nil).map(\.incident) }
        func lines(_ text: String) -> Int { log.current.filter { $0.message.contains(text) }.count }
    }

    /// The probe `name` checked every 10 s from `from` to `to` (inclusive).
    static func probe(_ name: String = "api", ok: Bool, _ from: Int64, _ to: Int64) -> [Check] {
        stride(from: from, through: to, by: 10).map { .probe(name, ok: ok, at: $0) }
    }

    @Test func canariesFailingWhileProbesFailOpenNothing() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let checks: [Check] = [.canary(0, ok: false, at: 0), .canary(1, ok: false, at: 0)] + Self.probe(ok: false, 1, 301)
        let run = try Run(dir, canaries: Self.canaries(2), probes: [Self.spec()], checks: checks)
        #expect(try run.incidents().isEmpty)
        #expect(run.lines("prober's own connectivity lost") == 1)
        #expect(run.monitor.reading().lost)
        // Every check is stored.
        #expect(try run.store.recentSamples(probe: "api", limit: 100).count == 31)
        // Canaries are no probe's history.
        #expect(try run.store.recentSamples(probe: Self.canaries(2)[0].name, limit: 10).isEmpty)
    }

    @Test func oneCanaryPassingIsNotALoss() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let checks: [Check] = [.canary(0, ok: false, at: 0), .canary(1, ok: true, at: 0)] + Self.probe(ok: false, 1, 101)
        let run = try Run(dir, canaries: Self.canaries(2), probes: [Self.spec()], checks: checks)
        #expect(try run.incidents().count == 1)
        #expect(run.lines("connectivity lost") == 0)
    }

    @Test func afterTheNetworkReturnsADegradationMustHoldForAgain() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        // Failing all along; connectivity lost from 0 to 200, back at 205.
        let checks: [Check] = [.canary(0, ok: false, at: 0)] + Self.probe(ok: false, 1, 201)
            + [.canary(0, ok: true, at: 205)] + Self.probe(ok: false, 211, 301)
        let run = try Run(dir, canaries: Self.canaries(1), probes: [Self.spec()], checks: checks)
        // The same failures from 211 on, with nothing before: the incident opens at the same moment, `for` after.
        let control = try TemporaryDirectory()
        defer { control.remove() }
        let fresh = try Run(control, canaries: [], probes: [Self.spec()], checks: Self.probe(ok: false, 211, 301))
        let incidents = try run.incidents()
        #expect(incidents.count == 1)
        let opened = try #require(incidents.first).createdAt
        #expect(opened == (try #require(try fresh.incidents().first)).createdAt)
        #expect(opened >= Self.t0 + 231 * 1_000_000, "`for` (20 s) holds from the first failure after the return at 211")
        #expect(run.lines("prober's own connectivity lost") == 1)
        #expect(run.lines("prober's own connectivity restored after") == 1)
    }

    @Test func anIncidentOpenBeforeTheLossNeitherChangesNorResolvesDuringIt() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let before: [Check] = [.canary(0, ok: true, at: 0)] + Self.probe(ok: false, 1, 61)
        let during: [Check] = [.canary(0, ok: false, at: 65)] + Self.probe(ok: true, 71, 301)
        let run = try Run(dir, canaries: Self.canaries(1), probes: [Self.spec()], checks: before + during)
        let incident = try #require(try run.incidents().first)
        #expect(incident.resolvedAt == nil)
        #expect(incident.stage != .monitoring)
        #expect(incident.updates.allSatisfy { $0.createdAt < Self.t0 + 65 * 1_000_000 }, "nothing after the loss at 65")
    }

    @Test func removingEveryCanaryOnReloadRestoresConnectivity() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let run = try Run(dir, canaries: Self.canaries(1), probes: [Self.spec()], checks: [.canary(0, ok: false, at: 0)])
        #expect(run.monitor.lost)
        run.monitor.update(canaries: [], probes: [Self.spec()])
        #expect(!run.monitor.lost)
        #expect(run.lines("restored: no canary is configured any more") == 1)
    }

    @Test(arguments: [
        // (hosts of the probes, failure reason, expected heuristic lines)
        (["a.internal", "b.internal", "c.internal"], FailureReason.dns, 1),
        (["a.internal", "b.internal", "c.internal"], FailureReason.timeout, 1),
        (["a.internal", "a.internal", "b.internal"], FailureReason.timeout, 0),
        (["a.internal", "b.internal", "c.internal"], FailureReason.connectRefused, 0),
        (["a.internal", "b.internal", "c.internal"], FailureReason.httpStatus, 0),
    ])
    func withoutCanariesEveryProbeFailingOnThreeHostsIsLoggedNotHeld(hosts: [String], reason: FailureReason, lines: Int) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let probes = hosts.enumerated().map { Self.spec("p\($0.offset)", host: $0.element) }
        // Every probe fails for five minutes: logged once (rate-limited), and each still opens its incident.
        let checks = stride(from: Int64(1), through: 301, by: 10).flatMap { t in probes.map { Check.probe($0.name, ok: false, at: t) } }
        let run = try Run(dir, canaries: [], probes: probes, checks: checks, reason: reason)
        #expect(run.lines("every probe is failing with a network-level error") == lines)
        // Probes failing at one endpoint for the same class of reason share one incident (docs/incidents.md).
        #expect(try run.incidents().count == Set(hosts).count)
    }

    @Test func theHeuristicLogsAgainOnlyAfterItsPeriod() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let probes = ["a", "b", "c"].map { Self.spec($0, host: "\($0).internal") }
        func wave(_ t: Int64, ok: Bool) -> [Check] { probes.map { Check.probe($0.name, ok: ok, at: t) } }
        // Fails, recovers, fails again within 10 minutes (not logged), and again after (logged).
        let checks = wave(0, ok: false) + wave(10, ok: true) + wave(300, ok: false) + wave(310, ok: true) + wave(700, ok: false)
        let run = try Run(dir, canaries: [], probes: probes, checks: checks, reason: .dns)
        #expect(run.lines("every probe is failing with a network-level error") == 2)
    }
}
