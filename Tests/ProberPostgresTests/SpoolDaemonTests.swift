import Foundation
import ProberCore
import ProberPostgres
import ProberStore
import ProberStorage
import ProberTestSupport
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `prober run` (the built binary) on a PostgreSQL URL whose server goes away (issue 14, "Ingest never blocks
/// checks"): checks go on, their samples wait in the on-disk spool and all reach the database when it returns,
/// incidents are neither lost nor duplicated and their deliveries resume; a prober killed during the outage
/// sends its spool after a restart.
@Suite("PostgreSQL outage: the spool", .serialized)
final class SpoolDaemonTests {
    let directory: TemporaryDirectory

    init() throws { directory = try TemporaryDirectory() }
    deinit { directory.remove() }

    /// A target with a steady path and a flaky one (failing while `failing` is set); every request is counted.
    func target(_ failing: Switch) throws -> TestHTTPServer {
        try TestHTTPServer { request in
            request.path.hasPrefix("/flaky") && failing.on ? .respond(status: 503, body: "down") : .respond(status: 200, body: "ok")
        }
    }

    func writeProbes(_ target: TestHTTPServer) throws {
        try directory.write("probes/outage.yaml", """
            probes:
              - name: steady
                http: { url: "\(target.url)/steady" }
                interval: 200ms
                timeout: 150ms
              - name: flaky
                http: { url: "\(target.url)/flaky" }
                interval: 200ms
                timeout: 150ms
                incident:
                  service_id: 4242
                  window: 3
                  minor: { failures: 2, latency: none }
                  major: { failures: none, latency: 5s }
                  for: 0s
                  resolve_after: 300ms
            """)
    }

    /// Samples stored per probe name.
    func counts(_ cluster: TestPostgres, _ database: String) -> [String: Int] {
        let rows = (try? cluster.psql("SELECT p.name, count(*) FROM samples s JOIN probes p ON p.id = s.probe_id GROUP BY 1",
                                      database: database)) ?? ""
        return Dictionary(rows.split(separator: "\n").compactMap { line -> (String, Int)? in
            let parts = line.split(separator: "|")
            return parts.count == 2 ? (String(parts[0]), Int(parts[1]) ?? 0) : nil
        }, uniquingKeysWith: { a, _ in a })
    }

    /// Requests the target received per probe (each is one check).
    func checks(_ target: TestHTTPServer) -> [String: Int] {
        Dictionary(grouping: target.requests, by: { String($0.path.dropFirst().prefix { $0 != "?" }) }).mapValues(\.count)
    }

    /// A gauge of the daemon's /metrics.
    func metric(_ daemon: ProberDaemon, _ name: String) -> Double? {
        guard let port = daemon.listenPort(), let body = httpGet(port: port, "/metrics")?.body else { return nil }
        let line = body.split(separator: "\n").first { $0.hasPrefix(name + " ") }
        return line.flatMap { Double($0.split(separator: " ").last ?? "") }
    }

    @Test func thirtySecondsWithoutPostgreSQLLoseNoCheckAndDeliveriesResume() throws {
        let began = ContinuousClock.now
        let cluster = try TestPostgres()
        defer { cluster.stop() }
        let database = try cluster.makeDatabase()
        let url = cluster.socketURL(database)
        let failing = Switch(true)
        let target = try target(failing)
        defer { target.stop() }
        let isdown = FleetQuorumCLITests.FakeIsDown()
        let api = try TestHTTPServer { isdown.handle($0) }
        defer { api.stop() }
        try writeProbes(target)
        let daemon = try ProberDaemon(["--probes", directory.path + "/probes", "--db", url, "--location", "here",
                                       "--listen", "127.0.0.1:0", "--spool", directory.path + "/spool"],
                                      environment: ["ISDOWN_API_URL": api.url, "ISDOWN_API_KEY": "isd_live_outage-key"],
                                      logIn: directory.url)
        #expect(daemon.waitForStart(), "\(daemon.output)")
        // The flaky probe fails from the start: its incident is opened and delivered before the outage.
        #expect(waitUntil(timeout: .seconds(20)) { isdown.calls.withLock { $0.count } == 1 }, "\(daemon.output)")

        try cluster.stopServer()
        let outageBegan = ContinuousClock.now
        let checksBefore = checks(target)
        // During the outage the flaky target recovers: the incident's resolution is decided while nothing can be written.
        failing.on = false
        #expect(waitUntil(timeout: .seconds(20)) { (metric(daemon, "prober_store_spooled_samples") ?? 0) > 0 }, "\(daemon.output)")
        #expect((metric(daemon, "prober_store_spooled_bytes") ?? 0) > 0)
        // The outage lasts 30 s (a duration is the point here, so the wait is a time).
        let left = (.seconds(30) - (ContinuousClock.now - outageBegan)).components
        Thread.sleep(forTimeInterval: max(0, Double(left.seconds) + Double(left.attoseconds) / 1e18))
        let checksDuring = checks(target).merging(checksBefore) { $0 - $1 }
        try cluster.startServer()

        // The spool drains, and the incident's resolution is delivered to the same IsDown incident.
        #expect(waitUntil(timeout: .seconds(20)) { metric(daemon, "prober_store_spooled_samples") == 0 }, "\(daemon.output)")
        #expect(waitUntil(timeout: .seconds(20)) {
            isdown.calls.withLock { $0.contains { $0.method == "PATCH" && $0.stage == "resolved" } }
        }, "\(isdown.calls.withLock { $0.map { "\($0.method) \($0.stage)" } })\n\(daemon.output)")
        #expect(daemon.terminate() == 0, "\(daemon.output)")

        // Every check made, before, during and after the outage, is in the database, once.
        let made = checks(target), stored = counts(cluster, database)
        #expect(stored == made, "stored \(stored), checks \(made); during the outage \(checksDuring)")
        #expect((checksDuring["steady"] ?? 0) > 100, "\(checksDuring)")
        let incidents = try cluster.psql("SELECT count(*) FROM incidents", database: database).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(incidents == "1")
        let calls = isdown.calls.withLock { $0 }
        #expect(calls.filter { $0.method == "POST" }.count == 1, "\(calls.map { "\($0.method) \($0.status)" })")
        #expect(calls.allSatisfy { $0.id == "1" })
        // One call per stored change, in order: none lost, none sent twice across the outage.
        let updates = try PostgresStore(url: url, readOnly: true).incidents(since: nil).first?.incident.updates ?? []
        #expect(calls.map(\.stage) == updates.map(\.stage.rawValue), "\(calls.map(\.stage)) vs \(updates.map(\.stage.rawValue))")
        #expect(daemon.stderr.contains("spool"), "the outage is logged")
        print("outage: \(checksDuring) checks during 30 s without PostgreSQL, all stored; \(calls.map(\.method)) in \(ContinuousClock.now - began)")
    }

    @Test func aProberKilledDuringTheOutageSendsItsSpoolAfterARestart() throws {
        let cluster = try TestPostgres()
        defer { cluster.stop() }
        let database = try cluster.makeDatabase()
        let url = cluster.socketURL(database)
        let failing = Switch(false)
        let target = try target(failing)
        defer { target.stop() }
        try writeProbes(target)
        let args = ["--probes", directory.path + "/probes", "--db", url, "--location", "here", "--listen", "127.0.0.1:0",
                    "--spool", directory.path + "/spool"]
        let first = try ProberDaemon(args, logIn: directory.url)
        #expect(first.waitForStart(), "\(first.output)")
        #expect(waitUntil(timeout: .seconds(20)) { (counts(cluster, database)["steady"] ?? 0) > 0 }, "\(first.output)")
        try cluster.stopServer()
        #expect(waitUntil(timeout: .seconds(20)) { (metric(first, "prober_store_spooled_samples") ?? 0) >= 20 }, "\(first.output)")
        let spooled = Int(metric(first, "prober_store_spooled_samples") ?? 0)
        let stamp = Int64(Date().timeIntervalSince1970 * 1e6)
        first.signal(SIGKILL)
        #expect(first.waitForExit(timeout: .seconds(10)) != nil)

        try cluster.startServer()
        let before = counts(cluster, database).values.reduce(0, +)
        let second = try ProberDaemon(args, logIn: directory.url)
        #expect(second.waitForStart(), "\(second.output)")
        // What was on disk when the first prober died arrives: the samples before the kill grow by at least that.
        func storedBeforeKill() -> Int {
            Int((try? cluster.psql("SELECT count(*) FROM samples WHERE at < \(stamp)", database: database))?
                .trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 0
        }
        #expect(waitUntil(timeout: .seconds(20)) { storedBeforeKill() >= before + spooled },
                "before \(before), spooled \(spooled), now \(storedBeforeKill())\n\(second.output)")
        #expect(second.stderr.contains("from an earlier run"), "\(second.output)")
        #expect(second.terminate() == 0, "\(second.output)")
    }

    @Test func sigtermWhileTheServerIsDownKeepsEveryCheckForTheNextStart() throws {
        let cluster = try TestPostgres()
        defer { cluster.stop() }
        let database = try cluster.makeDatabase()
        let url = cluster.socketURL(database)
        let target = try target(Switch(false))
        defer { target.stop() }
        try writeProbes(target)
        let args = ["--probes", directory.path + "/probes", "--db", url, "--location", "here", "--spool", directory.path + "/spool"]
        let first = try ProberDaemon(args, logIn: directory.url)
        #expect(first.waitForStart(), "\(first.output)")
        #expect(waitUntil(timeout: .seconds(20)) { (counts(cluster, database)["steady"] ?? 0) > 0 }, "\(first.output)")
        try cluster.stopServer()
        // Within the blip the memory queue absorbs (before anything is spilled), the prober is stopped.
        #expect(target.waitForRequests(target.requests.count + 10))
        #expect(first.terminate() == 0, "nothing is lost, so the exit is clean\n\(first.output)")
        #expect(first.stderr.contains("kept in the spool"), "\(first.output)")
        let made = checks(target)

        try cluster.startServer()
        let second = try ProberDaemon(args, logIn: directory.url)
        #expect(second.waitForStart(), "\(second.output)")
        #expect(waitUntil(timeout: .seconds(20)) {
            let stored = counts(cluster, database)
            return made.allSatisfy { stored[$0.key, default: 0] >= $0.value }
        }, "checks \(made), stored \(counts(cluster, database))\n\(second.output)")
        #expect(second.terminate() == 0, "\(second.output)")
        #expect(counts(cluster, database) == checks(target))
    }

    @Test func aSpoolThatCannotBeUsedIsAStartUpErrorNamingIt() throws {
        try directory.write("probes/one.yaml", "probes:\n  - name: one\n    tcp: { host: 127.0.0.1, port: 9 }\n")
        // Nothing listens there: the spool is checked first, so these are configuration errors (2), not 1.
        let url = "postgres://prober@127.0.0.1:\(try TestPostgres.freePort())/prober"
        let run = ["run", "--probes", directory.path + "/probes", "--db", url]
        let file = try directory.write("file", "not a directory")
        let underFile = try ProberBinary.run(run + ["--spool", file + "/spool"])
        #expect(underFile.status == 2, "\(underFile.stderr)")
        #expect(underFile.stderr.contains(file + "/spool"), "\(underFile.stderr)")

        let held = try SampleSpool(.init(directory: directory.path + "/held"))
        defer { held.close() }
        let locked = try ProberBinary.run(run + ["--spool", directory.path + "/held"])
        #expect(locked.status == 2, "\(locked.stderr)")
        #expect(locked.stderr.contains("in use by another prober") && locked.stderr.contains(directory.path + "/held"), "\(locked.stderr)")

        let size = try ProberBinary.run(run + ["--spool", directory.path + "/spool", "--spool-max", "lots"])
        #expect(size.status == 2 && size.stderr.contains("--spool-max"), "\(size.stderr)")
    }
}

/// A flag shared with a server's handler.
final class Switch: Sendable {
    private let value: Mutex<Bool>
    init(_ on: Bool) { value = Mutex(on) }
    var on: Bool {
        get { value.withLock { $0 } }
        set { value.withLock { $0 = newValue } }
    }
}
