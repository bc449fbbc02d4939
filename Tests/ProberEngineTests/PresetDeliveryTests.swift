import Foundation
import Logging
import ProberCore
import ProberDelivery
@testable import ProberEngine
import ProberProbes
import ProberStorage
import ProberStore
import ProberTestSupport
import Synchronization
import Testing

/// The Slack and PagerDuty presets delivered for real through the outbox worker: receivers on loopback,
/// the libcurl engine as the HTTP client, SQLite in a temporary file, a whole incident driven through the
/// tracker. Every wait is for an event (a request arriving, a row changing), bounded by a deadline.
@Suite("Notify presets delivered through the outbox")
final class PresetDeliveryTests {
    static let routingKey = "pdR0utingKey000SECRET00000000042"
    let directory: TemporaryDirectory
    let store: Store
    let engine: CurlEngine
    let logger: Logger
    let log: Locked<[CapturingLogHandler.Entry]>
    var worker: OutboxWorker?
    var servers: [TestHTTPServer] = []

    init() throws {
        directory = try TemporaryDirectory()
        store = try Store(path: directory.path + "/prober.db")
        engine = try CurlEngine(maxConcurrent: 4)
        (logger, log) = CapturingLogHandler.logger()
    }

    deinit {
        for server in servers { server.stop() }
        worker?.stop()
        engine.shutdown()
        directory.remove()
    }

    /// A receiver answering each request with the next of `answers`, then with the last one.
    func receiver(_ answers: [TestHTTPServer.Response]) throws -> TestHTTPServer {
        let next = Mutex(0)
        let server = try TestHTTPServer { _ in
            let i = next.withLock { n -> Int in
                defer { n += 1 }
                return n
            }
            return answers[min(i, answers.count - 1)]
        }
        servers.append(server)
        return server
    }

    /// The worker (short poll and backoff) and a tracker queueing calls for `entries`, located at `eu-1`.
    func start(_ entries: [NotifySink]) -> IncidentTracker {
        var c = OutboxWorker.Configuration()
        c.poll = .milliseconds(50)
        c.retry = RetryPolicy(initial: .milliseconds(50), cap: .milliseconds(200))
        let sinks: [any Sink] = [IsDownSink()] + entries.map { $0.sink(location: "eu-1") }
        let w = OutboxWorker(storage: store, sinks: sinks, configuration: c, logger: logger, send: engine.deliver)
        w.start()
        worker = w
        let tracker = IncidentTracker(store: store, logger: logger, onChange: { w.wake() })
        var spec = ProbeSpec(name: "api", target: .http(HTTPTarget(url: "http://127.0.0.1:9/health")), interval: .seconds(10), timeout: .seconds(2))
        spec.incident.window = 5
        spec.incident.minor = Threshold(latency: .milliseconds(500), failures: 2)
        spec.incident.major = Threshold(latency: nil, failures: 4)
        spec.incident.holdFor = .seconds(20)
        spec.incident.resolveAfter = .seconds(60)
        tracker.update(probes: [spec], sinks: sinks)
        return tracker
    }

    /// Failing checks (opened minor, escalated major), then healthy ones (monitoring, resolved), an hour ago.
    func driveWholeIncident(_ tracker: IncidentTracker) throws -> Incident {
        let t0 = Int64(Date().timeIntervalSince1970 * 1_000_000) - 3_600_000_000
        for t in stride(from: Int64(0), to: 300, by: 10) {
            let ok = t >= 100
            tracker.record(Sample(probe: "api", startedAt: t0 + t * 1_000_000,
                                  failure: ok ? nil : Failure(.httpStatus, "expected 2xx, got 503"),
                                  phases: Phases(dns: 100, connect: 200, processing: 1_000, transfer: 100, total: ok ? 1_500 : 3_000),
                                  status: ok ? 200 : 503))
        }
        tracker.sync()
        let incident = try #require(try store.incidents(since: nil).first).incident
        #expect(incident.updates.map(\.kind) == [.opened, .escalated, .monitoring, .resolved])
        return incident
    }

    func databaseBytes() -> [UInt8] {
        ["", "-wal", "-shm"].flatMap { [UInt8](FileManager.default.contents(atPath: directory.path + "/prober.db" + $0) ?? Data()) }
    }

