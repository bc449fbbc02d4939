import Foundation
import Logging
import ProberCore
import ProberDelivery
@testable import ProberEngine
import ProberStorage
import ProberStore
import ProberTestSupport
import Testing

/// The tracker in maintenance windows and silences, with a real SQLite store.
@Suite("Incident tracker: maintenance windows and silences")
struct IncidentTrackerQuietTests {
    let t0: Int64 = 1_800_000_000_000_000

    /// Every 10 s; minor at 2 failures of 5, major at 4; `for` 20 s.
    func spec(_ maintenance: [MaintenanceWindow] = []) -> ProbeSpec {
        var s = ProbeSpec(name: "api", target: .http(HTTPTarget(url: "http://127.0.0.1:9/health")), interval: .seconds(10), timeout: .seconds(2))
        s.incident.window = 5
        s.incident.minor = Threshold(latency: nil, failures: 2)
        s.incident.major = Threshold(latency: nil, failures: 4)
        s.incident.holdFor = .seconds(20)
        s.incident.resolveAfter = .seconds(60)
        s.incident.serviceID = 7
        s.maintenance = maintenance
        return s
    }

    func failing(_ seconds: StrideTo<Int64>) -> [Sample] {
        seconds.map { Sample(probe: "api", startedAt: t0 + $0 * 1_000_000, failure: Failure(.connect, "refused"), phases: Phases(total: 1_000)) }
    }

    func withTracker(_ spec: ProbeSpec, _ body: (IncidentTracker, Store) throws -> Void) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let store = try Store(path: dir.url.appendingPathComponent("prober.db").path)
        let tracker = IncidentTracker(store: store, logger: Logger(label: "test"))
        tracker.update(probes: [spec], sinks: [IsDownSink()])
        try body(tracker, store)
    }

    func feed(_ tracker: IncidentTracker, _ samples: [Sample]) {
        for s in samples { tracker.record(s) }
        tracker.sync()
    }

    @Test("a silence that starts during an open incident adds one note, and nothing escalates or changes after it")
    func silenceDuringAnOpenIncident() throws {
        try withTracker(spec()) { tracker, store throws in
            // After a pass at 0, failing from 10: minor from 20 (2 failures), opened at 40 (held 20 s).
            feed(tracker, [Sample(probe: "api", startedAt: t0, failure: nil, phases: Phases(total: 1_000))])
            feed(tracker, failing(stride(from: 10, to: 50, by: 10)))
            #expect(try store.incidents(since: nil).first?.incident.updates.map(\.kind) == [.opened])
            // Silenced from 45 for 10 minutes; it would escalate to major at 60 (4 failures at 40, held 20 s).
            let silence = Silence(id: 3, probes: ["api"], reason: "deploy", startsAt: t0 + 45_000_000, endsAt: t0 + 645_000_000,
                                  liftedAt: nil, createdBy: "ops@host")
            tracker.silence([silence])
            feed(tracker, failing(stride(from: 50, to: 300, by: 10)))
            let incident = try #require(try store.incidents(since: nil).first)
            #expect(incident.incident.updates.map(\.kind) == [.opened, .noted])
            #expect(incident.incident.status == .minor)
            let note = try #require(incident.incident.updates.last)
            #expect(note.description == "Maintenance started (silenced by prober silence #3: deploy, until 08:10 UTC); checks go on, nothing escalates.")
            #expect(note.createdAt == t0 + 50_000_000)
            #expect(note.stage == .investigating)
            // Delivered as an update: IsDown gets the note on the incident's timeline.
            #expect(incident.deliveries.map(\.method) == ["POST", "PATCH"])
            #expect(incident.deliveries.last?.body.contains("Maintenance started") == true)
            #expect(tracker.quietPeriods()["api"]?.reason == .silenced)
            #expect(tracker.quietPeriods()["api"]?.until == t0 + 645_000_000)
        }
    }

    @Test("a silence or window that ends while the target is still down opens `for` after its end", arguments: ["silence", "window"])
    func endsWhileStillDown(_ kind: String) throws {
        let end = t0 + 100_000_000
        let window = MaintenanceWindow(.once(start: t0, end: end))
        try withTracker(spec(kind == "window" ? [window] : [])) { tracker, store throws in
            if kind == "silence" {
                tracker.silence([Silence(id: 1, probes: [], reason: "", startsAt: t0, endsAt: end, liftedAt: nil, createdBy: "ops@host")])
            }
            feed(tracker, failing(stride(from: 0, to: 100, by: 10)))
            #expect(try store.incidents(since: nil).isEmpty)
            #expect(tracker.quietPeriods()["api"]?.reason == (kind == "window" ? .maintenance : .silenced))
            feed(tracker, failing(stride(from: 100, to: 200, by: 10)))
            let incidents = try store.incidents(since: nil)
            #expect(incidents.count == 1)
            // Degraded (major) since the first check after the end, at 100: opened 20 s later, no note (nothing was open).
            #expect(incidents.first?.incident.createdAt == t0 + 120_000_000)
            #expect(incidents.first?.incident.status == .major)
            #expect(incidents.first?.incident.updates.map(\.kind) == [.opened])
            #expect(tracker.quietPeriods().isEmpty)
        }
    }

    @Test("a silence for other probes changes nothing")
    func otherProbes() throws {
        try withTracker(spec()) { tracker, store throws in
            tracker.silence([Silence(id: 1, probes: ["web"], reason: "", startsAt: t0, endsAt: t0 + 1_000_000_000, liftedAt: nil, createdBy: "")])
            feed(tracker, failing(stride(from: 0, to: 60, by: 10)))
            #expect(try store.incidents(since: nil).first?.incident.createdAt == t0 + 30_000_000)
            #expect(tracker.quietPeriods().isEmpty)
        }
    }
}
