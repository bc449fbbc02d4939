import Foundation
import ProberCore
import ProberStorage
import ProberStore
import ProberTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `prober run` delivering incidents across `kill -9`: the built binary, a probe against a loopback
/// target the test makes fail and recover, a fake IsDown API on loopback, the database in a temp dir.
@Suite("prober run delivering incidents across kill -9", .serialized)
final class DeliveryCommandTests {
    static let apiKey = "isd_live_restart-SECRET-5150"
    static let createdID = "31337"

    let directory: TemporaryDirectory
    /// The daemon running now, and every one started by this test (for their output).
    var daemon: ProberDaemon?
    var daemons: [ProberDaemon] = []
    var servers: [TestHTTPServer] = []
    var db: String { directory.path + "/prober.db" }

    init() throws {
        directory = try TemporaryDirectory()
    }

    deinit {
        daemon = nil
        daemons = [] // each one still running is killed as it goes
        for server in servers { server.stop() }
        directory.remove()
    }

    // MARK: The pieces

    /// A loopback target answering 503 (failing) or 200, switched by the test.
    final class Target: @unchecked Sendable { // Safe: `healthy` is guarded by `lock`.
        private let lock = NSLock()
        private var _healthy = false
        var healthy: Bool {
            get { lock.lock(); defer { lock.unlock() }; return _healthy }
            set { lock.lock(); _healthy = newValue; lock.unlock() }
        }
    }

    func startTarget() throws -> (TestHTTPServer, Target) {
        let target = Target()
        let server = try TestHTTPServer { _ in target.healthy ? .respond(status: 200, body: "ok") : .respond(status: 503) }
        servers.append(server)
        return (server, target)
    }

