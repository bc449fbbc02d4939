import Dispatch
import Foundation
import ProberCore
import ProberStorage
import ProberTestSupport
import Testing

/// Conformance cases for incidents, their timelines and the outbox.
public enum IncidentConformance {
    public static let cases: [ConformanceCase] = [
        ConformanceCase("an incident's timeline and tracking survive reopening", timelineSurvivesReopening),
        ConformanceCase("outbox: in order per incident and sink", outboxOrder),
        ConformanceCase("an update and its outbox rows are one transaction", updateAndOutboxAreAtomic),
        ConformanceCase("outbox: retries wait, failed rows block until retried", retriesAndFailedRows),
        ConformanceCase("the remote id is recorded once", remoteIDRecordedOnce),
        ConformanceCase("the baseline leaves out checks made during an earlier incident", baselineSkipsIncidents),
        ConformanceCase("baselines of several probes read together are each probe's baseline", baselinesMatchEachProbesBaseline),
        ConformanceCase("auto reference: the same hour on previous days once a week of history exists", autoReferenceSameHour),
        ConformanceCase("auto reference: probes with latency: auto are learning until 30 passing checks", learningProbes),
    ]

    static let t: Int64 = 1_800_000_000_000_000

    static func incidents(_ storage: any Storage) throws -> any Storage { storage }

    /// Opens `incident` (its first update) with its calls: one `record`.
    @discardableResult
    static func open(_ storage: any Storage, _ incident: Incident, tracking: OpenIncident, outbox: [OutboxItem]) throws -> Int64 {
        try storage.record(IncidentChange(incident: incident, update: incident.updates[0], tracking: tracking, outbox: outbox))
    }

    /// Appends `update` to incident `id` with its calls: one `record`.
    static func append(_ storage: any Storage, incidentID id: Int64, _ update: IncidentUpdate, tracking: OpenIncident,
                       outbox: [OutboxItem]) throws {
        var incident = incident(at: update.createdAt)
        incident.id = id
        incident.status = update.status
        incident.stage = update.stage
        incident.updates.append(update)
        try storage.record(IncidentChange(incident: incident, update: update, tracking: tracking, outbox: outbox))
    }

    static func incident(probe: String = "api", at: Int64) -> Incident {
        Incident(id: 0, probe: probe, serviceID: 1234, title: "API: checks failing", description: "opened text",
                 status: .minor, stage: .investigating, createdAt: at, updatedAt: at, resolvedAt: nil,
                 updates: [IncidentUpdate(kind: .opened, stage: .investigating, status: .minor, createdAt: at,
                                          description: "opened text")])
    }

    static func tracking(at: Int64, failed: Int = 3) -> OpenIncident {
        OpenIncident(status: .minor, stage: .investigating, openedAt: at, degradedSince: at - 60_000_000,
                     failedChecks: failed, worstP95: 900_000, worstFailures: 3)
    }

    static func call(_ method: String, at: Int64, sink: String = "isdown") -> OutboxItem {
        OutboxItem(sink: sink, method: method, body: "{\"m\":\"\(method)\"}", nextAttemptAt: at, createdAt: at)
    }

    static func update(_ kind: IncidentEvent.Kind, at: Int64, stage: ResolutionStage = .investigating,
                       status: Severity = .minor) -> IncidentUpdate {
        IncidentUpdate(kind: kind, stage: stage, status: status, createdAt: at, description: "\(kind) text")
    }

    static func timelineSurvivesReopening(_ backend: ConformanceBackend) throws {
        try backend.withLocation { location in
            var id: Int64 = 0
            do {
                let store = try incidents(try backend.open(location, false))
                id = try open(store, incident(at: t), tracking: tracking(at: t), outbox: [call("POST", at: t)])
                var after = tracking(at: t, failed: 7)
                after.status = .major
                try append(store, incidentID: id, update(.escalated, at: t + 60_000_000, status: .major),
                                       tracking: after, outbox: [call("PATCH", at: t + 60_000_000)])
            }
            let store = try incidents(try backend.open(location, true))
            let stored = try #require(try store.openIncidents()["api"])
            #expect(stored.incident.id == id)
            #expect(stored.incident.status == .major)
            #expect(stored.incident.updates.map(\.kind) == [.opened, .escalated])
            #expect(stored.tracking.failedChecks == 7)
            #expect(stored.deliveries.map(\.method) == ["POST", "PATCH"])
        }
    }

