import Foundation
import Logging
import ProberCore
import ProberDelivery
import ProberEngine
import ProberProbes
import ProberStorage
import ProberStore
import ProberTestSupport
import Synchronization
import Testing

/// The outbox worker with real parts: SQLite in a temporary file (wrapped, for the storage-failure
/// case, by a conformer that refuses writes on demand), the libcurl engine as the HTTP client, and
/// receivers on loopback. Every wait is for an event, bounded by a generous deadline.
@Suite("Outbox worker")
final class OutboxWorkerTests {
    let directory: TemporaryDirectory
    let store: Store
    let engine: CurlEngine
    var worker: OutboxWorker?
    var servers: [TestHTTPServer] = []

    init() throws {
        directory = try TemporaryDirectory()
        store = try Store(path: directory.path + "/prober.db")
        engine = try CurlEngine(maxConcurrent: 4)
    }

    deinit {
        for server in servers { server.stop() }
        worker?.stop()
        engine.shutdown()
        directory.remove()
    }

    func receiver(_ handler: @escaping @Sendable (TestHTTPServer.Request) -> TestHTTPServer.Response = { _ in .respond(status: 204) }) throws -> TestHTTPServer {
        let server = try TestHTTPServer(handler: handler)
        servers.append(server)
        return server
    }

