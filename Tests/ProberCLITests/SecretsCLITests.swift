import Foundation
import ProberTestSupport
import Testing

/// Issue 13, items 6, 8 and 20, as a user meets them: one secret in each place a probe file can take one
/// from the environment, then every output of `once` and `run` (text, `--json`, the log, the database and
/// its WAL) is searched for the values.
@Suite(.serialized) struct SecretsCLITests {
    static let secrets = [
        "T_PATH": "pathsecret7",
        "T_KEY": "keysecret8",
        "T_NEEDLE": "needlesecret9",
        "T_HDR": "hdrsecret10",
        "T_TCP": "tcpsecret11" + String(repeating: "z", count: 70),
    ]

    struct Fixture {
        let dir: TemporaryDirectory
        let server: TestHTTPServer
        let echo: TestTCPServer
        let proxy: TestHTTPServer
        var probes: String { dir.path + "/probes" }

        init() throws {
            dir = try TemporaryDirectory()
            server = try TestHTTPServer { _ in .respond(status: 200, headers: [("X-V", "other")], body: "nothing here") }
            echo = try TestTCPServer(.echo)
            proxy = try TestHTTPServer { _ in .respond(status: 502, body: "proxied") }
            try dir.write("probes/p.yaml", """
                defaults:
                  interval: 1s
                  timeout: 300ms
                  incident: { window: 2, minor: { failures: 1 }, major: { failures: 2 }, for: 0s }
                probes:
                  - name: body
                    http:
                      url: \(server.url)/${T_PATH}/health
                      headers: { X-Api-Key: "${T_KEY}" }
                      expect: { body_contains: "${T_NEEDLE}" }
                  - name: header
                    http:
                      url: \(server.url)/h
                      expect: { headers: { X-V: "${T_HDR}" } }
                  - name: tcp
                    tcp: { host: 127.0.0.1, port: \(echo.port), send: "AUTH ${T_TCP}\\n", expect: "+OK" }
                """)
        }

        func stop() {
            server.stop()
            echo.stop()
            proxy.stop()
            dir.remove()
        }

        /// The secrets, and proxies in the environment that must be ignored.
        var environment: [String: String] {
            Self.environment(proxy: proxy.url)
        }

        static func environment(proxy: String) -> [String: String] {
            var env = SecretsCLITests.secrets
            for name in ["http_proxy", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"] { env[name] = proxy }
            return env
        }
    }

    func expectNoSecret(in text: String, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        for (name, value) in Self.secrets {
            // The TCP value is longer than the failure excerpt: no prefix of it may show either.
            #expect(!text.contains(String(value.prefix(9))), "\(what) shows $\(name)", sourceLocation: sourceLocation)
        }
    }

    @Test func onceShowsNamesNotValuesAndIgnoresEnvironmentProxies() throws {
        let f = try Fixture()
        defer { f.stop() }
        let text = try ProberBinary.run(["once", "--probes", f.probes], environment: f.environment)
        #expect(text.status == 1)
        #expect(text.stdout.split(separator: "\n").count == 3, "\(text.stdout)\(text.stderr)")
        expectNoSecret(in: text.stdout + text.stderr, "once")
        #expect(text.stdout.contains("${T_NEEDLE}") && text.stdout.contains("${T_HDR}") && text.stdout.contains("${T_TCP}"), "\(text.stdout)")

        let json = try ProberBinary.run(["once", "--probes", f.probes, "--json"], environment: f.environment)
        expectNoSecret(in: json.stdout + json.stderr, "once --json")
        #expect(json.stdout.contains("${T_PATH}"), "\(json.stdout)")

        // The proxies of the environment were not used: the target answered every HTTP check.
        #expect(f.proxy.requests.isEmpty)
        #expect(f.server.requests.count == 4)
    }

