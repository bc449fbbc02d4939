import Foundation
import ProberCore
import ProberStorage
@testable import ProberStore
import XCTest

final class IncidentStoreTests: XCTestCase {
    let t: Int64 = 1_800_000_000_000_000

    func incident(probe: String = "api", at: Int64) -> Incident {
        Incident(id: 0, probe: probe, serviceID: 1234, title: "API: checks failing", description: "opened text",
                 status: .minor, stage: .investigating, createdAt: at, updatedAt: at, resolvedAt: nil,
                 updates: [IncidentUpdate(kind: .opened, stage: .investigating, status: .minor, createdAt: at, description: "opened text")])
    }

    func tracking(at: Int64, failed: Int = 3) -> OpenIncident {
        OpenIncident(status: .minor, stage: .investigating, openedAt: at, degradedSince: at - 60_000_000,
                     failedChecks: failed, worstP95: 900_000, worstFailures: 3)
    }

    func call(_ method: String, at: Int64, sink: String = "isdown") -> OutboxItem {
        OutboxItem(sink: sink, method: method, body: "{\"m\":\"\(method)\"}", nextAttemptAt: at, createdAt: at)
    }

    func testIncidentTimelineAndTrackingSurviveReopening() throws {
        let path = try temporaryDatabase(self)
        var id: Int64 = 0
        do {
            let store = try Store(path: path)
            id = try store.openIncident(incident(at: t), tracking: tracking(at: t), outbox: [call("POST", at: t)])
            var after = tracking(at: t, failed: 7)
            after.status = .major
            try store.appendUpdate(incidentID: id, IncidentUpdate(kind: .escalated, stage: .investigating, status: .major,
                                                                   createdAt: t + 60_000_000, description: "escalated text",
                                                                   evidence: #"{"failures":7}"#),
                                   tracking: after, outbox: [call("PATCH", at: t + 60_000_000)])
        }
        let store = try Store(path: path, readOnly: true)
        let open = try store.openIncidents()
        XCTAssertEqual(open.count, 1)
        let stored = try XCTUnwrap(open["api"])
        XCTAssertEqual(stored.incident.id, id)
        XCTAssertEqual(stored.incident.status, .major)
        XCTAssertEqual(stored.incident.description, "opened text")
        XCTAssertEqual(stored.incident.updates.map(\.kind), [.opened, .escalated])
        XCTAssertEqual(stored.incident.updates.map(\.description), ["opened text", "escalated text"])
        XCTAssertEqual(stored.incident.updates.map(\.evidence), ["", #"{"failures":7}"#])
        XCTAssertEqual(stored.tracking.failedChecks, 7)
        XCTAssertEqual(stored.tracking.degradedSince, t - 60_000_000)
        XCTAssertEqual(stored.deliveries.map(\.method), ["POST", "PATCH"])
        XCTAssertEqual(stored.incident.serviceID, 1234)
    }

    func testResolvingClosesTheIncident() throws {
        let store = try Store(path: try temporaryDatabase(self))
        let id = try store.openIncident(incident(at: t), tracking: tracking(at: t), outbox: [])
        var done = tracking(at: t)
        done.stage = .resolved
        try store.appendUpdate(incidentID: id, IncidentUpdate(kind: .resolved, stage: .resolved, status: .minor,
                                                               createdAt: t + 600_000_000, description: "resolved"),
                               tracking: done, outbox: [])
        XCTAssertTrue(try store.openIncidents().isEmpty)
        let all = try store.incidents(since: nil)
        XCTAssertEqual(all.first?.incident.resolvedAt, t + 600_000_000)
        XCTAssertEqual(all.first?.incident.stage, .resolved)
        XCTAssertTrue(try store.incidents(since: nil, openOnly: true).isEmpty)
        XCTAssertEqual(try store.incidents(since: t + 700_000_000).count, 0)
        XCTAssertEqual(try store.incidents(since: t - 1).count, 1)
    }

    func testOutboxDeliversInOrderPerIncidentAndSink() throws {
        let store = try Store(path: try temporaryDatabase(self))
        let a = try store.openIncident(incident(probe: "a", at: t), tracking: tracking(at: t),
                                       outbox: [call("POST", at: t), call("POST", at: t, sink: "webhook:1")])
        try store.appendUpdate(incidentID: a, IncidentUpdate(kind: .monitoring, stage: .monitoring, status: .minor,
                                                              createdAt: t + 1, description: "m"),
                               tracking: tracking(at: t), outbox: [call("PATCH", at: t + 1)])
        let b = try store.openIncident(incident(probe: "b", at: t + 2), tracking: tracking(at: t + 2), outbox: [call("POST", at: t + 2)])

        var due = try store.dueDeliveries(now: t + 10)
        // Only the head of each (incident, sink): a's POST to IsDown, a's webhook POST, b's POST; not a's PATCH.
        XCTAssertEqual(due.map { "\($0.incidentID):\($0.sink):\($0.method)" }, ["\(a):isdown:POST", "\(a):webhook:1:POST", "\(b):isdown:POST"])

        // A retry pushes the head into the future: the PATCH behind it still waits.
        try store.recordAttempt(due[0].id, state: .pending, nextAttemptAt: t + 100, error: "HTTP 503", at: t + 10)
        due = try store.dueDeliveries(now: t + 10)
        XCTAssertFalse(due.contains { $0.incidentID == a && $0.sink == "isdown" })
        XCTAssertEqual(try store.nextDeliveryDue(), t, "the webhook's POST and b's POST are still due")
        for item in due {
            try store.recordAttempt(item.id, state: .delivered, nextAttemptAt: t, error: nil, at: t + 10)
        }
        XCTAssertEqual(try store.nextDeliveryDue(), t + 100)

        // Delivered: the PATCH becomes the head, and the IsDown id is kept.
        let post = try XCTUnwrap(try store.undelivered().first { $0.incidentID == a && $0.sink == "isdown" })
        try store.recordAttempt(post.id, state: .delivered, nextAttemptAt: t + 100, error: nil, at: t + 20, remoteID: "55001")
        XCTAssertEqual(try store.remoteID(incident: a), "55001")
        due = try store.dueDeliveries(now: t + 20)
        XCTAssertTrue(due.contains { $0.incidentID == a && $0.method == "PATCH" })

        // Failed items block their followers until retried.
        let patch = try XCTUnwrap(due.first { $0.method == "PATCH" })
        try store.recordAttempt(patch.id, state: .failed, nextAttemptAt: t + 20, error: "HTTP 422: bad", at: t + 20)
        XCTAssertFalse(try store.dueDeliveries(now: t + 30).contains { $0.id == patch.id })
        XCTAssertEqual(try store.undelivered().first { $0.id == patch.id }?.lastError, "HTTP 422: bad")
        XCTAssertEqual(try store.retryFailed(now: t + 30), 1)
        XCTAssertTrue(try store.dueDeliveries(now: t + 30).contains { $0.id == patch.id })
    }

    func testRecordWritesAChangeAndItsCallsInOneTransactionWithTheAssignedID() throws {
        let store = try Store(path: try temporaryDatabase(self))
        let opening = incident(at: t)
        let body = #"{"id":"\#(OutboxItem.incidentIDPlaceholder)"}"#
        let id = try store.record(IncidentChange(incident: opening, update: opening.updates[0], tracking: tracking(at: t),
                                                 outbox: [OutboxItem(sink: "webhook:1", method: "POST", body: body, nextAttemptAt: t, createdAt: t)]))
        XCTAssertEqual(try store.undelivered().map(\.body), [#"{"id":"\#(id)"}"#], "the store puts the id it assigned in the body")

        // A change of an incident that does not exist writes nothing, not even its calls.
        var missing = opening
        missing.id = id + 100
        let update = IncidentUpdate(kind: .resolved, stage: .resolved, status: .minor, createdAt: t + 1, description: "r")
        XCTAssertThrowsError(try store.record(IncidentChange(incident: missing, update: update, tracking: tracking(at: t),
                                                             outbox: [call("PATCH", at: t + 1)])))
        XCTAssertEqual(try store.undelivered().count, 1)

        var resolved = opening
        resolved.id = id
        try store.record(IncidentChange(incident: resolved, update: update, tracking: tracking(at: t), outbox: [call("PATCH", at: t + 1)]))
        XCTAssertEqual(try store.incident(id: id)?.incident.updates.map(\.kind), [.opened, .resolved])
        XCTAssertEqual(try store.incident(id: id)?.deliveries.map(\.sink), ["webhook:1", "isdown"])
        XCTAssertEqual(try store.probe(incident: id), "api")
    }

    func testDueDeliveriesLeaveOutTheSinksThatMustWait() throws {
        let store = try Store(path: try temporaryDatabase(self))
        try store.openIncident(incident(at: t), tracking: tracking(at: t),
                               outbox: [call("POST", at: t), call("POST", at: t, sink: "webhook:1"), call("POST", at: t, sink: "webhook:2")])
        XCTAssertEqual(try store.dueDeliveries(now: t).map(\.sink), ["isdown", "webhook:1", "webhook:2"])
        XCTAssertEqual(try store.dueDeliveries(now: t, excluding: ["isdown"]).map(\.sink), ["webhook:1", "webhook:2"])
        XCTAssertEqual(try store.dueDeliveries(now: t, excluding: ["isdown", "webhook:2"]).map(\.sink), ["webhook:1"])
    }

    func testFailureCountSinceForRecountingAfterRestart() throws {
        let path = try temporaryDatabase(self)
        let store = try Store(path: path)
        var samples = makeSamples(probe: "api", start: t, interval: 1_000_000, count: 10)
        for i in [2, 5, 7] { samples[i].failure = Failure(.timeout, "timed out") }
        try fill(store, samples)
        XCTAssertEqual(try store.failureCount(probe: "api", since: t + 4_000_000), 2)
        XCTAssertEqual(try store.failureCount(probe: "nope", since: 0), 0)
    }
}
