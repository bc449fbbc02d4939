import Foundation
import Logging
import ProberCore
import ProberDelivery
@testable import ProberEngine
import ProberStorage
import ProberStore
import ProberTestSupport
import Synchronization
import Testing

/// The tracker when storage refuses incident changes: none is lost, none overtakes another. Storage is the
/// real SQLite store behind a conformer that refuses `record` on demand (as SQLite does when another
/// process holds the write lock past the busy timeout).
@Suite("Incident tracker while storage fails")
struct IncidentTrackerStorageFailureTests {
    let t0: Int64 = 1_800_000_000_000_000
    let hook = NotifySink(webhook: "http://127.0.0.1:9/hook", headers: [], probes: ["api"])

    func spec() -> ProbeSpec {
        var s = ProbeSpec(name: "api", target: .http(HTTPTarget(url: "http://127.0.0.1:9/health")), interval: .seconds(10), timeout: .seconds(2))
        s.incident.window = 5
        s.incident.minor = Threshold(latency: .milliseconds(500), failures: 2)
        s.incident.major = Threshold(latency: nil, failures: 4)
        s.incident.holdFor = .seconds(20)
        s.incident.resolveAfter = .seconds(60)
        s.incident.serviceID = 1234
        return s
    }

    func feed(_ tracker: IncidentTracker, _ range: StrideTo<Int64>, ok: Bool) {
        for t in range {
            tracker.record(Sample(probe: "api", startedAt: t0 + t * 1_000_000, failure: ok ? nil : Failure(.httpStatus, "expected 2xx, got 503"),
                                  phases: Phases(dns: 100, connect: 200, processing: 1_000, transfer: 100, total: ok ? 1_500 : 3_000),
                                  status: ok ? 200 : 503))
        }
        tracker.sync()
    }

    func tracker(_ storage: any IncidentStorage) -> IncidentTracker {
        let tracker = IncidentTracker(store: storage, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        tracker.update(probes: [spec()], sinks: [IsDownSink(), WebhookSink(hook)])
        return tracker
    }

    /// The one incident stored, with the webhook documents' ids checked against it.
    func storedIncident(_ store: Store) throws -> StoredIncident {
        let incidents = try store.incidents(since: nil, openOnly: false)
        try #require(incidents.count == 1, "one incident, got \(incidents.count)")
        let stored = incidents[0]
        for item in stored.deliveries where item.sink == hook.key {
            let document = try #require(try JSONSerialization.jsonObject(with: Data(item.body.utf8)) as? [String: Any])
            #expect((document["data"] as? [String: Any])?["id"] as? String == String(stored.incident.id))
        }
        return stored
    }

    @Test("changes refused while opening and escalating are stored, in order, with the next check after storage recovers")
    func heldThenStored() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(path: directory.path + "/prober.db")
        let storage = RefusingIncidentStorage(store)
        let tracker = tracker(storage)

        storage.refuse(true)
        feed(tracker, stride(from: 0, to: 60, by: 10), ok: false)
        #expect(storage.refused >= 1)
        #expect(try store.incidents(since: nil, openOnly: false).isEmpty)

        storage.refuse(false)
        feed(tracker, stride(from: 60, to: 300, by: 10), ok: true)
        let stored = try storedIncident(store)
        #expect(stored.incident.updates.map(\.kind) == [.opened, .escalated, .monitoring, .resolved])
        #expect(stored.incident.updates.map(\.createdAt).sorted() == stored.incident.updates.map(\.createdAt))
        #expect(stored.deliveries.map { "\($0.sink.prefix(7)):\($0.method)" } ==
                ["isdown:POST", "webhook:POST", "isdown:PATCH", "webhook:POST", "isdown:PATCH", "webhook:POST", "isdown:PATCH", "webhook:POST"])
    }

    @Test("a whole incident refused, opening to resolution, is stored once storage recovers, as one incident")
    func wholeIncidentHeld() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(path: directory.path + "/prober.db")
        let storage = RefusingIncidentStorage(store)
        let tracker = tracker(storage)

        storage.refuse(true)
        feed(tracker, stride(from: 0, to: 100, by: 10), ok: false)
        feed(tracker, stride(from: 100, to: 300, by: 10), ok: true)
        #expect(storage.refused >= 4)
        #expect(try store.incidents(since: nil, openOnly: false).isEmpty)

        storage.refuse(false)
        feed(tracker, stride(from: 300, to: 310, by: 10), ok: true)
        let stored = try storedIncident(store)
        #expect(stored.incident.updates.map(\.kind) == [.opened, .escalated, .monitoring, .resolved])
        #expect(stored.incident.stage == .resolved)
        #expect(tracker.snapshot()["api"]?.incident == nil)
    }
}

/// The real store, refusing to record incident changes while told to. Reads go through.
final class RefusingIncidentStorage: IncidentStorage {
    struct Refused: Error {}
    private let store: Store
    private let state = Mutex((refusing: false, refused: 0))

    init(_ store: Store) { self.store = store }

    func refuse(_ refusing: Bool) { state.withLock { $0.refusing = refusing } }
    var refused: Int { state.withLock { $0.refused } }

    func record(_ change: IncidentChange) throws -> Int64 {
        let refuse = state.withLock { s -> Bool in
            if s.refusing { s.refused += 1 }
            return s.refusing
        }
        if refuse { throw Refused() }
        return try store.record(change)
    }
    func openIncidents() throws -> [String: StoredIncident] { try store.openIncidents() }
    func incidents(since: Int64?, openOnly: Bool) throws -> [StoredIncident] { try store.incidents(since: since, openOnly: openOnly) }
    func incident(id: Int64) throws -> StoredIncident? { try store.incident(id: id) }
    func failureCount(probe: String, since: Int64) throws -> Int { try store.failureCount(probe: probe, since: since) }
    func recentSamples(probe: String, limit: Int) throws -> [Sample] { try store.recentSamples(probe: probe, limit: limit) }
    func baseline(probe: String, until: Int64) throws -> Baseline { try store.baseline(probe: probe, until: until) }
    func autoReference(probe: String, location: String?, at: Int64) throws -> AutoReference {
        try store.autoReference(probe: probe, location: location, at: at)
    }
    func learningProbes(now: Int64) throws -> Set<String> { try store.learningProbes(now: now) }
}
