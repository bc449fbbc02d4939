import Foundation
import ProberCore
@testable import ProberStore
import ProberStorage
import ProberTestSupport
import Testing

/// Issue 16, disk writes: the last day of rollup rows is kept in time order (`rollup_5m_recent`, `rollup_1h_recent`)
/// and each probe moves it to its own range once a day, at its own hour. Readers see every row once, wherever it is.
@Suite struct RecentRollupTests {
    let hour: Int64 = 3_600_000_000
    let minute: Int64 = 60_000_000
    /// A Monday at 00:00 UTC: hour number 472,344, a multiple of 24, so probe p's move hour is (24 - p % 24) o'clock.
    let start: Int64 = 1_700_438_400_000_000
    let probes = ["p1", "p2", "p3"]

    /// Three probes checked every 5 minutes for `hours` hours from `start`, written and folded.
    func storeWithChecks(hours: Int) throws -> (Store, TemporaryDirectory, [Sample]) {
        let directory = try TemporaryDirectory()
        let store = try Store(path: directory.path + "/prober.db")
        let samples = probes.enumerated().flatMap { i, name in
            makeSamples(probe: name, start: start + Int64(i) * 1_000_000, interval: 5 * minute, count: 12 * hours,
                        failureRate: 0.1, seed: UInt64(i + 1))
        }
        try fill(store, samples)
        return (store, directory, samples)
    }

    /// Maintenance at `k` hours and 3 minutes past `start` (past the rollup grace): the rollups reach hour `k`.
    func maintain(_ store: Store, at k: Int) throws {
        let report = try store.maintain(now: start + Int64(k) * hour + 3 * minute, policy: StoragePolicy())
        #expect(report.finished)
    }

