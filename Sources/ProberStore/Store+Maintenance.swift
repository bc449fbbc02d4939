import Dispatch
import Foundation
import ProberCore
import ProberStorage

extension Store {
    /// 5-minute and 1-hour bucket widths, microseconds.
    static let bucket5m = HistoryResolution.rollup5m.width
    static let bucket1h = HistoryResolution.rollup1h.width
    /// Raw samples are rolled up only once their 5-minute bucket ended this long ago, so samples
    /// flushed late (a slow check, a short lock) still land in their rollup.
    static let rollupGrace: Int64 = 120_000_000
    /// Rows a maintenance step reads or deletes at a time (its chunk).
    static let maintenanceChunk = 5_000

    /// Rolls raw samples into 5-minute buckets, those into 1-hour buckets and those into days, then applies retention,
    /// in transactions of about `maintenanceSlice` (50 ms; several probes each, a step at most a chunk of a few thousand
    /// rows) so the sample writer interleaves. Raw samples and 5-minute rows are only deleted once rolled up. Call it every
    /// minute from a thread that may block (not the cooperative pool); it stops after `budget` and reports whether
    /// work is left (every call makes progress on at least one probe, even with a zero budget).
    /// `now` is microseconds since the epoch.
    @discardableResult
    public func maintain(now: Int64, policy: StoragePolicy, budget: Duration = .seconds(5)) throws -> MaintenanceReport {
        dispatchPrecondition(condition: .notOnQueue(queue))
        // Recent samples into blocks first (normally the writer did it already): outside the budget, as it is one
        // transaction for every probe.
        try queue.sync { try foldIfDue(now: now) }
        // The hours of recent rollups every probe has moved to its own range (see `Store+RecentRollups.swift`).
        try queue.sync { _ = try writeOnQueue { db in try pruneRecentRollups(db) } }
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(budget.microseconds) * 1_000
        var report = MaintenanceReport()
        let ids: [Int64] = try queue.sync {
            let stmt = try connection.prepare("SELECT id FROM probes ORDER BY id")
            var ids: [Int64] = []
            while try stmt.step() { ids.append(stmt.int64(0)) }
            stmt.reset()
            return ids
        }
        // 5-minute rows are made an hour at a time: with a day of history, one row every 5 minutes at the end of the
        // probe's range of `rollup_5m` put ~2.6 KB a probe into the WAL (and as much into the file at the checkpoint),
        // 12 rows an hour ~6.3 KB. They are now appended to the time-ordered recent tables and move to the probe's
        // range once a day (`moveRecentRollups`). Readers take raw samples from `rolled_5m` on, so the rows' lag (up to
        // 62 minutes) is not seen.
        let horizon5m = (now - Self.rollupGrace) / Self.bucket5m * Self.bucket5m
        let horizon = Self.floor(horizon5m, Self.bucket1h)
        var scan: RecentScan? // taken by the first rollup due
        // Rollup retention moves a day at a time: a probe's oldest rows sit at the start of its own range, and deleting
        // them as each bucket passed the cutoff rewrote a page or more a probe every 5 minutes once the file held
        // `storage.rollup5m` of history (every hour for 1-hour rows, once `storage.rollup1h` is reached). A day's rows
        // go at once, and are kept up to a day past the retention.
        let cut5m = Self.floor(now - policy.rollup5m.microseconds, Self.day)
        let cut1h = Self.floor(now - policy.rollup1h.microseconds, Self.day)
        // A probe's steps, in order: each does one chunk and says whether it did anything (more may be left).
        let steps = 9
        func step(_ k: Int, _ id: Int64, _ db: Connection) throws -> Bool {
            switch k {
            case 0: try rollup5m(probe: id, horizon: horizon, clock: horizon5m, &scan, &report, db)
            case 1: try rollup1h(probe: id, &report, db)
            case 2: try rollup1d(probe: id, db)
            case 3: try moveRecentRollups(probe: id, horizon: horizon, db)
            case 4: try archiveOldestDay(probe: id, now: now, db)
            case 5: try pruneSamples(probe: id, before: now - policy.raw.microseconds, &report, db)
            case 6: try prune5m(probe: id, before: cut5m, &report, db)
            case 7: try prune1h(probe: id, before: cut1h, &report, db)
            default: try prune1d(probe: id, before: cut1h, db)
            }
        }
        // Passes over the probes, each step once per probe per pass, until a pass finds nothing to do. Consecutive
        // probes share a transaction: one a probe rewrote the same `rollup_5m` and watermark pages in the WAL again
        // and again (at 60,000 probes one 5-minute rollup wrote 196 MB, ~109 bytes a check, and took 7.5 s of CPU in
        // 180,000 transactions).
        var pass = ids
        var progressed = false
        while !pass.isEmpty {
            var stillBusy: [Int64] = []
            var p = 0, k = 0, worked = false // the next step: probe `pass[p]`, step `k`; whether that probe did work
            while p < pass.count {
                if progressed, DispatchTime.now().uptimeNanoseconds > deadline {
                    report.finished = false
                    return report
                }
                try queue.sync {
                    try writeOnQueue { db in
                        let end = DispatchTime.now().uptimeNanoseconds + maintenanceSlice
                        repeat {
                            if try step(k, pass[p], db) { worked = true; progressed = true }
                            k += 1
                            if k == steps {
                                if worked { stillBusy.append(pass[p]) }
                                p += 1; k = 0; worked = false
                            }
                        } while p < pass.count && DispatchTime.now().uptimeNanoseconds < end
                    }
                }
                report.transactions += 1
            }
            pass = stillBusy
        }
        return report
    }

