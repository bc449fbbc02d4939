import Foundation
import ProberCore
import ProberStorage
import ProberStore
import ProberTestSupport
import Testing

/// `prober silence`, `prober silences` and `prober unsilence` through the built binary, and a running daemon honouring
/// a silence without a reload.
@Suite("prober silence, silences, unsilence", .serialized)
struct SilenceCommandTests {
    /// A history with probes `api` and `web` registered, as `prober run` leaves it.
    /// `web` is in a maintenance window from an hour ago to an hour from now.
    func history(_ dir: TemporaryDirectory) throws -> String {
        let db = dir.path + "/prober.db"
        let store = try Store(path: db)
        var web = ProbeSpec(name: "web", target: .tcp(TCPTarget(host: "127.0.0.1", port: 9)))
        let now = Int64(Date().timeIntervalSince1970) * 1_000_000
        web.maintenance = [MaintenanceWindow(.once(start: now - 3_600_000_000, end: now + 3_600_000_000))]
        try store.register([ProbeSpec(name: "api", target: .tcp(TCPTarget(host: "127.0.0.1", port: 9))), web])
        return db
    }

    func json(_ text: String) throws -> [[String: Any]] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]], "\(text)")
    }

    @Test("silence, list, unsilence; --json; exit codes")
    func lifecycle() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let db = try history(dir)

        let silenced = try ProberBinary.run(["silence", "api", "--for", "30m", "--reason", "deploy 1.42", "--db", db])
        #expect(silenced.status == 0, "\(silenced.stderr)")
        #expect(silenced.stdout.hasPrefix("silence #1: api until "), "\(silenced.stdout)")
        #expect(silenced.stdout.hasSuffix("(deploy 1.42); prober unsilence 1 ends it sooner\n"), "\(silenced.stdout)")

        let all = try ProberBinary.run(["silence", "--all", "--for", "1500ms", "--db", db, "--json"])
        #expect(all.status == 0, "\(all.stderr)")
        let created = try json(all.stdout)
        #expect(created.first?["id"] as? Int == 2)
        #expect(created.first?["all_probes"] as? Bool == true)
        #expect(created.first?["state"] as? String == "active")

        let listed = try ProberBinary.run(["silences", "--db", db, "--json"])
        #expect(listed.status == 0, "\(listed.stderr)")
        let rows = try json(listed.stdout)
        #expect(rows.map { $0["id"] as? Int } == [2, 1])
        #expect(rows.last?["probes"] as? [String] == ["api"])
        #expect(rows.last?["reason"] as? String == "deploy 1.42")
        #expect((rows.last?["created_by"] as? String)?.contains("@") == true)
        let text = try ProberBinary.run(["silences", "--db", db])
        #expect(text.stdout.hasPrefix("ID  STATE   PROBES"), "\(text.stdout)")
        #expect(text.stdout.contains("#1  active  api"), "\(text.stdout)")

        // status shows the silence, with until-when.
        let status = try ProberBinary.run(["status", "--db", db, "--json"])
        let states = try json(status.stdout)
        let api = try #require(states.first { $0["name"] as? String == "api" })
        #expect(api["state"] as? String == "silenced")
        #expect((api["quiet"] as? [String: Any])?["cause"] as? String == "prober silence #1: deploy 1.42")
        let web = try #require(states.first { $0["name"] as? String == "web" })
        #expect(web["state"] as? String == "maintenance")
        #expect(((web["quiet"] as? [String: Any])?["cause"] as? String)?.hasPrefix("maintenance window ") == true)
        let statusText = try ProberBinary.run(["status", "--db", db]).stdout
        #expect(statusText.contains("silenced until "), "\(statusText)")
        #expect(statusText.contains("maintenance until "), "\(statusText)")
        // history marks the silence (and the window) under its summary.
        let history = try ProberBinary.run(["history", "api", "--since", "1h", "--db", db])
        #expect(history.stdout.contains("quiet     silenced "), "\(history.stdout)\(history.stderr)")
        #expect(history.stdout.contains("(prober silence #1: deploy 1.42)"), "\(history.stdout)")
        let webHistory = try ProberBinary.run(["history", "web", "--since", "1h", "--db", db])
        #expect(webHistory.stdout.contains("quiet     maintenance window "), "\(webHistory.stdout)\(webHistory.stderr)")

        let lifted = try ProberBinary.run(["unsilence", "1", "--db", db])
        #expect(lifted.status == 0 && lifted.stdout == "silence #1 (api) ended\n", "\(lifted.stdout)\(lifted.stderr)")
        let again = try ProberBinary.run(["unsilence", "1", "--db", db])
        #expect(again.status == 0 && again.stdout.contains("had already ended"), "\(again.stdout)")
        let missing = try ProberBinary.run(["unsilence", "9", "--db", db])
        #expect(missing.status == 1 && missing.stderr == "prober: no silence with id 9 (prober silences lists them)\n", "\(missing.stderr)")
        #expect(try json(try ProberBinary.run(["silences", "--db", db, "--json"]).stdout).last?["state"] as? String == "lifted")
    }

    @Test("unknown probe names are refused, named, with a suggestion; nothing is silenced")
    func unknownNames() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let db = try history(dir)
        let r = try ProberBinary.run(["silence", "api", "apx", "checkout", "--for", "5m", "--db", db])
        #expect(r.status == 2)
        #expect(r.stderr == """
            prober: no probe named 'apx' in \(db); did you mean 'api'?
            prober: no probe named 'checkout' in \(db); known probes: api, web
            nothing was silenced

            """, "\(r.stderr)")
        #expect(try ProberBinary.run(["silences", "--db", db]).stdout == "no silence in force or ended in the last day\n")
    }

    @Test("usage errors exit 64; a missing history exits 1", arguments: [
        (["silence", "--for", "5m"], "name the probes to silence, or give --all"),
        (["silence", "api", "--all", "--for", "5m"], "give probe names or --all, not both"),
        (["silence", "api", "--for", "soon"], "--for 'soon' is not a duration; write e.g. 30m, 2h or 500ms"),
        (["silence", "api"], "Missing expected argument '--for <for>'"),
    ])
    func usage(_ args: [String], _ message: String) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let r = try ProberBinary.run(args + ["--db", try history(dir)])
        #expect(r.status == 64 && r.stderr.contains(message), "\(r.status) \(r.stderr)")
    }

    @Test("a missing history is exit 1")
    func missingHistory() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let r = try ProberBinary.run(["silence", "api", "--for", "5m", "--db", dir.path + "/none.db"])
        #expect(r.status == 1 && r.stderr.contains("no database file at"), "\(r.stderr)")
    }

    /// A failing probe of a running daemon, silenced for 2 s: no incident while silenced, then one `for` after the end.
    @Test("a running daemon honours a new silence without a reload")
    func daemonHonoursSilence() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let healthy = Flag()
        let server = try TestHTTPServer { _ in healthy.on ? .respond(status: 200, body: "ok") : .respond(status: 503) }
        defer { server.stop() }
        try dir.write("probes/api.yaml", """
            probes:
              - name: api
                http: { url: "http://127.0.0.1:\(server.port)/health" }
                interval: 100ms
                timeout: 80ms
                incident:
                  window: 3
                  minor: { failures: 2 }
                  major: { latency: none, failures: none }
                  for: 500ms
            """)
        let db = dir.path + "/prober.db"
        let daemon = try ProberDaemon(["--probes", dir.path + "/probes", "--db", db, "--listen", "127.0.0.1:0"], logIn: dir.url)
        let port = try #require(daemon.listenPort(), "no listen line; stderr:\n\(daemon.stderr)")

        let silenced = try ProberBinary.run(["silence", "api", "--for", "2s", "--reason", "deploy", "--db", db, "--json"])
        #expect(silenced.status == 0, "\(silenced.stderr)")
        let ends = try #require(MaintenanceWindow.instant(try json(silenced.stdout).first?["ends_at"] as? String ?? ""))
        #expect(daemon.waitForLog(containing: "maintenance started (prober silence #1: deploy") != nil, "\(daemon.stderr)")
        #expect(waitUntil { httpGet(port: port, "/metrics")?.body.contains(#"prober_probe_quiet{probe="api",reason="silenced"} 1"#) == true })
        healthy.on = false

        #expect(daemon.waitForLog(containing: "maintenance ended") != nil, "\(daemon.stderr)")
        #expect(daemon.waitForLog(containing: "incident opened") != nil, "\(daemon.stderr)")
        let incidents = try Store(path: db, readOnly: true).incidents(since: nil)
        #expect(incidents.count == 1)
        let incident = try #require(incidents.first?.incident)
        // Failing all through the silence, yet opened only once the degradation held `for` (500 ms) after its end.
        #expect(incident.createdAt >= ends + 500_000, "opened \(incident.createdAt - ends) µs after the end")
        #expect(incident.updates.map(\.kind) == [.opened])
        #expect(httpGet(port: port, "/metrics")?.body.contains("prober_probe_quiet{") == false)
        let marked = try ProberBinary.run(["history", "api", "--since", "10m", "--db", db]).stdout
        #expect(marked.contains(" (silenced)"), "the buckets the silence covered are marked\n\(marked)")
        #expect(daemon.terminate() == 0)
    }
}

/// A switch the test flips and a server reads. `@unchecked Sendable`: `value` is guarded by `lock`.
private final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = true
    var on: Bool {
        get { lock.withLock { value } }
        set { lock.withLock { value = newValue } }
    }
}
