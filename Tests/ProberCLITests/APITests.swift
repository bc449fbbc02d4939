import Foundation
import ProberTestSupport
import Testing

/// `/api/v1` on `prober run --listen`, against the built binary: every document is byte for byte what the
/// command line's `--json` prints for the same database, bad parameters get 400 naming them, and a listener
/// beyond loopback needs a token.
@Suite("prober run --listen: /api/v1")
final class APITests {
    let dir: TemporaryDirectory
    var db: String { dir.path + "/prober.db" }

    init() throws { dir = try TemporaryDirectory() }
    deinit { dir.remove() }

    /// A daemon with one passing HTTP probe and one refused TCP probe that opens an incident at its first
    /// check, both checking every second.
    private func startDaemon(_ extra: [String] = ["--listen", "127.0.0.1:0"]) throws -> (ProberDaemon, UInt16, TestHTTPServer) {
        let server = try TestHTTPServer { _ in .respond(status: 200, body: "ok") }
        try dir.write("probes/api.yaml", """
            probes:
              - name: api-ok
                http:
                  url: \(server.url)/ok
                interval: 1s
                timeout: 500ms
              - name: api-refused
                tcp: { host: 127.0.0.1, port: 1 }
                interval: 1s
                timeout: 500ms
                incident:
                  minor: { failures: 1 }
                  major: { failures: 3 }
                  for: 0s
            """)
        let daemon = try ProberDaemon(["--probes", dir.path + "/probes", "--db", db] + extra, logIn: dir.url)
        let port = try #require(daemon.listenPort(), "no listen line; stderr:\n\(daemon.stderr)")
        return (daemon, port, server)
    }

    /// Waits until both probes' first checks and the incident are stored.
    private func waitForData(_ port: UInt16, _ daemon: ProberDaemon) throws {
        let ready = waitUntil {
            guard let status = httpGet(port: port, "/api/v1/status"), status.status == 200,
                  status.body.components(separatedBy: "\"age_seconds\"").count == 3,
                  httpGet(port: port, "/api/v1/incidents/1")?.status == 200 else { return false }
            return true
        }
        try #require(ready, "no data within 30 s; stderr:\n\(daemon.stderr)")
    }

    /// `prober ARGS --db DB --json`'s standard output (it must succeed).
    private func cli(_ args: [String]) throws -> String {
        let result = try ProberBinary.run(args + ["--db", db, "--json"])
        try #require(result.status == 0, "prober \(args): \(result.stderr)")
        return result.stdout
    }

    /// The API's body equals the CLI's output. The daemon keeps checking, so the data may change between the
    /// two reads (a check stored, an age crossing a whole second): the CLI runs between two reads of the API
    /// and must equal one of them, in one of up to ten tries. Documents that differ differ in every try.
    private func expectSame(_ port: UInt16, _ path: String, _ args: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
        var last = ("", "")
        for _ in 0..<10 {
            let before = try #require(httpGet(port: port, path), "no answer to \(path)")
            let printed = try cli(args)
            let after = try #require(httpGet(port: port, path), "no answer to \(path)")
            #expect(before.status == 200, "\(path): \(before.body)", sourceLocation: sourceLocation)
            if printed == before.body || printed == after.body {
                #expect(printed.hasSuffix("}\n") || printed.hasSuffix("]\n"), sourceLocation: sourceLocation)
                return
            }
            last = (before.body, printed)
        }
        Issue.record("\(path) differs from prober \(args.joined(separator: " ")) --json:\n\(last.0)\n---\n\(last.1)", sourceLocation: sourceLocation)
    }

