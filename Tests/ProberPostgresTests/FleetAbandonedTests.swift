import Foundation
import Logging
import ProberCore
import ProberDelivery
@testable import ProberEngine
import ProberPostgres
import ProberStorage
import ProberTestSupport
import Synchronization
import Testing

/// The fleet's incident of a probe that no location runs any more (every prober that ran it is gone): a prober
/// sweeping the fleet resolves it once no location has published the probe for `abandonedAfter`, and announces it
/// to the sinks that were told of it. The sweeps are run by hand on the tracker's queue, with a clock the test
/// moves, so nothing waits for time.
@Suite("Fleet: incidents no location runs")
struct FleetAbandonedTests {
    /// A clock the test sets.
    final class TestNow: Sendable {
        let value: Atomic<Int64>
        init(_ t: Int64) { value = Atomic(t) }
        func callAsFunction() -> Int64 { value.load(ordering: .relaxed) }
        func set(_ t: Int64) { value.store(t, ordering: .relaxed) }
    }

    func spec(_ name: String) -> ProbeSpec {
        var s = ProbeSpec(name: name, target: .http(HTTPTarget(url: "http://127.0.0.1:9/\(name)")),
                          interval: .seconds(10), timeout: .seconds(1))
        s.incident.window = 2
        s.incident.minor = Threshold(latency: nil, failures: 1)
        s.incident.major = Threshold(latency: nil, failures: 2)
        s.incident.holdFor = .zero
        return s
    }

    @Test func anIncidentNoLocationRunsIsResolvedAfterAnHourAndAnnounced() throws {
        let cluster = try TestPostgres.shared()
        let name = try cluster.makeDatabase()
        defer { cluster.dropDatabase(name) }
        let url = cluster.socketURL(name)
        let hook = NotifySink(webhook: "http://127.0.0.1:9/hook", headers: [], probes: ["api", "other"])
        let t0 = Int64(Date().timeIntervalSince1970 * 1_000_000)

        // Location a runs `api`, opens its incident (told to the webhook), then stops for good.
        let a = try PostgresStore(url: url, site: "a")
        do {
            let ta = IncidentTracker(store: a, logger: Logger(label: "a"), location: "a", sweepInterval: .seconds(3_600), now: { t0 })
            ta.update(probes: [spec("api")], sinks: [WebhookSink(hook)])
            ta.record(Sample(probe: "api", startedAt: t0, failure: Failure(.httpStatus, "got 503"), phases: Phases(total: 3_000), status: 503))
            ta.sync()
            ta.stop()
        }
        let opened = try #require(try a.openIncidents()["api"])
        #expect(opened.deliveries.map(\.sink).contains(WebhookSink(hook).name))

        // Location b runs only `other`; its sweeps leave `api` alone while a published it within the hour.
        let now = TestNow(t0 + IncidentTracker.abandonedAfter - 60_000_000)
        let b = try PostgresStore(url: url, site: "b")
        let tb = IncidentTracker(store: b, logger: Logger(label: "b"), location: "b", sweepInterval: .seconds(3_600), now: { now() })
        tb.update(probes: [spec("other")], sinks: [WebhookSink(hook)])
        tb.queue.sync { tb.sweep() }
        #expect(try b.openIncidents()["api"] != nil, "a published api less than an hour ago: it still counts as running it")

        // Past the hour: b's next look (at most a minute later) resolves it, once, and tells the webhook.
        let later = t0 + IncidentTracker.abandonedAfter + 120_000_000
        now.set(later)
        tb.queue.sync { tb.sweep() }
        #expect(try b.openIncidents()["api"] == nil)
        let stored = try #require(try b.incident(id: opened.incident.id))
        #expect(stored.incident.updates.map(\.kind) == [.opened, .resolved])
        #expect(stored.incident.resolvedAt == later)
        #expect(stored.incident.updates.last?.description.contains("no location has run the probe api for over an hour") == true)
        let resolution = stored.deliveries.filter { $0.createdAt == later }
        #expect(resolution.map(\.method) == ["POST"])
        #expect(resolution.allSatisfy { $0.body.contains("\"resolved\"") })

        // Later sweeps find nothing more to do.
        now.set(later + 3_600_000_000)
        tb.queue.sync { tb.sweep() }
        #expect(try b.incident(id: opened.incident.id)?.incident.updates.count == 2)
    }

    @Test func aProbeThisProberStillRunsIsNotAbandoned() throws {
        let cluster = try TestPostgres.shared()
        let name = try cluster.makeDatabase()
        defer { cluster.dropDatabase(name) }
        let url = cluster.socketURL(name)
        let t0 = Int64(Date().timeIntervalSince1970 * 1_000_000)
        let now = TestNow(t0)
        let a = try PostgresStore(url: url, site: "a")
        let ta = IncidentTracker(store: a, logger: Logger(label: "a"), location: "a", sweepInterval: .seconds(3_600), now: { now() })
        ta.update(probes: [spec("api")], sinks: [])
        ta.record(Sample(probe: "api", startedAt: t0, failure: Failure(.httpStatus, "got 503"), phases: Phases(total: 3_000), status: 503))
        ta.sync()
        #expect(try a.openIncidents()["api"] != nil)
        // Its episode is older than an hour (no checks came in), but it is in this prober's files: not abandoned.
        now.set(t0 + 2 * IncidentTracker.abandonedAfter)
        ta.queue.sync { ta.sweep() }
        #expect(try a.openIncidents()["api"] != nil)
    }
}