    /// The fake IsDown API: 201 with `createdID` for a create, 200 for an update of it, 404 otherwise.
    func startAPI(port: Int = 0) throws -> TestHTTPServer {
        let server = try TestHTTPServer(port: port) { r in
            switch (r.method, r.path) {
            case ("POST", "/api/v2/incidents"):
                return .respond(status: 201, body: #"{"data":{"id":"\#(DeliveryCommandTests.createdID)","type":"incidents","attributes":{}}}"#)
            case ("PATCH", "/api/v2/incidents/\(DeliveryCommandTests.createdID)"):
                return .respond(status: 200, body: #"{"data":{"id":"\#(DeliveryCommandTests.createdID)","type":"incidents","attributes":{}}}"#)
            default:
                return .respond(status: 404, body: #"{"errors":[{"status":404,"title":"Not Found","detail":"Resource not found"}]}"#)
            }
        }
        servers.append(server)
        return server
    }

    /// Checks every 100 ms; an incident opens after 2 failures held 200 ms, and resolves 600 ms after
    /// recovery (monitoring first). No major level, so the timeline is exactly opened, monitoring, resolved.
    func writeProbe(target: String) throws {
        try directory.write("probes/api.yaml", """
            probes:
              - name: api
                http:
                  url: \(target)/health
                interval: 100ms
                timeout: 80ms
                incident:
                  service_id: 4242
                  window: 3
                  minor: { failures: 2 }
                  major: { latency: none, failures: none }
                  for: 200ms
                  resolve_after: 600ms
            """)
    }

    /// Starts `prober run`. The key comes from ISDOWN_API_KEY, or with `keyFile` from a file named by
    /// ISDOWN_API_KEY_FILE.
    func startDaemon(api: String, keyFile: Bool = false) throws {
        var environment: [String: String?] = ["ISDOWN_API_URL": api]
        if keyFile {
            environment["ISDOWN_API_KEY_FILE"] = try directory.write("secrets/isdown.key", Self.apiKey + "\n")
        } else {
            environment["ISDOWN_API_KEY"] = Self.apiKey
        }
        let started = try ProberDaemon(["--probes", directory.path + "/probes", "--db", db], environment: environment,
                                       logIn: directory.url)
        daemons.append(started)
        daemon = started
    }

    func killDaemon(_ signal: Int32) {
        guard let daemon else { return }
        daemon.signal(signal)
        #expect(daemon.waitForExit() != nil, "the daemon did not exit on signal \(signal)")
        self.daemon = nil
    }

    /// Everything the daemons wrote to stdout and stderr.
    func daemonOutput() -> String { daemons.map(\.output).joined() }

    /// The database as a fresh read-only connection sees it now (nil until the daemon created it).
    func incidents() -> [StoredIncident] {
        guard let store = try? Store(path: db, readOnly: true) else { return [] }
        return (try? store.incidents(since: nil)) ?? []
    }

    func stages(_ requests: [TestHTTPServer.Request]) -> [String] {
        requests.map { r in
            let body = (try? JSONSerialization.jsonObject(with: Data(r.body))) as? [String: Any]
            return "\(r.method) \(body?["resolution_stage"] as? String ?? "?")"
        }
    }

    /// After a restart the target recovers: the incident goes to monitoring, then resolved.
    func recoverAndWaitForResolution(_ api: TestHTTPServer, target: Target) {
        target.healthy = true
        #expect(waitUntil {
            api.requests.contains { $0.method == "PATCH" && $0.bodyText.contains(#""resolution_stage":"resolved""#) }
        }, "the resolved PATCH\n\(daemonOutput())")
        #expect(waitUntil {
            let all = incidents().flatMap(\.deliveries)
            return !all.isEmpty && all.allSatisfy { $0.state == .delivered }
        }, "every call recorded as delivered\n\(daemonOutput())")
    }

    func expectNoSecretLeaked(sourceLocation: Testing.SourceLocation = #_sourceLocation) throws {
        killDaemon(SIGTERM)
        var bytes = Data()
        for suffix in ["", "-wal", "-shm"] { bytes += FileManager.default.contents(atPath: db + suffix) ?? Data() }
        #expect(!bytes.isEmpty, sourceLocation: sourceLocation)
        #expect(bytes.range(of: Data(Self.apiKey.utf8)) == nil, "the API key is in the database file", sourceLocation: sourceLocation)
        #expect(!daemonOutput().contains(Self.apiKey), "the API key is in the daemon's output", sourceLocation: sourceLocation)
        for args in [["incidents"], ["incidents", "--json"], ["deliveries"], ["deliveries", "--json"]] {
            let result = try ProberBinary.run(args + ["--db", db])
            #expect(result.status == 0, "\(result.stderr)", sourceLocation: sourceLocation)
            #expect(!(result.stdout + result.stderr).contains(Self.apiKey), "the API key is in `prober \(args)`", sourceLocation: sourceLocation)
        }
    }

    // MARK: kill -9

    @Test func pendingCreateSurvivesKillAndIsSentOnceAfterRestart() throws {
        let (target, health) = try startTarget()
        try writeProbe(target: target.url)
        // The API is down (nothing listens on its port) while the incident opens.
        let port = try closedLoopbackPort()
        let apiURL = "http://127.0.0.1:\(port)"
        try startDaemon(api: apiURL)
        #expect(waitUntil {
            incidents().first?.deliveries.first.map { $0.method == "POST" && $0.state == .pending && $0.attempts >= 1 } ?? false
        }, "the create queued in the outbox and tried once (connection refused)\n\(daemonOutput())")
        killDaemon(SIGKILL)
        let queued = try #require(incidents().first)
        #expect(queued.deliveries.map(\.state) == [.pending], "nothing was delivered before the kill")
        #expect(queued.isdownID == nil)
        #expect(queued.deliveries.first?.lastError != nil, "the create was attempted against the closed port")
        let shown = try ProberBinary.run(["incidents", "--db", db])
        #expect(shown.stdout.contains("pending ("), "prober incidents shows the pending delivery:\n\(shown.stdout)")
        let listed = try ProberBinary.run(["deliveries", "--db", db])
        #expect(listed.stdout.contains("isdown") && listed.stdout.contains("POST") && listed.stdout.contains("pending"), "\(listed.stdout)")

