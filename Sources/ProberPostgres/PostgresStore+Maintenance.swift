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
    /// Rows read per rollup transaction.
    static let maintenanceChunk = 5_000
    /// Day partitions created ahead of `now`.
    static let partitionsAhead = 2

    /// Rolls each location's raw samples into 5-minute and those into 1-hour buckets, then applies retention:
    /// a day partition of raw samples is dropped whole once it is past `policy.raw` and every location has
    /// rolled it up; rollup rows are deleted past their own retention (5-minute rows only once rolled into
    /// hours). Also creates the next days' partitions. Small transactions, at least one step per call.
    @discardableResult
    public func maintain(now: Int64, policy: StoragePolicy, budget: Duration) throws -> MaintenanceReport {
        dispatchPrecondition(condition: .notOnQueue(queue))
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(max(budget.microseconds, 0)) * 1_000
        var report = MaintenanceReport()
        let pairs: [(Int64, String)] = try queue.sync {
            connection.reconnectIfLost()
            // The locations furthest behind first: each call is bounded by `budget` and starts over, so in a fixed
            // order the pairs at the end were never reached at fleet size (30,000 probes × locations take a minute
            // just to visit) and their samples were never rolled up.
            let r = try connection.query("""
                SELECT probe_id, location FROM probe_locations ORDER BY rolled_5m NULLS FIRST, rolled_1h NULLS FIRST, probe_id, location
                """)
            return (0..<r.count).map { (r.int64($0, 0), r.string($0, 1)) }
        }
        let horizon5m = Self.floor(now - Self.rollupGrace, Self.bucket5m)
        var busy = Set(pairs.indices)
        var progressed = false
        while !busy.isEmpty {
            for (i, (id, site)) in pairs.enumerated() where busy.contains(i) {
                if progressed, DispatchTime.now().uptimeNanoseconds > deadline {
                    report.finished = false
                    return report
                }
                var worked = false
                worked = try write { try self.rollup5m(probe: id, site: site, horizon: horizon5m, &report, $0) } || worked
                worked = try write { try self.rollup1h(probe: id, site: site, &report, $0) } || worked
                worked = try write { try self.rollup1d(probe: id, site: site, $0) } || worked
                worked = try write { try self.prune5m(probe: id, site: site, before: now - policy.rollup5m.microseconds, &report, $0) } || worked
                worked = try write { try self.prune1h(probe: id, site: site, before: now - policy.rollup1h.microseconds, &report, $0) } || worked
                worked = try write { try self.prune1d(probe: id, site: site, before: now - policy.rollup1h.microseconds, $0) } || worked
                report.transactions += 6
                if worked { progressed = true } else { busy.remove(i) }
            }
        }
        try queue.sync {
            var known = Set<Int64>()
            let today = Partitions.dayStart(now)
            try Partitions.ensure(Set((0...Self.partitionsAhead).map { today + Int64($0) * Partitions.day }), known: &known, connection)
            report.prunedSamples += try dropPartitions(before: now - policy.raw.microseconds)
            report.transactions += 1
        }
        return report
    }

    /// Drops the day partitions that end at or before `cutoff` and before every location's 5-minute watermark
    /// (never a day not rolled up). Returns the rows they held. Queue only.
    private func dropPartitions(before cutoff: Int64) throws -> Int {
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
        for partition in try Partitions.list(connection) where partition.start + Partitions.day <= limit {
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

    /// A watermark past the horizon means the clock went back: moves both watermarks back (see SQLite's
    /// `rewindAfterStepBack`), never before the oldest raw sample kept.
    private func rewindAfterStepBack(probe: Int64, site: String, horizon: Int64, _ db: PGConnection) throws {
        let marks = try watermarks(probe, site, db)
        guard let mark = marks.rolled5m, mark > horizon,
              let oldest = try db.scalar("SELECT min(at) FROM samples WHERE probe_id = $1 AND location = $2",
                                         [.int(probe), .text(site)]) else { return }
        let target = max(horizon, Self.floor(oldest + Self.bucket5m - 1, Self.bucket5m))
        guard target < mark else { return }
        try db.query("""
            UPDATE probe_locations SET rolled_5m = $3, rolled_1h = least(rolled_1h, $4), rolled_1d = least(rolled_1d, $5)
            WHERE probe_id = $1 AND location = $2
            """, [.int(probe), .text(site), .int(target), .int(Self.floor(target, Self.bucket1h)), .int(Self.floor(target, Self.day))])
    }

    private func rollup5m(probe: Int64, site: String, horizon: Int64, _ report: inout MaintenanceReport,
                          _ db: PGConnection) throws -> Bool {
        try rewindAfterStepBack(probe: probe, site: site, horizon: horizon, db)
        var from = try watermarks(probe, site, db).rolled5m
        if from == nil {
            guard let first = try db.scalar("SELECT min(at) FROM samples WHERE probe_id = $1 AND location = $2",
                                            [.int(probe), .text(site)]) else { return false }
            from = Self.floor(first, Self.bucket5m)
        }
        guard let start = from, start < horizon else { return false }
        let r = try db.query("""
            SELECT at, reason, phases FROM samples WHERE probe_id = $1 AND location = $2 AND at >= $3 AND at < $4
            ORDER BY at LIMIT $5
            """, [.int(probe), .text(site), .int(start), .int(horizon), .int(Int64(Self.maintenanceChunk))])
        var buckets: [(Int64, Aggregate)] = []
        var lastAt = start
        for i in 0..<r.count {
            let at = r.int64(i, 0)
            lastAt = at
            let bucket = Self.floor(at, Self.bucket5m)
            if buckets.last?.0 != bucket { buckets.append((bucket, Aggregate())) }
            buckets[buckets.count - 1].1.add(reason: Int(r.int64(i, 1)), phases: Self.phases(r, i, 2))
        }
        var end = horizon
        if r.count == Self.maintenanceChunk {
            // The last bucket may continue past the limit: leave it for the next chunk.
            end = Self.floor(lastAt, Self.bucket5m)
            if buckets.count > 1 { buckets.removeLast() }
            if end <= start { end = start + Self.bucket5m }
        }
        try insertRollups(table: "rollup_5m", probe: probe, site: site, buckets, db)
        report.rolled5m += buckets.count
        try db.query("UPDATE probe_locations SET rolled_5m = $3 WHERE probe_id = $1 AND location = $2",
                     [.int(probe), .text(site), .int(end)])
        return true
    }

    private func rollup1h(probe: Int64, site: String, _ report: inout MaintenanceReport, _ db: PGConnection) throws -> Bool {
        let marks = try watermarks(probe, site, db)
        guard let rolled5m = marks.rolled5m else { return false }
        let horizon = Self.floor(rolled5m, Self.bucket1h)
        var from = marks.rolled1h
        if from == nil {
            guard let first = try db.scalar("SELECT min(bucket) FROM rollup_5m WHERE probe_id = $1 AND location = $2",
                                            [.int(probe), .text(site)]) else { return false }
            from = Self.floor(first, Self.bucket1h)
        }
        guard let start = from, start < horizon else { return false }
        let end = min(horizon, start + 48 * Self.bucket1h)
        var buckets: [(Int64, Aggregate)] = []
        for (bucket, row) in try rollups(table: "rollup_5m", probe: probe, site: site, from: start, to: end, db) {
            let hour = Self.floor(bucket, Self.bucket1h)
            if buckets.last?.0 != hour { buckets.append((hour, Aggregate.rollupEmpty)) }
            buckets[buckets.count - 1].1.merge(row)
        }
        try insertRollups(table: "rollup_1h", probe: probe, site: site, buckets, db)
        report.rolled1h += buckets.count
        try db.query("UPDATE probe_locations SET rolled_1h = $3 WHERE probe_id = $1 AND location = $2",
                     [.int(probe), .text(site), .int(end)])
        return true
    }

    /// Sums the 1-hour rows of each day that ended before `rolled_1h` into `rollup_1d` (the status page's days),
    /// at most 90 days per transaction.
    private func rollup1d(probe: Int64, site: String, _ db: PGConnection) throws -> Bool {
        let r = try db.query("SELECT rolled_1h, rolled_1d FROM probe_locations WHERE probe_id = $1 AND location = $2",
                             [.int(probe), .text(site)])
        guard r.count > 0, let rolled1h = r.int64OrNil(0, 0) else { return false }
        let horizon = Self.floor(rolled1h, Self.day)
        var from = r.int64OrNil(0, 1)
        if from == nil {
            guard let first = try db.scalar("SELECT min(bucket) FROM rollup_1h WHERE probe_id = $1 AND location = $2",
                                            [.int(probe), .text(site)]) else { return false }
            from = Self.floor(first, Self.day)
        }
        guard let start = from, start < horizon else { return false }
        let end = min(horizon, start + 90 * Self.day)
        try db.query("""
            INSERT INTO rollup_1d(probe_id, location, bucket, checks, failures)
            SELECT $1, $2, bucket - ((bucket % \(Self.day)) + \(Self.day)) % \(Self.day) AS day, sum(checks), sum(failures)
            FROM rollup_1h WHERE probe_id = $1 AND location = $2 AND bucket >= $3 AND bucket < $4 GROUP BY day
            ON CONFLICT (probe_id, location, bucket) DO UPDATE SET checks = excluded.checks, failures = excluded.failures
            """, [.int(probe), .text(site), .int(start), .int(end)])
        try db.query("UPDATE probe_locations SET rolled_1d = $3 WHERE probe_id = $1 AND location = $2",
                     [.int(probe), .text(site), .int(end)])
        return true
    }

    /// Days go with the 1-hour rollups' retention (as in SQLite): a day that began before the cutoff goes with its
    /// first hour.
    private func prune1d(probe: Int64, site: String, before cutoff: Int64, _ db: PGConnection) throws -> Bool {
        try db.query("DELETE FROM rollup_1d WHERE probe_id = $1 AND location = $2 AND bucket < $3",
                     [.int(probe), .text(site), .int(cutoff)]).affected > 0
    }

    private func prune5m(probe: Int64, site: String, before cutoff: Int64, _ report: inout MaintenanceReport,
                         _ db: PGConnection) throws -> Bool {
        guard let rolled = try watermarks(probe, site, db).rolled1h else { return false }
        let n = try db.query("DELETE FROM rollup_5m WHERE probe_id = $1 AND location = $2 AND bucket < $3",
                             [.int(probe), .text(site), .int(min(cutoff, rolled))]).affected
        report.pruned5m += n
        return n > 0
    }

    private func prune1h(probe: Int64, site: String, before cutoff: Int64, _ report: inout MaintenanceReport,
                         _ db: PGConnection) throws -> Bool {
        // Hours of a day not summed into `rollup_1d` yet stay.
        guard let rolled1d = try db.scalar("SELECT rolled_1d FROM probe_locations WHERE probe_id = $1 AND location = $2",
                                           [.int(probe), .text(site)]) else { return false }
        let n = try db.query("DELETE FROM rollup_1h WHERE probe_id = $1 AND location = $2 AND bucket < $3",
                             [.int(probe), .text(site), .int(min(cutoff, rolled1d))]).affected
        report.pruned1h += n
        return n > 0
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
        return (0..<r.count).map { i in
            var a = Aggregate.rollupEmpty
            a.mergeRollup(checks: Int(r.int64(i, 1)), failures: Int(r.int64(i, 2)), reasons: r.bytes(i, 3) ?? [],
                          latencyCount: Int(r.int64(i, 4)), min: r.int64OrNil(i, 5), max: r.int64OrNil(i, 6),
                          sum: r.int64(i, 7), histogram: r.bytes(i, 8) ?? [], phases: r.bytes(i, 9) ?? [])
            return (r.int64(i, 0), a)
        }
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
