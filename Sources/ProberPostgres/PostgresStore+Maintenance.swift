import Dispatch
import Foundation
import ProberCore
import ProberStorage
import ProberStore

extension PostgresStore {
    static let bucket5m = HistoryResolution.rollup5m.width
    static let bucket1h = HistoryResolution.rollup1h.width
    /// Raw samples are rolled up only once their 5-minute bucket ended this long ago (as in SQLite).
    static let rollupGrace: Int64 = 120_000_000
    /// Day partitions created ahead of `now`.
    static let partitionsAhead = 2
    /// The advisory lock key of a maintenance pass: one prober maintains at a time, the others skip theirs.
    static let maintenanceLock: Int64 = 0x70726F626572 + 2
    /// A slice of raw samples read in one rollup transaction grows while slices hold fewer rows than this (sparse
    /// or old data is rolled up in days, not 5-minute steps) and shrinks past four times it.
    static let sliceRows = 50_000

    /// Schema step: a BRIN index on `samples.at` (rows arrive roughly in time order, so it is a few pages per day
    /// partition) for maintenance's reads of a time slice of every location at once, and the prune marks.
    static let schemaMaintenance = """
        CREATE INDEX samples_at ON samples USING brin (at);
        CREATE TABLE maintenance_marks(
            name text PRIMARY KEY,                -- prune_5m, prune_1h, prune_1d
            at bigint NOT NULL                    -- the hour of the last cutoff applied (µs)
        );
        """

    /// Rolls every location's raw samples into 5-minute and those into 1-hour buckets, then applies retention: a
    /// day partition of raw samples is dropped whole once it is past `policy.rawUnarchived` and every location has rolled it
    /// up; rollup rows are deleted past their own retention (5-minute rows only once rolled into hours). Also
    /// creates the next days' partitions.
    ///
    /// Set-based, so its cost follows the data to roll up, not the number of probes × locations: one statement
    /// reads a time slice of raw samples of every location behind its watermark (a BRIN range of the day
    /// partition), and one transaction writes their buckets and moves the watermarks; an idle pass is a handful of
    /// statements. One prober maintains at a time (a session advisory lock, waited for at most `budget`): the
    /// others find nothing left when they get it, so no two do the same work. Each transaction is one slice, at
    /// least one per call.
    @discardableResult
    public func maintain(now: Int64, policy: StoragePolicy, budget: Duration) throws -> MaintenanceReport {
        dispatchPrecondition(condition: .notOnQueue(queue))
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(max(budget.microseconds, 0)) * 1_000
        var report = MaintenanceReport()
        guard try lockMaintenance(until: deadline, &report) else { return report }
        defer { _ = try? queue.sync { try connection.query("SELECT pg_advisory_unlock($1)", [.int(Self.maintenanceLock)]) } }
        var progressed = false
        func outOfTime() -> Bool { progressed && DispatchTime.now().uptimeNanoseconds > deadline }

        let horizon5m = Self.floor(now - Self.rollupGrace, Self.bucket5m)
        try write { try self.rewindAfterStepBack(horizon: horizon5m, $0) }
        report.transactions += 1
        var width = Self.bucket5m
        while let start = try queue.sync(execute: { try next5mSlice(horizon: horizon5m, connection) }) {
            if outOfTime() { report.finished = false; return report }
            let end = min(horizon5m, start + width)
            let rows = try write { try self.rollup5m(from: start, to: end, &report, $0) }
            report.transactions += 1
            progressed = true
            width = Self.resize(width, rows: rows, unit: Self.bucket5m, most: Self.day)
        }
        width = Self.bucket1h
        while let start = try queue.sync(execute: { try next1hSlice(connection) }) {
            if outOfTime() { report.finished = false; return report }
            let rows = try write { try self.rollup1h(from: start, to: start + width, &report, $0) }
            report.transactions += 1
            progressed = true
            width = Self.resize(width, rows: rows, unit: Self.bucket1h, most: 48 * Self.bucket1h)
        }
        try write { try self.rollup1d($0) }
        report.transactions += 1
        report.transactions += try prune(now: now, policy: policy, &report)
        try queue.sync {
            let partitions = try Partitions.list(connection)
            var known = Set(partitions.map(\.start))
            let today = Partitions.dayStart(now)
            let ahead = Set((0...Self.partitionsAhead).map { today + Int64($0) * Partitions.day })
            report.transactions += ahead.subtracting(known).count
            try Partitions.ensure(ahead, known: &known, connection)
            let cutoff = now - policy.rawUnarchived.microseconds
            if partitions.contains(where: { $0.start + Partitions.day <= cutoff }) {
                report.prunedSamples += try dropPartitions(partitions, before: cutoff)
                report.transactions += 1
            }
        }
        return report
    }