    static func outboxOrder(_ backend: ConformanceBackend) throws {
        try backend.withStorage { storage, _ in
            let store = try incidents(storage)
            let a = try open(store, incident(probe: "a", at: t), tracking: tracking(at: t),
                                           outbox: [call("POST", at: t), call("POST", at: t, sink: "webhook:1")])
            try append(store, incidentID: a, update(.monitoring, at: t + 1, stage: .monitoring), tracking: tracking(at: t),
                                   outbox: [call("PATCH", at: t + 1), call("POST", at: t + 1, sink: "webhook:1")])
            let b = try open(store, incident(probe: "b", at: t + 2), tracking: tracking(at: t + 2),
                                           outbox: [call("POST", at: t + 2)])

            // Only the oldest undelivered call of each (incident, sink) is due.
            var due = try store.dueDeliveries(now: t + 10)
            #expect(due.map { "\($0.incidentID) \($0.sink) \($0.method)" }
                    == ["\(a) isdown POST", "\(a) webhook:1 POST", "\(b) isdown POST"])
            #expect(try store.undelivered().map(\.createdAt) == [t, t, t + 1, t + 1, t + 2], "oldest first")
            #expect(try store.undeliveredCounts() == OutboxCounts(pending: 5, failed: 0))

            for item in due { try store.recordAttempt(item.id, state: .delivered, nextAttemptAt: t, error: nil, at: t + 10) }
            due = try store.dueDeliveries(now: t + 10)
            #expect(due.map { "\($0.incidentID) \($0.sink) \($0.method)" } == ["\(a) isdown PATCH", "\(a) webhook:1 POST"])
            #expect(due.last.map { $0.createdAt } == t + 1, "the webhook's second call comes after its first")
        }
    }

    static func updateAndOutboxAreAtomic(_ backend: ConformanceBackend) throws {
        try backend.withStorage { storage, location in
            let store = try incidents(storage)
            let id = try open(store, incident(at: t), tracking: tracking(at: t), outbox: [call("POST", at: t)])
            let reader = try incidents(try backend.open(location, true))

            // A writer appends updates, each with two calls; a reader never sees an update without its calls.
            let updates = 150
            let done = DispatchSemaphore(value: 0)
            let failure = LockedValue<String?>(nil)
            DispatchQueue.global().async {
                defer { done.signal() }
                do {
                    for i in 1...updates {
                        try append(store, incidentID: id, update(.escalated, at: t + Int64(i)), tracking: tracking(at: t),
                                               outbox: [call("PATCH", at: t + Int64(i)), call("POST", at: t + Int64(i), sink: "webhook:1")])
                    }
                } catch {
                    failure.withLock { $0 = "\(error)" }
                }
            }
            var reads = 0
            var finished = false
            while !finished {
                finished = done.wait(timeout: .now()) == .success
                let seen = try #require(try reader.incident(id: id))
                let extraUpdates = seen.incident.updates.count - 1, extraCalls = seen.deliveries.count - 1
                #expect(extraCalls == 2 * extraUpdates, "read \(reads): \(extraUpdates) updates with \(extraCalls) calls")
                if extraCalls != 2 * extraUpdates { break }
                reads += 1
            }
            if !finished { done.wait() }
            #expect(failure.current == nil)
            let last = try #require(try reader.incident(id: id))
            #expect(last.incident.updates.count == updates + 1)
            #expect(last.deliveries.count == 2 * updates + 1)

            // A failing update (no such incident) leaves no calls behind.
            #expect(throws: (any Error).self) {
                try append(store, incidentID: id + 100, update(.escalated, at: t), tracking: tracking(at: t),
                                       outbox: [call("PATCH", at: t)])
            }
            #expect(try store.undelivered().count == 2 * updates + 1)
        }
    }

    static func retriesAndFailedRows(_ backend: ConformanceBackend) throws {
        try backend.withStorage { storage, _ in
            let store = try incidents(storage)
            let id = try open(store, incident(at: t), tracking: tracking(at: t), outbox: [call("POST", at: t)])
            try append(store, incidentID: id, update(.escalated, at: t + 1), tracking: tracking(at: t),
                                   outbox: [call("PATCH", at: t + 1)])
            let post = try #require(try store.dueDeliveries(now: t).first)

            // A retry is due later, and what follows it waits.
            try store.recordAttempt(post.id, state: .pending, nextAttemptAt: t + 100, error: "HTTP 503", at: t + 5)
            #expect(try store.dueDeliveries(now: t + 50).isEmpty)
            #expect(try store.nextDeliveryDue() == t + 100)
            let retried = try #require(try store.dueDeliveries(now: t + 100).first)
            #expect(retried.id == post.id)
            #expect(retried.attempts == 1)
            #expect(retried.lastError == "HTTP 503")

            // A failed call is not attempted again, and blocks its followers, until retried by hand.
            try store.recordAttempt(post.id, state: .failed, nextAttemptAt: t + 100, error: "HTTP 422: bad", at: t + 100)
            #expect(try store.dueDeliveries(now: t + 1_000).isEmpty)
            #expect(try store.undelivered().map(\.state) == [.failed, .pending])
            #expect(try store.undelivered().first?.lastError == "HTTP 422: bad")
            #expect(try store.undeliveredCounts() == OutboxCounts(pending: 1, failed: 1), "delivered calls are not counted")
            #expect(try store.retryFailed(now: t + 1_000) == 1)
            #expect(try store.dueDeliveries(now: t + 1_000).map(\.id) == [post.id])
            #expect(try store.retryFailed(now: t + 1_000) == 0)
        }
    }

    static func remoteIDRecordedOnce(_ backend: ConformanceBackend) throws {
        try backend.withStorage { storage, location in
            let store = try incidents(storage)
            let id = try open(store, incident(at: t), tracking: tracking(at: t), outbox: [call("POST", at: t)])
            try append(store, incidentID: id, update(.escalated, at: t + 1), tracking: tracking(at: t),
                                   outbox: [call("PATCH", at: t + 1)])
            #expect(try store.remoteID(incident: id) == nil)
            let post = try #require(try store.dueDeliveries(now: t).first)
            try store.recordAttempt(post.id, state: .delivered, nextAttemptAt: t, error: nil, at: t + 2, remoteID: "55001")
            #expect(try store.remoteID(incident: id) == "55001")

            // Later calls do not clear or replace it.
            let patch = try #require(try store.dueDeliveries(now: t + 2).first)
            #expect(patch.method == "PATCH")
            try store.recordAttempt(patch.id, state: .delivered, nextAttemptAt: t, error: nil, at: t + 3)
            let reopened = try incidents(try backend.open(location, true))
            #expect(try reopened.remoteID(incident: id) == "55001")
            #expect(try reopened.incident(id: id)?.isdownID == "55001")
        }
    }
}

extension IncidentConformance {
    static func baselineSkipsIncidents(_ backend: ConformanceBackend) throws {
        try backend.withStorage { storage, _ in
            let store = try incidents(storage)
            let hour: Int64 = 3_600_000_000
            let until = t + 6 * hour
            let samples = makeSamples(probe: "api", start: t, interval: 60_000_000, count: 360, failureRate: 0)
            try record(samples, into: storage)
            // An incident from its first degraded check at t+1h to its resolution at t+2h.
            var resolved = tracking(at: t + hour + 600_000_000)
            resolved.degradedSince = t + hour
            let id = try open(store, incident(at: t + hour + 600_000_000), tracking: resolved, outbox: [])
            resolved.stage = .resolved
            try append(store, incidentID: id, update(.resolved, at: t + 2 * hour, stage: .resolved),
                                   tracking: resolved, outbox: [])

            let baseline = try storage.baseline(probe: "api", until: until, span: 86_400_000_000, perHour: 60)
            let outside = samples.filter { $0.startedAt < t + hour || $0.startedAt > t + 2 * hour }
            #expect(baseline.checks == outside.count)
            #expect(baseline.checks < samples.count)
        }
    }
}
