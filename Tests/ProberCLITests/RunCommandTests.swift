import Foundation
import ProberCore
import ProberStorage
import ProberStore
import ProberTestSupport
import XCTest

/// `prober run` as a built binary against loopback servers: the incident lifecycle end to end, restarts,
/// signals, reloads and the one-daemon-per-database rule.
final class RunCommandTests: XCTestCase {
    var dir: TemporaryDirectory!
    var db: String { dir.path + "/prober.db" }
    var probes: String { dir.path + "/probes" }

    override func setUpWithError() throws { dir = try TemporaryDirectory() }
    override func tearDown() { dir.remove() }

    /// What the test server does, switched by the test as it observes the daemon.
    final class Mode: @unchecked Sendable { // Safe: guarded by `lock`.
        enum Kind { case healthy, slow, failing }
        private let lock = NSLock()
        private var kind = Kind.healthy
        var current: Kind {
            get { lock.lock(); defer { lock.unlock() }; return kind }
            set { lock.lock(); kind = newValue; lock.unlock() }
        }
    }

    func server(_ mode: Mode) throws -> TestHTTPServer {
        try TestHTTPServer { _ in
            switch mode.current {
            case .healthy: .respond(status: 200, body: "ok")
            case .slow: .delay(.milliseconds(80), .respond(status: 200, body: "ok"))
            case .failing: .respond(status: 503, body: "down")
            }
        }
    }

    func writeProbe(_ url: String, name: String = "checkout", file: String = "probes/app.yaml", holdFor: String = "600ms") throws {
        try dir.write(file, """
            probes:
              - name: \(name)
                http:
                  url: \(url)/health?token=hunter2
                  headers:
                    Authorization: "Bearer ${TEST_SECRET_TOKEN}"
                interval: 200ms
                timeout: 180ms
                incident:
                  title: Checkout API
                  window: 5
                  minor: { latency: 40ms, failures: 2 }
                  major: { failures: 4 }
                  for: \(holdFor)
                  resolve_after: 1200ms
            """)
    }

    func daemon(_ extra: [String] = []) throws -> ProberDaemon {
        try ProberDaemon(["--probes", probes, "--db", db] + extra, environment: ["TEST_SECRET_TOKEN": "s3cr3t-value"], logIn: dir.url)
    }

    func incidents() throws -> [StoredIncident] {
        guard FileManager.default.fileExists(atPath: db) else { return [] }
        return (try? Store(path: db, readOnly: true).incidents(since: nil)) ?? []
    }

    func testIncidentOpensMinorEscalatesMonitorsAndResolvesNamingTheSlowPhase() throws {
        let mode = Mode()
        let server = try server(mode)
        defer { server.stop() }
        try writeProbe(server.url)
        let d = try daemon()
        defer { d.signal(SIGKILL) }

        // A healthy baseline, then slow responses: a minor incident by latency.
        XCTAssertTrue(server.waitForRequests(15, timeout: .seconds(20)), d.output)
        mode.current = .slow
        XCTAssertTrue(try waitUntil { try incidents().first?.incident.status == .minor }, d.output)
        // Failures: escalated to major.
        mode.current = .failing
        XCTAssertTrue(try waitUntil { try incidents().first?.incident.status == .major }, d.output)
        // Healthy again: monitoring, then resolved.
        mode.current = .healthy
        XCTAssertTrue(try waitUntil { try incidents().first?.incident.stage == .resolved }, d.output)

        let all = try incidents()
        XCTAssertEqual(all.count, 1, "one incident for the whole episode")
        let incident = try XCTUnwrap(all.first).incident
        XCTAssertEqual(incident.updates.map(\.kind), [.opened, .escalated, .monitoring, .resolved])
        XCTAssertEqual(incident.title, "Checkout API: slow responses")
        let opened = incident.updates[0].description
        XCTAssertTrue(opened.contains("Server processing rose from"), opened)
        XCTAssertTrue(opened.contains("above the 40 ms threshold"), opened)
        XCTAssertTrue(opened.contains("\(server.url)/health"), opened)
        XCTAssertTrue(incident.updates[1].description.contains("returned HTTP 503"), incident.updates[1].description)
        XCTAssertTrue(incident.updates[3].description.hasPrefix("Resolved: healthy since"), incident.updates[3].description)
        let everything = incident.updates.map(\.description).joined() + incident.title + d.output
        XCTAssertFalse(everything.contains("hunter2"), "query strings never reach descriptions or logs")
        XCTAssertFalse(everything.contains("s3cr3t-value"), "header values never reach descriptions or logs")

        // The command line shows it, and the JSON is the IsDown document shape.
        let list = try ProberBinary.run(["incidents", "--db", db])
        XCTAssertEqual(list.status, 0, list.stderr)
        XCTAssertTrue(list.stdout.contains("Checkout API: slow responses"), list.stdout)
        let json = try ProberBinary.run(["incidents", "--db", db, "--json"])
        let document = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let data = try XCTUnwrap(document["data"] as? [[String: Any]])
        let attributes = try XCTUnwrap(data.first?["attributes"] as? [String: Any])
        XCTAssertEqual(attributes["status"] as? String, "major")
        XCTAssertEqual(attributes["resolved"] as? Bool, true)
        let updates = try XCTUnwrap(attributes["updates"] as? [[String: Any]])
        XCTAssertEqual(updates.count, 4)
        // The evaluator's evidence is kept with every update (newest first in the document).
        let openedEvidence = try XCTUnwrap(updates.last?["evidence"] as? [String: Any])
        XCTAssertEqual(openedEvidence["trigger"] as? String, "latency")
        XCTAssertEqual(openedEvidence["level"] as? String, "minor")
        let medians = try XCTUnwrap(openedEvidence["phases_median_us"] as? [String: Any])
        let baseline = try XCTUnwrap(openedEvidence["baseline_median_us"] as? [String: Any])
        XCTAssertGreaterThan((medians["processing"] as? Int) ?? 0, 80_000)
        XCTAssertLessThan((baseline["processing"] as? Int) ?? .max, 40_000)
        let show = try ProberBinary.run(["incidents", "show", "\(incident.id)", "--db", db])
        XCTAssertTrue(show.stdout.contains("timeline:") && show.stdout.contains("escalated"), show.stdout)

        d.signal(SIGTERM)
        XCTAssertEqual(d.waitForExit(), 0, d.output)
    }

