import Foundation
import ProberCore
import ProberStore
import ProberTestSupport
import Testing

/// More probes than prober can run, end to end through the built binary: it sheds ticks, says so in one log line,
/// on `/metrics` and in `prober status`, and opens no incident.
@Suite(.serialized) struct OverloadCommandTests {
    @Test func aDaemonWithMoreProbesThanSlotsShedsTicksReportsThemAndOpensNoIncident() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        // Every answer takes 100 ms; one slot runs at most 10 checks a second, and 30 probes every second want 30.
        let target = try TestHTTPServer { _ in .delay(.milliseconds(100), .respond(status: 200, body: "ok")) }
        defer { target.stop() }
        let probes = (1...30).map { i in
            """
              - name: p\(i)
                http: { url: \(target.url)/p\(i) }
                interval: 1s
                timeout: 900ms
                incident: { window: 3, minor: { failures: 2 }, major: { failures: 3 }, for: 1s }
            """
        }
        try dir.write("probes/busy.yaml", "probes:\n" + probes.joined(separator: "\n"))
        let db = dir.path + "/prober.db"
        let d = try ProberDaemon(["--probes", dir.path + "/probes", "--db", db, "--listen", "127.0.0.1:0", "--max-in-flight", "1"],
                                 environment: ["PROBER_HEARTBEAT_INTERVAL": "300ms"], logIn: dir.url)
        defer { d.signal(SIGKILL) }
        let port = try #require(d.listenPort(), "\(d.output)")

        #expect(d.waitForLog(containing: "overloaded: skipped") != nil, "\(d.output)")
        #expect(target.waitForRequests(30, timeout: .seconds(30)), "\(d.output)")

        // /metrics: the skips by reason, overload among them.
        let metrics = try #require(httpGet(port: port, "/metrics")).body
        let overload = metrics.split(separator: "\n").first { $0.hasPrefix("prober_scheduler_skipped_ticks_total{reason=\"overload\"}") }
        let skipped = overload.flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0
        #expect(skipped > 0, "\(metrics)")

        // status: above the table, and on each row of --json.
        #expect(waitUntil(timeout: .seconds(20)) {
            (try? ProberBinary.run(["status", "--db", db]).stdout.contains("prober overloaded: skipped")) == true
        }, "\((try? ProberBinary.run(["status", "--db", db]).stdout) ?? "")")
        let json = try ProberBinary.run(["status", "--db", db, "--json"])
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]])
        #expect(rows.count == 30, "\(json.stdout)")
        #expect(rows.allSatisfy { (($0["overload"] as? [String: Any])?["skipped_ticks"] as? Int ?? 0) > 0 }, "\(json.stdout)")

        // Nothing opened: every check that ran passed, and none of prober's own delay counted against a target.
        let incidents = (try? Store(path: db, readOnly: true).incidents(since: nil)) ?? []
        #expect(incidents.isEmpty, "\(incidents.map(\.incident.title))")
        // One summary line, not one per probe (the next is due a minute after the first).
        #expect(d.stderr.components(separatedBy: "overloaded: skipped").count - 1 == 1, "\(d.stderr)")

        d.signal(SIGTERM)
        #expect(d.waitForExit() == 0, "\(d.output)")
    }
}
