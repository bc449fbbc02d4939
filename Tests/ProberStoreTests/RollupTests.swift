import Foundation
import ProberCore
@testable import ProberStore
import ProberStorage
import XCTest

final class RollupTests: XCTestCase {
    let day: Int64 = 86_400_000_000
    let hour: Int64 = 3_600_000_000
    /// A Monday at 00:00 UTC, so buckets line up with the data.
    let start: Int64 = 1_700_438_400_000_000

    func testHourlyRollupsMatchRawComputations() throws {
        let path = try temporaryDatabase(self)
        let store = try Store(path: path)
        let samples = makeSamples(probe: "api", start: start, interval: 20_000_000, count: 6 * 180, failureRate: 0.08, seed: 7)
            + makeSamples(probe: "db", start: start + 3_000_000, interval: 60_000_000, count: 6 * 60, failureRate: 0.02, seed: 8)
        try fill(store, samples)
        let report = try store.maintain(now: start + 7 * hour, policy: StoragePolicy())
        XCTAssertTrue(report.finished)
        XCTAssertEqual(report.rolled5m, 2 * 6 * 12)
        XCTAssertEqual(report.rolled1h, 2 * 6)

        for probe in ["api", "db"] {
            let rows = try store.read { db in
                try store.rollups(table: "rollup_1h", probe: store.probeID(probe, create: false, db)!, from: 0, to: .max, db)
            }
            XCTAssertEqual(rows.count, 6, probe)
            for (bucket, rollup) in rows {
                let raw = samples.filter { $0.probe == probe && $0.startedAt >= bucket && $0.startedAt < bucket + hour }
                let ok = raw.filter(\.ok).compactMap(\.phases.total)
                XCTAssertEqual(rollup.checks, raw.count)
                XCTAssertEqual(rollup.failures, raw.filter { !$0.ok }.count)
                var reasons: [Int: Int] = [:]
                for s in raw { if let f = s.failure { reasons[f.reason.code, default: 0] += 1 } }
                XCTAssertEqual(rollup.reasons, reasons)
                XCTAssertEqual(rollup.latencyMin, ok.min())
                XCTAssertEqual(rollup.latencyMax, ok.max())
                XCTAssertEqual(rollup.latencySum, ok.reduce(0, +))
                for p in [0.5, 0.95, 0.99] {
                    assertWithin(rollup.percentile(p), exactPercentile(ok, p), relative: LatencyHistogram.relativeError,
                                 "\(probe) p\(Int(p * 100)) at \(bucket)")
                }
                let dns = raw.filter(\.ok).compactMap(\.phases.dns)
                XCTAssertEqual(rollup.mean(phase: .dns), dns.reduce(0, +) / Int64(dns.count))
            }
        }
    }