    func testRestartAfterSIGKILLContinuesTheOpenIncident() throws {
        let mode = Mode()
        mode.current = .failing
        let server = try server(mode)
        defer { server.stop() }
        try writeProbe(server.url)

        let first = try daemon()
        XCTAssertTrue(try waitUntil { try incidents().count == 1 }, first.output)
        first.signal(SIGKILL)
        XCTAssertNotNil(first.waitForExit())

        let second = try daemon()
        defer { second.signal(SIGKILL) }
        // Still failing for a while (escalation happens on the same incident), then recovery resolves it.
        XCTAssertTrue(try waitUntil { try incidents().first?.incident.status == .major }, second.output)
        mode.current = .healthy
        XCTAssertTrue(try waitUntil { try incidents().first?.incident.stage == .resolved }, second.output)
        let all = try incidents()
        XCTAssertEqual(all.count, 1, "a restart must never open a duplicate: \(all.map(\.incident.title))")
        XCTAssertEqual(all[0].incident.updates.first?.kind, .opened)
        XCTAssertEqual(all[0].incident.updates.filter { $0.kind == .opened }.count, 1)
        XCTAssertTrue(second.output.contains("continuing open incident"), second.output)
    }

    func testSIGTERMLetsTheInFlightCheckFinishThenExitsZero() throws {
        let server = try TestHTTPServer { _ in .delay(.milliseconds(600), .respond(status: 200, body: "ok")) }
        defer { server.stop() }
        try dir.write("probes/slow.yaml", """
            probes:
              - name: slow
                http: { url: "\(server.url)/slow" }
                interval: 2s
                timeout: 1500ms
            """)
        let d = try daemon()
        XCTAssertTrue(server.waitForRequests(1, timeout: .seconds(10)), d.output)
        d.signal(SIGTERM)
        XCTAssertEqual(d.waitForExit(), 0, d.output)
        let samples = try Store(path: db, readOnly: true).recentSamples(probe: "slow", limit: 10)
        XCTAssertEqual(samples.count, 1, "the check in flight at SIGTERM was finished and stored")
        XCTAssertTrue(samples[0].ok)
        XCTAssertGreaterThanOrEqual(samples[0].phases.total ?? 0, 600_000)
    }

    func testASecondDaemonOnTheSameDatabaseIsRefused() throws {
        let server = try TestHTTPServer { _ in .respond(status: 200) }
        defer { server.stop() }
        try writeProbe(server.url)
        let first = try daemon()
        defer { first.signal(SIGKILL) }
        XCTAssertTrue(server.waitForRequests(1), first.output)
        let second = try daemon()
        XCTAssertEqual(second.waitForExit(), 1)
        XCTAssertTrue(second.output.contains("another prober is already running"), second.output)
        XCTAssertTrue(second.output.contains(db), second.output)
    }

    func testSIGHUPReloadsAndABadFileKeepsTheCurrentSet() throws {
        let server = try TestHTTPServer { _ in .respond(status: 200) }
        defer { server.stop() }
        try writeProbe(server.url)
        let d = try daemon()
        defer { d.signal(SIGKILL) }
        XCTAssertTrue(server.waitForRequests(2), d.output)

        // A broken file: the daemon keeps probing and logs the same message `prober check` prints.
        let bad = try dir.write("probes/bad.yaml", "probes:\n  - name: broken\n    http: { url: \"ftp://x\" }\n")
        d.signal(SIGHUP)
        XCTAssertTrue(waitUntil { d.output.contains("reload failed") }, d.output)
        XCTAssertTrue(d.output.contains("bad.yaml:3:"), d.output)
        XCTAssertTrue(bad.hasSuffix("bad.yaml"))
        let before = server.requests.count
        XCTAssertTrue(server.waitForRequests(before + 3), "the current set keeps running")

        // Fixed, with a second probe: it starts, and the first keeps its schedule.
        try dir.write("probes/bad.yaml", """
            probes:
              - name: added
                http: { url: "\(server.url)/added" }
                interval: 200ms
            """)
        d.signal(SIGHUP)
        XCTAssertTrue(waitUntil { server.requests.contains { $0.path == "/added" } }, d.output)
        XCTAssertTrue(waitUntil {
            server.requests.suffix(20).contains { $0.path.hasPrefix("/health") }
        }, "the unchanged probe keeps running")
        XCTAssertTrue(d.process.isRunning)
    }

    func testAnInvalidProbeDirectoryExitsTwoWithTheCheckMessages() throws {
        try dir.write("probes/a.yaml", "probes:\n  - name: x\n    http: { url: \"http://h\" }\n    interval: fast\n")
        let d = try daemon()
        XCTAssertEqual(d.waitForExit(), 2)
        XCTAssertTrue(d.output.contains("a.yaml:4:"), d.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: db), "nothing is created before the probe files are valid")
    }
}
