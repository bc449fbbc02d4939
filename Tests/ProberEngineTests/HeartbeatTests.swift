import Foundation
import Logging
import ProberCore
@testable import ProberEngine
import ProberStorage
import ProberStore
import ProberTestSupport
import Synchronization
import Testing

/// The heartbeat `prober fleet` reads, into a real SQLite file: a beat at start and a last one at stop, marked
/// stopped, whose tick lateness covers only the ticks since the beat before.
@Suite struct HeartbeatTests {
    @Test func beatsAtStartAndStopWithTheLatenessSinceThePreviousBeat() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let store = try Store(path: dir.path + "/prober.db")
        var quick = LatenessHistogram()
        for _ in 0..<200 { quick.record(100) }
        let reading = Mutex(Heartbeat.Reading(probes: 3, lateness: quick, ingest: IngestStatistics(pending: 5, spooled: 2)))
        // An hour between beats: only the start's and the stop's happen.
        let heartbeat = Heartbeat(directory: store, location: "here", every: .seconds(3_600), logger: Logger(label: "test")) {
            reading.withLock { $0 }
        }
        heartbeat.start()
        #expect(waitUntil(timeout: .seconds(10)) { (try? store.probers().count) == 1 })
        let first = try #require(try store.probers().first)
        #expect(first.location == "here" && first.probes == 3 && first.pending == 5 && first.spooled == 2 && !first.stopped)
        #expect(first.every == 3_600_000_000 && first.pid == Int(getpid()) && first.version == proberVersion)
        #expect(try #require(first.latenessP99) <= 128, "200 ticks 100 µs late: \(String(describing: first.latenessP99))")

        // Fifty ticks 50 ms late after the first beat: the last beat's p99 is theirs, not diluted by the 200 before.
        reading.withLock { r in
            for _ in 0..<50 { r.lateness.record(50_000) }
            r.probes = 4
        }
        heartbeat.stop()
        let last = try #require(try store.probers().first)
        #expect(last.stopped && last.probes == 4)
        #expect(try #require(last.latenessP99) >= 50_000, "\(String(describing: last.latenessP99))")
        #expect(last.startedAt == first.startedAt && last.at >= first.at)
        heartbeat.stop() // idempotent
    }

    @Test func theLatenessSinceAnEarlierCopyCountsOnlyTheNewTicks() {
        var h = LatenessHistogram()
        for _ in 0..<99 { h.record(20) }
        let earlier = h
        h.record(1_000_000)
        let since = h.since(earlier)
        #expect(since.count == 1 && since.sum == 1_000_000)
        #expect(since.p99 == 1_000_000)
        #expect(h.p99 < 1_000_000, "over all 100 ticks the slow one is the 1 %")
        #expect(h.since(h).count == 0)
    }
}