    @Test("Slack gets one message per change and PagerDuty trigger, trigger, trigger, resolve, in order, through a 429 and a 503")
    func slackAndPagerDuty() throws {
        let slack = try receiver([.respond(status: 200, body: "ok")])
        let pagerDuty = try receiver([
            .respond(status: 429, headers: [("Retry-After", "0")], body: #"{"status":"throttle event","message":"Requests for this service are arriving too quickly."}"#),
            .respond(status: 503),
            .respond(status: 202, body: #"{"status":"success","message":"Event processed","dedup_key":"1"}"#),
        ])
        let slackEntry = NotifySink(webhook: slack.url + "/services/T0001/B0002/XyZtoken", headers: [], probes: ["api"], format: .slack)
        let pdEntry = NotifySink(webhook: pagerDuty.url + "/v2/enqueue", headers: [], probes: ["api"], format: .pagerduty, routingKey: Self.routingKey)
        let incident = try driveWholeIncident(start([slackEntry, pdEntry]))

        #expect(slack.waitForRequests(4), "got \(slack.requests.count) of 4 Slack messages")
        #expect(pagerDuty.waitForRequests(6), "got \(pagerDuty.requests.count) of 6 PagerDuty requests (4 events, 2 refused)")
        #expect(try ProberTestSupport.waitUntil(timeout: .seconds(20)) {
            try #require(try store.incident(id: incident.id)).deliveries.allSatisfy { $0.state == .delivered }
        }, "every call recorded as delivered")
        let expectedSlack = incident.updates.map { SlackSink.body(for: $0, incident: incident).encoded }
        #expect(slack.requests.map(\.bodyText) == expectedSlack)
        #expect(slack.requests.allSatisfy { $0.method == "POST" && $0.path == "/services/T0001/B0002/XyZtoken" })

        // The first event is sent three times (429, 503, 202); the others once, each after the one before.
        let events = pagerDuty.requests.map(\.bodyText)
        let expected = incident.updates.map { update in
            #"{"routing_key":"\#(Self.routingKey)","# + PagerDutySink.body(for: update, incident: incident, location: "eu-1").encoded.dropFirst()
        }
        #expect(events == [expected[0], expected[0]] + expected)
        let actions = events.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .map { "\($0["event_action"] ?? "") \($0["dedup_key"] ?? "")" }
        #expect(actions == Array(repeating: "trigger \(incident.id)", count: 5) + ["resolve \(incident.id)"])
        #expect(pagerDuty.requests.allSatisfy { $0.path == "/v2/enqueue" && $0.header("Content-Type") == "application/json" })

        let stored = try #require(try store.incident(id: incident.id)).deliveries.filter { $0.sink == pdEntry.key }
        #expect(stored.map(\.attempts) == [3, 1, 1, 1])
        #expect(try store.remoteID(incident: incident.id) == nil, "PagerDuty's answer is not an IsDown id")
        let bytes = databaseBytes()
        #expect(!bytes.isEmpty && !bytes.contains(Array(Self.routingKey.utf8)), "the routing key is not stored")
        #expect(!bytes.contains(Array("XyZtoken".utf8)), "nor the Slack URL's token")
    }

    @Test("PagerDuty's 400 fails the event for good with its message, the echoed routing key redacted; later events wait")
    func badRequestIsPermanent() throws {
        let pagerDuty = try receiver([
            .respond(status: 400, body: #"{"status":"invalid event","message":"Event object is invalid","errors":["routing_key \#(Self.routingKey) is unknown"]}"#),
        ])
        let entry = NotifySink(webhook: pagerDuty.url + "/v2/enqueue", headers: [], probes: ["api"], format: .pagerduty, routingKey: Self.routingKey)
        let incident = try driveWholeIncident(start([entry]))
        #expect(try ProberTestSupport.waitUntil(timeout: .seconds(20)) {
            try #require(try store.incident(id: incident.id)).deliveries.first?.state == .failed
        }, "the opening's event failed")
        let deliveries = try #require(try store.incident(id: incident.id)).deliveries
        #expect(deliveries.first?.lastError == "HTTP 400: Event object is invalid: routing_key [redacted] is unknown")
        #expect(deliveries.dropFirst().allSatisfy { $0.state == .pending && $0.attempts == 0 }, "the events after it wait for it")
        #expect(pagerDuty.requests.count == 1)
        let logged = log.withLock { $0.map(\.message) }.joined(separator: "\n")
        #expect(logged.contains("PagerDuty failed and will not be retried") && !logged.contains(Self.routingKey))
        #expect(!databaseBytes().contains(Array(Self.routingKey.utf8)))
    }
}
