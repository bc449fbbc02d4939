import Foundation
import ProberCore
import ProberStorage
import ProberStore
import ProberTestSupport
import Testing

/// The prober's own network, end to end through the built binary on loopback: a canary (a loopback HTTP server)
/// that the test takes down and brings back, targets that fail with it, and what the daemon stores, logs,
/// exports and prints. Without canaries, the heuristic's log line.
@Suite(.serialized) struct ConnectivityCommandTests {
    /// What a loopback server answers, switched by the test.
    final class Switch: @unchecked Sendable { // Safe: guarded by `lock`.
        private let lock = NSLock()
        private var up = true
        var isUp: Bool {
            get { lock.lock(); defer { lock.unlock() }; return up }
            set { lock.lock(); up = newValue; lock.unlock() }
        }
    }

    static func server(_ state: Switch, host: String = "127.0.0.1") throws -> TestHTTPServer {
        try TestHTTPServer(host: host) { _ in state.isUp ? .respond(status: 200, body: "ok") : .respond(status: 503, body: "down") }
    }

    static func probe(_ name: String, _ url: String, timeout: String = "150ms") -> String {
        """
          - name: \(name)
            http: { url: \(url)/health }
            interval: 200ms
            timeout: \(timeout)
            incident: { window: 5, minor: { failures: 2 }, major: { failures: 4 }, for: 1s, resolve_after: 1s }
        """
    }

    static func count(_ text: String, in output: String) -> Int { output.components(separatedBy: text).count - 1 }

    static func incidents(_ db: String) -> [Incident] {
        guard FileManager.default.fileExists(atPath: db) else { return [] }
        return ((try? Store(path: db, readOnly: true).incidents(since: nil)) ?? []).map(\.incident)
    }

