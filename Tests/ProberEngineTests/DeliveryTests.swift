import Foundation
import Logging
import ProberCore
import ProberDelivery
@testable import ProberEngine
import ProberProbes
import ProberStorage
import ProberStore
import ProberTestSupport
import XCTest

/// The outbox delivered for real: a fake IsDown API and a webhook receiver on loopback, the libcurl
/// engine as the HTTP client (`engine.deliver`), SQLite in a temporary file, the worker with short
/// backoff so retries happen within the test. Every wait is for an event (a request arriving, a row
/// changing), bounded by a generous deadline.
final class DeliveryTests: XCTestCase {
    static let apiKey = "isd_live_7f3c9a-SECRET-KEY-0042"
    static let hookSecret = "hook-secret-b64-999"

    var directory: TemporaryDirectory!
    var path: String { directory.path + "/prober.db" }
    var store: Store!
    var engine: CurlEngine!
    var worker: OutboxWorker?
    var servers: [TestHTTPServer] = []
    var log: Locked<[CapturingLogHandler.Entry]>!
    var logger: Logger!

    override func setUpWithError() throws {
        directory = try TemporaryDirectory()
        store = try Store(path: path)
        engine = try CurlEngine(maxConcurrent: 8)
        (logger, log) = CapturingLogHandler.logger()
    }

    override func tearDown() {
        for server in servers { server.stop() }
        worker?.stop()
        engine.shutdown()
        directory.remove()
    }

    // MARK: Helpers

    /// Starts the worker against `api` with a short poll and small backoff (50 ms, capped at 200 ms).
    @discardableResult
    func startWorker(api: String, key: String? = DeliveryTests.apiKey, webhooks: [NotifySink] = [],
                     timeout: Duration = .seconds(5)) -> OutboxWorker {
        var c = OutboxWorker.Configuration()
        c.timeout = timeout
        c.poll = .milliseconds(50)
        c.retry = RetryPolicy(initial: .milliseconds(50), cap: .milliseconds(200))
        let sinks: [any Sink] = [IsDownSink(baseURL: api, apiKey: key)] + webhooks.map(WebhookSink.init)
        let w = OutboxWorker(storage: store, sinks: sinks, configuration: c, logger: logger, send: engine.deliver)
        w.start()
        worker = w
        return w
    }

    /// The sinks the tracker queues calls for (IsDown's configuration matters only when sending).
    func sinks(_ webhooks: [NotifySink]) -> [any Sink] { [IsDownSink()] + webhooks.map(WebhookSink.init) }

    func fakeAPI(port: Int = 0) throws -> FakeIsDown {
        let api = try FakeIsDown(port: port)
        servers.append(api.server)
        return api
    }

    /// A receiver answering 204 to everything.
    func webhookReceiver() throws -> TestHTTPServer {
        let server = try TestHTTPServer { _ in .respond(status: 204) }
        servers.append(server)
        return server
    }

    /// Now, in µs; synthetic samples start an hour ago so their outbox items are due at once.
    var now: Int64 { Int64(Date().timeIntervalSince1970 * 1_000_000) }

    func spec(serviceID: Int? = 1234) -> ProbeSpec {
        var s = ProbeSpec(name: "api", target: .http(HTTPTarget(url: "http://127.0.0.1:9/health")),
                          interval: .seconds(10), timeout: .seconds(2))
        s.incident.window = 5
        s.incident.minor = Threshold(latency: .milliseconds(500), failures: 2)
        s.incident.major = Threshold(latency: nil, failures: 4)
        s.incident.holdFor = .seconds(20)
        s.incident.resolveAfter = .seconds(60)
        s.incident.serviceID = serviceID
        return s
    }

    /// Drives one whole incident through the tracker: failing checks (opened minor, escalated major),
    /// then healthy ones (monitoring, resolved). Returns the stored incident.
    @discardableResult
    func driveWholeIncident(_ tracker: IncidentTracker) throws -> StoredIncident {
        let t0 = now - 3_600_000_000
        for t in stride(from: Int64(0), to: 300, by: 10) {
            let ok = t >= 100
            tracker.record(Sample(probe: "api", startedAt: t0 + t * 1_000_000,
                                  failure: ok ? nil : Failure(.httpStatus, "expected 2xx, got 503"),
                                  phases: Phases(dns: 100, connect: 200, processing: 1_000, transfer: 100, total: ok ? 1_500 : 3_000),
                                  status: ok ? 200 : 503))
        }
        tracker.sync()
        let stored = try XCTUnwrap(try store.incidents(since: nil).first)
        XCTAssertEqual(stored.incident.updates.map(\.kind), [.opened, .escalated, .monitoring, .resolved])
        return stored
    }