    func testHistoryFromRollupsAgreesWithRaw() throws {
        let path = try temporaryDatabase(self)
        let store = try Store(path: path)
        let samples = makeSamples(probe: "api", start: start, interval: 60_000_000, count: 5 * 1_440, seed: 3)
        try fill(store, samples)
        let end = start + 5 * day
        try store.maintain(now: end + hour, policy: StoragePolicy())

        // 5 days: more than 3 days, so rollups; automatic buckets of 3 h, so 1-hour rollups.
        let history = try XCTUnwrap(try store.history(probe: "api", since: start, until: end))
        XCTAssertEqual(history.sources, [.rollup1h])
        XCTAssertEqual(history.every, 10_800_000_000)
        XCTAssertEqual(history.buckets.count, 40)
        // With 30-minute buckets, 5-minute rollups; the same checks either way.
        let fine = try XCTUnwrap(try store.history(probe: "api", since: start, until: end, every: 1_800_000_000))
        XCTAssertEqual(fine.sources, [.rollup5m])
        XCTAssertEqual(fine.buckets.count, 240)
        XCTAssertEqual(fine.summary.checks, history.summary.checks)
        XCTAssertEqual(fine.summary.latency.max, history.summary.latency.max)
        XCTAssertFalse(history.summary.exact)
        let ok = samples.filter(\.ok).compactMap(\.phases.total)
        XCTAssertEqual(history.summary.checks, samples.count)
        XCTAssertEqual(history.summary.failures, samples.count - ok.count)
        XCTAssertEqual(history.summary.failuresByReason.map(\.count).reduce(0, +), samples.count - ok.count)
        XCTAssertEqual(history.summary.latency.max, ok.max())
        for (p, value) in [(0.5, history.summary.latency.p50), (0.95, history.summary.latency.p95), (0.99, history.summary.latency.p99)] {
            assertWithin(value, exactPercentile(ok, p), relative: LatencyHistogram.relativeError, "p\(p)")
        }
        for bucket in history.buckets {
            let raw = samples.filter { $0.startedAt >= bucket.start && $0.startedAt < bucket.start + history.every }
            XCTAssertEqual(bucket.checks, raw.count)
            assertWithin(bucket.latency.p95, exactPercentile(raw.filter(\.ok).compactMap(\.phases.total), 0.95),
                         relative: LatencyHistogram.relativeError, "bucket p95")
        }

        // A phase other than total from rollups: only its mean is known.
        let dns = try XCTUnwrap(try store.history(probe: "api", since: start, until: end, phase: .dns))
        let okDNS = samples.filter(\.ok).compactMap(\.phases.dns)
        XCTAssertNil(dns.summary.latency.p50)
        XCTAssertEqual(dns.summary.latency.mean, okDNS.reduce(0, +) / Int64(okDNS.count))
        XCTAssertEqual(dns.summary.phaseMedians.first { $0.phase == .dns }?.microseconds, dns.summary.latency.mean)

        // The last day: raw, exact.
        let recent = try XCTUnwrap(try store.history(probe: "api", since: end - day, until: end, every: hour))
        XCTAssertEqual(recent.sources, [.raw])
        XCTAssertTrue(recent.summary.exact)
        let lastDay = samples.filter { $0.startedAt >= end - day }
        XCTAssertEqual(recent.summary.checks, lastDay.count)
        XCTAssertEqual(recent.summary.latency.p95, exactPercentile(lastDay.filter(\.ok).compactMap(\.phases.total), 0.95))
        XCTAssertEqual(recent.summary.phaseMedians.first { $0.phase == .dns }?.microseconds,
                       exactPercentile(lastDay.filter(\.ok).compactMap(\.phases.dns), 0.5))

        // 60 days: 1-hour rollups, and nothing is counted twice.
        let long = try XCTUnwrap(try store.history(probe: "api", since: end - 60 * day, until: end))
        XCTAssertEqual(long.sources, [.rollup1h])
        XCTAssertEqual(long.summary.checks, samples.count)
    }

    func testRetentionPrunesOnlyWhatIsRolledUpAndKeepsEveryCheckCounted() throws {
        let path = try temporaryDatabase(self)
        let store = try Store(path: path)
        store.maintenanceSlice = 0 // a transaction a step: the chunks show as transactions
        let samples = makeSamples(probe: "web", start: start, interval: 300_000_000, count: 10 * 288, seed: 5)
        try fill(store, samples)
        var policy = StoragePolicy()
        policy.raw = .seconds(2 * 86_400)
        policy.rollup5m = .seconds(4 * 86_400)
        let now = start + 10 * day
        var report = try store.maintain(now: now, policy: policy)
        XCTAssertTrue(report.finished)
        XCTAssertGreaterThan(report.transactions, 5) // chunks of at most 5,000 rows
        let raw = try RawConnection(path)
        XCTAssertEqual(try store.recentSamples(probe: "web", limit: .max).first?.startedAt, now - 2 * day)
        XCTAssertEqual(try raw.int("SELECT min(bucket) FROM rollup_5m"), now - 4 * day)
        XCTAssertEqual(try raw.int("SELECT sum(checks) FROM rollup_1h"), Int64(samples.count - 12)) // the last hour is not rolled to 1 h yet
        XCTAssertEqual(report.prunedSamples, 8 * 288)

        // Every check is still counted once over the whole range, whatever the tables.
        for range in [3 * day, 9 * day, 12 * day, 60 * day] {
            let history = try XCTUnwrap(try store.history(probe: "web", since: now - range, until: now))
            let expected = samples.filter { $0.startedAt >= Store.floor(now - range, Store.bucket1h) }.count
            XCTAssertEqual(history.summary.checks, expected, "range \(range / day) d via \(history.sources)")
        }

        // 1-hour rollups expire too; a second run has nothing left to do.
        policy.rollup1h = .seconds(5 * 86_400)
        report = try store.maintain(now: now, policy: policy)
        XCTAssertEqual(try raw.int("SELECT min(bucket) FROM rollup_1h"), now - 5 * day)
        report = try store.maintain(now: now, policy: policy)
        XCTAssertEqual(report.prunedSamples + report.pruned5m + report.pruned1h + report.rolled5m + report.rolled1h, 0)
    }