    func id(_ store: Store, _ name: String) throws -> Int64 {
        try store.read { db in try #require(try store.probeID(name, create: false, db)) }
    }

    func count(_ store: Store, _ sql: String) throws -> Int64 {
        try store.read { db in try db.scalar(sql) ?? 0 }
    }

    /// Checks in `[start, start + k hours)` of `probe`, by the rollups (all of them, read through the store) and by the
    /// samples.
    func expectRollupsCover(_ store: Store, _ samples: [Sample], hours k: Int, sourceLocation: Testing.SourceLocation = #_sourceLocation) throws {
        for name in probes {
            let probe = try id(store, name)
            let raw = samples.filter { $0.probe == name && $0.startedAt < start + Int64(k) * hour }
            let (five, hourly) = try store.read { db in
                (try store.rollups(table: "rollup_5m", probe: probe, from: 0, to: .max, db),
                 try store.rollups(table: "rollup_1h", probe: probe, from: 0, to: .max, db))
            }
            #expect(five.count == 12 * k, "\(name)", sourceLocation: sourceLocation)
            #expect(hourly.count == k, "\(name)", sourceLocation: sourceLocation)
            #expect(five.map(\.0) == (0..<(12 * k)).map { start + Int64($0) * Store.bucket5m }, "\(name): in order, once each",
                    sourceLocation: sourceLocation)
            for rows in [five, hourly] {
                #expect(rows.reduce(0) { $0 + $1.1.checks } == raw.count, "\(name)", sourceLocation: sourceLocation)
                #expect(rows.reduce(0) { $0 + $1.1.failures } == raw.filter { !$0.ok }.count, "\(name)", sourceLocation: sourceLocation)
                #expect(rows.reduce(0) { $0 + $1.1.latencySum } == raw.filter(\.ok).compactMap(\.phases.total).reduce(0, +),
                        "\(name)", sourceLocation: sourceLocation)
            }
            // The `_all` views (for sqlite3) show the same rows.
            #expect(try count(store, "SELECT count(*) FROM rollup_5m_all WHERE probe_id = \(probe)") == Int64(12 * k),
                    sourceLocation: sourceLocation)
            #expect(try count(store, "SELECT sum(checks) FROM rollup_1h_all WHERE probe_id = \(probe)") == Int64(raw.count),
                    sourceLocation: sourceLocation)
        }
    }

    @Test func newRowsGoToTheRecentTablesAndEachProbeMovesItsDayAtItsOwnHour() throws {
        let (store, directory, samples) = try storeWithChecks(hours: 24)
        defer { directory.remove() }
        let (p1, p2, p3) = (try id(store, "p1"), try id(store, "p2"), try id(store, "p3"))
        #expect([p1, p2, p3] == [1, 2, 3])

        // The first pass meets the probes: their first hour goes to the main tables, and the rows after it will be recent.
        try maintain(store, at: 1)
        #expect(try count(store, "SELECT count(*) FROM rollup_5m") == 3 * 12)
        #expect(try count(store, "SELECT count(DISTINCT recent_from) FROM rollup_marks") == 1)
        #expect(try count(store, "SELECT min(recent_from) FROM rollup_marks") == start + hour)
        try expectRollupsCover(store, samples, hours: 1)

        for k in 2...20 { try maintain(store, at: k) }
        #expect(try count(store, "SELECT count(*) FROM rollup_5m") == 3 * 12, "no probe's hour yet")
        #expect(try count(store, "SELECT count(*) FROM rollup_5m_recent") == 3 * 12 * 19)
        #expect(try count(store, "SELECT count(*) FROM rollup_1h_recent") == 3 * 19)
        try expectRollupsCover(store, samples, hours: 20)

        // 21:00 is p3's hour (472,365 + 3 = 0 mod 24), 22:00 p2's, 23:00 p1's: each moves what it has, up to that hour.
        try maintain(store, at: 21)
        #expect(try count(store, "SELECT count(*) FROM rollup_5m WHERE probe_id = \(p3)") == 12 * 21)
        #expect(try count(store, "SELECT count(*) FROM rollup_1h WHERE probe_id = \(p3)") == 21)
        #expect(try count(store, "SELECT count(*) FROM rollup_5m WHERE probe_id = \(p2)") == 12)
        #expect(try count(store, "SELECT recent_from FROM rollup_marks WHERE probe_id = \(p3)") == start + 21 * hour)
        try expectRollupsCover(store, samples, hours: 21)
        try maintain(store, at: 22)
        try maintain(store, at: 23)
        for (probe, moved) in [(p1, 23), (p2, 22), (p3, 21)] {
            #expect(try count(store, "SELECT count(*) FROM rollup_5m WHERE probe_id = \(probe)") == Int64(12 * moved))
            #expect(try count(store, "SELECT count(*) FROM rollup_1h WHERE probe_id = \(probe)") == Int64(moved))
        }
        try expectRollupsCover(store, samples, hours: 23)

        // The next pass deletes the recent hours every probe has moved past (before 21:00), and only those.
        try maintain(store, at: 24)
        #expect(try count(store, "SELECT min(hour) FROM rollup_5m_recent") == Store.hourNumber(start + 21 * hour))
        #expect(try count(store, "SELECT min(hour) FROM rollup_1h_recent") == Store.hourNumber(start + 21 * hour))
        try expectRollupsCover(store, samples, hours: 24)

        // History and the overview read across the split.
        let history = try #require(try store.history(probe: "p2", since: start, until: start + 24 * hour, every: hour))
        #expect(history.buckets.count == 24)
        #expect(history.buckets.reduce(0) { $0 + $1.checks } == samples.filter { $0.probe == "p2" && $0.startedAt < start + 24 * hour }.count)
        let overview = try #require(try store.overview(probes: ["p1"], days: 2, now: start + 24 * hour + 3 * minute)["p1"])
        #expect(overview.days.map(\.checks) == [12 * 24, 0])
        #expect(overview.hourlyP95.prefix(23).allSatisfy { $0 != nil }, "01:00-23:00, all rolled up")
    }

    @Test func aProbeThatMissedItsHourMovesOnceItsRowsSpanADay() throws {
        let (store, directory, samples) = try storeWithChecks(hours: 30)
        defer { directory.remove() }
        try maintain(store, at: 1)
        // The prober was stopped for more than a day: every probe's recent rows, 29 hours of them, move at the next pass
        // whatever its hour, and the one after deletes them from the recent tables.
        try maintain(store, at: 30)
        #expect(try count(store, "SELECT count(*) FROM rollup_5m") == 3 * 12 * 30)
        #expect(try count(store, "SELECT count(*) FROM rollup_1h") == 3 * 30)
        #expect(try count(store, "SELECT min(recent_from) FROM rollup_marks") == start + 30 * hour)
        try maintain(store, at: 30)
        #expect(try count(store, "SELECT count(*) FROM rollup_5m_recent") == 0)
        #expect(try count(store, "SELECT count(*) FROM rollup_1h_recent") == 0)
        try expectRollupsCover(store, samples, hours: 30)
    }

    @Test func aLateCheckIsMergedIntoItsRecentRowOnce() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(path: directory.path + "/prober.db")
        let all = makeSamples(probe: "p1", start: start, interval: minute, count: 180, seed: 5)
        let late = all[130] // 02:10, written after its hour was rolled up into the recent tables
        try fill(store, all.filter { $0.startedAt != late.startedAt })
        try maintain(store, at: 1)
        try maintain(store, at: 3)
        let bucket = Store.floor(late.startedAt, Store.bucket5m)
        #expect(try count(store, "SELECT count(*) FROM rollup_5m_recent WHERE bucket = \(bucket) AND probe_id = 1") == 1)
        func rollup(_ table: String, _ at: Int64) throws -> Aggregate? {
            try store.read { db in try store.rollups(table: table, probe: 1, from: at, to: at + 1, db).first?.1 }
        }
        #expect(try rollup("rollup_5m", bucket)?.checks == 4)
        #expect(try rollup("rollup_1h", start + 2 * hour)?.checks == 59)
        let writer = SampleWriter(store: store)
        writer.append(late)
        try writer.close()
        let again = SampleWriter(store: store)
        again.append(late) // the same microsecond again: replaces the sample, counted once
        try again.close()
        #expect(try rollup("rollup_5m", bucket)?.checks == 5)
        #expect(try rollup("rollup_1h", start + 2 * hour)?.checks == 60)
        #expect(try count(store, "SELECT count(*) FROM rollup_5m WHERE bucket = \(bucket)") == 0, "still in the recent table")
        #expect(try count(store, "SELECT count(*) FROM rollup_5m_all WHERE bucket = \(bucket)") == 1)
    }

    @Test func theFirstPassStartsRecentRowsPastEveryRowInTheMainTables() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(path: directory.path + "/prober.db")
        try fill(store, makeSamples(probe: "p1", start: start, interval: 5 * minute, count: 12, seed: 4))
        // Rows an older version wrote while the clock was 3 hours ahead, then stepped back.
        try store.write { db in
            try db.execute("""
                INSERT INTO rollup_5m(probe_id, bucket, checks, failures, lat_n) VALUES (1, \(start + 3 * hour + 10 * minute), 7, 0, 0);
                INSERT INTO rollup_marks(probe_id, rolled_5m, rolled_1h) VALUES (1, \(start + 3 * hour + 15 * minute), \(start + 3 * hour));
                """)
        }
        try maintain(store, at: 1)
        #expect(try count(store, "SELECT recent_from FROM rollup_marks") == start + 4 * hour)
        let rows = try store.read { db in try store.rollups(table: "rollup_5m", probe: 1, from: 0, to: .max, db) }
        #expect(rows.contains { $0.0 == start + 3 * hour + 10 * minute && $0.1.checks == 7 })
    }
}
