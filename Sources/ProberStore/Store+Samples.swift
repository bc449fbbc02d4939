import CSQLite3
import ProberCore

/// One stored raw check, as every reader of raw samples in the store sees it.
struct RawSample {
    var ts: Int64
    /// `FailureReason.code`, 0 = ok.
    var reason: Int
    var status: Int64?
    var phases: Phases
    var bytes: Int64?
    /// 0 = IPv4, 1 = IPv6.
    var family: Int64?

    /// Whether any phase is present (the column is NULL otherwise).
    var hasPhases: Bool { Phases.Name.allCases.contains { phases[$0] != nil } }
}

/// The one reader and writer of raw samples: every query of the store that needs them goes through these, so the
/// table layout behind them (docs/storage.md) is known in this file only. All run on the store's queue.
extension Store {
    /// Calls `body` with the probe's samples with `from <= ts < to`, in start order (newest first with
    /// `newestFirst`), until it returns false.
    func forEachSample(probe: Int64, from: Int64, to: Int64, newestFirst: Bool = false, _ db: Connection,
                       _ body: (RawSample) throws -> Bool) throws {
        let select = try db.prepare("""
            SELECT ts, reason, status, phases, bytes, family FROM samples
            WHERE probe_id = ?1 AND ts >= ?2 AND ts < ?3 ORDER BY ts \(newestFirst ? "DESC" : "ASC")
            """)
        try select.bind(1, probe)
        try select.bind(2, from)
        try select.bind(3, to)
        defer { select.reset() }
        while try select.step() {
            guard try body(Self.rawSample(select)) else { return }
        }
    }

    /// The probe's samples with `from <= ts < to`, in start order.
    func samples(probe: Int64, from: Int64, to: Int64, _ db: Connection) throws -> [RawSample] {
        var out: [RawSample] = []
        try forEachSample(probe: probe, from: from, to: to, db) { out.append($0); return true }
        return out
    }

    /// The start of the probe's oldest sample kept.
    func firstSampleTime(probe: Int64, _ db: Connection) throws -> Int64? {
        try db.scalar("SELECT min(ts) FROM samples WHERE probe_id = ?1", [probe])
    }

    /// The probe's newest sample.
    func lastSample(probe: Int64, _ db: Connection) throws -> RawSample? {
        var last: RawSample?
        try forEachSample(probe: probe, from: Int64.min, to: Int64.max, newestFirst: true, db) { last = $0; return false }
        return last
    }

    /// The newest sample of every probe that has one, by probe id.
    func lastSamples(_ db: Connection) throws -> [Int64: RawSample] {
        let select = try db.prepare("""
            SELECT s.ts, s.reason, s.status, s.phases, s.bytes, s.family, p.id FROM probes p
            CROSS JOIN samples s ON s.probe_id = p.id AND s.ts = (SELECT max(ts) FROM samples WHERE probe_id = p.id)
            """)
        defer { select.reset() }
        var out: [Int64: RawSample] = [:]
        while try select.step() { out[select.int64(6)] = Self.rawSample(select) }
        return out
    }

    /// Appends samples (inside the caller's transaction), `probe` being each one's probe id. A second sample for
    /// the same probe and microsecond replaces the first.
    func appendSamples(_ samples: [(probe: Int64, sample: Sample)], _ db: Connection) throws {
        let stmt = try db.prepare("""
            INSERT OR REPLACE INTO samples(probe_id, ts, reason, status, phases, bytes, family)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
            """)
        for (id, sample) in samples {
            let h = stmt.handle
            sqlite3_bind_int64(h, 1, id)
            sqlite3_bind_int64(h, 2, sample.startedAt)
            sqlite3_bind_int64(h, 3, Int64(sample.failure?.reason.code ?? 0))
            Self.bindOptional(h, 4, sample.status.map(Int64.init))
            try stmt.bind(5, blob: PhaseCodec.encode(sample.phases))
            Self.bindOptional(h, 6, sample.bytes)
            Self.bindOptional(h, 7, sample.ipFamily.map { $0 == .ipv6 ? 1 : 0 })
            try stmt.run()
        }
    }

    /// Deletes at most `limit` of the probe's oldest samples with `ts < before`; returns how many.
    func deleteSamples(probe: Int64, before: Int64, limit: Int, _ db: Connection) throws -> Int {
        let bound = try db.scalar("""
            SELECT ts FROM samples WHERE probe_id = ?1 AND ts < ?2 ORDER BY ts LIMIT 1 OFFSET ?3
            """, [probe, before, Int64(limit - 1)])
        let delete = try db.prepare("DELETE FROM samples WHERE probe_id = ?1 AND ts < ?2")
        try delete.bind(1, probe)
        try delete.bind(2, bound.map { $0 + 1 } ?? before)
        try delete.run()
        return db.changes
    }

    private static func rawSample(_ s: Statement) -> RawSample {
        RawSample(ts: s.int64(0), reason: Int(s.int64(1)), status: s.int64OrNil(2), phases: phases(s, from: 3),
                  bytes: s.int64OrNil(4), family: s.int64OrNil(5))
    }

    static func bindOptional(_ stmt: OpaquePointer, _ index: Int32, _ value: Int64?) {
        if let value { sqlite3_bind_int64(stmt, index, value) } else { sqlite3_bind_null(stmt, index) }
    }
}
