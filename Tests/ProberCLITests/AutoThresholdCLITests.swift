import Foundation
import ProberTestSupport
import Synchronization
import Testing

/// `latency: auto` through the built binary on loopback: a target that answers fast for 30 checks and then
/// slowly opens one incident whose description says the threshold was automatic and by how much; `status`
/// (its table, `--json`, `/api/v1/status` and the page) says "learning" until the reference has its 30 passing checks.
@Suite("prober run: latency: auto")
final class AutoThresholdCLITests {
    let dir: TemporaryDirectory
    var db: String { dir.path + "/prober.db" }

    init() throws { dir = try TemporaryDirectory() }
    deinit { dir.remove() }

    @Test func fastThenSlowOpensOneAutomaticIncident() throws {
        let slow = Mutex(false)
        let server = try TestHTTPServer { _ in
            slow.withLock { $0 } ? .delay(.milliseconds(250), .respond(status: 200, body: "ok")) : .respond(status: 200, body: "ok")
        }
        defer { server.stop() }
        try dir.write("probes/api.yaml", """
            probes:
              - name: api
                http: { url: \(server.url)/health }
                interval: 400ms
                timeout: 380ms
                incident:
                  window: 5
                  minor: { latency: auto }
                  for: 500ms
            """)
        let daemon = try ProberDaemon(["--probes", dir.path + "/probes", "--db", db, "--listen", "127.0.0.1:0"], logIn: dir.url)
        defer { _ = daemon.terminate() }
        let port = try #require(daemon.listenPort(), "no listen line; output:\n\(daemon.output)")

        // Before 30 passing checks: learning, in the table, in --json and in /api/v1/status.
        let learning = try waitUntil {
            let r = try ProberBinary.run(["status", "--db", db])
            return r.status == 0 && r.stdout.contains("learning")
        }
        #expect(learning, "status never said learning; stderr:\n\(daemon.stderr)")
        let json = try ProberBinary.run(["status", "--db", db, "--json"]).stdout
        let api = httpGet(port: port, "/api/v1/status")?.body ?? ""
        #expect(json.contains("\"state\" : \"learning\"") || json.contains("\"state\": \"learning\""), "\(json)")
        #expect(api.contains("learning"), "\(api)")
        let page = httpGet(port: port, "/")?.body ?? ""
        #expect(page.contains("learning"), "the status page: \(page.prefix(2_000))")

        // The tracker's reference has 30 passing checks: the automatic threshold applies.
        let active = daemon.waitForLog(containing: "automatic latency thresholds active", timeout: .seconds(90))
        try #require(active != nil, "the threshold never became active; stderr:\n\(daemon.stderr)")
        let healthy = try waitUntil(timeout: .seconds(60)) { try ProberBinary.run(["status", "--db", db]).stdout.contains("healthy") }
        #expect(healthy, "status still learning after 30 checks")

        slow.withLock { $0 = true }
        var incidents = ""
        let opened = try waitUntil(timeout: .seconds(60)) {
            incidents = try ProberBinary.run(["incidents", "--db", db, "--json"]).stdout
            return incidents.contains("automatic threshold")
        }
        try #require(opened, "no automatic incident; incidents:\n\(incidents)\nstderr:\n\(daemon.stderr)")
        #expect(incidents.components(separatedBy: "\"title\"").count == 2, "one incident: \(incidents)")
        let shown = try ProberBinary.run(["incidents", "show", "1", "--db", db]).stdout
        #expect(shown.contains("api: slow responses"), "\(shown)")
        #expect(shown.range(of: #"p95 [\d.]+ ms over the last 5 checks, [\d.]+× its usual [\d.]+ (µs|ms)"#, options: .regularExpression) != nil,
                "\(shown)")
        #expect(shown.contains("(automatic threshold "), "\(shown)")
        #expect(shown.contains("3× its usual p95 and at least 50 ms above it"), "\(shown)")
    }
}
