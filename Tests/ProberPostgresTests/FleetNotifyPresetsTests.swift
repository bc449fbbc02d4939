import Foundation
import ProberCore
import ProberDelivery
import ProberPostgres
import ProberStorage
import ProberTestSupport
import Synchronization
import Testing

/// The Slack and PagerDuty presets in fleet mode: two `prober run` processes (locations a and b) on one
/// PostgreSQL database with the same probe file. The fleet's one incident reaches each receiver once per
/// change, in order, with the fleet's incident id as PagerDuty's `dedup_key`; the routing key is in no row.
@Suite("Fleet: notify presets", .serialized)
final class FleetNotifyPresetsTests {
    static let routingKey = "fleetKEY0000SECRET00000000000042"
    let directory: TemporaryDirectory

    init() throws { directory = try TemporaryDirectory() }
    deinit { directory.remove() }

    @Test func eachChangeReachesSlackAndPagerDutyOnce() throws {
        let cluster = try TestPostgres.shared()
        let name = try cluster.makeDatabase()
        defer { cluster.dropDatabase(name) }
        let url = cluster.socketURL(name)

        let healthy = Mutex(false)
        let target = try TestHTTPServer { _ in healthy.withLock { $0 } ? .respond(status: 200, body: "ok") : .respond(status: 503) }
        defer { target.stop() }
        let slack = try TestHTTPServer { _ in .respond(status: 200, body: "ok") }
        defer { slack.stop() }
        let pagerDuty = try TestHTTPServer { _ in .respond(status: 202, body: #"{"status":"success","message":"Event processed"}"#) }
        defer { pagerDuty.stop() }
        try directory.write("probes/api.yaml", """
            notify:
              - { webhook: "\(slack.url)/services/T1/B2/c3", format: slack }
              - { webhook: "\(pagerDuty.url)/v2/enqueue", format: pagerduty, routing_key: "${PAGERDUTY_ROUTING_KEY}" }
            probes:
              - name: api
                http: { url: "\(target.url)/health" }
                interval: 200ms
                timeout: 150ms
                incident:
                  window: 3
                  minor: { failures: 2 }
                  major: { latency: none, failures: none }
                  for: 0s
                  resolve_after: 300ms
            """)
        let environment: [String: String?] = ["PAGERDUTY_ROUTING_KEY": Self.routingKey]
        var probers: [ProberDaemon] = []
        defer { for p in probers where p.isRunning { _ = p.terminate() } }
        for location in ["a", "b"] {
            probers.append(try ProberDaemon(["--probes", directory.path + "/probes", "--db", url, "--location", location,
                                             "--spool", directory.path + "/spool-" + location],
                                            environment: environment, logIn: directory.url))
        }
        func output() -> String { probers.map(\.output).joined(separator: "\n---\n") }
        for p in probers { #expect(p.waitForStart(), "\(output())") }
        let reader = try PostgresStore(url: url, readOnly: true)
        func incidents() -> [StoredIncident] { (try? reader.incidents(since: nil)) ?? [] }

        #expect(waitUntil { incidents().count == 1 }, "\(output())")
        healthy.withLock { $0 = true }
        #expect(waitUntil { incidents().first?.incident.resolved == true }, "\(output())")
        #expect(waitUntil { (try? reader.undelivered().isEmpty) == true }, "every call delivered\n\(output())")
        for p in probers { #expect(p.terminate() == 0, "\(output())") }

        let stored = try #require(incidents().first).incident
        #expect(incidents().count == 1)
        let kinds = stored.updates.map(\.kind)
        #expect(kinds.first == .opened && kinds.last == .resolved, "\(kinds)")
        // Slack: one message per change, in order, whichever prober sent it.
        #expect(slack.requests.map(\.bodyText) == stored.updates.map { SlackSink.body(for: $0, incident: stored).encoded }, "\(output())")
        // PagerDuty: a trigger per change but the last, then a resolve, each once, all with the fleet's id.
        let events = pagerDuty.requests.compactMap { try? JSONSerialization.jsonObject(with: Data($0.body)) as? [String: Any] }
        #expect(events.map { $0["event_action"] as? String ?? "" } == kinds.map { $0 == .resolved ? "resolve" : "trigger" })
        #expect(events.allSatisfy { $0["dedup_key"] as? String == String(stored.id) && $0["routing_key"] as? String == Self.routingKey })
        let sources = Set(events.compactMap { ($0["payload"] as? [String: Any])?["source"] as? String })
        #expect(!sources.isEmpty && sources.isSubset(of: ["api / a", "api / b"]), "\(sources)")
        let rows = try cluster.psql("SELECT sink, body, coalesce(last_error, '') FROM outbox", database: name)
        #expect(rows.contains("pagerduty:") && rows.contains("slack:"), "\(rows)")
        #expect(!rows.contains(Self.routingKey) && !output().contains(Self.routingKey))
    }
}