    /// Takes the maintenance lock on the store's connection, trying until `deadline` (at least once); false when
    /// another prober held it all along (it is doing this pass's work).
    private func lockMaintenance(until deadline: UInt64, _ report: inout MaintenanceReport) throws -> Bool {
        while true {
            let locked = try queue.sync {
                if isReadOnly { throw PostgresError(sqlState: "25006", message: "store opened read-only", database: database) }
                connection.reconnectIfLost()
                return try connection.query("SELECT pg_try_advisory_lock($1)", [.int(Self.maintenanceLock)]).string(0, 0) == "t"
            }
            report.transactions += 1
            if locked { return true }
            if DispatchTime.now().uptimeNanoseconds > deadline { return false }
            usleep(50_000)
        }
    }

    /// The next slice's width: doubled while slices are small, halved while large, a multiple of `unit`.
    static func resize(_ width: Int64, rows: Int, unit: Int64, most: Int64) -> Int64 {
        if rows < sliceRows { return min(width * 2, most) }
        if rows > 4 * sliceRows { return max(width / 2 / unit * unit, unit) }
        return width
    }

    /// SQL for `floor(x, width)` of a bigint expression (also for negative times).
    static func sqlFloor(_ x: String, _ width: Int64) -> String { "(\(x) - ((\(x) % \(width)) + \(width)) % \(width))" }

    /// Where the next 5-minute rollup slice starts: the oldest watermark behind `horizon`, or the first sample of a
    /// location never rolled up; nil when every location is rolled up to `horizon`.
    private func next5mSlice(horizon: Int64, _ db: PGConnection) throws -> Int64? {
        let start = try db.scalar("""
            SELECT least(
                (SELECT min(rolled_5m) FROM probe_locations WHERE rolled_5m < $1),
                (SELECT min(f.at) FROM probe_locations l CROSS JOIN LATERAL
                    (SELECT min(at) AS at FROM samples s WHERE s.probe_id = l.probe_id AND s.location = l.location) f
                 WHERE l.rolled_5m IS NULL))
            """, [.int(horizon)])
        guard let start else { return nil }
        let bucket = Self.floor(start, Self.bucket5m)
        return bucket < horizon ? bucket : nil
    }

    /// Folds the raw samples with `from <= at < to` of every location behind its watermark into 5-minute rows, and
    /// moves those watermarks to `to` (a location never rolled up only once it has samples before `to`). Returns
    /// the samples read. In the caller's transaction.
    private func rollup5m(from: Int64, to: Int64, _ report: inout MaintenanceReport, _ db: PGConnection) throws -> Int {
        let r = try db.query("""
            SELECT s.probe_id, s.location, s.at, s.reason, s.phases
            FROM samples s JOIN probe_locations l ON l.probe_id = s.probe_id AND l.location = s.location
            WHERE s.at >= $1 AND s.at < $2 AND (l.rolled_5m IS NULL OR s.at >= l.rolled_5m)
            """, [.int(from), .int(to)])
        var buckets: [RollupKey: Aggregate] = [:]
        var sites: [String: String] = [:]   // one String per location, not one per row
        for i in 0..<r.count {
            let raw = r.string(i, 1)
            let site = sites[raw] ?? { sites[raw] = raw; return raw }()
            let key = RollupKey(probe: r.int64(i, 0), site: site, bucket: Self.floor(r.int64(i, 2), Self.bucket5m))
            buckets[key, default: Aggregate()].add(reason: Int(r.int64(i, 3)), phases: Self.phases(r, i, 4))
        }
        try insertRollups(table: "rollup_5m", buckets, db)
        report.rolled5m += buckets.count
        try db.query("""
            UPDATE probe_locations l SET rolled_5m = $1 WHERE rolled_5m < $1
                OR (rolled_5m IS NULL AND EXISTS (SELECT 1 FROM samples s WHERE s.probe_id = l.probe_id AND s.location = l.location AND s.at < $1))
            """, [.int(to)])
        return r.count
    }