    /// Reads the probe's watermarks: its raw samples are rolled up below `rolled5m`, its 5-minute rows below
    /// `rolled1h`, its 1-hour rows below `rolled1d` (a day boundary).
    func watermarks(_ probe: Int64, _ db: Connection) throws -> (rolled5m: Int64?, rolled1h: Int64?, rolled1d: Int64?) {
        let stmt = try db.prepare("SELECT rolled_5m, rolled_1h, rolled_1d FROM rollup_marks WHERE probe_id = ?1")
        try stmt.bind(1, probe)
        defer { stmt.reset() }
        guard try stmt.step() else { return (nil, nil, nil) }
        return (stmt.int64OrNil(0), stmt.int64OrNil(1), stmt.int64OrNil(2))
    }

    /// Sets one of the probe's watermarks (`column` of `rollup_marks`, `recent_from` included), creating its row.
    func setWatermark(_ column: String, probe: Int64, to mark: Int64, _ db: Connection) throws {
        let upsert = try db.prepare("""
            INSERT INTO rollup_marks(probe_id, \(column)) VALUES (?1, ?2)
            ON CONFLICT(probe_id) DO UPDATE SET \(column) = excluded.\(column)
            """)
        try upsert.bind(1, probe)
        try upsert.bind(2, mark)
        try upsert.run()
    }

    /// A watermark past the horizon means the clock went back (a step, or a start on an earlier clock): the
    /// samples written since are labelled behind it. Moves both watermarks back so their buckets are rolled up
    /// again, from every raw sample in them, as time reaches them; never before the oldest raw sample kept
    /// (a bucket retention already thinned keeps its rollup).
    private func rewindAfterStepBack(probe: Int64, horizon: Int64, _ db: Connection) throws {
        let marks = try watermarks(probe, db)
        guard let mark = marks.rolled5m, mark > horizon,
              let oldest = try firstSampleTime(probe: probe, db) else { return }
        let target = max(horizon, Self.floor(oldest + Self.bucket5m - 1, Self.bucket5m))
        guard target < mark else { return }
        let update = try db.prepare("""
            UPDATE rollup_marks SET rolled_5m = ?2, rolled_1h = min(rolled_1h, ?3), rolled_1d = min(rolled_1d, ?4)
            WHERE probe_id = ?1
            """)
        try update.bind(1, probe)
        try update.bind(2, target)
        try update.bind(3, Self.floor(target, Self.bucket1h))
        try update.bind(4, Self.floor(target, Self.day))
        try update.run()
    }

