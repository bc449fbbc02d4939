import Foundation
import ProberCore
import ProberStorage
import ProberStore
import ProberTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `prober run` with five probes against one loopback target that stops: one incident naming the target
/// and the five probes, created once on a fake IsDown, resolved once when the target is back.
@Suite("prober run: one incident per shared cause", .serialized)
final class SharedCauseCommandTests {
    static let names = ["orders", "billing", "carts", "search", "users"]
    let directory: TemporaryDirectory
    var servers: [TestHTTPServer] = []
    var daemon: ProberDaemon?
    var db: String { directory.path + "/prober.db" }

    init() throws { directory = try TemporaryDirectory() }

    deinit {
        daemon = nil
        for server in servers { server.stop() }
        directory.remove()
    }

    /// The fake IsDown API: 201 with id 77 for a create, 200 for an update of it.
    func startAPI() throws -> TestHTTPServer {
        let server = try TestHTTPServer { r in
            switch (r.method, r.path) {
            case ("POST", "/api/v2/incidents"): .respond(status: 201, body: #"{"data":{"id":"77","type":"incidents","attributes":{}}}"#)
            case ("PATCH", "/api/v2/incidents/77"): .respond(status: 200, body: #"{"data":{"id":"77","type":"incidents","attributes":{}}}"#)
            default: .respond(status: 404)
            }
        }
        servers.append(server)
        return server
    }

    func startTarget(port: Int = 0) throws -> TestHTTPServer {
        let server = try TestHTTPServer(port: port) { _ in .respond(status: 200, body: "ok") }
        servers.append(server)
        return server
    }

    func incidents() -> [StoredIncident] {
        guard let store = try? Store(path: db, readOnly: true) else { return [] }
        return (try? store.incidents(since: nil)) ?? []
    }

    @Test func fiveProbesOneTargetOneIncidentDeliveredOnce() throws {
        let api = try startAPI()
        let target = try startTarget()
        let port = target.port
        let probes = Self.names.map { name in
            """
              - name: \(name)
                http:
                  url: \(target.url)/\(name)
            """
        }.joined(separator: "\n")
        try directory.write("probes/shop.yaml", """
            defaults:
              interval: 100ms
              timeout: 80ms
              incident:
                service_id: 4242
                window: 3
                minor: { failures: 2 }
                major: { latency: none, failures: none }
                for: 200ms
                resolve_after: 600ms
            probes:
            \(probes)
            """)
        let daemon = try ProberDaemon(["--probes", directory.path + "/probes", "--db", db],
                                      environment: ["ISDOWN_API_URL": api.url, "ISDOWN_API_KEY": "isd_test_key"], logIn: directory.url)
        self.daemon = daemon
        #expect(waitUntil { Set(target.requests.map(\.path)).count == Self.names.count }, "every probe checked\n\(daemon.output)")

        target.stop()
        #expect(waitUntil { api.requests.contains { $0.method == "POST" } }, "the create\n\(daemon.output)")
        let posts = api.requests.filter { $0.method == "POST" }
        #expect(posts.count == 1)
        let body = try #require(posts.first?.bodyText)
        #expect(body.contains(#""title":"127.0.0.1:\#(port) refuses connections""#), "\(body)")
        #expect(body.contains("127.0.0.1:\(port) refuses connections: 5 probes failing: "), "\(body)")
        for name in Self.names { #expect(body.contains(name), "\(name) in \(body)") }

        let back = try startTarget(port: port)
        #expect(waitUntil {
            api.requests.contains { $0.method == "PATCH" && $0.bodyText.contains(#""resolution_stage":"resolved""#) }
        }, "the resolution\n\(daemon.output)")
        #expect(waitUntil { incidents().flatMap(\.deliveries).allSatisfy { $0.state == .delivered } })
        _ = back
        #expect(api.requests.filter { $0.method == "POST" }.count == 1, "one create for the five probes")
        #expect(api.requests.filter { $0.bodyText.contains(#""resolution_stage":"resolved""#) }.count == 1, "resolved once")
        let stored = incidents()
        #expect(stored.count == 1)
        #expect(stored.first?.incident.members.map(\.probe).sorted() == Self.names.sorted())

        // The CLI shows the members.
        let json = try ProberBinary.run(["incidents", "--json", "--db", db])
        #expect(json.status == 0)
        #expect(json.stdout.contains(#""probes":["#), "\(json.stdout)")
    }
}