    @Test func onceWarnsAboutSettingsThatWeakenSecurity() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let closed = try closedLoopbackPort()
        try dir.write("p.yaml", """
            probes:
              - name: lax
                http:
                  url: https://127.0.0.1:\(closed)/
                  tls: { insecure: true }
                  allow_http_redirects: true
                  proxy: http://user:${T_KEY}@127.0.0.1:\(closed)
            """)
        let result = try ProberBinary.run(["once", "--probes", dir.path], environment: Self.secrets)
        #expect(result.stderr.contains("probe 'lax' has tls.insecure"), "\(result.stderr)")
        #expect(result.stderr.contains("allow_http_redirects"))
        #expect(result.stderr.contains("goes through proxy http://127.0.0.1:\(closed)"))
        // The phases say so too: they are the proxy's.
        #expect(result.stdout.contains("(via proxy: dns, connect and tls are the proxy's)"), "\(result.stdout)")
        let json = try ProberBinary.run(["once", "--json", "--probes", dir.path], environment: Self.secrets)
        #expect(json.stdout.contains("\"via_proxy\" : true") || json.stdout.contains("\"via_proxy\": true"), "\(json.stdout)")
        expectNoSecret(in: result.stdout + result.stderr + json.stdout + json.stderr, "once")
    }

    @Test func runKeepsSecretsOutOfTheLogAndTheDatabaseAndCreatesItPrivate() throws {
        let f = try Fixture()
        defer { f.stop() }
        try f.dir.write("probes/q.yaml", """
            probes:
              - name: insecure
                http: { url: "\(f.server.url)/i", tls: { insecure: true } }
                interval: 1s
            """)
        let db = f.dir.path + "/state/prober.db"
        try FileManager.default.createDirectory(atPath: f.dir.path + "/state", withIntermediateDirectories: true)
        var env = f.environment
        env["ISDOWN_API_URL"] = "http://isdown.example.invalid"
        let daemon = try ProberDaemon(["--probes", f.probes, "--db", db, "--listen", "127.0.0.1:0"], environment: env, logIn: f.dir.url)
        defer { daemon.signal(SIGKILL) }
        let failing = waitUntil {
            ["body", "header", "tcp"].allSatisfy { daemon.output.contains("probe \($0) failing") }
        }
        #expect(failing, "\(daemon.output)")
        let opened = try waitUntil {
            let list = try ProberBinary.run(["incidents", "--db", db, "--json"])
            return ["body", "header", "tcp"].allSatisfy { list.stdout.contains("\"\($0)\"") }
        }
        #expect(opened, "every failing probe opens an incident")
        var outputs: [(String, ProberBinary.Result)] = []
        for command in [["status"], ["history", "body"], ["incidents"], ["deliveries"]] {
            outputs.append((command.joined(separator: " "), try ProberBinary.run(command + ["--db", db, "--json"])))
        }
        let metrics = daemon.output.split(separator: "\n").first { $0.contains("serving /metrics") }
            .flatMap { $0.split(separator: ":").last }.flatMap { UInt16($0.prefix { $0.isNumber }) }
            .flatMap { httpGet(port: $0, "/metrics") }
        #expect(metrics?.status == 200)
        expectNoSecret(in: metrics?.body ?? "", "/metrics")
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit() == 0)

        let log = daemon.output
        expectNoSecret(in: log, "the log")
        for (command, result) in outputs {
            #expect(result.status == 0, "\(command): \(result.stderr)")
            expectNoSecret(in: result.stdout + result.stderr, "\(command) --json")
        }
        #expect(outputs[2].1.stdout.contains("${T_PATH}"), "incident descriptions name the variable: \(outputs[2].1.stdout)")
        #expect(log.contains("${T_NEEDLE}") && log.contains("${T_PATH}"), "\(log)")
        #expect(log.contains("probe 'insecure' has tls.insecure"), "\(log)")
        #expect(log.contains("ISDOWN_API_URL is plain http to isdown.example.invalid"), "\(log)")

        for path in [db, db + "-wal", db + "-shm", db + ".lock"] where FileManager.default.fileExists(atPath: path) {
            let bytes = String(decoding: try Data(contentsOf: URL(fileURLWithPath: path)), as: UTF8.self)
            expectNoSecret(in: bytes, path)
            let mode = try #require(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
            #expect(mode == 0o600, "\(path) is \(String(mode, radix: 8))")
        }
        let stored = String(decoding: try Data(contentsOf: URL(fileURLWithPath: db)), as: UTF8.self)
            + String(decoding: (try? Data(contentsOf: URL(fileURLWithPath: db + "-wal"))) ?? Data(), as: UTF8.self)
        #expect(stored.contains("${T_PATH}"), "the probes table holds the target with the variable's name")
    }
}