    /// What one scan of `sample_recent` saw of the rows before a pass's 5-minute horizon: each probe's oldest such
    /// row, and the last commit then. A probe's recent rows before the horizon are those the scan saw (none when it
    /// has no entry) and those of later commits (commit numbers only increase, `lastRecentSeq`), so a rollup seeks
    /// the few commits since the scan, not every commit since the last fold: that was one seek a second of recent
    /// rows for every probe, 0.85-2.5 s of CPU a minute at 30,000 probes in their first minutes (no watermark yet,
    /// so every pass looked for the oldest sample) and as much at each first rollup.
    struct RecentScan {
        let lastSeq: Int64
        let firsts: [Int64: Int64]
    }

    func recentScan(before horizon: Int64, _ db: Connection) throws -> RecentScan {
        let select = try db.prepare("SELECT probe_id, min(ts) FROM sample_recent WHERE ts < ?1 GROUP BY probe_id")
        try select.bind(1, horizon)
        defer { select.reset() }
        var firsts: [Int64: Int64] = [:]
        while try select.step() { firsts[select.int64(0)] = select.int64(1) }
        return RecentScan(lastSeq: max(try db.scalar("SELECT max(seq) FROM sample_recent") ?? 0, lastRecentSeq), firsts: firsts)
    }

    /// Rolls the probe's raw samples before `horizon` (an hour boundary) into 5-minute rows, from its watermark or,
    /// without one, from its oldest sample. `clock` is the 5-minute horizon now: a watermark past it means the clock
    /// went back. `scan` is the pass's `RecentScan`, taken here when first needed.
    private func rollup5m(probe: Int64, horizon: Int64, clock: Int64, _ scan: inout RecentScan?,
                          _ report: inout MaintenanceReport, _ db: Connection) throws -> Bool {
        try rewindAfterStepBack(probe: probe, horizon: clock, db)
        var from = try watermarks(probe, db).rolled5m
        if let mark = from, mark >= horizon { return false }
        let seen = try scan ?? recentScan(before: horizon, db)
        scan = seen
        // Without any recent row before the horizon when the scan ran, only the commits since can hold one.
        let recentAfter = seen.firsts[probe] == nil ? seen.lastSeq : .min
        if from == nil {
            guard let first = try firstSampleTime(probe: probe, to: horizon, after: recentAfter, db) else { return false }
            from = Self.floor(first, Self.bucket5m)
        }
        guard let start = from, start < horizon else { return false }
        var buckets: [(Int64, Aggregate)] = []
        var rows = 0
        var lastTs = start
        try forEachSample(probe: probe, from: start, to: horizon, recentAfter: recentAfter, db) { sample in
            rows += 1
            lastTs = sample.ts
            let bucket = Self.floor(sample.ts, Self.bucket5m)
            if buckets.last?.0 != bucket { buckets.append((bucket, Aggregate())) }
            buckets[buckets.count - 1].1.add(reason: sample.reason, phases: sample.phases)
            return rows < Self.maintenanceChunk
        }
        var end = horizon
        if rows == Self.maintenanceChunk {
            // The last bucket may continue past the limit: leave it for the next chunk (a 5-minute bucket
            // holds at most 3,000 samples at the 100 ms minimum interval, below the chunk).
            end = Self.floor(lastTs, Self.bucket5m)
            if buckets.count > 1 { buckets.removeLast() }
            if end <= start { end = start + Self.bucket5m }
        }
        try insertRollups(table: "rollup_5m", probe: probe, buckets, db)
        report.rolled5m += buckets.count
        try setWatermark("rolled_5m", probe: probe, to: end, db)
        return true
    }

