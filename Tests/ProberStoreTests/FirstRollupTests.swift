import Foundation
import ProberCore
import ProberStorage
import ProberStorageConformance
@testable import ProberStore
import ProberTestSupport
import Testing

/// A probe's first 5-minute rollup (no watermark yet) starts from its oldest sample wherever it is: in a folded
/// block, in the recent rows (a late check written after its window was folded), or both. `maintain` finds the
/// recent ones by one scan for every probe, not a lookup a probe; a probe whose samples all start after the horizon
/// has nothing due.
@Suite struct FirstRollupTests {
    /// A quarter of an hour before a Monday's 00:00 UTC, so buckets line up with the data and the hour that
    /// 5-minute rows wait for ends at t0 + 15 min.
    let t0: Int64 = 1_700_438_400_000_000 - 15 * 60_000_000
    let minute: Int64 = 60_000_000

    /// Checks in the probe's 5-minute rows.
    func rolledUp(_ store: Store, _ probe: String) throws -> Int {
        try store.read { db in
            let id = try #require(try store.probeID(probe, create: false, db))
            return try store.rollups(table: "rollup_5m", probe: id, from: 0, to: .max, db).reduce(0) { $0 + $1.1.checks }
        }
    }

    @Test("rolls up from the oldest sample, folded or recent, with or without a restart", arguments: [false, true])
    func fromTheOldestSample(restart: Bool) throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path + "/prober.db"
        // The writer's clock: windows before t0 + 15 min are folded by the first commit; the rollup horizon of
        // maintenance at this time is t0 + 15 min too.
        let now = t0 + 20 * minute
        var store = try Store(path: path, clock: CommitLagTests.FixedClock(at: now))
        try record(makeSamples(probe: "folded", start: t0, interval: minute, count: 10, seed: 1)
                   + makeSamples(probe: "both", start: t0 + 5 * minute, interval: minute, count: 10, seed: 2)
                   + makeSamples(probe: "new", start: t0 + 16 * minute, interval: minute, count: 4, seed: 3), into: store)
        // Late checks, written after their windows were folded: they stay recent rows until the next fold.
        try record(makeSamples(probe: "late", start: t0 + 2 * minute, interval: minute, count: 10, seed: 4)
                   + makeSamples(probe: "both", start: t0 + 30_000_000, interval: minute, count: 5, seed: 5), into: store)
        let recent = try store.read { db in try db.scalar("SELECT count(*) FROM sample_recent WHERE ts < ?1", [t0 + 15 * minute]) }
        #expect(recent == 15, "the late checks are recent rows")
        if restart { store = try Store(path: path, clock: CommitLagTests.FixedClock(at: now)) }

        try store.maintain(now: now, policy: StoragePolicy())
        #expect(try rolledUp(store, "folded") == 10)
        #expect(try rolledUp(store, "late") == 10)
        #expect(try rolledUp(store, "both") == 15)
        #expect(try rolledUp(store, "new") == 0)
        // 5-minute rows are made an hour at a time: "new" waits for the end of its hour, and its grace.
        try store.maintain(now: t0 + 75 * minute + 119_000_000, policy: StoragePolicy())
        #expect(try rolledUp(store, "new") == 0)
        try store.maintain(now: t0 + 77 * minute, policy: StoragePolicy())
        #expect(try rolledUp(store, "new") == 4)
    }

    @Test("a row committed after a maintenance pass's scan is later than the scan, even after a fold emptied the recent rows")
    func laterCommitsAfterAFold() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let now = t0 + 20 * minute
        let store = try Store(path: directory.path + "/prober.db", clock: CommitLagTests.FixedClock(at: now))
        try record(makeSamples(probe: "api", start: t0 + 16 * minute, interval: minute, count: 4), into: store)
        let scan = try store.write { db in try store.recentScan(before: t0 + 15 * minute, db) }
        #expect(scan.firsts.isEmpty)
        // A fold that takes every recent row, as the writer's does after a pause of the checks.
        try store.queue.sync { try store.fold(before: now) }
        #expect(try store.read { db in try db.scalar("SELECT count(*) FROM sample_recent") } == 0)
        try record(makeSamples(probe: "api", start: t0 + 3 * minute, interval: minute, count: 1, seed: 2), into: store)
        let late = try store.read { db in
            try store.recentSamples(probe: try #require(try store.probeID("api", create: false, db)), from: .min,
                                    to: t0 + 15 * minute, after: scan.lastSeq, db)
        }
        #expect(late.map(\.ts) == [t0 + 3 * minute], "the late check is seen as written after the scan")
    }
}
