import Dispatch
import Foundation
import ProberCore
import ProberStorage
import ProberStorageConformance
@testable import ProberStore
import ProberTestSupport
import Testing

/// Rollups and retention with a real SQLite file while the wall clock steps: a clock far ahead prunes
/// nothing, samples written after a step back are rolled up.
@Suite("Maintenance across wall-clock steps")
final class MaintenanceClockStepTests {
    /// A Monday at 00:00 UTC, so buckets line up with the data.
    let t0: Int64 = 1_700_438_400_000_000
    let minute: Int64 = 60_000_000
    let hour: Int64 = 3_600_000_000
    let day: Int64 = 86_400_000_000
    let directory: TemporaryDirectory

    init() throws { directory = try TemporaryDirectory() }

    deinit { directory.remove() }

    /// Rows and checks in one rollup table.
    func rollups(_ store: Store, _ table: String) throws -> (rows: Int, checks: Int) {
        try store.read { db in
            let rows = try store.rollups(table: table, probe: store.probeID("api", create: false, db)!, from: 0, to: .max, db)
            return (rows.count, rows.reduce(0) { $0 + $1.1.checks })
        }
    }

    /// The (wall, monotonic) readings of successive runs; the last one repeats.
    final class Readings: @unchecked Sendable { // guarded by lock
        private let lock = NSLock()
        private var script: [(wall: Int64, monotonic: Int64)]
        private var current: (wall: Int64, monotonic: Int64)
        init(_ script: [(wall: Int64, monotonic: Int64)]) {
            self.script = script
            current = script[0]
        }
        func wall() -> Int64 {
            lock.withLock {
                if !script.isEmpty { current = script.removeFirst() }
                return current.wall
            }
        }
        func monotonic() -> Int64 { lock.withLock { current.monotonic } }
    }

    @Test("a clock two years ahead while running prunes no history")
    func farAhead() throws {
        let store = try Store(path: directory.path + "/prober.db")
        try record(makeSamples(probe: "api", start: t0, interval: 5 * minute, count: 4 * 288), into: store)
        let now = t0 + 4 * day
        let readings = Readings([(now, 0), (now + 2 * 365 * day, minute)])
        let reports = MaintenanceWorkerTests.Reports()
        let worker = MaintenanceWorker(storage: store, policy: StoragePolicy(),
                                       schedule: .init(firstRun: .zero, interval: .milliseconds(20), budget: .seconds(5)),
                                       now: readings.wall, monotonic: readings.monotonic, report: reports.add)
        worker.start()
        defer { worker.stop() }
        let first = try #require(reports.next()).get()
        #expect(first.rolled1h == 4 * 24 - 1)
        let before = try rollups(store, "rollup_1h")
        for _ in 0..<3 {
            let report = try #require(reports.next()).get()
            #expect(report.prunedSamples == 0 && report.pruned5m == 0 && report.pruned1h == 0)
        }
        #expect(try rollups(store, "rollup_1h") == before)
        #expect(try store.recentSamples(probe: "api", limit: 10_000).count == 4 * 288)
    }

    @Test("samples written after the clock went back an hour are rolled up")
    func stepBack() throws {
        let store = try Store(path: directory.path + "/prober.db")
        let first = makeSamples(probe: "api", start: t0, interval: minute, count: 120, seed: 1)
        try record(first, into: store)
        try store.maintain(now: t0 + 2 * hour + 10 * minute, policy: StoragePolicy())
        #expect(try rollups(store, "rollup_5m").checks == 120)
        #expect(try rollups(store, "rollup_1h").checks == 120)

        // Back an hour: checks labelled 01:10 to 01:40 again, between the first ones, with maintenance every
        // minute as the daemon runs it.
        for sample in makeSamples(probe: "api", start: t0 + hour + 10 * minute + 30_000_000, interval: minute, count: 30, seed: 2) {
            try record([sample], into: store)
            try store.maintain(now: sample.startedAt + 30_000_000, policy: StoragePolicy())
        }
        let later = t0 + hour + 40 * minute
        let step = 10 * minute
        for now in stride(from: later, through: t0 + 4 * hour, by: Int(step)) {
            try store.maintain(now: now, policy: StoragePolicy())
        }
        #expect(try rollups(store, "rollup_5m").checks == 150)
        #expect(try rollups(store, "rollup_1h").checks == 150)
    }
}
