import Foundation
import ProberTestSupport
import Logging
import ProberCore
import ProberDelivery
@testable import ProberEngine
import ProberStorage
import ProberStore
import XCTest

/// The tracker with a real SQLite store: evaluator events become stored incidents and queued deliveries,
/// and a restart continues the open incident.
final class IncidentTrackerTests: XCTestCase {
    let t0: Int64 = 1_800_000_000_000_000
    var directory: TemporaryDirectory?
    var path = ""

    override func setUpWithError() throws {
        let directory = try TemporaryDirectory()
        self.directory = directory
        path = directory.url.appendingPathComponent("prober.db").path
    }

    override func tearDown() { directory?.remove() }

    func spec(serviceID: Int? = 1234) -> ProbeSpec {
        var s = ProbeSpec(name: "api", target: .http(HTTPTarget(url: "http://user:pw@127.0.0.1:9/health?key=secret")),
                          interval: .seconds(10), timeout: .seconds(2))
        s.incident.window = 5
        s.incident.minor = Threshold(latency: .milliseconds(500), failures: 2)
        s.incident.major = Threshold(latency: nil, failures: 4)
        s.incident.holdFor = .seconds(20)
        s.incident.resolveAfter = .seconds(60)
        s.incident.serviceID = serviceID
        return s
    }

    /// The sinks the tracker queues calls for (IsDown's configuration matters only when sending).
    func sinks(_ webhooks: [NotifySink]) -> [any Sink] { [IsDownSink()] + webhooks.map(WebhookSink.init) }

    func sample(_ t: Int64, ok: Bool) -> Sample {
        Sample(probe: "api", startedAt: t0 + t * 1_000_000, failure: ok ? nil : Failure(.httpStatus, "expected 2xx, got 503"),
               phases: Phases(dns: 100, connect: 200, processing: 1_000, transfer: 100, total: ok ? 1_500 : 3_000),
               status: ok ? 200 : 503)
    }

    /// Feeds samples through the writer (so a later tracker can rebuild from them) and the tracker.
    func feed(_ tracker: IncidentTracker, _ writer: SampleWriter, _ range: StrideTo<Int64>, ok: Bool) throws {
        for t in range {
            let s = sample(t, ok: ok)
            writer.append(s)
            tracker.record(s)
        }
        tracker.sync()
        try writer.flush()
    }

    func testOpensEscalatesAndQueuesDeliveries() throws {
        let store = try Store(path: path)
        let writer = SampleWriter(store: store)
        let tracker = IncidentTracker(store: store, logger: Logger(label: "test"))
        let webhook = NotifySink(webhook: "http://127.0.0.1:9/hook?token=abc", headers: [], probes: ["api"])
        tracker.update(probes: [spec()], sinks: sinks([webhook]))
        try feed(tracker, writer, stride(from: 0, to: 100, by: 10), ok: false)

        let incidents = try store.incidents(since: nil)
        XCTAssertEqual(incidents.count, 1)
        let stored = try XCTUnwrap(incidents.first)
        XCTAssertEqual(stored.incident.updates.map(\.kind), [.opened, .escalated])
        XCTAssertEqual(stored.incident.status, .major)
        XCTAssertEqual(stored.incident.title, "api: checks failing")
        XCTAssertEqual(stored.deliveries.map { "\($0.sink.prefix(7)):\($0.method)" },
                       ["isdown:POST", "webhook:POST", "isdown:PATCH", "webhook:POST"])
        let post = try XCTUnwrap(stored.deliveries.first)
        XCTAssertTrue(post.body.contains(#""service_id":1234"#))
        XCTAssertTrue(post.body.contains(#""resolution_stage":"investigating""#))
        for item in stored.deliveries {
            XCTAssertFalse(item.body.contains("secret") || item.body.contains("pw@") || item.sink.contains("token"), item.body)
        }
        XCTAssertEqual(tracker.snapshot()["api"]?.level, .major)
        XCTAssertEqual(tracker.levels()["api"]?.level, .major)
        XCTAssertEqual(tracker.levels()["api"]?.incident, tracker.snapshot()["api"]?.incident?.status)
        XCTAssertNotNil(tracker.levels()["api"]?.incident)
    }

    func testWithoutServiceIDNothingIsQueuedForIsDown() throws {
        let store = try Store(path: path)
        let tracker = IncidentTracker(store: store, logger: Logger(label: "test"))
        tracker.update(probes: [spec(serviceID: nil)], sinks: sinks([]))
        try feed(tracker, SampleWriter(store: store), stride(from: 0, to: 100, by: 10), ok: false)
        XCTAssertEqual(try store.incidents(since: nil).count, 1)
        XCTAssertTrue(try store.undelivered().isEmpty)
    }

    func testRestartContinuesTheOpenIncident() throws {
        do {
            let store = try Store(path: path)
            let writer = SampleWriter(store: store)
            let tracker = IncidentTracker(store: store, logger: Logger(label: "test"))
            tracker.update(probes: [spec()], sinks: sinks([]))
            try feed(tracker, writer, stride(from: 0, to: 40, by: 10), ok: false)
            XCTAssertEqual(try store.openIncidents().count, 1)
            try writer.close()
        }
        // A new process: same database, new tracker. More failures, then recovery.
        let store = try Store(path: path)
        let writer = SampleWriter(store: store)
        let tracker = IncidentTracker(store: store, logger: Logger(label: "test"))
        tracker.update(probes: [spec()], sinks: sinks([]))
        XCTAssertNotNil(tracker.snapshot()["api"]?.incident)
        try feed(tracker, writer, stride(from: 40, to: 100, by: 10), ok: false)
        try feed(tracker, writer, stride(from: 100, to: 300, by: 10), ok: true)

        let incidents = try store.incidents(since: nil)
        XCTAssertEqual(incidents.count, 1, "a restart must not open a duplicate")
        XCTAssertEqual(incidents[0].incident.updates.map(\.kind), [.opened, .escalated, .monitoring, .resolved])
        XCTAssertEqual(incidents[0].incident.stage, .resolved)
        XCTAssertTrue(incidents[0].incident.updates.last!.description.contains("10 failed checks"),
                      incidents[0].incident.updates.last!.description)
    }
}