    /// Opens an incident directly in the store with its IsDown create queued.
    @discardableResult
    func openIncident(serviceID: Int = 1234, title: String = "api: checks failing") throws -> Int64 {
        let at = now
        let update = IncidentUpdate(kind: .opened, stage: .investigating, status: .minor, createdAt: at, description: "Checks are failing.")
        let incident = Incident(id: 0, probe: "api-\(serviceID)", serviceID: serviceID, title: title, description: update.description,
                                status: .minor, stage: .investigating, createdAt: at, updatedAt: at, resolvedAt: nil, updates: [update])
        let body = JSONValue.object(IsDownSink.body(for: update, incident: incident)).encoded
        return try store.openIncident(incident, tracking: OpenIncident(status: .minor, stage: .investigating, openedAt: at, degradedSince: at,
                                                                       failedChecks: 2, worstP95: nil, worstFailures: 2),
                                      outbox: [OutboxItem(sink: IsDownSink().name, method: "POST", body: body, nextAttemptAt: at, createdAt: at)])
    }

    /// Appends a resolution to an incident opened by `openIncident`, with its PATCH queued.
    func resolve(_ id: Int64) throws {
        let at = now
        let update = IncidentUpdate(kind: .resolved, stage: .resolved, status: .minor, createdAt: at, description: "Healthy again.")
        let incident = try XCTUnwrap(try store.incident(id: id)).incident
        let body = JSONValue.object(IsDownSink.body(for: update, incident: incident)).encoded
        try store.appendUpdate(incidentID: id, update, tracking: OpenIncident(status: .minor, stage: .resolved, openedAt: at, degradedSince: at,
                                                                            failedChecks: 2, worstP95: nil, worstFailures: 2),
                               outbox: [OutboxItem(sink: IsDownSink().name, method: "PATCH", body: body, nextAttemptAt: at, createdAt: at)])
    }

    func items(_ incident: Int64) throws -> [OutboxItem] {
        try XCTUnwrap(try store.incident(id: incident)).deliveries
    }

    func json(_ request: TestHTTPServer.Request) -> NSDictionary {
        ((try? JSONSerialization.jsonObject(with: Data(request.body))) as? NSDictionary) ?? [:]
    }

    // MARK: Bodies, paths, headers

    func testOpenEscalateMonitoringResolveSendExactCalls() throws {
        let api = try fakeAPI()
        let worker = startWorker(api: api.server.url)
        let tracker = IncidentTracker(store: store, logger: logger, onChange: { worker.wake() })
        tracker.update(probes: [spec()], sinks: sinks([]))
        let stored = try driveWholeIncident(tracker)
        let u = stored.incident.updates
        XCTAssertEqual(u.map(\.status), [.minor, .major, .major, .major])

        XCTAssertTrue(api.server.waitForRequests(4), "got \(api.server.requests.count) of 4 calls")
        let requests = api.server.requests
        XCTAssertEqual(requests.map(\.method), ["POST", "PATCH", "PATCH", "PATCH"])
        XCTAssertEqual(requests.map(\.path), ["/api/v2/incidents"] + Array(repeating: "/api/v2/incidents/\(FakeIsDown.createdID)", count: 3),
                       "every PATCH uses the id from the create response")
        for r in requests {
            XCTAssertEqual(r.header("Authorization"), "Bearer \(Self.apiKey)")
            XCTAssertEqual(r.header("Content-Type"), "application/json")
        }
        XCTAssertEqual(json(requests[0]), [
            "service_id": 1234, "title": "api: checks failing", "status": "minor",
            "description": u[0].description, "resolution_stage": "investigating",
        ])
        XCTAssertEqual(json(requests[1]), ["status": "major", "description": u[1].description, "resolution_stage": "investigating"])
        XCTAssertEqual(json(requests[2]), ["description": u[2].description, "resolution_stage": "monitoring"])
        XCTAssertEqual(json(requests[3]), ["description": u[3].description, "resolution_stage": "resolved"])

        waitUntil("all four calls recorded as delivered") {
            (try? self.items(stored.incident.id).allSatisfy { $0.state == .delivered }) ?? false
        }
        XCTAssertEqual(try store.remoteID(incident: stored.incident.id), FakeIsDown.createdID)
        XCTAssertEqual(try items(stored.incident.id).map(\.attempts), [1, 1, 1, 1])
    }

