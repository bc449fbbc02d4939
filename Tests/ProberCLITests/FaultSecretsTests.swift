import Foundation
import ProberTestSupport
import Testing

/// One secret in every place a secret can come from, then a search of everything prober writes, stores,
/// sends to a non-secret place or prints: none is found (issue 13, items 6, 8, 20 and "the fault suite").
///
/// The places: `${VAR}` in a URL's host and path, in request headers, in a body expectation and in a TCP
/// `send` the server echoes; the IsDown API key, which the fake API echoes in an error; a webhook URL's token
/// and header, which the receiver echoes in its error. The search: the daemon's log, the database with its WAL
/// and shared-memory files, `/metrics`, and every command's output, human and `--json`.
@Suite("Fault suite: secrets never leak", .serialized)
final class FaultSecretsTests {
    /// Each value long and unique, so a find is a leak and not a coincidence.
    static let secrets: [String: String] = [
        "HOST_SECRET": "hostsecret-k9x2m7q4",
        "PATH_SECRET": "pathsecret-v8n3b6w1",
        "HEADER_SECRET": "headersecret-j5h8f2d9",
        "BODY_SECRET": "bodysecret-c4z7y1t6",
        "TCP_SECRET": "tcpsecret-r2e9u5o3",
        "HOOK_PATH_SECRET": "hookpathsecret-a1s4d7g0",
        "HOOK_HEADER_SECRET": "hookheadersecret-l3p6i9k2",
        "ISDOWN_API_KEY": "isd_live_apikeysecret-w5q8e1r4",
    ]

    let directory: TemporaryDirectory
    var servers: [TestHTTPServer] = []
    var db: String { directory.path + "/prober.db" }

    init() throws { directory = try TemporaryDirectory() }

    deinit {
        for server in servers { server.stop() }
        directory.remove()
    }

    /// Every place in `text` where one of the secrets appears, named by its variable.
    static func leaks(in text: String, _ place: String) -> [String] {
        secrets.filter { text.contains($0.value) }.map { "\($0.key) in \(place)" }.sorted()
    }

