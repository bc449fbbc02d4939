import Foundation
import Logging
import ProberCore
import ProberDelivery
@testable import ProberEngine
import ProberStorage
import ProberStore
import ProberTestSupport
import Testing

/// The tracker with a real SQLite store: probes failing at one endpoint for one reason share one stored
/// incident, announced once; a restart continues it.
@Suite struct IncidentTrackerGroupsTests {
    let t0: Int64 = 1_800_000_000_000_000
    static let names = ["orders", "billing", "carts", "search", "users"]

    func spec(_ name: String, service: Int? = 1234) -> ProbeSpec {
        var s = ProbeSpec(name: name, target: .tcp(TCPTarget(host: "db.internal", port: 5432)), interval: .seconds(10),
                          timeout: .seconds(2))
        s.incident.window = 5
        s.incident.minor = Threshold(latency: nil, failures: 2)
        s.incident.major = Threshold(latency: nil, failures: 4)
        s.incident.holdFor = .seconds(20)
        s.incident.resolveAfter = .seconds(60)
        s.incident.serviceID = service
        return s
    }

    /// Each probe checked every 10 s from `range`, a little apart (as the scheduler spreads them), through the
    /// writer (so a restart rebuilds from them) and the tracker.
    func feed(_ tracker: IncidentTracker, _ writer: SampleWriter, _ names: [String], _ range: StrideTo<Int64>, ok: Bool) throws {
        for t in range {
            for (i, name) in names.enumerated() {
                let s = Sample(probe: name, startedAt: t0 + t * 1_000_000 + Int64(i) * 100_000,
                               failure: ok ? nil : Failure(.connectRefused, "connection refused"), phases: Phases(total: 1_000))
                writer.append(s)
                tracker.record(s)
            }
        }
        tracker.sync()
        try writer.flush()
    }

    @Test func fiveProbesOneIncidentOnePost() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(path: directory.url.appendingPathComponent("prober.db").path)
        let writer = SampleWriter(store: store)
        let tracker = IncidentTracker(store: store, logger: Logger(label: "test"))
        tracker.update(probes: Self.names.map { spec($0) }, sinks: [IsDownSink()])
        try feed(tracker, writer, Self.names, stride(from: 0, to: 60, by: 10), ok: false)