    /// Where the next 1-hour rollup slice starts: the oldest 1-hour watermark behind its location's 5-minute one
    /// (floored to the hour), or the first 5-minute row of a location never rolled into hours; nil when none.
    private func next1hSlice(_ db: PGConnection) throws -> Int64? {
        let horizon = Self.sqlFloor("l.rolled_5m", Self.bucket1h)
        let start = try db.scalar("""
            SELECT least(
                (SELECT min(rolled_1h) FROM probe_locations l WHERE rolled_1h < \(horizon)),
                (SELECT min(f.bucket) FROM probe_locations l CROSS JOIN LATERAL
                    (SELECT min(bucket) AS bucket FROM rollup_5m r WHERE r.probe_id = l.probe_id AND r.location = l.location) f
                 WHERE l.rolled_1h IS NULL AND f.bucket < \(horizon)))
            """)
        return start.map { Self.floor($0, Self.bucket1h) }
    }

    /// Folds the 5-minute rows with `from <= bucket < to` of every location behind its 1-hour watermark (and before
    /// its 5-minute one, floored to the hour) into 1-hour rows, and moves those watermarks. Returns the rows read.
    private func rollup1h(from: Int64, to: Int64, _ report: inout MaintenanceReport, _ db: PGConnection) throws -> Int {
        let end = "least($2, \(Self.sqlFloor("l.rolled_5m", Self.bucket1h)))"
        // Per location through the primary key (rollup_5m has no index on the bucket alone).
        let r = try db.query("""
            SELECT l.probe_id, l.location, r.bucket, r.checks, r.failures, r.reasons, r.lat_n, r.lat_min, r.lat_max, r.lat_sum,
                r.hist, r.phases
            FROM probe_locations l CROSS JOIN LATERAL (SELECT * FROM rollup_5m r WHERE r.probe_id = l.probe_id
                AND r.location = l.location AND r.bucket >= greatest($1, coalesce(l.rolled_1h, $1)) AND r.bucket < \(end)) r
            WHERE l.rolled_5m IS NOT NULL AND coalesce(l.rolled_1h, $1) < \(end)
            """, [.int(from), .int(to)], binary: true)
        var buckets: [RollupKey: Aggregate] = [:]
        var sites: [String: String] = [:]
        for i in 0..<r.count {
            let raw = r.string(i, 1)
            let site = sites[raw] ?? { sites[raw] = raw; return raw }()
            let key = RollupKey(probe: r.int64(i, 0), site: site, bucket: Self.floor(r.int64(i, 2), Self.bucket1h))
            buckets[key, default: .rollupEmpty].mergeRollup(r, i, from: 3)
        }
        try insertRollups(table: "rollup_1h", buckets, db)
        report.rolled1h += buckets.count
        let newMark = "least($1, \(Self.sqlFloor("l.rolled_5m", Self.bucket1h)))"
        try db.query("""
            UPDATE probe_locations l SET rolled_1h = \(newMark) WHERE rolled_5m IS NOT NULL AND (rolled_1h < \(newMark)
                OR (rolled_1h IS NULL AND EXISTS (SELECT 1 FROM rollup_5m r WHERE r.probe_id = l.probe_id AND r.location = l.location
                    AND r.bucket < \(newMark))))
            """, [.int(to)])
        return r.count
    }

    /// Sums the 1-hour rows of each day that ended before `rolled_1h` into `rollup_1d` (the status page's days), for
    /// every location in one statement, and moves the daily watermarks.
    private func rollup1d(_ db: PGConnection) throws {
        let horizon = Self.sqlFloor("l.rolled_1h", Self.day)
        try db.execute("""
            INSERT INTO rollup_1d(probe_id, location, bucket, checks, failures)
            SELECT r.probe_id, r.location, \(Self.sqlFloor("r.bucket", Self.day)) AS day, sum(r.checks), sum(r.failures)
            FROM probe_locations l CROSS JOIN LATERAL (SELECT * FROM rollup_1h r WHERE r.probe_id = l.probe_id
                AND r.location = l.location AND r.bucket >= coalesce(l.rolled_1d, r.bucket) AND r.bucket < \(horizon)) r
            WHERE l.rolled_1h IS NOT NULL AND coalesce(l.rolled_1d, \(horizon) - 1) < \(horizon)
            GROUP BY r.probe_id, r.location, day
            ON CONFLICT (probe_id, location, bucket) DO UPDATE SET checks = excluded.checks, failures = excluded.failures;
            UPDATE probe_locations l SET rolled_1d = \(horizon) WHERE rolled_1h IS NOT NULL AND (rolled_1d < \(horizon)
                OR (rolled_1d IS NULL AND EXISTS (SELECT 1 FROM rollup_1h r WHERE r.probe_id = l.probe_id AND r.location = l.location
                    AND r.bucket < \(horizon))))
            """)
    }