    func testMaintenanceIsIncrementalAndResumable() throws {
        // Same data in two files: one maintained in a single call, one in many zero-budget calls.
        let samples = makeSamples(probe: "a", start: start, interval: 10_000_000, count: 3 * 8_640, seed: 11)
            + makeSamples(probe: "b", start: start, interval: 60_000_000, count: 3 * 1_440, seed: 12)
        var policy = StoragePolicy()
        policy.raw = .seconds(86_400)
        let now = start + 3 * day
        var counts: [[Int64?]] = []
        for incremental in [false, true] {
            let path = try temporaryDatabase(self)
            let store = try Store(path: path)
            try fill(store, samples)
            var calls = 0
            if incremental {
                var report: MaintenanceReport
                repeat {
                    report = try store.maintain(now: now, policy: policy, budget: .zero)
                    calls += 1
                } while !report.finished && calls < 10_000
                XCTAssertTrue(report.finished)
                XCTAssertGreaterThan(calls, 5) // more than 5,000 raw rows per probe: several chunks
            } else {
                XCTAssertTrue(try store.maintain(now: now, policy: policy).finished)
            }
            let raw = try RawConnection(path)
            let stored = try store.recentSamples(probe: "a", limit: .max).count + store.recentSamples(probe: "b", limit: .max).count
            counts.append(try [Int64(stored)] + ["SELECT sum(checks) FROM rollup_5m", "SELECT count(*) FROM rollup_5m",
                               "SELECT sum(checks) FROM rollup_1h", "SELECT sum(lat_sum) FROM rollup_1h"].map { try raw.int($0) as Int64? })
        }
        XCTAssertEqual(counts[0], counts[1])
        // Everything but the last hour (360 samples of "a", 60 of "b"): 5-minute rows are made an hour at a time, and
        // that hour's last bucket is still open.
        XCTAssertEqual(counts[0][1], Int64(samples.count - 420))
    }

    func testHistogramEncodingRoundTrips() {
        var a = Aggregate()
        for v: Int64 in [0, 1, 2, 15, 999, 1_000, 65_000, 5_000_000, 500_000_000_000] {
            a.add(reason: 0, phases: Phases(dns: v, total: v))
        }
        a.add(reason: FailureReason.timeout.code, phases: Phases())
        let b = Aggregate(checks: a.checks, failures: a.failures, reasons: a.encodedReasons()!, latencyCount: a.latencyCount,
                          min: a.latencyMin, max: a.latencyMax, sum: a.latencySum, histogram: a.encodedHistogram()!,
                          phases: a.encodedPhases()!)
        XCTAssertEqual(b.histogram, a.histogram)
        XCTAssertEqual(b.reasons, a.reasons)
        XCTAssertEqual(b.phaseSums, a.phaseSums)
        XCTAssertEqual(b.phaseCounts, a.phaseCounts)
        XCTAssertEqual(b.percentile(1.0), 500_000_000_000)
        XCTAssertEqual(b.percentile(0.01), 0)
    }
}