    @Test func checkListsTheCanariesBesideTheProbes() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("probes/app.yaml", """
            connectivity: { checks: [ { tcp: 10.0.0.1:53 }, { http: http://192.168.1.1/ } ] }
            probes:
            \(Self.probe("alpha", "http://127.0.0.1:9"))
            """)
        let text = try ProberBinary.run(["check", "--probes", dir.path + "/probes"])
        #expect(text.status == 0 && text.stdout == "1 probe in 1 file\nconnectivity canaries: tcp 10.0.0.1:53, http http://192.168.1.1/\n",
                "\(text.stdout)\(text.stderr)")
        let json = try ProberBinary.run(["check", "--probes", dir.path + "/probes", "--json"])
        let document = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(document["connectivity"] as? [String] == ["tcp 10.0.0.1:53", "http http://192.168.1.1/"], "\(json.stdout)")
    }

    @Test func canaryDownWithEveryTargetOpensNothingThenOneIncidentForFor() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let (canaryUp, alphaUp, betaUp) = (Switch(), Switch(), Switch())
        // Two canaries on one switch: a single one timing out on a loaded machine would not be a loss.
        let canary = try Self.server(canaryUp)
        let gateway = try Self.server(canaryUp)
        let alpha = try Self.server(alphaUp)
        let beta = try Self.server(betaUp)
        defer { canary.stop(); gateway.stop(); alpha.stop(); beta.stop() }
        try dir.write("probes/app.yaml", """
            connectivity:
              interval: 150ms
              timeout: 120ms
              checks:
                - http: \(canary.url)/
                - http: \(gateway.url)/
            probes:
            \(Self.probe("alpha", alpha.url))
            \(Self.probe("beta", beta.url))
            """)
        let db = dir.path + "/prober.db"
        let d = try ProberDaemon(["--probes", dir.path + "/probes", "--db", db, "--listen", "127.0.0.1:0"], logIn: dir.url)
        defer { d.signal(SIGKILL) }
        let port = try #require(d.listenPort(), "\(d.output)")
        #expect(alpha.waitForRequests(5, timeout: .seconds(20)), "\(d.output)")

        // The canary goes down first, then every target: connectivity lost, checks go on, nothing opens.
        canaryUp.isUp = false
        #expect(d.waitForLog(containing: "prober's own connectivity lost") != nil, "\(d.output)")
        alphaUp.isUp = false
        betaUp.isUp = false
        let (a0, b0) = (alpha.requests.count, beta.requests.count)
        // 15 failed checks each: 3 s, three times the `for`.
        #expect(alpha.waitForRequests(a0 + 15, timeout: .seconds(20)) && beta.waitForRequests(b0 + 15, timeout: .seconds(20)))
        #expect(Self.incidents(db).isEmpty, "\(Self.incidents(db).map(\.title))")

        let metrics = try #require(httpGet(port: port, "/metrics")).body
        #expect(metrics.contains("prober_connectivity_lost 1"), "\(metrics)")
        #expect(metrics.contains("prober_connectivity_canary_up{canary=\"http \(canary.url)/\"} 0"), "\(metrics)")
        #expect(!metrics.contains("probe_success{probe=\"connectivity:"), "a canary is not a probe")
        let health = try #require(httpGet(port: port, "/healthz"))
        #expect(health.status == 200 && health.body.contains("prober's own connectivity lost since"), "\(health)")

        // Checks are stored: the history has them; status says connectivity is lost, above the table and in --json.
        #expect(waitUntil(timeout: .seconds(10)) {
            (try? ProberBinary.run(["status", "--db", db]).stdout.contains("prober's own connectivity lost since")) == true
        })
        let status = try ProberBinary.run(["status", "--db", db])
        let lines = status.stdout.split(separator: "\n")
        #expect(lines.first?.contains("prober's own connectivity lost since") == true && lines.first?.contains("http_status") == true,
                "\(status.stdout)")
        let json = try ProberBinary.run(["status", "--db", db, "--json"])
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]])
        #expect(rows.count == 2, "the canary is no probe: \(json.stdout)")
        #expect(rows.allSatisfy { ($0["connectivity_lost"] as? [String: Any])?["since"] is String }, "\(json.stdout)")

        // The canary and alpha come back; beta is still down: one incident, for beta, a whole `for` after the return.
        let back = Int64(Date().timeIntervalSince1970 * 1_000_000)
        alphaUp.isUp = true
        canaryUp.isUp = true
        #expect(d.waitForLog(containing: "prober's own connectivity restored") != nil, "\(d.output)")
        #expect(waitUntil(timeout: .seconds(20)) { !Self.incidents(db).isEmpty }, "\(d.output)")
        // Alpha, healthy since, would have opened by now had it been going to.
        let a1 = alpha.requests.count
        #expect(alpha.waitForRequests(a1 + 10, timeout: .seconds(20)))
        let incidents = Self.incidents(db)
        #expect(incidents.count == 1, "\(incidents.map(\.title))")
        let incident = try #require(incidents.first)
        #expect(incident.probe == "beta")
        #expect(incident.createdAt >= back + 1_000_000, "opened \(incident.createdAt - back) µs after the return; `for` is 1 s")

        #expect(Self.count("prober's own connectivity lost", in: d.stderr) == 1, "\(d.stderr)")
        #expect(Self.count("prober's own connectivity restored", in: d.stderr) == 1, "\(d.stderr)")
        #expect(try #require(httpGet(port: port, "/metrics")).body.contains("prober_connectivity_lost 0"))

        // history marks the span.
        #expect(waitUntil(timeout: .seconds(10)) {
            (try? ProberBinary.run(["history", "beta", "--db", db, "--since", "1h"]).stdout.contains("prober's own connectivity lost from")) == true
        })
        let history = try ProberBinary.run(["history", "beta", "--db", db, "--since", "1h"])
        #expect(history.stdout.contains("held      prober's own connectivity lost from") && history.stdout.contains(" until "), "\(history.stdout)")
        #expect(history.stdout.contains("(held: connectivity lost)"), "\(history.stdout)")
        let historyJSON = try ProberBinary.run(["history", "beta", "--db", db, "--since", "1h", "--json"])
        let document = try #require(try JSONSerialization.jsonObject(with: Data(historyJSON.stdout.utf8)) as? [String: Any])
        let spans = try #require(document["connectivity_lost"] as? [[String: Any]])
        #expect(spans.count == 1 && spans.first?["until"] is String, "\(historyJSON.stdout)")

        d.signal(SIGTERM)
        #expect(d.waitForExit() == 0, "\(d.output)")
    }

    @Test func withoutCanariesEveryProbeFailingOnThreeHostsIsLoggedOnceAndNotHeld() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        // Three hosts on loopback, each answering nothing: every check times out (a network-level reason).
        let servers = try ["127.0.0.1", "127.0.0.2", "127.0.0.3"].map { host in try TestHTTPServer(host: host) { _ in .hang } }
        defer { for s in servers { s.stop() } }
        try dir.write("probes/app.yaml", "probes:\n" + servers.enumerated().map { Self.probe("p\($0.offset)", $0.element.url) }
            .joined(separator: "\n"))
        let db = dir.path + "/prober.db"
        let d = try ProberDaemon(["--probes", dir.path + "/probes", "--db", db], logIn: dir.url)
        defer { d.signal(SIGKILL) }
        #expect(d.waitForLog(containing: "every probe is failing with a network-level error") != nil, "\(d.output)")
        // Not held: each probe's incident opens.
        #expect(waitUntil(timeout: .seconds(20)) { Self.incidents(db).count == 3 }, "\(d.output)")
        let line = try #require(d.stderr.split(separator: "\n").first { $0.contains("every probe is failing") })
        #expect(line.contains("3 probes on 3 hosts") && line.contains("timeout: 3"), "\(line)")
        #expect(Self.count("every probe is failing with a network-level error", in: d.stderr) == 1, "rate-limited: \(d.stderr)")
        d.signal(SIGTERM)
        #expect(d.waitForExit() == 0, "\(d.output)")
    }
}