    private func rollup1h(probe: Int64, _ report: inout MaintenanceReport, _ db: Connection) throws -> Bool {
        let marks = try watermarks(probe, db)
        guard let rolled5m = marks.rolled5m else { return false }
        let horizon = Self.floor(rolled5m, Self.bucket1h)
        var from = marks.rolled1h
        if from == nil {
            guard let first = try firstRollup(table: "rollup_5m", probe: probe, db) else { return false }
            from = Self.floor(first, Self.bucket1h)
        }
        guard let start = from, start < horizon else { return false }
        let end = min(horizon, start + 48 * Self.bucket1h) // at most 576 rows of 5m per transaction
        var buckets: [(Int64, Aggregate)] = []
        try forEachRollup(table: "rollup_5m", probe: probe, from: start, to: end, db) { bucket, row in
            let hour = Self.floor(bucket, Self.bucket1h)
            if buckets.last?.0 != hour { buckets.append((hour, Aggregate.rollupEmpty)) }
            row.merge(into: &buckets[buckets.count - 1].1)
        }
        try insertRollups(table: "rollup_1h", probe: probe, buckets, db)
        report.rolled1h += buckets.count
        try setWatermark("rolled_1h", probe: probe, to: end, db)
        return true
    }

    /// Sums the 1-hour rows of each day that ended before `rolled_1h` into `rollup_1d` (the status page's bars).
    private func rollup1d(probe: Int64, _ db: Connection) throws -> Bool {
        let marks = try watermarks(probe, db)
        guard let rolled1h = marks.rolled1h else { return false }
        let horizon = Self.floor(rolled1h, Self.day)
        var from = marks.rolled1d
        if from == nil {
            guard let first = try firstRollup(table: "rollup_1h", probe: probe, db) else { return false }
            from = Self.floor(first, Self.day)
        }
        guard let start = from, start < horizon else { return false }
        let end = min(horizon, start + 90 * Self.day) // at most 2,160 rows of 1h per transaction
        var days: [(day: Int64, checks: Int64, failures: Int64)] = []
        try forEachRollupRow(table: "rollup_1h", columns: "checks, failures", probe: probe, from: start, to: end, db) { row in
            let day = Self.floor(row.int64(0), Self.day)
            if days.last?.day != day { days.append((day, 0, 0)) }
            days[days.count - 1].checks += row.int64(1)
            days[days.count - 1].failures += row.int64(2)
        }
        let insert = try db.prepare("INSERT OR REPLACE INTO rollup_1d(probe_id, bucket, checks, failures) VALUES (?1, ?2, ?3, ?4)")
        for d in days {
            insert.reset()
            try insert.bind(1, probe)
            try insert.bind(2, d.day)
            try insert.bind(3, d.checks)
            try insert.bind(4, d.failures)
            try insert.run()
        }
        try setWatermark("rolled_1d", probe: probe, to: end, db)
        return true
    }

    private func pruneSamples(probe: Int64, before cutoff: Int64, _ report: inout MaintenanceReport, _ db: Connection) throws -> Bool {
        // Never delete what is not rolled up yet.
        guard let rolled = try watermarks(probe, db).rolled5m else { return false }
        let n = try deleteSamples(probe: probe, before: min(cutoff, rolled), limit: Self.maintenanceChunk, db)
        report.prunedSamples += n
        return n > 0
    }

    private func prune5m(probe: Int64, before cutoff: Int64, _ report: inout MaintenanceReport, _ db: Connection) throws -> Bool {
        guard let rolled = try watermarks(probe, db).rolled1h else { return false }
        let n = try deleteChunk(table: "rollup_5m", key: "bucket", probe: probe, before: min(cutoff, rolled), db)
        report.pruned5m += n
        return n > 0
    }

