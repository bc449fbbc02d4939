import Foundation
import Logging
import ProberCore
import ProberDelivery
import ProberEngine
import ProberStorage
import ProberStore
import ProberTestSupport
import Testing

/// A probe removed (or renamed) with its incident open, on a reload or while prober was stopped: the incident
/// is resolved with a note saying why, and the resolution is queued for every sink that was told of it.
@Suite("Incident tracker: removed probes")
final class IncidentTrackerRemovalTests {
    let t0: Int64 = 1_800_000_000_000_000
    let directory: TemporaryDirectory
    let store: Store
    let webhook = NotifySink(webhook: "http://127.0.0.1:9/hook", headers: [], probes: ["api"])

    init() throws {
        directory = try TemporaryDirectory()
        store = try Store(path: directory.path + "/prober.db")
    }

    deinit { directory.remove() }

    func spec(_ name: String = "api") -> ProbeSpec {
        var s = ProbeSpec(name: name, target: .http(HTTPTarget(url: "http://127.0.0.1:9/health")),
                          interval: .seconds(10), timeout: .seconds(2))
        s.incident.window = 5
        s.incident.minor = Threshold(latency: nil, failures: 2)
        s.incident.major = Threshold(latency: nil, failures: 5)
        s.incident.holdFor = .seconds(20)
        s.incident.serviceID = 1234
        return s
    }

    func tracker(_ storage: (any IncidentStorage)? = nil) -> IncidentTracker {
        IncidentTracker(store: storage ?? store, logger: Logger(label: "test"), now: { [t0] in t0 + 3_600_000_000 })
    }

    /// Opens an incident of `api` through a tracker fed failing checks.
    func openIncident(_ tracker: IncidentTracker) throws -> Int64 {
        tracker.update(probes: [spec()], sinks: [IsDownSink(), WebhookSink(webhook)])
        for t in stride(from: Int64(0), to: 60, by: 10) {
            tracker.record(Sample(probe: "api", startedAt: t0 + t * 1_000_000, failure: Failure(.httpStatus, "got 503"),
                                  phases: Phases(total: 3_000), status: 503))
        }
        tracker.sync()
        let open = try #require(try store.openIncidents()["api"])
        return open.incident.id
    }

    func expectResolvedAsRemoved(_ id: Int64) throws {
        let stored = try #require(try store.incident(id: id))
        #expect(stored.incident.stage == .resolved)
        #expect(stored.incident.resolvedAt == t0 + 3_600_000_000)
        let last = try #require(stored.incident.updates.last)
        #expect(last.kind == .resolved)
        #expect(last.description.contains("removed from the probe files"))
        #expect(try store.openIncidents()["api"] == nil)
        // The resolution goes to IsDown (a PATCH of the create) and to the webhook that announced it.
        let resolution = stored.deliveries.filter { $0.createdAt == t0 + 3_600_000_000 }
        #expect(resolution.map { "\($0.sink.prefix(7)):\($0.method)" }.sorted() == ["isdown:PATCH", "webhook:POST"])
        #expect(resolution.allSatisfy { $0.body.contains("resolved") })
    }

    @Test("a reload without the probe resolves its open incident and delivers that")
    func reloadResolves() throws {
        let tracker = tracker()
        let id = try openIncident(tracker)
        tracker.update(probes: [spec("other")], sinks: [IsDownSink()])
        try expectResolvedAsRemoved(id)
        // Another reload does not resolve it again.
        tracker.update(probes: [spec("third")], sinks: [IsDownSink()])
        #expect(try store.incident(id: id)?.incident.updates.count(where: { $0.kind == .resolved }) == 1)
    }

    @Test("a resolution held while storage fails is stored once, however many reloads come before")
    func heldResolution() throws {
        let refusing = RefusingIncidentStorage(store)
        let tracker = tracker(refusing)
        let id = try openIncident(tracker)
        refusing.refuse(true)
        tracker.update(probes: [spec("other")], sinks: [IsDownSink()])
        // Still open in the database: neither this reload nor the next may resolve it a second time.
        tracker.update(probes: [spec("third")], sinks: [IsDownSink()])
        refusing.refuse(false)
        tracker.record(Sample(probe: "third", startedAt: t0 + 7_200_000_000, phases: Phases(total: 1_000), status: 200))
        tracker.sync()
        try expectResolvedAsRemoved(id)
        #expect(try store.incident(id: id)?.incident.updates.count(where: { $0.kind == .resolved }) == 1)
    }

    @Test("an incident resolved while storage fails is not resolved again as removed by a reload")
    func heldOrdinaryResolution() throws {
        let refusing = RefusingIncidentStorage(store)
        let tracker = tracker(refusing)
        var s = spec()
        s.incident.resolveAfter = .seconds(40)
        tracker.update(probes: [s], sinks: [IsDownSink()])
        for t in stride(from: Int64(0), to: 60, by: 10) {
            tracker.record(Sample(probe: "api", startedAt: t0 + t * 1_000_000, failure: Failure(.httpStatus, "got 503"),
                                  phases: Phases(total: 3_000), status: 503))
        }
        tracker.sync()
        let id = try #require(try store.openIncidents()["api"]).incident.id
        refusing.refuse(true)
        for t in stride(from: Int64(60), to: 200, by: 10) {
            tracker.record(Sample(probe: "api", startedAt: t0 + t * 1_000_000, phases: Phases(total: 1_000), status: 200))
        }
        tracker.sync()
        #expect(try store.openIncidents()["api"] != nil, "the resolution is held")
        tracker.update(probes: [spec("other")], sinks: [IsDownSink()])
        refusing.refuse(false)
        tracker.record(Sample(probe: "other", startedAt: t0 + 7_200_000_000, phases: Phases(total: 1_000), status: 200))
        tracker.sync()
        let updates = try #require(try store.incident(id: id)).incident.updates
        #expect(updates.map(\.kind) == [.opened, .monitoring, .resolved])
        #expect(updates.last?.description.contains("removed") == false)
    }

    @Test("a restart without the probe resolves the incident still open in the database")
    func restartResolves() throws {
        let id = try openIncident(tracker())
        // The new probe files renamed `api`; the webhook no longer lists it but was told of the incident.
        let renamed = NotifySink(webhook: webhook.webhook, headers: [], probes: ["api-v2"])
        tracker().update(probes: [spec("api-v2")], sinks: [IsDownSink(), WebhookSink(renamed)])
        try expectResolvedAsRemoved(id)
    }
}