    @Test func everyDocumentIsByteForByteTheCLIsJSON() throws {
        let (daemon, port, server) = try startDaemon()
        defer { server.stop() }
        try waitForData(port, daemon)
        let formatter = ISO8601DateFormatter()
        let since = formatter.string(from: Date().addingTimeInterval(-2 * 3_600))
        let until = formatter.string(from: Date().addingTimeInterval(600))

        try expectSame(port, "/api/v1/status", ["status"])
        try expectSame(port, "/api/v1/probes/api-refused/history?since=\(since)&until=\(until)",
                       ["history", "api-refused", "--since", since, "--until", until])
        try expectSame(port, "/api/v1/probes/api-ok/history?since=\(since)&until=\(until)&every=5m&phase=connect",
                       ["history", "api-ok", "--since", since, "--until", until, "--every", "5m", "--phase", "connect"])
        try expectSame(port, "/api/v1/incidents", ["incidents"])
        try expectSame(port, "/api/v1/incidents?open=true", ["incidents", "--open"])
        try expectSame(port, "/api/v1/incidents/1", ["incidents", "show", "1"])
        try expectSame(port, "/api/v1/fleet", ["fleet"])
        #expect(try cli(["incidents", "--open"]).contains("api-refused"), "the comparison saw the incident")
        #expect(daemon.terminate() == 0, "\(daemon.stderr)")
    }