    func start(_ storage: any OutboxStorage, sinks: [any Sink]) {
        var c = OutboxWorker.Configuration()
        c.poll = .milliseconds(20)
        c.retry = RetryPolicy(initial: .milliseconds(20), cap: .milliseconds(100))
        let w = OutboxWorker(storage: storage, sinks: sinks, configuration: c, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() },
                             send: engine.deliver)
        w.start()
        worker = w
    }

    static var now: Int64 { Int64(Date().timeIntervalSince1970 * 1_000_000) }

    /// The change opening an incident of probe `api`, with the call of every sink that takes it.
    func opening(sinks: [any Sink]) -> IncidentChange {
        let at = Self.now
        let update = IncidentUpdate(kind: .opened, stage: .investigating, status: .minor, createdAt: at, description: "Checks are failing.")
        let incident = Incident(id: 0, probe: "api", serviceID: 1234, title: "api: checks failing", description: update.description,
                                status: .minor, stage: .investigating, createdAt: at, updatedAt: at, resolvedAt: nil, updates: [update])
        var spec = ProbeSpec(name: "api", target: .http(HTTPTarget(url: "http://127.0.0.1:9/")), interval: .seconds(10), timeout: .seconds(1))
        spec.incident.serviceID = 1234
        return IncidentChange(incident: incident, update: update,
                              tracking: OpenIncident(status: .minor, stage: .investigating, openedAt: at, degradedSince: at,
                                                     failedChecks: 2, worstP95: nil, worstFailures: 2),
                              outbox: sinks.compactMap { $0.call(for: update, of: incident, probe: spec) })
    }

    func waitUntil(_ what: String, timeout: TimeInterval = 20, _ condition: () throws -> Bool) rethrows {
        let end = Date().addingTimeInterval(timeout)
        while try !condition() {
            if Date() > end { Issue.record("timed out waiting for \(what)"); return }
            usleep(10_000)
        }
    }

    @Test("a sink written in one file is delivered by the worker, beside the webhook, with the stored incident's id")
    func customSink() throws {
        let server = try receiver()
        let echo = EchoSink(url: server.url + "/echo")
        let webhook = WebhookSink(NotifySink(webhook: server.url + "/hook", headers: [Header(name: "X-Token", value: "hook-secret-1")],
                                             probes: ["api"]))
        let id = try store.record(opening(sinks: [echo, webhook]))
        start(store, sinks: [echo, webhook])
        #expect(server.waitForRequests(2))
        let byPath = Dictionary(server.requests.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
        #expect(byPath["/echo"]?.bodyText == "opened: api: checks failing")
        let hook = try #require(byPath["/hook"])
        #expect(hook.header("X-Token") == "hook-secret-1")
        let document = try #require(try JSONSerialization.jsonObject(with: Data(hook.body)) as? [String: Any])
        #expect((document["data"] as? [String: Any])?["id"] as? String == String(id), "the id the store assigned")
        try waitUntil("both recorded as delivered") {
            try #require(try store.incident(id: id)).deliveries.allSatisfy { $0.state == .delivered }
        }
        #expect(try store.incident(id: id)?.deliveries.map(\.sink) == [echo.name, webhook.name])
    }

    @Test("the worker publishes the undelivered calls it saw, pending and failed, for /metrics to read without the store")
    func publishesCounts() throws {
        let server = try receiver { request in .respond(status: request.path == "/bad" ? 400 : 503) }
        let bad = WebhookSink(NotifySink(webhook: server.url + "/bad", headers: [], probes: ["api"]))
        let busy = WebhookSink(NotifySink(webhook: server.url + "/busy", headers: [], probes: ["api"]))
        _ = try store.record(opening(sinks: [bad, busy]))
        start(store, sinks: [bad, busy])
        // A 400 is not retried (failed); a 503 is (still pending).
        waitUntil("one call failed, one pending") { worker?.counts == OutboxCounts(pending: 1, failed: 1) }
        let stored = try store.undelivered()
        #expect(stored.count { $0.state == .pending } == 1 && stored.count { $0.state == .failed } == 1)
    }

    @Test("a delivered call whose attempt cannot be recorded is not sent again, and is recorded once storage works")
    func unrecordableAttempt() throws {
        let api = try receiver { request in
            .respond(status: 201, headers: [("Content-Type", "application/json")], body: #"{"data":{"id":"55001"}}"#)
        }
        let isdown = IsDownSink(baseURL: api.url, apiKey: "isd-key-123456")
        let flaky = RefusingOutboxStorage(store)
        let id = try store.record(opening(sinks: [isdown]))
        flaky.refuseWrites(true)
        start(flaky, sinks: [isdown])
        #expect(api.waitForRequests(1))
        // The worker comes back to the outbox every poll (20 ms): several refused writes prove several rounds.
        try waitUntil("five refused writes") { flaky.refused >= 5 }
        #expect(api.requests.count == 1, "the call was sent again while its result could not be recorded")
        #expect(try store.incident(id: id)?.deliveries.first?.state == .pending)

        flaky.refuseWrites(false)
        try waitUntil("the attempt recorded") { try store.incident(id: id)?.deliveries.first?.state == .delivered }
        let item = try #require(try store.incident(id: id)?.deliveries.first)
        #expect(item.attempts == 1)
        #expect(try store.remoteID(incident: id) == "55001")
        #expect(api.requests.count == 1)
    }
}

/// A destination that posts `<event>: <title>` as plain text: what adding a sink takes.
struct EchoSink: Sink {
    let url: String
    let name = "test:echo"
    let label = "echo"
    var waitReason: String? { nil }
    var secrets: [String] { [] }

    func call(for update: IncidentUpdate, of incident: Incident, probe spec: ProbeSpec) -> OutboxItem? {
        OutboxItem(sink: name, method: "POST", body: "\(update.kind.rawValue): \(incident.title)",
                   nextAttemptAt: update.createdAt, createdAt: update.createdAt)
    }

    func request(for item: OutboxItem, remoteID: String?) -> SinkRequest {
        .send(DeliveryRequest(method: item.method, url: url, headers: [Header(name: "Content-Type", value: "text/plain")],
                              body: Array(item.body.utf8)))
    }
}

/// The real store, refusing to record attempts while told to (as SQLite does when another process holds
/// the write lock past the busy timeout). Reads go through.
final class RefusingOutboxStorage: OutboxStorage {
    struct Refused: Error {}
    private let store: Store
    private let state = Mutex((refusing: false, refused: 0))

    init(_ store: Store) { self.store = store }

    func refuseWrites(_ refusing: Bool) { state.withLock { $0.refusing = refusing } }
    var refused: Int { state.withLock { $0.refused } }

    func dueDeliveries(now: Int64, limit: Int, excluding: Set<String>) throws -> [OutboxItem] {
        try store.dueDeliveries(now: now, limit: limit, excluding: excluding)
    }
    func hasPending(sink: String) throws -> Bool { try store.hasPending(sink: sink) }
    func nextDeliveryDue() throws -> Int64? { try store.nextDeliveryDue() }
    func remoteID(incident: Int64) throws -> String? { try store.remoteID(incident: incident) }
    /// Not refused: the failure this stands for comes after the call went out.
    func markSending(_ itemID: Int64) throws { try store.markSending(itemID) }
    func probe(incident: Int64) throws -> String? { try store.probe(incident: incident) }
    func undelivered() throws -> [OutboxItem] { try store.undelivered() }
    func undeliveredCounts() throws -> OutboxCounts { try store.undeliveredCounts() }
    func retryFailed(id: Int64?, now: Int64) throws -> Int { try store.retryFailed(id: id, now: now) }

    func recordAttempt(_ itemID: Int64, state: OutboxItem.State, nextAttemptAt: Int64, error: String?,
                       at now: Int64, remoteID: String?) throws {
        let refuse = self.state.withLock { s -> Bool in
            if s.refusing { s.refused += 1 }
            return s.refusing
        }
        if refuse { throw Refused() }
        try store.recordAttempt(itemID, state: state, nextAttemptAt: nextAttemptAt, error: error, at: now, remoteID: remoteID)
    }
}