    /// Deletes rollup rows past their retention, each table when its cutoff (to the hour) passed the last one
    /// applied (`maintenance_marks`): the deletes read whole tables, so once an hour, not every pass. 5-minute rows
    /// go only once rolled into hours, hours only once their day is folded, days with the 1-hour retention.
    /// Returns the transactions used.
    private func prune(now: Int64, policy: StoragePolicy, _ report: inout MaintenanceReport) throws -> Int {
        let cut5m = Self.floor(now - policy.rollup5m.microseconds, Self.bucket1h)
        let cut1h = Self.floor(now - policy.rollup1h.microseconds, Self.bucket1h)
        let marks = try queue.sync {
            let r = try connection.query("SELECT name, at FROM maintenance_marks")
            return Dictionary((0..<r.count).map { (r.string($0, 0), r.int64($0, 1)) }, uniquingKeysWith: max)
        }
        var transactions = 1
        let steps: [(String, Int64, String)] = [
            ("prune_5m", cut5m, """
                DELETE FROM rollup_5m r USING probe_locations l WHERE r.probe_id = l.probe_id AND r.location = l.location
                AND l.rolled_1h IS NOT NULL AND r.bucket < least($1, l.rolled_1h)
                """),
            ("prune_1h", cut1h, """
                DELETE FROM rollup_1h r USING probe_locations l WHERE r.probe_id = l.probe_id AND r.location = l.location
                AND l.rolled_1d IS NOT NULL AND r.bucket < least($1, l.rolled_1d)
                """),
            ("prune_1d", cut1h, "DELETE FROM rollup_1d WHERE bucket < $1"),
        ]
        for (name, cutoff, sql) in steps where marks[name].map({ cutoff > $0 }) ?? true {
            let n = try write { db in
                let n = try db.query(sql, [.int(cutoff)]).affected
                try db.query("""
                    INSERT INTO maintenance_marks(name, at) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET at = excluded.at
                    """, [.text(name), .int(cutoff)])
                return n
            }
            transactions += 1
            if name == "prune_5m" { report.pruned5m += n } else if name == "prune_1h" { report.pruned1h += n }
        }
        return transactions
    }

    /// Drops the day partitions that end at or before `cutoff` and before every location's 5-minute watermark
    /// (never a day not rolled up). Returns the rows they held. Queue only.
    private func dropPartitions(_ partitions: [(name: String, start: Int64)], before cutoff: Int64) throws -> Int {
        // Every location with samples has a watermark row; one with samples never rolled up holds everything back
        // (one whose samples are all gone does not, nor does its missing watermark).
        let unrolled = try connection.scalar("""
            SELECT count(*) FROM probe_locations l WHERE rolled_5m IS NULL
            AND EXISTS (SELECT 1 FROM samples s WHERE s.probe_id = l.probe_id AND s.location = l.location)
            """) ?? 0
        let rolled = unrolled > 0 ? Int64.min
            : try connection.scalar("SELECT min(rolled_5m) FROM probe_locations") ?? Int64.max
        let limit = min(cutoff, rolled)
        var dropped = 0
        for partition in partitions where partition.start + Partitions.day <= limit {
            try connection.transaction {
                dropped += Int(try connection.scalar("SELECT count(*) FROM \(partition.name)") ?? 0)
                try connection.execute("DROP TABLE \(partition.name)")
            }
        }
        return dropped
    }

    func watermarks(_ probe: Int64, _ site: String, _ db: PGConnection) throws -> (rolled5m: Int64?, rolled1h: Int64?) {
        let r = try db.query("SELECT rolled_5m, rolled_1h FROM probe_locations WHERE probe_id = $1 AND location = $2",
                             [.int(probe), .text(site)])
        guard r.count > 0 else { return (nil, nil) }
        return (r.int64OrNil(0, 0), r.int64OrNil(0, 1))
    }