    @Test func noSecretInLogsDatabaseOutputsOrMetrics() throws {
        // The target: 200 with a body that never holds the expected text, so the check fails as body_mismatch.
        let target = try TestHTTPServer { _ in .respond(status: 200, body: "a body without the expected text") }
        servers.append(target)
        // The TCP server echoes what it receives: the secret `send` comes back in what the probe reads.
        let echo = try TestTCPServer(.echo)
        defer { echo.stop() }
        // The fake IsDown API answers the first create with an error echoing the key, then accepts.
        let creates = CallCounter()
        let api = try TestHTTPServer { r in
            let auth = r.header("Authorization") ?? ""
            if r.method == "POST" && creates.next() == 1 {
                return .respond(status: 500, body: #"{"errors":[{"status":500,"detail":"rejected \#(auth) for \#(r.path)"}]}"#)
            }
            return .respond(status: r.method == "POST" ? 201 : 200, body: #"{"data":{"id":"777","type":"incidents","attributes":{}}}"#)
        }
        servers.append(api)
        // The webhook receiver always fails, echoing the header and path it was called with.
        let hook = try TestHTTPServer { r in
            .respond(status: 500, body: "bad token \(r.header("X-Hook-Token") ?? "") at \(r.path)")
        }
        servers.append(hook)

        try directory.write("probes/secret.yaml", """
            notify:
              webhook: "\(hook.url)/hook/${HOOK_PATH_SECRET}"
              headers:
                X-Hook-Token: "${HOOK_HEADER_SECRET}"
            probes:
              - name: in-path-and-headers
                http:
                  url: "\(target.url)/${PATH_SECRET}/health"
                  headers:
                    X-Api-Key: "${HEADER_SECRET}"
                  expect: { body_contains: "${BODY_SECRET}" }
                interval: 100ms
                timeout: 80ms
                incident:
                  service_id: 4242
                  window: 3
                  minor: { failures: 2 }
                  major: { latency: none, failures: none }
                  for: 200ms
              - name: in-host
                http: { url: "http://${HOST_SECRET}.invalid:\(target.port)/" }
                interval: 1s
                timeout: 900ms
              - name: in-tcp-send
                tcp:
                  host: 127.0.0.1
                  port: \(echo.port)
                  send: "${TCP_SECRET}\\n"
                  expect: "never-echoed"
                interval: 200ms
                timeout: 150ms
            """)
        let probes = directory.path + "/probes"
        var environment: [String: String?] = Self.secrets
        environment["ISDOWN_API_URL"] = api.url
        let daemon = try ProberDaemon(["--probes", probes, "--db", db, "--listen", "127.0.0.1:0"],
                                      environment: environment, logIn: directory.url)
        let port = try #require(daemon.listenPort(), "\(daemon.stderr)")

        // Wait for the errors that echo secrets back: the API's failed create, its retry, the webhook's failure.
        #expect(api.waitForRequests(2, timeout: .seconds(30)), "the create failed, then retried: \(daemon.stderr)")
        #expect(hook.waitForRequests(1, timeout: .seconds(30)), "the webhook was called: \(daemon.stderr)")
        let metrics = httpGet(port: port, "/metrics")?.body ?? ""
        #expect(metrics.contains("probe_success"), "a /metrics scrape")
        #expect(daemon.terminate() == 0, "\(daemon.stderr)")

        // The secrets did reach where they belong: the target, the API and the webhook receiver.
        #expect(target.requests.contains { $0.path.contains(Self.secrets["PATH_SECRET"]!) && $0.header("X-Api-Key") == Self.secrets["HEADER_SECRET"] })
        #expect(api.requests.first?.header("Authorization") == "Bearer \(Self.secrets["ISDOWN_API_KEY"]!)")
        #expect(hook.requests.first.map { $0.path.contains(Self.secrets["HOOK_PATH_SECRET"]!) } == true)

        var leaks = Self.leaks(in: daemon.output, "the daemon's log") + Self.leaks(in: metrics, "/metrics")
        // What the API and the webhook receive about an incident is not a place for the probe's secrets.
        for r in api.requests + hook.requests {
            let visible = r.bodyText
            leaks += Self.leaks(in: visible, "a \(r.method) body sent to \(r.path.hasPrefix("/hook") ? "the webhook" : "IsDown")")
        }
        var files = Data()
        for suffix in ["", "-wal", "-shm"] { files += FileManager.default.contents(atPath: db + suffix) ?? Data() }
        #expect(!files.isEmpty)
        leaks += Self.leaks(in: String(decoding: files, as: UTF8.self), "the database files")
        let commands: [[String]] = [
            ["once", "--probes", probes], ["once", "--json", "--probes", probes],
            ["check", probes],
            ["status", "--db", db], ["status", "--json", "--db", db],
            ["incidents", "--db", db], ["incidents", "--json", "--db", db],
            ["deliveries", "--db", db], ["deliveries", "--json", "--db", db],
            ["history", "in-path-and-headers", "--db", db], ["history", "in-path-and-headers", "--json", "--db", db],
            ["history", "in-host", "--json", "--db", db], ["history", "in-tcp-send", "--json", "--db", db],
        ]
        for args in commands {
            let result = try ProberBinary.run(args, environment: Self.secrets)
            #expect(!(result.stdout + result.stderr).isEmpty, "prober \(args.joined(separator: " ")) printed nothing")
            leaks += Self.leaks(in: result.stdout + result.stderr, "`prober \(args.joined(separator: " "))`")
        }
        #expect(leaks.isEmpty, "secrets found:\n\(leaks.joined(separator: "\n"))")
    }
}

/// Counts calls across a server's connection threads.
private final class CallCounter: @unchecked Sendable { // Safe: `count` is guarded by `lock`.
    private let lock = NSLock()
    private var count = 0
    /// The number of this call, from 1.
    func next() -> Int { lock.lock(); defer { lock.unlock() }; count += 1; return count }
}