final class PhaseCodecTests: XCTestCase {
    func testRoundTripsEveryShape() {
        let cases: [Phases] = [
            Phases(dns: 300, connect: 800, tls: 3_000, processing: 45_000, transfer: 500, total: 49_600), // total derived
            Phases(dns: 1, connect: 2, total: 9),                                                            // total explicit
            Phases(dns: 0, connect: 0, tls: 0, processing: 0, transfer: 0, total: 0),
            Phases(dns: 200, connect: 3_000),                                                                // no total
            Phases(total: 5_000_000),
            Phases(processing: 1 << 40, total: 1 << 41),
        ]
        for p in cases {
            XCTAssertEqual(PhaseCodec.decode(PhaseCodec.encode(p)!), p, "\(p)")
        }
        XCTAssertNil(PhaseCodec.encode(Phases()))
        XCTAssertEqual(PhaseCodec.encode(cases[0])!.count, 12)
    }
}

final class IdleMaintenanceTests: XCTestCase {
    /// A pass that finds nothing to do takes one transaction for all the probes, not one a probe: the daemon runs one
    /// every minute over every probe, and at 30,000 probes a transaction a step took ~3 s of CPU a minute.
    func testAPassWithNothingDueTakesOneTransaction() throws {
        let hour: Int64 = 3_600_000_000
        let start: Int64 = 1_700_438_400_000_000
        let store = try Store(path: try temporaryDatabase(self))
        try fill(store, ["a", "b", "c"].flatMap { makeSamples(probe: $0, start: start, interval: 60_000_000, count: 120, seed: 5) })
        let first = try store.maintain(now: start + 3 * hour, policy: StoragePolicy())
        XCTAssertTrue(first.finished)
        XCTAssertGreaterThan(first.rolled5m, 0)

        let second = try store.maintain(now: start + 3 * hour, policy: StoragePolicy())
        XCTAssertTrue(second.finished)
        XCTAssertEqual(second.rolled5m, 0)
        XCTAssertEqual(second.transactions, 1)
    }

    /// A rollup of one 5-minute bucket for many probes writes the pages it changes about once: new `rollup_5m` rows
    /// side by side and narrow watermark rows. With a transaction a probe, each commit put its `rollup_5m` page and the
    /// page of its `probes` row (which carries the probe's settings) into the WAL again: 196 MB at 60,000 probes, ~109
    /// bytes a check; with the watermarks still in `probes` a page for every two or three probes stayed.
    func testARollupOverManyProbesWritesAFewPagesNotOneAProbe() throws {
        let path = try temporaryDatabase(self)
        let store = try Store(path: path)
        let probes = 2_000
        let window: Int64 = 1_700_438_400_000_000 - Store.bucket5m // the last 5 minutes of an hour
        try fill(store, (0..<probes).flatMap { i in
            makeSamples(probe: "p\(i)", start: window + Int64(i) * 1_000, interval: 10_000_000, count: 30, seed: UInt64(i))
        })
        let raw = try RawConnection(path)
        // Rows as the daemon registers them: each with its settings (a URL, headers' names, timeouts: 360 bytes and up).
        try raw.execute("UPDATE probes SET settings = hex(zeroblob(200))")
        let grace: Int64 = 90_000_000, later: Int64 = 150_000_000
        // One transaction however slow the build or busy the machine: the figure is the rows' pages, not the commits'.
        store.maintenanceSlice = 60_000_000_000
        XCTAssertEqual(try store.maintain(now: window + Store.bucket5m + grace, policy: StoragePolicy()).rolled5m, 0)
        try raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")

        let report = try store.maintain(now: window + Store.bucket5m + later, policy: StoragePolicy())
        XCTAssertEqual(report.rolled5m, probes)
        let frames = try walPages(path)
        // The bucket ends an hour: each probe gets its 5-minute row and its 1-hour row, and a 24th of the probes move
        // their recent rows to their own ranges (`Store.isMoveHour`), a page or two each: without the moves, < 0.5.
        XCTAssertLessThan(frames / Double(probes), 0.6, "\(Int(frames)) pages written to the WAL for \(probes) probes")
    }