    /// A watermark past the horizon means the clock went back: moves those watermarks back (see SQLite's
    /// `rewindAfterStepBack`), never before the oldest raw sample kept. In the caller's transaction.
    private func rewindAfterStepBack(horizon: Int64, _ db: PGConnection) throws {
        let target = "greatest($1, \(Self.sqlFloor("f.oldest + \(Self.bucket5m - 1)", Self.bucket5m)))"
        try db.query("""
            UPDATE probe_locations l SET rolled_5m = t.target,
                rolled_1h = least(l.rolled_1h, \(Self.sqlFloor("t.target", Self.bucket1h))),
                rolled_1d = least(l.rolled_1d, \(Self.sqlFloor("t.target", Self.day)))
            FROM (SELECT l.probe_id, l.location, \(target) AS target FROM probe_locations l CROSS JOIN LATERAL
                    (SELECT min(at) AS oldest FROM samples s WHERE s.probe_id = l.probe_id AND s.location = l.location) f
                  WHERE l.rolled_5m > $1 AND f.oldest IS NOT NULL) t
            WHERE l.probe_id = t.probe_id AND l.location = t.location AND t.target < l.rolled_5m
            """, [.int(horizon)])
    }

    /// One rollup row: a probe, a location and a bucket.
    struct RollupKey: Hashable {
        var probe: Int64
        var site: String
        var bucket: Int64
    }

    /// Writes rollup rows (replacing rows of the same bucket) with one `COPY` into a temporary table and one
    /// `INSERT … ON CONFLICT`. In the caller's transaction.
    func insertRollups(table: String, _ rows: [RollupKey: Aggregate], _ db: PGConnection) throws {
        guard !rows.isEmpty else { return }
        var copy: [UInt8] = []
        copy.reserveCapacity(rows.count * 160)
        for (key, a) in rows {
            CopyText.int(&copy, key.probe); copy.append(9)
            CopyText.text(&copy, key.site); copy.append(9)
            CopyText.int(&copy, key.bucket); copy.append(9)
            CopyText.int(&copy, Int64(a.checks)); copy.append(9)
            CopyText.int(&copy, Int64(a.failures)); copy.append(9)
            CopyText.optionalBytea(&copy, a.encodedReasons()); copy.append(9)
            CopyText.int(&copy, Int64(a.latencyCount)); copy.append(9)
            CopyText.optional(&copy, a.latencyMin); copy.append(9)
            CopyText.optional(&copy, a.latencyMax); copy.append(9)
            CopyText.optional(&copy, a.latencyCount > 0 ? a.latencySum : nil); copy.append(9)
            CopyText.optionalBytea(&copy, a.encodedHistogram()); copy.append(9)
            CopyText.optionalBytea(&copy, a.encodedPhases()); copy.append(10)
        }
        try db.execute("CREATE TEMP TABLE IF NOT EXISTS rollup_in (LIKE rollup_5m) ON COMMIT DELETE ROWS")
        try db.copy("COPY rollup_in FROM STDIN", data: copy)
        try db.execute("""
            INSERT INTO \(table) SELECT * FROM rollup_in
            ON CONFLICT (probe_id, location, bucket) DO UPDATE SET checks = excluded.checks, failures = excluded.failures,
                reasons = excluded.reasons, lat_n = excluded.lat_n, lat_min = excluded.lat_min, lat_max = excluded.lat_max,
                lat_sum = excluded.lat_sum, hist = excluded.hist, phases = excluded.phases
            """)
    }

    /// The rollup columns `checks, failures, reasons, lat_n, lat_min, lat_max, lat_sum, hist, phases` from `column`.
    static func rollupRow(_ r: PGResult, _ i: Int, from c: Int) -> Aggregate {
        var a = Aggregate.rollupEmpty
        a.mergeRollup(r, i, from: c)
        return a
    }

    func insertRollups(table: String, probe: Int64, site: String, _ buckets: [(Int64, Aggregate)], _ db: PGConnection) throws {
        for (bucket, a) in buckets {
            try db.query("""
                INSERT INTO \(table)(probe_id, location, bucket, checks, failures, reasons, lat_n, lat_min, lat_max, lat_sum, hist, phases)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
                ON CONFLICT (probe_id, location, bucket) DO UPDATE SET checks = excluded.checks, failures = excluded.failures,
                    reasons = excluded.reasons, lat_n = excluded.lat_n, lat_min = excluded.lat_min, lat_max = excluded.lat_max,
                    lat_sum = excluded.lat_sum, hist = excluded.hist, phases = excluded.phases
                """, [.int(probe), .text(site), .int(bucket), .int(Int64(a.checks)), .int(Int64(a.failures)),
                      PGParam(bytes: a.encodedReasons()), .int(Int64(a.latencyCount)), PGParam(a.latencyMin),
                      PGParam(a.latencyMax), PGParam(a.latencyCount > 0 ? a.latencySum : nil),
                      PGParam(bytes: a.encodedHistogram()), PGParam(bytes: a.encodedPhases())])
        }
    }