    func testWebhookReceivesTheDocumentOnEveryChangeAndNoIsDownCallWithoutServiceID() throws {
        let api = try fakeAPI()
        let hook = try webhookReceiver()
        let sink = NotifySink(webhook: hook.url + "/hooks/prober?token=abc", headers: [Header(name: "X-Hook-Token", value: Self.hookSecret)],
                              probes: ["api"])
        let worker = startWorker(api: api.server.url, webhooks: [sink])
        let tracker = IncidentTracker(store: store, logger: logger, onChange: { worker.wake() })
        tracker.update(probes: [spec(serviceID: nil)], sinks: sinks([sink]))
        let stored = try driveWholeIncident(tracker)

        XCTAssertTrue(hook.waitForRequests(4), "got \(hook.requests.count) of 4 webhook calls")
        let requests = hook.requests
        XCTAssertEqual(requests.map(\.method), Array(repeating: "POST", count: 4))
        XCTAssertEqual(requests.map(\.path), Array(repeating: "/hooks/prober?token=abc", count: 4))
        let documents = requests.map { json($0) }
        XCTAssertEqual(documents.map { $0["event"] as? String }, ["opened", "escalated", "monitoring", "resolved"])
        for (i, (r, doc)) in zip(requests, documents).enumerated() {
            XCTAssertEqual(r.header("Content-Type"), "application/json")
            XCTAssertEqual(r.header("X-Hook-Token"), Self.hookSecret)
            XCTAssertNil(r.header("Authorization"), "the IsDown key never goes to a webhook")
            let data = doc["data"] as? NSDictionary
            XCTAssertEqual(data?["id"] as? String, String(stored.incident.id))
            XCTAssertEqual(data?["type"] as? String, "incidents")
            let attributes = data?["attributes"] as? NSDictionary
            XCTAssertEqual(attributes?["title"] as? String, "api: checks failing")
            XCTAssertEqual(attributes?["probe"] as? String, "api")
            XCTAssertEqual(attributes?["resolution_stage"] as? String, ["investigating", "investigating", "monitoring", "resolved"][i])
            XCTAssertEqual(attributes?["status"] as? String, ["minor", "major", "major", "major"][i])
            XCTAssertEqual(attributes?["resolved"] as? Bool, i == 3)
            let updates = attributes?["updates"] as? [NSDictionary]
            XCTAssertEqual(updates?.count, i + 1, "the document carries the timeline so far")
            XCTAssertEqual(updates?.first?["description"] as? String, stored.incident.updates[i].description, "newest update first")
        }

        waitUntil("webhook calls recorded as delivered") {
            (try? self.items(stored.incident.id).allSatisfy { $0.state == .delivered }) ?? false
        }
        XCTAssertEqual(try items(stored.incident.id).map(\.sink), Array(repeating: sink.key, count: 4))
        XCTAssertTrue(api.server.requests.isEmpty, "a probe without service_id sends nothing to IsDown")
        XCTAssertNil(try store.remoteID(incident: stored.incident.id))
        let bytes = try databaseBytes()
        XCTAssertFalse(bytes.contains(Array(Self.hookSecret.utf8)), "webhook header values are not stored")
        XCTAssertFalse(bytes.contains(Array("token=abc".utf8)), "the webhook URL (and its query) is not stored")
    }

    // MARK: Retries