    /// With history, a probe's 5-minute rows sit at the end of its range of `rollup_5m`, and a rollup rewrites that
    /// range's last pages (a page or more a probe, and a split every few rows). One row every 5 minutes put ~2.6 KB a
    /// probe into the WAL each time, ~31 KB an hour (a day of history, 10,000 probes, sqlite3 alone); 12 rows once an
    /// hour ~6.3 KB, about 5 pages. So 5-minute rows are made an hour at a time, and appended to the time-ordered recent
    /// tables (`Store+RecentRollups.swift`): about the rows' own size, 1.25 pages a probe, a 24th of the probes' moves
    /// included.
    func testAnHourOfFiveMinuteRowsOverADayOfHistoryWritesFewerPagesThanRows() throws {
        let probes = 300
        let hourStart: Int64 = 1_700_524_800_000_000 // a Tuesday at 00:00 UTC
        let (store, path, _) = try anHourAfterADayOfRows(probes: probes, hourStart: hourStart, rolled1d: nil)
        let rolled = try maintainEveryFiveMinutes(store, through: hourStart, policy: StoragePolicy()).map(\.rolled5m)
        XCTAssertEqual(rolled, Array(repeating: 0, count: 11) + [12 * probes, 0], "the hour's rows wait for its end")
        let frames = try walPages(path)
        XCTAssertLessThan(frames / Double(probes), 2, "\(Int(frames)) pages written to the WAL for \(probes) probes' hour")
    }

    /// A probe's day of recent rows moves to its own range at once: new pages at the end of the range, where an hour at a
    /// time rewrote the range's last pages every hour (5 pages an hour, the test above before the recent tables: 120
    /// pages a day). A day of 5-minute rows is ~23 KB, and an append to a `WITHOUT ROWID` B-tree splits its last page
    /// in two (SQLite leaves full pages only on a bulk append), so about twice that.
    func testADayOfRecentRowsMovesAsWholePages() throws {
        let probes = 300
        let hourStart: Int64 = 1_700_524_800_000_000 // a Tuesday at 00:00 UTC
        let (store, path, raw) = try anHourAfterADayOfRows(probes: probes, hourStart: hourStart, rolled1d: nil)
        // The day before in the recent tables, as if every probe had last moved its rows 24 hours ago (a stopped
        // prober's catch-up: they all move at the next pass, whatever their hour).
        let columns = "checks, failures, reasons, lat_n, lat_min, lat_max, lat_sum, hist, phases"
        try raw.execute("""
            UPDATE rollup_marks SET recent_from = \(hourStart - 24 * Store.bucket1h);
            INSERT INTO rollup_5m_recent(hour, probe_id, bucket, \(columns))
                SELECT bucket / \(Store.bucket1h), probe_id, bucket, \(columns) FROM rollup_5m ORDER BY 1, 2, 3;
            DELETE FROM rollup_5m;
            PRAGMA wal_checkpoint(TRUNCATE);
            """)
        let reports = try maintainEveryFiveMinutes(store, through: hourStart, policy: StoragePolicy())
        XCTAssertEqual(reports.map(\.rolled5m).reduce(0, +), 12 * probes)
        // The day at the first pass (00:05); at 01:05 the probes whose hour it is (`Store.isMoveHour`) move the new hour.
        let movers = (1...Int64(probes)).filter { Store.isMoveHour(hourStart + Store.bucket1h, probe: $0) }.count
        XCTAssertEqual(try raw.int("SELECT count(*) FROM rollup_5m"), Int64(probes * 288 + movers * 12))
        let frames = try walPages(path)
        XCTAssertLessThan(frames / Double(probes), 60, "\(Int(frames)) pages written to the WAL for \(probes) probes' hour and day")
    }