        // The API comes up, the daemon starts again over the same database.
        let api = try startAPI(port: port)
        try startDaemon(api: apiURL)
        #expect(api.waitForRequests(1, timeout: .seconds(30)), "the pending create is delivered after the restart\n\(daemonOutput())")
        recoverAndWaitForResolution(api, target: health)

        let requests = api.requests
        #expect(requests.filter { $0.method == "POST" }.count == 1, "the create is sent exactly once: \(stages(requests))")
        #expect(stages(requests) == ["POST investigating", "PATCH monitoring", "PATCH resolved"])
        #expect(Set(requests.dropFirst().map(\.path)) == ["/api/v2/incidents/\(Self.createdID)"])
        #expect(Set(requests.map { $0.header("Authorization") }) == ["Bearer \(Self.apiKey)"])
        let post = try #require(requests.first.flatMap { try JSONSerialization.jsonObject(with: Data($0.body)) as? [String: Any] })
        #expect(post["service_id"] as? Int == 4242)
        #expect(post["title"] as? String == "api: checks failing")
        let final = try #require(incidents().first)
        #expect(incidents().count == 1, "the restart continued the open incident")
        #expect(final.isdownID == Self.createdID)
        #expect(final.incident.updates.map(\.kind) == [.opened, .monitoring, .resolved])
        try expectNoSecretLeaked()
    }

    @Test func deliveredCreateIsNotRepeatedAfterKill() throws {
        let (target, health) = try startTarget()
        try writeProbe(target: target.url)
        let api = try startAPI()
        try startDaemon(api: api.url, keyFile: true)
        #expect(waitUntil { incidents().first?.isdownID == Self.createdID }, "the create delivered and its id stored\n\(daemonOutput())")
        killDaemon(SIGKILL)
        #expect(api.requests.map(\.method) == ["POST"])

        try startDaemon(api: api.url, keyFile: true)
        recoverAndWaitForResolution(api, target: health)
        let requests = api.requests
        #expect(Set(requests.map { $0.header("Authorization") }) == ["Bearer \(Self.apiKey)"], "the key read from ISDOWN_API_KEY_FILE")
        #expect(stages(requests) == ["POST investigating", "PATCH monitoring", "PATCH resolved"],
                       "the delivered create is not repeated after the restart")
        #expect(Set(requests.dropFirst().map(\.path)) == ["/api/v2/incidents/\(Self.createdID)"])
        #expect(incidents().count == 1)
        try expectNoSecretLeaked()
    }

    // MARK: Configuration

    @Test func baseURLWithAPathIsRefused() throws {
        try writeProbe(target: "http://127.0.0.1:1")
        let result = try ProberBinary.run(["run", "--probes", directory.path + "/probes", "--db", db],
                                          environment: ["ISDOWN_API_URL": "https://isdown.app/api/v2?token=abc", "ISDOWN_API_KEY": Self.apiKey])
        #expect(result.status == 2)
        #expect(result.stderr.contains("ISDOWN_API_URL must be a scheme and host only"), "\(result.stderr)")
        #expect(!result.stderr.contains("token=abc"), "\(result.stderr)")
    }

    @Test func unreadableKeyFileIsRefused() throws {
        try writeProbe(target: "http://127.0.0.1:1")
        let result = try ProberBinary.run(["run", "--probes", directory.path + "/probes", "--db", db],
                                          environment: ["ISDOWN_API_KEY": nil, "ISDOWN_API_KEY_FILE": directory.path + "/missing.key"])
        #expect(result.status == 2)
        #expect(result.stderr.contains("cannot read the IsDown API key file"), "\(result.stderr)")
    }
}