    @Test func badParametersGet400NamingThemAndMissingThings404() throws {
        let (daemon, port, server) = try startDaemon()
        defer { server.stop() }
        try waitForData(port, daemon)
        let cases: [(String, Int, String?)] = [
            ("/api/v1/probes/api-ok/history?since=yesterday", 400, "since"),
            ("/api/v1/probes/api-ok/history?until=soon", 400, "until"),
            ("/api/v1/probes/api-ok/history?since=1h&until=2h", 400, "since"),
            ("/api/v1/probes/api-ok/history?every=1ms", 400, "every"),
            ("/api/v1/probes/api-ok/history?phase=bogus", 400, "phase"),
            ("/api/v1/probes/api-ok/history?location=", 400, "location"),
            ("/api/v1/probes/api-ok/history?location=eu", 404, nil),
            ("/api/v1/incidents?open=maybe", 400, "open"),
            ("/api/v1/incidents/abc", 400, "id"),
            ("/api/v1/probes/api-okk/history", 404, nil),
            ("/api/v1/incidents/999", 404, nil),
            ("/api/v1/nothing", 404, nil),
        ]
        for (path, status, parameter) in cases {
            let reply = try #require(httpGet(port: port, path), "\(path)")
            #expect(reply.status == status, "\(path): \(reply.body)")
            #expect(reply.body.hasPrefix("{\n  \"error\": {"), "JSON: \(path): \(reply.body)")
            #expect(reply.body.contains("\"status\": \(status)"), "\(path): \(reply.body)")
            if let parameter { #expect(reply.body.contains("\"parameter\": \"\(parameter)\""), "\(path): \(reply.body)") }
        }
        #expect(httpGet(port: port, "/api/v1/probes/api-okk/history")?.body.contains("did you mean 'api-ok'") == true)
        #expect(httpGet(port: port, "/api/v1/probes/api-ok/history?location=eu")?.body.contains("no checks of 'api-ok' from location 'eu'") == true)
        // The same parameter syntax as the flags: a phase the CLI refuses, the API refuses with the same words.
        let cliRefusal = try ProberBinary.run(["history", "api-ok", "--phase", "bogus", "--db", db])
        #expect(cliRefusal.stderr.contains("unknown phase 'bogus'"))
        #expect(httpGet(port: port, "/api/v1/probes/api-ok/history?phase=bogus")?.body.contains("unknown phase 'bogus'") == true)

        // HEAD: the headers of GET, no body.
        let head = try #require(try RawClient.exchange(port: port, "HEAD /api/v1/incidents/1 HTTP/1.1\r\nHost: x\r\n\r\n"))
        let body = try #require(httpGet(port: port, "/api/v1/incidents/1")).body
        #expect(head.hasPrefix("HTTP/1.1 200 OK\r\n") && head.hasSuffix("\r\n\r\n"), "\(head)")
        #expect(head.contains("Content-Length: \(body.utf8.count)\r\n"), "\(head)")
        #expect(head.contains("Content-Type: application/json\r\n"), "\(head)")
        #expect(head.contains("X-Content-Type-Options: nosniff\r\n"), "\(head)")
        // /metrics and /healthz as before.
        #expect(httpGet(port: port, "/healthz")?.body == "ok\n")
        #expect(httpGet(port: port, "/metrics")?.body.contains("probe_success{probe=\"api-ok\"} 1") == true)
        #expect(daemon.terminate() == 0, "\(daemon.stderr)")
    }

    @Test func beyondLoopbackATokenIsRequiredButForHealthz() throws {
        let token = "tok-\(UUID().uuidString)"
        try dir.write("token", token + "\n")
        let (daemon, port, server) = try startDaemon(["--listen", "0.0.0.0:0", "--listen-token-file", dir.path + "/token"])
        defer { server.stop() }
        func status(_ path: String, _ authorization: String?) throws -> String {
            let reply = try #require(try RawClient.exchange(port: port, "GET \(path) HTTP/1.1\r\nHost: x\r\n"
                + (authorization.map { "Authorization: \($0)\r\n" } ?? "") + "\r\n"))
            return String(reply.prefix(12))
        }
        for path in ["/api/v1/status", "/metrics", "/api/v1/incidents", "/nope"] {
            #expect(try status(path, nil) == "HTTP/1.1 401", "\(path)")
            #expect(try status(path, "Bearer \(token)x") == "HTTP/1.1 401", "\(path)")
        }
        let refused = try #require(try RawClient.exchange(port: port, "GET /api/v1/status HTTP/1.1\r\n\r\n"))
        #expect(refused.contains("WWW-Authenticate: Bearer"), "\(refused)")
        #expect(try status("/healthz", nil) == "HTTP/1.1 200")
        #expect(try status("/api/v1/status", "Bearer \(token)") == "HTTP/1.1 200")
        #expect(try status("/metrics", "Bearer \(token)") == "HTTP/1.1 200")
        #expect(daemon.terminate() == 0, "\(daemon.stderr)")
        #expect(!daemon.output.contains(token), "the token never reaches the log")
    }

    @Test func beyondLoopbackWithoutATokenItRefusesToStart() throws {
        try dir.write("probes/none.yaml", "probes:\n  - name: p\n    tcp: { host: 127.0.0.1, port: 1 }\n")
        let refused = try ProberBinary.run(["run", "--probes", dir.path + "/probes", "--db", db, "--listen", "0.0.0.0:0"])
        #expect(refused.status == 2, "\(refused.stderr)")
        #expect(refused.stderr.contains("--listen-token-file"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: db), "nothing started")

        try dir.write("empty-token", "\n")
        let empty = try ProberBinary.run(["run", "--probes", dir.path + "/probes", "--db", db, "--listen", "0.0.0.0:0",
                                          "--listen-token-file", dir.path + "/empty-token"])
        #expect(empty.status == 2 && empty.stderr.contains("is empty"), "\(empty.stderr)")

        // A bare port is loopback; --listen-insecure is the operator's explicit choice.
        let bare = try ProberDaemon(["--probes", dir.path + "/probes", "--db", db, "--listen", "0"], logIn: dir.url)
        #expect(bare.waitForLog(containing: "serving /metrics and /healthz on http://127.0.0.1:") != nil, "\(bare.stderr)")
        #expect(bare.terminate() == 0)
        let insecure = try ProberDaemon(["--probes", dir.path + "/probes", "--db", db, "--listen", "0.0.0.0:0", "--listen-insecure"], logIn: dir.url)
        let port = try #require(insecure.listenPort(), "\(insecure.stderr)")
        #expect(httpGet(port: port, "/api/v1/status")?.status == 200)
        #expect(insecure.terminate() == 0)
    }
}