    /// Once the file holds `storage.rollup5m` of history, each probe's oldest 5-minute row passes the cutoff every 5
    /// minutes, and it sits at the start of the probe's own range: deleting it as it passed rewrote a page or more a
    /// probe every 5 minutes, more than the hour's new rows did. Retention moves a day at a time instead.
    func testRetentionDeletesADayOfRowsAtOnceNotARowEveryFiveMinutes() throws {
        let probes = 300
        let day: Int64 = 1_700_524_800_000_000 // a Tuesday at 00:00 UTC
        let hourStart = day + 2 * Store.bucket1h
        // The day before, from just past the cutoff; rolled to 02:00.
        let (store, path, raw) = try anHourAfterADayOfRows(probes: probes, hourStart: hourStart, rolled1d: day)
        var policy = StoragePolicy()
        policy.rollup5m = .seconds(86_400)
        let pruned = try maintainEveryFiveMinutes(store, through: hourStart, policy: policy).map(\.pruned5m)
        XCTAssertEqual(pruned, Array(repeating: 0, count: 13), "rows past the cutoff by less than a day stay")
        let frames = try walPages(path)
        // The hour's rows alone put ~5 pages a probe before the recent tables, 1.25 since (the test above); a row
        // deleted every 5 minutes added 13 more.
        XCTAssertLessThan(frames / Double(probes), 2, "\(Int(frames)) pages written to the WAL for \(probes) probes' hour")

        // The next day at 23:00 the cutoff is this day's 00:00: the day before goes whole, this day stays whole.
        let report = try store.maintain(now: day + 47 * Store.bucket1h, policy: policy)
        XCTAssertEqual(report.pruned5m, probes * 264)
        XCTAssertEqual(try raw.int("SELECT min(bucket) FROM rollup_5m"), day)
        XCTAssertEqual(try raw.int("SELECT count(*) FROM rollup_5m"), Int64(probes * (24 + 12)))
    }

    /// A store whose `probes` probes have a check a minute through the hour from `hourStart`, in blocks, and the day
    /// before it as maintenance leaves it: 288 5-minute rows a probe, rolled up to `hourStart` (`rolled_1d` as given),
    /// with the WAL emptied, so what maintenance writes next counts from zero. A maintenance pass takes one transaction
    /// however slow the build: the figures are the rows' pages, not the commits'.
    private func anHourAfterADayOfRows(probes: Int, hourStart: Int64, rolled1d: Int64?) throws -> (Store, String, RawConnection) {
        let path = try temporaryDatabase(self)
        let store = try Store(path: path)
        try fill(store, (0..<probes).flatMap { i in
            makeSamples(probe: "p\(i)", start: hourStart + Int64(i) * 1_000, interval: 60_000_000, count: 60, seed: UInt64(i))
        })
        try store.queue.sync { try store.fold(before: hourStart + Store.bucket1h) }
        store.maintenanceSlice = 60_000_000_000
        let raw = try RawConnection(path)
        try raw.execute("""
            WITH RECURSIVE b(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM b WHERE i < 288)
            INSERT INTO rollup_5m(probe_id, bucket, checks, failures, lat_n, lat_min, lat_max, lat_sum, hist, phases)
            SELECT id, \(hourStart) - i * \(Store.bucket5m), 5, 0, 5, 1000, 2000, 7000, randomblob(20), randomblob(24)
            FROM probes, b ORDER BY 1, 2;
            INSERT INTO rollup_marks(probe_id, rolled_5m, rolled_1h, rolled_1d)
            SELECT id, \(hourStart), \(hourStart), \(rolled1d.map(String.init) ?? "NULL") FROM probes;
            PRAGMA wal_checkpoint(TRUNCATE);
            """)
        return (store, path, raw)
    }

    /// Maintenance every 5 minutes through the hour from `hourStart` and its grace, as the daemon calls it (every minute).
    private func maintainEveryFiveMinutes(_ store: Store, through hourStart: Int64, policy: StoragePolicy) throws -> [MaintenanceReport] {
        try stride(from: Int64(5), through: 65, by: 5).map { minutes in
            try store.maintain(now: hourStart + minutes * 60_000_000 + 150_000_000, policy: policy)
        }
    }

    /// The pages written to the WAL of the database at `path` since it was last truncated.
    private func walPages(_ path: String) throws -> Double {
        var wal = stat()
        XCTAssertEqual(stat(path + "-wal", &wal), 0)
        return Double(wal.st_size) / Double(Store.pageSize + 24)
    }
}
