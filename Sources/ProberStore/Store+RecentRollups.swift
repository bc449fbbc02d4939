/// Rollup rows of about the last day live in time order, and move to their probe's own range once a day.
///
/// `rollup_5m` and `rollup_1h` are keyed by (probe, bucket): a probe's history is one range, read in one seek. But
/// the hourly rollup then adds a probe's 12 rows at the end of its own range, a few 1 KiB pages scattered over a
/// file of gigabytes, and the kernel writes back whole 4 KiB pages: with a month of history at 10,000 probes the
/// hourly pass wrote 33 KB a probe, 91 bytes a check (docs/benchmarks.md). So new rows go to `rollup_5m_recent` and
/// `rollup_1h_recent`, keyed by (hour, probe, bucket): an hour's rows of all probes are appended side by side. Each
/// probe moves its rows from there to its own range once a day, at an hour of its own (`isMoveHour`), about 300
/// rows at once: whole new pages at the end of its range instead of a partly filled page rewritten every hour.
///
/// `rollup_marks.recent_from` (an hour boundary) splits a probe's rows: those before it are in the main tables,
/// those from it on in the recent ones. NULL (a probe maintenance has not reached since the upgrade) means all are
/// in the main tables. Every read and write of a probe's rollups goes through the functions here. A moved hour stays
/// in the recent tables until every probe has moved past it (`pruneRecentRollups`): deleting one probe's rows from a
/// time-ordered table would rewrite every page of the day.
extension Store {
    /// The columns of a rollup row after its probe and bucket, as `rollup_5m`, `rollup_1h` and their recent tables
    /// have them (BLOB encodings: docs/storage.md).
    static let rollupColumns = "checks, failures, reasons, lat_n, lat_min, lat_max, lat_sum, hist, phases"

    /// The time-ordered table beside a rollup table.
    static func recentTable(_ table: String) -> String { table + "_recent" }

    /// The `hour` column of a recent row: hours since the epoch (3 bytes, where microseconds take 8).
    static func hourNumber(_ t: Int64) -> Int64 { floor(t, bucket1h) / bucket1h }

    /// The last hour with rows in the recent table beside `table`, as an hour boundary.
    private func lastRecentHour(_ table: String, _ db: Connection) throws -> Int64? {
        try db.scalar("SELECT max(hour) FROM \(Self.recentTable(table))").map { $0 * Self.bucket1h }
    }

    /// Where the probe's rows in the recent tables begin; nil when they are all in the main tables.
    func recentFrom(_ probe: Int64, _ db: Connection) throws -> Int64? {
        let stmt = try db.prepare("SELECT recent_from FROM rollup_marks WHERE probe_id = ?1")
        try stmt.bind(1, probe)
        defer { stmt.reset() }
        return try stmt.step() ? stmt.int64OrNil(0) : nil
    }

    /// Calls `body` with each rollup row of one probe with `from <= bucket < to`, in order, from whichever table holds
    /// it. The statement's columns are `bucket` then `columns`. The recent table is read an hour at a time (one seek
    /// an hour: its key begins with the hour), up to its last hour.
    func forEachRollupRow(table: String, columns: String, probe: Int64, from: Int64, to: Int64, _ db: Connection,
                          _ body: (Statement) throws -> Void) throws {
        let split = try recentFrom(probe, db) ?? .max
        if from < min(to, split) {
            let select = try db.prepare("""
                SELECT bucket, \(columns) FROM \(table) WHERE probe_id = ?1 AND bucket >= ?2 AND bucket < ?3 ORDER BY bucket
                """)
            try select.bind(1, probe)
            try select.bind(2, from)
            try select.bind(3, min(to, split))
            defer { select.reset() }
            while try select.step() { try body(select) }
        }
        let start = max(from, split)
        guard start < to, let last = try lastRecentHour(table, db) else { return }
        let select = try db.prepare("""
            SELECT bucket, \(columns) FROM \(Self.recentTable(table))
            WHERE hour = ?1 AND probe_id = ?2 AND bucket >= ?3 AND bucket < ?4 ORDER BY bucket
            """)
        defer { select.reset() }
        var hour = Self.floor(start, Self.bucket1h)
        while hour < to, hour <= last {
            try select.bind(1, Self.hourNumber(hour))
            try select.bind(2, probe)
            try select.bind(3, start)
            try select.bind(4, to)
            while try select.step() { try body(select) }
            select.reset()
            hour += Self.bucket1h
        }
    }

    /// The probe's first rollup bucket in `table`, wherever it is.
    func firstRollup(table: String, probe: Int64, _ db: Connection) throws -> Int64? {
        if let first = try db.scalar("SELECT min(bucket) FROM \(table) WHERE probe_id = ?1", [probe]) { return first }
        guard let split = try recentFrom(probe, db),
              let last = try lastRecentHour(table, db) else { return nil }
        let select = try db.prepare("SELECT min(bucket) FROM \(Self.recentTable(table)) WHERE hour = ?1 AND probe_id = ?2")
        defer { select.reset() }
        var hour = split
        while hour <= last {
            try select.bind(1, Self.hourNumber(hour))
            try select.bind(2, probe)
            if try select.step(), let first = select.int64OrNil(0) { return first }
            select.reset()
            hour += Self.bucket1h
        }
        return nil
    }