    private func prune1h(probe: Int64, before cutoff: Int64, _ report: inout MaintenanceReport, _ db: Connection) throws -> Bool {
        // Hours of a day not summed into `rollup_1d` yet stay.
        guard let rolled = try watermarks(probe, db).rolled1d else { return false }
        let n = try deleteChunk(table: "rollup_1h", key: "bucket", probe: probe, before: min(cutoff, rolled), db)
        report.pruned1h += n
        return n > 0
    }

    /// Days go with the 1-hour rollups' retention (a day boundary): a day goes with its hours.
    private func prune1d(probe: Int64, before cutoff: Int64, _ db: Connection) throws -> Bool {
        try deleteChunk(table: "rollup_1d", key: "bucket", probe: probe, before: cutoff, db) > 0
    }

    /// Deletes at most `maintenanceChunk` of the probe's rows with `key < before`.
    private func deleteChunk(table: String, key: String, probe: Int64, before: Int64, _ db: Connection) throws -> Int {
        let bound = try db.scalar("""
            SELECT \(key) FROM \(table) WHERE probe_id = ?1 AND \(key) < ?2 ORDER BY \(key) LIMIT 1 OFFSET ?3
            """, [probe, before, Int64(Self.maintenanceChunk - 1)])
        let delete = try db.prepare("DELETE FROM \(table) WHERE probe_id = ?1 AND \(key) < ?2")
        try delete.bind(1, probe)
        try delete.bind(2, bound.map { $0 + 1 } ?? before)
        try delete.run()
        return db.changes
    }

    /// Rollup rows of one probe with `from <= bucket < to`, in order.
    func rollups(table: String, probe: Int64, from: Int64, to: Int64, _ db: Connection) throws -> [(Int64, Aggregate)] {
        var out: [(Int64, Aggregate)] = []
        try forEachRollup(table: table, probe: probe, from: from, to: to, db) { bucket, row in
            var a = Aggregate.rollupEmpty
            row.merge(into: &a)
            out.append((bucket, a))
        }
        return out
    }

    /// Calls `body` with each rollup row of one probe with `from <= bucket < to`, in order; the row can
    /// be merged into an aggregate without copying its BLOBs.
    func forEachRollup(table: String, probe: Int64, from: Int64, to: Int64, _ db: Connection,
                       _ body: (Int64, RollupRow) throws -> Void) throws {
        try forEachRollupRow(table: table, columns: Self.rollupColumns, probe: probe, from: from, to: to, db) {
            try body($0.int64(0), RollupRow(statement: $0))
        }
    }

    /// Decodes the `phases` column at `column`.
    static func phases(_ stmt: Statement, from column: Int) -> Phases {
        stmt.isNull(column) ? Phases() : PhaseCodec.decode(stmt.blob(column))
    }

    /// Rounds down to a multiple of `width` (also for negative times).
    static func floor(_ t: Int64, _ width: Int64) -> Int64 {
        t >= 0 ? t / width * width : -((-t + width - 1) / width) * width
    }
}

/// The current row of a rollup SELECT of `bucket, \(Store.rollupColumns)`, read by index (valid only inside
/// `forEachRollup`'s body).
struct RollupRow {
    let statement: Statement

    func merge(into a: inout Aggregate) {
        let s = statement
        s.withBlob(3) { reasons in
            s.withBlob(8) { histogram in
                s.withBlob(9) { phases in
                    a.mergeRollup(checks: Int(s.int64(1)), failures: Int(s.int64(2)), reasons: reasons,
                                  latencyCount: Int(s.int64(4)), min: s.int64OrNil(5), max: s.int64OrNil(6),
                                  sum: s.int64(7), histogram: histogram, phases: phases)
                }
            }
        }
    }
}

extension Aggregate {
    /// An empty aggregate that will only ever hold rollups (not exact).
    package static var rollupEmpty: Aggregate {
        var a = Aggregate()
        a.exactPhases = nil
        return a
    }
}
