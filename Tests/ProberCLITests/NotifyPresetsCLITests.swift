import Foundation
import ProberCore
import ProberTestSupport
import Synchronization
import Testing

/// The Slack and PagerDuty presets end to end through the built binary (issue 17 item 5): a probe fails and
/// recovers; loopback receivers get the bodies docs/incidents.md ("Sinks") documents, byte for byte; the
/// routing key reaches PagerDuty and nowhere else (database, log, `deliveries --json`, /metrics, commands).
@Suite("Notify presets end to end", .serialized)
final class NotifyPresetsCLITests {
    static let routingKey = "pdKEYf00dSECRETc0ffee0000000beef"
    let directory: TemporaryDirectory
    var servers: [TestHTTPServer] = []
    var db: String { directory.path + "/prober.db" }

    init() throws { directory = try TemporaryDirectory() }

    deinit {
        for server in servers { server.stop() }
        directory.remove()
    }

    func server(_ handler: @escaping @Sendable (TestHTTPServer.Request) -> TestHTTPServer.Response) throws -> TestHTTPServer {
        let s = try TestHTTPServer(handler: handler)
        servers.append(s)
        return s
    }

    @Test func slackAndPagerDutyReceiveTheDocumentedBodiesAndTheKeyGoesNowhereElse() throws {
        let healthy = Mutex(false)
        let target = try server { _ in healthy.withLock { $0 } ? .respond(status: 200, body: "ok") : .respond(status: 503) }
        let slack = try server { _ in .respond(status: 200, body: "ok") }
        // PagerDuty refuses the first resolve, echoing the key (as an API may): the call fails for good, redacted,
        // until `prober deliveries retry`.
        let resolves = Mutex(0)
        let pagerDuty = try server { r in
            if r.bodyText.contains(#""event_action":"resolve""#), resolves.withLock({ n -> Int in n += 1; return n }) == 1 {
                return .respond(status: 400, body: #"{"status":"invalid event","message":"Event object is invalid","errors":["unknown routing_key \#(Self.routingKey)"]}"#)
            }
            return .respond(status: 202, body: #"{"status":"success","message":"Event processed","dedup_key":"1"}"#)
        }
        try directory.write("probes/api.yaml", """
            notify:
              - webhook: "\(slack.url)/services/T0001/B0002/XyZtoken"
                format: slack
              - webhook: "\(pagerDuty.url)/v2/enqueue"
                format: pagerduty
                routing_key: ${PAGERDUTY_ROUTING_KEY}
            probes:
              - name: api
                http: { url: "\(target.url)/health" }
                interval: 100ms
                timeout: 80ms
                incident:
                  window: 3
                  minor: { failures: 2 }
                  major: { latency: none, failures: none }
                  for: 200ms
                  resolve_after: 600ms
            """)
        let probes = directory.path + "/probes"
        let environment: [String: String?] = ["PAGERDUTY_ROUTING_KEY": Self.routingKey]
        let daemon = try ProberDaemon(["--probes", probes, "--db", db, "--listen", "127.0.0.1:0", "--location", "test-loc"],
                                      environment: environment, logIn: directory.url)
        let port = try #require(daemon.listenPort(), "\(daemon.stderr)")

        #expect(pagerDuty.waitForRequests(1, timeout: .seconds(30)), "the opening's trigger: \(daemon.stderr)")
        healthy.withLock { $0 = true }
        let refused = try waitUntil {
            try ProberBinary.run(["deliveries", "--json", "--db", db]).stdout.contains("Event object is invalid")
        }
        #expect(refused, "the refused resolve is listed: \(daemon.stderr)")
        let deliveriesJSON = try ProberBinary.run(["deliveries", "--json", "--db", db])
        let deliveriesText = try ProberBinary.run(["deliveries", "--db", db])
        #expect(deliveriesJSON.stdout.contains("unknown routing_key [redacted]"), "\(deliveriesJSON.stdout)")
        let retry = try ProberBinary.run(["deliveries", "retry", "--db", db])
        #expect(retry.status == 0, "\(retry.stderr)")
        #expect(try waitUntil { resolves.withLock { $0 } >= 2 }, "the resolve sent again after `deliveries retry`: \(daemon.stderr)")
        #expect(try waitUntil { try ProberBinary.run(["deliveries", "--db", db]).stdout.contains("every incident call was delivered") })
        let metrics = httpGet(port: port, "/metrics")?.body ?? ""
        #expect(metrics.contains("probe_success"), "a /metrics scrape")
        #expect(daemon.terminate() == 0, "\(daemon.stderr)")

        // The incident as stored, to spell out what each receiver must have got.
        let listing = try ProberBinary.run(["incidents", "--json", "--db", db])
        let document = try #require(try JSONSerialization.jsonObject(with: Data(listing.stdout.utf8)) as? [String: Any])
        let incidents = try #require(document["data"] as? [[String: Any]])
        try #require(incidents.count == 1, "\(listing.stdout)")
        let id = try #require(incidents[0]["id"] as? String)
        let attributes = try #require(incidents[0]["attributes"] as? [String: Any])
        let title = try #require(attributes["title"] as? String)
        let updates = try #require(attributes["updates"] as? [[String: Any]]).reversed().map { u in
            (event: u["event"] as? String ?? "", severity: u["severity"] as? String ?? "", stage: u["status"] as? String ?? "",
             at: u["created_at"] as? String ?? "", description: u["description"] as? String ?? "")
        }
        #expect(updates.map(\.event) == ["opened", "monitoring", "resolved"])

        // Slack: {"text":"*[<level>] <title>*\n<description>","unfurl_links":false,"unfurl_media":false}, one per change.
        let slackBodies = updates.map { u in
            JSONValue.object([
                "text": .string("*[\(u.event == "resolved" ? "resolved" : u.severity)] \(title)*\n\(u.description)"),
                "unfurl_links": .bool(false), "unfurl_media": .bool(false),
            ]).encoded
        }
        #expect(slack.requests.map(\.bodyText) == slackBodies)
        #expect(slack.requests.allSatisfy { $0.method == "POST" && $0.path == "/services/T0001/B0002/XyZtoken" })

        // PagerDuty: the routing key first, then a trigger per change and a resolve at the end, one dedup_key.
        let pdBodies = updates.map { u -> String in
            let event: JSONValue = u.event == "resolved"
                ? .object(["dedup_key": .string(id), "event_action": .string("resolve")])
                : .object([
                    "client": .string("prober"), "dedup_key": .string(id), "event_action": .string("trigger"),
                    "payload": .object([
                        "summary": .string(title + " - " + u.description), "source": .string("api / test-loc"),
                        "severity": .string(u.severity == "major" ? "critical" : "warning"), "timestamp": .string(u.at),
                        "custom_details": .object(["event": .string(u.event), "resolution_stage": .string(u.stage)]),
                    ]),
                ])
            return #"{"routing_key":"\#(Self.routingKey)","# + event.encoded.dropFirst()
        }
        #expect(pagerDuty.requests.map(\.bodyText) == pdBodies + [pdBodies[2]], "the resolve twice: refused, then retried")
        #expect(pagerDuty.requests.allSatisfy { $0.path == "/v2/enqueue" && $0.header("Content-Type") == "application/json" })

        // The key went to PagerDuty and nowhere else.
        var places = [("the daemon's log", daemon.output), ("/metrics", metrics), ("`deliveries --json`", deliveriesJSON.stdout),
                      ("`deliveries`", deliveriesText.stdout), ("Slack", slack.requests.map(\.bodyText).joined())]
        var files = Data()
        for suffix in ["", "-wal", "-shm"] { files += FileManager.default.contents(atPath: db + suffix) ?? Data() }
        #expect(!files.isEmpty)
        places.append(("the database files", String(decoding: files, as: UTF8.self)))
        for args in [["incidents", "--json", "--db", db], ["incidents", "show", id, "--json", "--db", db], ["status", "--json", "--db", db],
                     ["check", probes], ["once", "--json", "--probes", probes]] {
            let result = try ProberBinary.run(args, environment: environment)
            places.append(("`prober \(args.joined(separator: " "))`", result.stdout + result.stderr))
        }
        let leaks = places.filter { $0.1.contains(Self.routingKey) }.map(\.0)
        #expect(leaks.isEmpty, "the routing key found in: \(leaks.joined(separator: ", "))")
    }
}