    /// Writes (or replaces) rollup rows of one probe, each in the table its bucket belongs to.
    func insertRollups(table: String, probe: Int64, _ buckets: [(Int64, Aggregate)], _ db: Connection) throws {
        guard !buckets.isEmpty else { return }
        let split = try recentFrom(probe, db) ?? .max
        let columns = Self.rollupColumns
        let main = try db.prepare("""
            INSERT OR REPLACE INTO \(table)(probe_id, bucket, \(columns)) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
            """)
        let recent = try db.prepare("""
            INSERT OR REPLACE INTO \(Self.recentTable(table))(probe_id, bucket, \(columns), hour)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
            """)
        for (bucket, a) in buckets {
            let insert = bucket < split ? main : recent
            insert.reset()
            try insert.bind(1, probe)
            try insert.bind(2, bucket)
            try insert.bind(3, Int64(a.checks))
            try insert.bind(4, Int64(a.failures))
            try insert.bind(5, blob: a.encodedReasons())
            try insert.bind(6, Int64(a.latencyCount))
            try insert.bind(7, a.latencyMin)
            try insert.bind(8, a.latencyMax)
            try insert.bind(9, a.latencyCount > 0 ? a.latencySum : nil)
            try insert.bind(10, blob: a.encodedHistogram())
            try insert.bind(11, blob: a.encodedPhases())
            if bucket >= split { try insert.bind(12, Self.hourNumber(bucket)) }
            try insert.run()
        }
        main.reset()
        recent.reset()
    }

    /// Whether `hour` (an hour boundary) is the probe's hour to move its recent rows: one hour of the day a probe,
    /// so a pass moves a 24th of the probes' days, not all of them at midnight.
    static func isMoveHour(_ hour: Int64, probe: Int64) -> Bool {
        ((hour / bucket1h + probe) % 24 + 24) % 24 == 0
    }

    /// Most hours of recent rows one step moves (its chunk: 576 rows of 5 minutes and 48 of an hour).
    static let moveChunkHours: Int64 = 48

    /// A maintenance step: moves the probe's recent rows before `horizon` (the hour the rollups reached) to the main
    /// tables at its move hour, or whenever they span a day or more (after a stop, or a pass that did not reach the
    /// probe in its hour). The first time maintenance meets a probe it only sets where its recent rows begin: past
    /// every row it has in the main tables. True when it moved rows (more may be left).
    func moveRecentRollups(probe: Int64, horizon: Int64, _ db: Connection) throws -> Bool {
        guard let split = try recentFrom(probe, db) else {
            var start = horizon
            for table in ["rollup_5m", "rollup_1h"] {
                if let last = try db.scalar("SELECT max(bucket) FROM \(table) WHERE probe_id = ?1", [probe]) {
                    start = max(start, last + 1)
                }
            }
            try setWatermark("recent_from", probe: probe, to: Self.ceil(start, Self.bucket1h), db)
            return false
        }
        guard split < horizon, Self.isMoveHour(horizon, probe: probe) || split <= horizon - Self.day else { return false }
        let end = min(horizon, split + Self.moveChunkHours * Self.bucket1h)
        let columns = "probe_id, bucket, \(Self.rollupColumns)"
        for table in ["rollup_5m", "rollup_1h"] {
            let copy = try db.prepare("""
                INSERT OR REPLACE INTO \(table)(\(columns))
                SELECT \(columns) FROM \(Self.recentTable(table)) WHERE hour = ?1 AND probe_id = ?2 ORDER BY bucket
                """)
            for hour in stride(from: split, to: end, by: Int(Self.bucket1h)) {
                try copy.bind(1, Self.hourNumber(hour))
                try copy.bind(2, probe)
                try copy.run()
                copy.reset()
            }
        }
        try setWatermark("recent_from", probe: probe, to: end, db)
        return true
    }

    /// Deletes the hours of the recent tables every probe has moved past: a range at the start of each table, so a
    /// few pages and the freelist change. Returns the rows deleted.
    @discardableResult
    func pruneRecentRollups(_ db: Connection) throws -> Int {
        guard let below = try db.scalar("SELECT min(recent_from) FROM rollup_marks") else { return 0 }
        var deleted = 0
        for table in ["rollup_5m", "rollup_1h"] {
            let delete = try db.prepare("DELETE FROM \(Self.recentTable(table)) WHERE hour < ?1")
            try delete.bind(1, Self.hourNumber(below))
            try delete.run()
            deleted += db.changes
        }
        return deleted
    }
}