    func testServerErrorTwiceThenSuccess() throws {
        let api = try fakeAPI()
        api.enqueue(.respond(status: 500, body: #"{"errors":[{"status":500,"title":"Internal Server Error","detail":"database busy"}]}"#),
                    .respond(status: 500))
        let id = try openIncident()
        startWorker(api: api.server.url)
        XCTAssertTrue(api.server.waitForRequests(3))
        waitUntil("the create delivered") { (try? self.items(id).first?.state) == .delivered }
        let item = try XCTUnwrap(try items(id).first)
        XCTAssertEqual(item.attempts, 3)
        XCTAssertNil(item.lastError)
        XCTAssertEqual(api.server.requests.map(\.method), ["POST", "POST", "POST"])
        XCTAssertEqual(Set(api.server.requests.map(\.bodyText)).count, 1, "the same body every time")
        XCTAssertEqual(try store.remoteID(incident: id), FakeIsDown.createdID)
        XCTAssertTrue(log.current.contains { $0.level == .warning && $0.message.contains("HTTP 500: database busy") },
                      "the first failure is logged with the API's detail")
    }

    func testTooManyRequestsHonoursRetryAfter() throws {
        let api = try fakeAPI()
        api.enqueue(.full(status: 429, headers: [("Retry-After", "1")], body: []))
        let id = try openIncident()
        startWorker(api: api.server.url)
        waitUntil("the retry") { api.arrivals.count >= 2 }
        let arrivals = api.arrivals
        guard arrivals.count == 2 else { return XCTFail("\(arrivals.count) requests") }
        // The backoff alone would retry after 25–50 ms; Retry-After: 1 holds it for a whole second.
        let gap = arrivals[1].timeIntervalSince(arrivals[0])
        XCTAssertGreaterThanOrEqual(gap, 0.99, "retried \(gap) s after a 429 with Retry-After: 1")
        waitUntil("the create delivered") { (try? self.items(id).first?.state) == .delivered }
        XCTAssertEqual(try items(id).first?.attempts, 2)
    }

    func testHangingServerTimesOutAndIsRetried() throws {
        let api = try fakeAPI()
        api.enqueue(.hang)
        let id = try openIncident()
        let started = Date()
        startWorker(api: api.server.url, timeout: .milliseconds(500))
        waitUntil("the create delivered after a retry") { (try? self.items(id).first?.state) == .delivered }
        let arrivals = api.arrivals
        // The create's answer was lost, so it is looked for (GET, which this fake does not offer) before it is
        // sent again (issue 13, item 19).
        let methods = api.server.requests.map(\.method)
        guard methods == ["POST", "GET", "POST"] else { return XCTFail("requests: \(methods)") }
        XCTAssertGreaterThanOrEqual(arrivals[1].timeIntervalSince(started), 0.5, "the first attempt ended at its timeout")
        XCTAssertEqual(try items(id).first?.attempts, 2)
        XCTAssertTrue(log.current.contains { $0.level == .warning && $0.message.contains("imed out") },
                      "the timeout is logged: \(log.current.map(\.message))")
    }

    // MARK: Not retried

    func testUnauthorizedAndUnprocessableFailWithoutRetryAndRequeue() throws {
        let api = try fakeAPI()
        // 401 echoing the key it got, as a careless API might: the key must still not be stored.
        api.setOverride { r in
            if r.bodyText.contains(#""service_id":401"#) {
                return .respond(status: 401, body: #"{"errors":[{"status":401,"title":"Unauthorized","detail":"Unauthorized access for \#(r.header("Authorization") ?? "")"}]}"#)
            }
            return .respond(status: 422, body: #"{"errors":[{"status":422,"title":"Unprocessable Entity","detail":"Status must be 'minor' or 'major'"}]}"#)
        }
        let unauthorized = try openIncident(serviceID: 401)
        try resolve(unauthorized)
        let invalid = try openIncident(serviceID: 422)
        startWorker(api: api.server.url)
        waitUntil("both creates failed") {
            (try? self.items(unauthorized).first?.state) == .failed && (try? self.items(invalid).first?.state) == .failed
        }
        // Prove they are not retried: deliver another incident through the same worker meanwhile.
        api.setOverride(nil)
        let later = try openIncident(serviceID: 5)
        waitUntil("a later incident delivered") { (try? self.items(later).first?.state) == .delivered }
        XCTAssertEqual(api.server.requests.filter { $0.bodyText.contains(#""service_id":401"#) }.count, 1, "401 is not retried")
        XCTAssertEqual(api.server.requests.filter { $0.bodyText.contains(#""service_id":422"#) }.count, 1, "422 is not retried")
        XCTAssertFalse(api.server.requests.contains { $0.method == "PATCH" }, "the PATCH waits behind its failed POST")

        let failed401 = try XCTUnwrap(try items(unauthorized).first)
        XCTAssertEqual(failed401.state, .failed)
        XCTAssertEqual(failed401.attempts, 1)
        XCTAssertEqual(failed401.lastError?.hasPrefix("HTTP 401: Unauthorized access for Bearer "), true, failed401.lastError ?? "nil")
        XCTAssertEqual(try items(unauthorized)[1].state, .pending)
        XCTAssertEqual(try items(invalid).first?.lastError, "HTTP 422: Status must be 'minor' or 'major'")
        XCTAssertEqual(log.current.filter { $0.level == .error && $0.message.contains("will not be retried") }.count, 2, "logged once each")
        XCTAssertNotNil(try store.incident(id: unauthorized), "the incident itself stays")

        // The command line shows the reasons.
        let incidents = try ProberBinary.run(["incidents", "--db", path])
        XCTAssertEqual(incidents.status, 0, incidents.stderr)
        XCTAssertTrue(incidents.stdout.contains("failed: HTTP 401: Unauthorized access"), incidents.stdout)
        XCTAssertTrue(incidents.stdout.contains("failed: HTTP 422: Status must be 'minor' or 'major'"), incidents.stdout)
        let deliveries = try ProberBinary.run(["deliveries", "--db", path])
        XCTAssertEqual(deliveries.status, 0, deliveries.stderr)
        XCTAssertTrue(deliveries.stdout.contains("HTTP 422: Status must be 'minor' or 'major'"), deliveries.stdout)
        XCTAssertEqual(deliveries.stdout.components(separatedBy: "failed").count - 1, 2, deliveries.stdout)
        let outputs = [incidents.stdout, deliveries.stdout,
                       try ProberBinary.run(["incidents", "--db", path, "--json"]).stdout,
                       try ProberBinary.run(["incidents", "show", String(unauthorized), "--db", path]).stdout,
                       try ProberBinary.run(["deliveries", "--db", path, "--json"]).stdout]
        for output in outputs { XCTAssertFalse(output.contains(Self.apiKey), "the key is in the CLI output:\n\(output)") }
        XCTAssertFalse(failed401.lastError?.contains(Self.apiKey) ?? false, "the key is in lastError")
        XCTAssertFalse(try databaseBytes().contains(Array(Self.apiKey.utf8)), "the key is in the database file")
        XCTAssertFalse(log.current.contains { $0.message.contains(Self.apiKey) || "\($0.metadata)".contains(Self.apiKey) }, "the key is logged")

        // The operator fixed the key: `prober deliveries retry` re-queues, the worker delivers in order.
        let retry = try ProberBinary.run(["deliveries", "retry", String(failed401.id), "--db", path])
        XCTAssertEqual(retry.status, 0, retry.stderr)
        XCTAssertTrue(retry.stdout.contains("1 call queued again"), retry.stdout)
        waitUntil("the re-queued create and its PATCH delivered") {
            (try? self.items(unauthorized).allSatisfy { $0.state == .delivered }) ?? false
        }
        XCTAssertEqual(try items(invalid).first?.state, .failed, "retry with an id re-queues only that call")
        let retried = api.server.requests.filter { $0.bodyText.contains(#""service_id":401"#) || $0.method == "PATCH" }
        XCTAssertEqual(retried.map(\.method), ["POST", "POST", "PATCH"])
        let all = try ProberBinary.run(["deliveries", "retry", "--db", path])
        XCTAssertTrue(all.stdout.contains("1 call queued again"), all.stdout)
        waitUntil("the 422 create delivered after retry") { (try? self.items(invalid).first?.state) == .delivered }
    }

    // MARK: The API down for a whole incident

    func testAPIDownForTheWholeIncidentThenUpDeliversEverythingInOrder() throws {
        let port = try closedLoopbackPort()
        let base = "http://127.0.0.1:\(port)"
        let worker = startWorker(api: base)
        let tracker = IncidentTracker(store: store, logger: logger, onChange: { worker.wake() })
        tracker.update(probes: [spec()], sinks: sinks([]))
        let stored = try driveWholeIncident(tracker)
        waitUntil("the create attempted at least twice against the closed port") {
            ((try? self.items(stored.incident.id).first?.attempts) ?? 0) >= 2
        }
        let waiting = try items(stored.incident.id)
        XCTAssertEqual(waiting.map(\.state), [.pending, .pending, .pending, .pending])
        XCTAssertEqual(waiting.dropFirst().map(\.attempts), [0, 0, 0], "PATCHes wait for the create's id")
        XCTAssertNotNil(waiting[0].lastError)

        // The API comes up where the worker already points.
        let api = try fakeAPI(port: port)
        XCTAssertTrue(api.server.waitForRequests(4))
        waitUntil("all four delivered") { (try? self.items(stored.incident.id).allSatisfy { $0.state == .delivered }) ?? false }
        let requests = api.server.requests
        XCTAssertEqual(requests.count, 4)
        XCTAssertEqual(requests.map(\.method), ["POST", "PATCH", "PATCH", "PATCH"])
        XCTAssertEqual(requests.map { json($0)["resolution_stage"] as? String }, ["investigating", "investigating", "monitoring", "resolved"])
        XCTAssertEqual(Set(requests.dropFirst().map(\.path)), ["/api/v2/incidents/\(FakeIsDown.createdID)"])
    }

    func testWithoutKeyIsDownCallsWaitAndWebhooksStillGo() throws {
        let api = try fakeAPI()
        let hook = try webhookReceiver()
        let sink = NotifySink(webhook: hook.url, headers: [], probes: ["api"])
        let worker = startWorker(api: api.server.url, key: nil, webhooks: [sink])
        let tracker = IncidentTracker(store: store, logger: logger, onChange: { worker.wake() })
        tracker.update(probes: [spec()], sinks: sinks([sink]))
        let stored = try driveWholeIncident(tracker)
        XCTAssertTrue(hook.waitForRequests(4))
        waitUntil("webhook calls delivered") {
            (try? self.items(stored.incident.id).filter { $0.sink == sink.key }.allSatisfy { $0.state == .delivered }) ?? false
        }
        XCTAssertTrue(api.server.requests.isEmpty)
        XCTAssertEqual(try items(stored.incident.id).filter { $0.sink == IsDownSink().name }.map(\.state), [.pending, .pending, .pending, .pending])
        XCTAssertEqual(log.current.filter { $0.message.contains("ISDOWN_API_KEY is not set") }.count, 1, "warned once")
    }

    /// Two probe files notifying the same URL with different headers: each incident goes out with its own file's.
    func testSameWebhookURLInTwoFilesUsesTheIncidentsOwnHeaders() throws {
        let hook = try webhookReceiver()
        let other = NotifySink(webhook: hook.url, headers: [Header(name: "X-Team", value: "payments")], probes: ["billing"])
        let mine = NotifySink(webhook: hook.url, headers: [Header(name: "X-Team", value: "platform")], probes: ["api"])
        XCTAssertEqual(other.key, mine.key)
        let worker = startWorker(api: "http://127.0.0.1:9", key: nil, webhooks: [other, mine])
        let tracker = IncidentTracker(store: store, logger: logger, onChange: { worker.wake() })
        tracker.update(probes: [spec(serviceID: nil)], sinks: sinks([other, mine]))
        try driveWholeIncident(tracker)
        XCTAssertTrue(hook.waitForRequests(4))
        XCTAssertEqual(hook.requests.map { $0.header("X-Team") }, Array(repeating: "platform", count: 4))
    }

    /// More IsDown calls waiting for a key than the worker reads at once (64) must not starve webhooks.
    func testManyIsDownCallsWaitingForAKeyDoNotHoldUpWebhooks() throws {
        let hook = try webhookReceiver()
        let sink = NotifySink(webhook: hook.url, headers: [], probes: [])
        var ids: [Int64] = []
        for n in 0..<80 {
            let at = now
            let update = IncidentUpdate(kind: .opened, stage: .investigating, status: .minor, createdAt: at, description: "down")
            let incident = Incident(id: 0, probe: "p\(n)", serviceID: 1000 + n, title: "p\(n): checks failing", description: "down",
                                    status: .minor, stage: .investigating, createdAt: at, updatedAt: at, resolvedAt: nil, updates: [update])
            ids.append(try store.openIncident(incident, tracking: OpenIncident(status: .minor, stage: .investigating, openedAt: at,
                                                                               degradedSince: at, failedChecks: 2, worstP95: nil, worstFailures: 2),
                                              outbox: [OutboxItem(sink: IsDownSink().name, method: "POST", body: "{}", nextAttemptAt: at, createdAt: at),
                                                       OutboxItem(sink: sink.key, method: "POST", body: "{}", nextAttemptAt: at, createdAt: at)]))
        }
        startWorker(api: "http://127.0.0.1:1", key: nil, webhooks: [sink])
        XCTAssertTrue(hook.waitForRequests(80), "\(hook.requests.count) of 80 webhook calls delivered")
        waitUntil("every webhook call recorded as delivered") {
            (try? self.store.undelivered().filter { $0.sink == sink.key }.isEmpty) ?? false
        }
        XCTAssertEqual(try store.undelivered().filter { $0.sink == IsDownSink().name }.count, 80, "IsDown calls keep waiting for the key")
        XCTAssertEqual(log.current.filter { $0.message.contains("ISDOWN_API_KEY is not set") }.count, 1, "warned once")
    }

    /// Every file of the database (main, WAL, shared memory), concatenated. Read by a child process:
    /// opening and closing the file in this process would drop SQLite's POSIX locks on it (they are
    /// per process), and another process could then checkpoint and truncate the WAL under us.
    func databaseBytes() throws -> [UInt8] {
        let cat = Process()
        cat.executableURL = URL(fileURLWithPath: "/bin/cat")
        cat.arguments = ["", "-wal", "-shm"].map { path + $0 }.filter { FileManager.default.fileExists(atPath: $0) }
        let out = Pipe()
        cat.standardOutput = out
        try cat.run()
        let bytes = [UInt8](out.fileHandleForReading.readDataToEndOfFile())
        cat.waitUntilExit()
        XCTAssertFalse(bytes.isEmpty)
        return bytes
    }
}

extension Array where Element == UInt8 {
    func contains(_ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, count >= needle.count else { return needle.isEmpty }
        let first = needle[0]
        var i = 0
        while i <= count - needle.count {
            if self[i] == first, self[i..<(i + needle.count)].elementsEqual(needle) { return true }
            i += 1
        }
        return false
    }
}

/// A fake IsDown incidents API on loopback: a create answers 201 with `createdID`, an update of that id
/// 200, anything else 404, unless scripted responses are queued (used first, in order) or an override
/// decides. Records when each request arrived.
final class FakeIsDown: Sendable {
    static let createdID = "98765"

    struct Script {
        var queued: [TestHTTPServer.Response] = []
        var override: (@Sendable (TestHTTPServer.Request) -> TestHTTPServer.Response)?
        var arrivals: [Date] = []
    }

    let server: TestHTTPServer
    private let script: Locked<Script>

    init(port: Int = 0) throws {
        let script = Locked(Script())
        self.script = script
        server = try TestHTTPServer(port: port) { request in
            let scripted = script.withLock { s -> TestHTTPServer.Response? in
                s.arrivals.append(Date())
                if !s.queued.isEmpty { return s.queued.removeFirst() }
                return s.override?(request)
            }
            return scripted ?? FakeIsDown.answer(request)
        }
    }

    func enqueue(_ responses: TestHTTPServer.Response...) { script.withLock { $0.queued += responses } }
    func setOverride(_ handler: (@Sendable (TestHTTPServer.Request) -> TestHTTPServer.Response)?) {
        script.withLock { $0.override = handler }
    }
    var arrivals: [Date] { script.withLock { $0.arrivals } }

    static func answer(_ request: TestHTTPServer.Request) -> TestHTTPServer.Response {
        let notFound = #"{"errors":[{"status":404,"title":"Not Found","detail":"Resource not found"}]}"#
        switch (request.method, request.path) {
        case ("POST", "/api/v2/incidents"):
            return .respond(status: 201, headers: [("Content-Type", "application/json")],
                            body: #"{"data":{"id":"\#(createdID)","type":"incidents","attributes":{"title":"x","resolved":false,"updates":[]}}}"#)
        case ("PATCH", "/api/v2/incidents/\(createdID)"):
            return .respond(status: 200, headers: [("Content-Type", "application/json")],
                            body: #"{"data":{"id":"\#(createdID)","type":"incidents","attributes":{}}}"#)
        default:
            return .respond(status: 404, body: notFound)
        }
    }
}
