import Foundation
import ProberCore
@testable import ProberStore
import ProberStorage
import ProberTestSupport
import Testing

/// Issue 15: the daily rollup behind the status page's uptime bars (schema v5), written by maintenance from
/// the 1-hour rollups, backfilled by the migration, pruned with the 1-hour retention, and merged late checks.
@Suite struct DailyRollupTests {
    let minute: Int64 = 60_000_000
    let hour: Int64 = 3_600_000_000
    let day: Int64 = 86_400_000_000
    /// A Monday at 00:00 UTC.
    let start: Int64 = 1_700_438_400_000_000

    /// (day, checks, failures) of every `rollup_1d` row of "api", oldest first, and the probe's `rolled_1d`.
    func days(_ store: Store) throws -> (rows: [[Int64]], rolled: Int64?) {
        try store.read { db in
            let id = try #require(try store.probeID("api", create: false, db))
            let select = try db.prepare("SELECT bucket, checks, failures FROM rollup_1d WHERE probe_id = ?1 ORDER BY bucket")
            try select.bind(1, id)
            var rows: [[Int64]] = []
            while try select.step() { rows.append([select.int64(0), select.int64(1), select.int64(2)]) }
            select.reset()
            return (rows, try store.watermarks(id, db).rolled1d)
        }
    }

    /// The expected rows: each whole day of `samples` before `end`.
    func expected(_ samples: [Sample], days range: Range<Int>) -> [[Int64]] {
        range.map { d in
            let from = start + Int64(d) * day
            let inside = samples.filter { $0.startedAt >= from && $0.startedAt < from + day }
            return [from, Int64(inside.count), Int64(inside.filter { !$0.ok }.count)]
        }
    }

    func write(_ store: Store, _ samples: [Sample]) throws {
        let writer = SampleWriter(store: store)
        for sample in samples { writer.append(sample) }
        try writer.close()
    }

    func maintainUntilDone(_ store: Store, now: Int64, policy: StoragePolicy = StoragePolicy()) throws {
        for _ in 0..<100 {
            if try store.maintain(now: now, policy: policy).finished { return }
        }
        Issue.record("maintenance did not finish in 100 calls")
    }

    @Test func maintenanceSumsEachWholeDayOfHoursAndALateCheckCountsInItsDay() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(path: directory.path + "/prober.db")
        // Five and a half days, a check every 5 minutes; the last one written late.
        let all = makeSamples(probe: "api", start: start, interval: 5 * minute, count: 5 * 288 + 144, failureRate: 0.1, seed: 15)
        let late = all[300]
        try write(store, all.filter { $0.startedAt != late.startedAt })
        try maintainUntilDone(store, now: start + 5 * day + 12 * hour)
        // Day 5 is not whole in the hourly table yet: it stays there.
        var got = try days(store)
        #expect(got.rolled == start + 5 * day)
        var want = expected(all, days: 0..<5)
        want[1][1] -= 1
        if !late.ok { want[1][2] -= 1 }
        #expect(got.rows == want)

        try write(store, [late])
        got = try days(store)
        #expect(got.rows == expected(all, days: 0..<5), "the late check counts in its day")

        // The next day once its hours are all rolled up; nothing counted twice.
        let more = makeSamples(probe: "api", start: start + 5 * day + 12 * hour, interval: 5 * minute, count: 144, seed: 16)
        try write(store, more)
        try maintainUntilDone(store, now: start + 6 * day + hour)
        got = try days(store)
        #expect(got.rolled == start + 6 * day)
        #expect(got.rows == expected(all + more, days: 0..<6))
    }

    @Test func theMigrationBackfillsWholeDaysFromTheHourlyRollups() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path + "/prober.db"
        // A version 4 history: 3.5 days of hourly rollups, rolled up to 12:00 of the fourth day.
        let rolled1h = start + 3 * day + 12 * hour
        do {
            let connection = try migratedConnection(at: path, version: 4)
            try connection.execute("""
                INSERT INTO probes(id, name, created_at, rolled_5m, rolled_1h) VALUES (1, 'api', \(start), \(rolled1h), \(rolled1h));
                INSERT INTO probes(id, name, created_at) VALUES (2, 'new', \(start));
                """)
            var hour = start
            var i: Int64 = 0
            while hour < rolled1h {
                try connection.execute("""
                    INSERT INTO rollup_1h(probe_id, bucket, checks, failures, lat_n) VALUES (1, \(hour), 60, \(i % 3), 0)
                    """)
                hour += self.hour
                i += 1
            }
        }
        let store = try Store(path: path)
        let got = try days(store)
        #expect(got.rolled == start + 3 * day)
        let failures: [Int64] = (0..<84).map { Int64($0 % 3) }
        let want: [[Int64]] = (0..<3).map { (d: Int) -> [Int64] in
            let sum: Int64 = failures[(d * 24)..<(d * 24 + 24)].reduce(0, +)
            return [start + Int64(d) * day, 24 * 60, sum]
        }
        #expect(got.rows == want)

        // The overview reads the days from the daily rows and the fourth from the hourly ones.
        let overview = try #require(try store.overview(probes: ["api", "new"], days: 5, now: rolled1h)["api"])
        #expect(overview.days.map(\.checks) == [0, 1_440, 1_440, 1_440, 720])
        let dayFailures: [Int64] = overview.days.map { Int64($0.failures) }
        let today: Int64 = failures[72...].reduce(0, +)
        #expect(dayFailures == [0] + want.map { $0[2] } + [today])
        // Maintenance continues from the backfilled watermark without counting a day twice.
        try maintainUntilDone(store, now: rolled1h + hour)
        #expect(try days(store).rows == want)
    }

    @Test func daysGoWithTheHourlyRetention() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(path: directory.path + "/prober.db")
        let all = makeSamples(probe: "api", start: start, interval: 5 * minute, count: 8 * 288, seed: 17)
        try write(store, all)
        let now = start + 8 * day + hour
        try maintainUntilDone(store, now: now)
        #expect(try days(store).rows == expected(all, days: 0..<8))

        var short = StoragePolicy()
        short.raw = .seconds(3 * 86_400)
        short.rollup5m = .seconds(4 * 86_400)
        short.rollup1h = .seconds(5 * 86_400)
        try maintainUntilDone(store, now: now, policy: short)
        // Retention moves a day at a time: 01:00 of day 3 rounds down to its 00:00, so day 3 stays whole, with its hours.
        #expect(try days(store).rows == expected(all, days: 3..<8))
        // The next day the cutoff passes day 3's end: its day and its hours go together.
        try maintainUntilDone(store, now: now + day, policy: short)
        #expect(try days(store).rows == expected(all, days: 4..<8))
    }
}
