import Foundation
import Logging
import ProberCore
import ProberDelivery
import ProberStorage
import ProberStore
import ProberTestSupport
import Synchronization
import Testing

/// A fake IsDown on loopback: creates, lists (`GET /api/v2/incidents?service_id=`, newest first) and patches
/// incidents, and can "lose" the answer to creates: it makes the incident, then never answers.
final class FakeIsDown: Sendable {
    struct Incident: Sendable {
        var id: String
        var title: String
        var serviceID: Int64
        var createdAt: Int64
        var resolved = false
        var updates: [String] = []
    }
    struct State: Sendable {
        var incidents: [Incident] = []
        var loseCreates = 0
        /// Lose an answer by hanging rather than closing the connection.
        var hang = false
        var posts = 0
    }
    let state = Mutex(State())

    var incidents: [Incident] { state.withLock { $0.incidents } }
    var posts: Int { state.withLock { $0.posts } }

    func add(title: String, serviceID: Int64, createdAt: Int64) {
        state.withLock { $0.incidents.append(Incident(id: String($0.incidents.count + 1), title: title, serviceID: serviceID, createdAt: createdAt)) }
    }

    func handle(_ request: TestHTTPServer.Request) -> TestHTTPServer.Response {
        let body = (try? JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any]) ?? [:]
        let json = [("Content-Type", "application/json")]
        switch request.method {
        case "POST":
            let (lose, hang) = state.withLock { s -> (Bool, Bool) in
                s.posts += 1
                s.incidents.append(Incident(id: String(s.incidents.count + 1), title: body["title"] as? String ?? "",
                                            serviceID: (body["service_id"] as? NSNumber)?.int64Value ?? 0, createdAt: OutboxWorkerTests.now))
                guard s.loseCreates > 0 else { return (false, false) }
                s.loseCreates -= 1
                return (true, s.hang)
            }
            if lose { return hang ? .hang : .close }
            return .respond(status: 201, headers: json, body: #"{"data":{"id":"\#(incidents.count)","type":"incidents"}}"#)
        case "GET":
            let service = request.path.components(separatedBy: "service_id=").last.flatMap { Int64($0) }
            let documents: [[String: Any]] = incidents.reversed().filter { $0.serviceID == service }.map { i in
                ["id": i.id, "type": "incidents",
                 "attributes": ["title": i.title, "service_id": i.serviceID, "resolved": i.resolved, "created_at": UTCTime.iso8601(i.createdAt)]]
            }
            let data = try! JSONSerialization.data(withJSONObject: ["data": documents])
            return .respond(status: 200, headers: json, body: String(decoding: data, as: UTF8.self))
        case "PATCH":
            let id = String(request.path.split(separator: "/").last ?? "")
            let found = state.withLock { s -> Bool in
                guard let i = s.incidents.firstIndex(where: { $0.id == id }) else { return false }
                if body["resolution_stage"] as? String == "resolved" { s.incidents[i].resolved = true }
                s.incidents[i].updates.append(body["description"] as? String ?? "")
                return true
            }
            return found ? .respond(status: 200, headers: json, body: #"{"data":{"id":"\#(id)"}}"#)
                : .respond(status: 404, headers: json, body: #"{"errors":[{"status":404,"detail":"Resource not found"}]}"#)
        default:
            return .respond(status: 405)
        }
    }
}

/// A create whose answer was lost (a dropped connection, or `kill -9` before the answer was stored) is
/// reconciled through IsDown's list before it is sent again: one incident on IsDown per episode.
extension OutboxWorkerTests {
    func fakeIsDown() throws -> (FakeIsDown, IsDownSink) {
        let fake = FakeIsDown()
        let server = try receiver { fake.handle($0) }
        return (fake, IsDownSink(baseURL: server.url, apiKey: "k3y"))
    }

    func startWorker(_ storage: any OutboxStorage, sinks: [any Sink], timeout: Duration = .seconds(10)) -> OutboxWorker {
        var c = OutboxWorker.Configuration()
        c.poll = .milliseconds(20)
        c.timeout = timeout
        c.retry = RetryPolicy(initial: .milliseconds(20), cap: .milliseconds(100))
        let w = OutboxWorker(storage: storage, sinks: sinks, configuration: c, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() },
                             send: engine.deliver)
        w.start()
        return w
    }

    @Test("a create whose answer never came (the connection closed) is found on IsDown after a restart and adopted, not sent again")
    func lostAnswer() throws {
        let (fake, isdown) = try fakeIsDown()
        fake.state.withLock { $0.loseCreates = 1 }
        let id = try store.record(opening(sinks: [isdown]))
        let first = startWorker(store, sinks: [isdown])
        try waitUntil("the lost answer recorded") { try store.incident(id: id)?.deliveries.first?.attempts == 1 }
        first.stop()
        let item = try #require(try store.incident(id: id)?.deliveries.first)
        #expect(item.state == .pending && item.mayHaveBeenSent, "\(item.lastError ?? "no error")")
        #expect(fake.incidents.count == 1, "IsDown made the incident")

        worker = startWorker(store, sinks: [isdown])
        try waitUntil("the create recorded as delivered") { try store.incident(id: id)?.deliveries.first?.state == .delivered }
        #expect(fake.posts == 1)
        #expect(fake.incidents.count == 1)
        #expect(try store.remoteID(incident: id) == "1")
    }

    @Test("a create whose answer timed out is looked for in the same process before it is sent again")
    func timedOutAnswer() throws {
        let (fake, isdown) = try fakeIsDown()
        fake.state.withLock { $0.loseCreates = 1; $0.hang = true }
        let id = try store.record(opening(sinks: [isdown]))
        worker = startWorker(store, sinks: [isdown], timeout: .milliseconds(300))
        try waitUntil("the create recorded as delivered") { try store.incident(id: id)?.deliveries.first?.state == .delivered }
        #expect(fake.posts == 1)
        #expect(try store.remoteID(incident: id) == "1")
    }

    @Test("after a restart, a create sent by the previous process whose answer was never stored is adopted")
    func restartAfterLostAnswer() throws {
        let (fake, isdown) = try fakeIsDown()
        let id = try store.record(opening(sinks: [isdown]))
        // The first process marks the create as sent and sends it; IsDown answers, but the answer is never
        // stored (as with a `kill -9` right after the call): its storage refuses to record attempts.
        let refusing = RefusingOutboxStorage(store)
        refusing.refuseWrites(true)
        let first = startWorker(refusing, sinks: [isdown])
        try waitUntil("the create made on IsDown") { fake.posts == 1 }
        try waitUntil("its answer refused") { refusing.refused >= 1 }
        first.stop()
        #expect(try store.incident(id: id)?.deliveries.first?.state == .pending)

        worker = startWorker(store, sinks: [isdown])
        try waitUntil("the create recorded as delivered") { try store.incident(id: id)?.deliveries.first?.state == .delivered }
        #expect(fake.posts == 1, "the create was sent again")
        #expect(fake.incidents.count == 1)
        #expect(try store.remoteID(incident: id) == "1")
    }

    @Test("duplicates a lost create made are resolved with a note; the oldest is kept")
    func duplicatesResolved() throws {
        let (fake, isdown) = try fakeIsDown()
        let change = opening(sinks: [isdown])
        // An earlier episode of the same probe (resolved), then two copies of this one (two lost answers).
        fake.add(title: change.incident.title, serviceID: 1234, createdAt: change.incident.createdAt - 3_600_000_000)
        fake.state.withLock { $0.incidents[0].resolved = true }
        fake.add(title: change.incident.title, serviceID: 1234, createdAt: change.incident.createdAt + 1_000)
        fake.add(title: change.incident.title, serviceID: 1234, createdAt: change.incident.createdAt + 2_000)
        fake.add(title: "another probe: checks failing", serviceID: 1234, createdAt: change.incident.createdAt + 3_000)
        let id = try store.record(change)
        // A previous process sent it (twice, over two lost answers) and died before storing an answer.
        try store.markSending(try #require(try store.incident(id: id)?.deliveries.first).id)
        worker = startWorker(store, sinks: [isdown])
        try waitUntil("the create recorded as delivered") { try store.incident(id: id)?.deliveries.first?.state == .delivered }
        #expect(fake.posts == 0)
        #expect(try store.remoteID(incident: id) == "2")
        let byID = Dictionary(uniqueKeysWithValues: fake.incidents.map { ($0.id, $0) })
        #expect(byID["2"]?.resolved == false)
        #expect(byID["3"]?.resolved == true)
        #expect(byID["3"]?.updates.first?.contains("Duplicate of incident 2") == true)
        #expect(byID["4"]?.resolved == false && byID["4"]?.updates.isEmpty == true, "another probe's incident is left alone")
    }
}