        let incidents = try store.incidents(since: nil)
        #expect(incidents.count == 1)
        let stored = try #require(incidents.first)
        #expect(stored.incident.title == "db.internal:5432 refuses connections")
        #expect(stored.incident.probes == Self.names)
        #expect(stored.incident.description.hasPrefix(
            "db.internal:5432 refuses connections: 5 probes failing: orders, billing, carts, search, users."))
        #expect(stored.deliveries.filter { $0.method == "POST" }.count == 1)
        let post = try #require(stored.deliveries.first)
        #expect(post.body.contains("5 probes failing: orders, billing, carts, search, users."))
        // Every member sees the one incident.
        let snapshot = tracker.snapshot()
        #expect(Set(Self.names.compactMap { snapshot[$0]?.incident?.id }) == [stored.incident.id])

        try feed(tracker, writer, Self.names, stride(from: 60, to: 200, by: 10), ok: true)
        let after = try store.incidents(since: nil)
        #expect(after.count == 1)
        let resolved = try #require(after.first)
        #expect(resolved.incident.stage == .resolved)
        #expect(resolved.incident.updates.filter { $0.kind == .resolved }.count == 1)
        #expect(resolved.incident.updates.filter { $0.kind == .opened }.count == 1)
        #expect(resolved.incident.updates.last?.description.hasPrefix("Resolved: all 5 probes healthy since") == true)
        #expect(resolved.deliveries.filter { $0.method == "POST" }.count == 1)
        #expect(try store.openIncidents().isEmpty)
    }

    @Test func separateServicesSeparateIncidents() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(path: directory.url.appendingPathComponent("prober.db").path)
        let writer = SampleWriter(store: store)
        let tracker = IncidentTracker(store: store, logger: Logger(label: "test"))
        tracker.update(probes: [spec("orders", service: 1), spec("billing", service: 1), spec("carts", service: 2)],
                       sinks: [IsDownSink()])
        try feed(tracker, writer, ["orders", "billing", "carts"], stride(from: 0, to: 60, by: 10), ok: false)
        let incidents = try store.incidents(since: nil).sorted { $0.incident.id < $1.incident.id }
        #expect(incidents.map(\.incident.probes).sorted { $0.count > $1.count } == [["orders", "billing"], ["carts"]])
        // carts alone: its own incident, written as any probe's.
        #expect(incidents.contains { $0.incident.title == "carts: checks failing" })
    }

    @Test func aRestartContinuesTheSharedIncident() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.url.appendingPathComponent("prober.db").path
        let names = Array(Self.names.prefix(3))
        do {
            let store = try Store(path: path)
            let writer = SampleWriter(store: store)
            let tracker = IncidentTracker(store: store, logger: Logger(label: "test"))
            tracker.update(probes: names.map { spec($0) }, sinks: [IsDownSink()])
            try feed(tracker, writer, names, stride(from: 0, to: 60, by: 10), ok: false)
            #expect(try store.openIncidents().count == 3)
        }
        let store = try Store(path: path)
        let writer = SampleWriter(store: store)
        let tracker = IncidentTracker(store: store, logger: Logger(label: "test"))
        tracker.update(probes: names.map { spec($0) }, sinks: [IsDownSink()])
        // Still failing after the restart: no second incident. Then one recovers (it leaves), then all.
        try feed(tracker, writer, names, stride(from: 60, to: 90, by: 10), ok: false)
        try feed(tracker, writer, ["orders"], stride(from: 90, to: 200, by: 10), ok: true)
        try feed(tracker, writer, ["billing", "carts"], stride(from: 90, to: 200, by: 10), ok: false)
        var incidents = try store.incidents(since: nil)
        #expect(incidents.count == 1)
        #expect(incidents.first?.incident.probes == ["billing", "carts"])
        #expect(incidents.first?.incident.updates.contains { $0.kind == .left && $0.description.hasPrefix("orders recovered.") } == true)
        try feed(tracker, writer, ["orders", "billing", "carts"], stride(from: 200, to: 400, by: 10), ok: true)
        incidents = try store.incidents(since: nil)
        #expect(incidents.count == 1)
        #expect(incidents.first?.incident.stage == .resolved)
        #expect(incidents.first?.deliveries.filter { $0.method == "POST" }.count == 1)
    }

    @Test func removedMembersLeaveAndTheLastResolves() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(path: directory.url.appendingPathComponent("prober.db").path)
        let writer = SampleWriter(store: store)
        let tracker = IncidentTracker(store: store, logger: Logger(label: "test"))
        let names = Array(Self.names.prefix(3))
        tracker.update(probes: names.map { spec($0) }, sinks: [IsDownSink()])
        try feed(tracker, writer, names, stride(from: 0, to: 60, by: 10), ok: false)
        tracker.update(probes: [spec("billing"), spec("carts")], sinks: [IsDownSink()])
        var stored = try #require(try store.incidents(since: nil).first)
        #expect(stored.incident.probes == ["billing", "carts"])
        #expect(stored.incident.updates.last?.description
            == "orders was removed from the probe files. db.internal:5432 refuses connections: 2 probes failing: billing, carts.")
        tracker.update(probes: [], sinks: [IsDownSink()])
        stored = try #require(try store.incidents(since: nil).first)
        #expect(try store.incidents(since: nil).count == 1)
        #expect(stored.incident.stage == .resolved)
        #expect(stored.incident.updates.map(\.kind).suffix(2) == [.left, .resolved])
        // billing and carts go in the order the tracker finds them: either is the last.
        let last = try #require(stored.incident.updates.last?.description)
        #expect(last.hasPrefix("Resolved: carts, the last of its probes, was removed from the probe files. Impact: ")
            || last.hasPrefix("Resolved: billing, the last of its probes, was removed from the probe files. Impact: "), "\(last)")
        #expect(stored.deliveries.last?.method == "PATCH")
        #expect(try store.openIncidents().isEmpty)
    }
}