    /// Rollup rows of one probe and location with `from <= bucket < to`, in order, as aggregates.
    func rollups(table: String, probe: Int64, site: String, from: Int64, to: Int64, _ db: PGConnection) throws -> [(Int64, Aggregate)] {
        let r = try db.query("""
            SELECT bucket, checks, failures, reasons, lat_n, lat_min, lat_max, lat_sum, hist, phases FROM \(table)
            WHERE probe_id = $1 AND location = $2 AND bucket >= $3 AND bucket < $4 ORDER BY bucket
            """, [.int(probe), .text(site), .int(from), .int(to)])
        return (0..<r.count).map { (r.int64($0, 0), Self.rollupRow(r, $0, from: 1)) }
    }

    /// Adds a late sample (older than its location's 5-minute watermark) to its rollup rows; a sample replacing
    /// one of the same microsecond was counted already. In the caller's transaction.
    func mergeLate(_ sample: Sample, probe: Int64, site: String, rolled1h: Int64?, _ db: PGConnection) throws {
        if try db.scalar("SELECT 1 FROM samples WHERE probe_id = $1 AND location = $2 AND at = $3",
                         [.int(probe), .text(site), .int(sample.startedAt)]) != nil {
            return
        }
        var late = Aggregate()
        late.add(reason: sample.failure?.reason.code ?? 0, phases: sample.phases)
        var tables = [("rollup_5m", Self.floor(sample.startedAt, Self.bucket5m))]
        if let rolled1h, sample.startedAt < rolled1h { tables.append(("rollup_1h", Self.floor(sample.startedAt, Self.bucket1h))) }
        for (table, bucket) in tables {
            var row = try rollups(table: table, probe: probe, site: site, from: bucket, to: bucket + 1, db).first?.1 ?? .rollupEmpty
            row.merge(late)
            try insertRollups(table: table, probe: probe, site: site, [(bucket, row)], db)
        }
        if let rolled1d = try db.scalar("SELECT rolled_1d FROM probe_locations WHERE probe_id = $1 AND location = $2",
                                        [.int(probe), .text(site)]), sample.startedAt < rolled1d {
            try db.query("""
                INSERT INTO rollup_1d(probe_id, location, bucket, checks, failures) VALUES ($1, $2, $3, 1, $4)
                ON CONFLICT (probe_id, location, bucket) DO UPDATE SET checks = rollup_1d.checks + 1,
                    failures = rollup_1d.failures + excluded.failures
                """, [.int(probe), .text(site), .int(Self.floor(sample.startedAt, Self.day)), .int(sample.failure == nil ? 0 : 1)])
        }
    }

    /// Decodes a `phases` column.
    static func phases(_ r: PGResult, _ row: Int, _ column: Int) -> Phases {
        r.bytes(row, column).map { PhaseCodec.decode($0) } ?? Phases()
    }

    /// Rounds down to a multiple of `width` (also for negative times).
    static func floor(_ t: Int64, _ width: Int64) -> Int64 {
        t >= 0 ? t / width * width : -((-t + width - 1) / width) * width
    }

    static func ceil(_ t: Int64, _ width: Int64) -> Int64 { floor(t + width - 1, width) }
}

extension Aggregate {
    /// Adds row `i`'s rollup columns `checks, failures, reasons, lat_n, lat_min, lat_max, lat_sum, hist, phases` from
    /// column `c`, its BLOBs decoded in place (no aggregate per row; in binary format, no copy either).
    mutating func mergeRollup(_ r: PGResult, _ i: Int, from c: Int) {
        r.withBytes(i, c + 2) { reasons in
            r.withBytes(i, c + 7) { histogram in
                r.withBytes(i, c + 8) { phases in
                    mergeRollup(checks: Int(r.int64(i, c)), failures: Int(r.int64(i, c + 1)), reasons: reasons,
                                latencyCount: Int(r.int64(i, c + 3)), min: r.int64OrNil(i, c + 4), max: r.int64OrNil(i, c + 5),
                                sum: r.int64(i, c + 6), histogram: histogram, phases: phases)
                }
            }
        }
    }
}
