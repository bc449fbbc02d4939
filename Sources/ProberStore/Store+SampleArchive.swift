import ProberCore

/// The second fold: a probe's 5-minute blocks of a UTC day, once the day ended `archiveGrace` ago, merged into one
/// `sample_archive` row (`SampleArchive`), about 8 bytes a sample against 20 in blocks (docs/storage.md). Store
/// queue only.
///
/// A 5-minute block that exists beside an archived day is newer than it (a late sample folded after the
/// merge): readers lay it over the day, and the next merge takes it in. `sample_archive` is a rowid table with
/// a (probe, day) index, not WITHOUT ROWID: a day is tens of kilobytes, and a rowid table's overflow pages are
/// filled whole, where an index B-tree's last overflow page is half empty on average.
extension Store {
    /// Width of an archived block: a UTC day.
    static let archiveWidth: Int64 = 86_400_000_000
    /// A day's blocks are merged once it ended this long ago (late samples have long been folded by then).
    static let archiveGrace: Int64 = 3_600_000_000

    /// Merges the probe's oldest day of 5-minute blocks into its archived day, if that day ended `archiveGrace`
    /// before `now`; one day per call, so a call is one short transaction, and a call after a crash starts over
    /// from the day it did not finish. True when it did something (more may be left).
    func archiveOldestDay(probe: Int64, now: Int64, _ db: Connection) throws -> Bool {
        guard let span = try span(probe: probe, db) else { return false }
        let day = Self.floor(span.first, Self.archiveWidth), end = day + Self.archiveWidth
        guard end <= now - Self.archiveGrace else { return false }
        let block = try db.prepare("SELECT data FROM sample_blocks WHERE start = ?1 AND probe_id = ?2")
        let delete = try db.prepare("DELETE FROM sample_blocks WHERE start = ?1 AND probe_id = ?2")
        var newer: [RawSample] = []
        for w in stride(from: max(day, span.first), to: min(end, span.last + 1), by: Int(Self.blockWidth)) {
            let samples = try readBlock(block, start: w, probe: probe)
            guard !samples.isEmpty else { continue }
            newer += samples
            try delete.bind(1, w)
            try delete.bind(2, probe)
            try delete.run()
            delete.reset()
        }
        if !newer.isEmpty {
            let samples = Self.merged(try archivedDay(probe: probe, start: day, db), newer)
            let insert = try db.prepare("INSERT OR REPLACE INTO sample_archive(probe_id, start, data) VALUES (?1, ?2, ?3)")
            try insert.bind(1, probe)
            try insert.bind(2, day)
            try insert.bind(3, blob: SampleArchive.encode(samples, start: day))
            try insert.run()
        }
        let update = try db.prepare(end > span.last
            ? "DELETE FROM sample_span WHERE probe_id = ?1"
            : "UPDATE sample_span SET first = ?2 WHERE probe_id = ?1")
        try update.bind(1, probe)
        if end <= span.last { try update.bind(2, end) }
        try update.run()
        return true
    }

    /// The starts of the probe's archived days that overlap `from..<to`, in order.
    func archivedDays(probe: Int64, from: Int64, to: Int64, _ db: Connection) throws -> [Int64] {
        let select = try db.prepare("SELECT start FROM sample_archive WHERE probe_id = ?1 AND start >= ?2 AND start < ?3 ORDER BY start")
        try select.bind(1, probe)
        try select.bind(2, Self.floor(from, Self.archiveWidth))
        try select.bind(3, to)
        defer { select.reset() }
        var days: [Int64] = []
        while try select.step() { days.append(select.int64(0)) }
        return days
    }

    /// The samples of one archived day with `from <= ts < to` (empty when it is not archived). The day read last
    /// is kept decoded, as long as its stored bytes are the same: the incident baseline reads a day an hour at a
    /// time, and inflating it 24 times tripled its cost. A day is decoded only up to `to` (days are stored in start
    /// order; the automatic thresholds' reference reads one hour of each of 7 days); a second read of the same day
    /// past what was decoded decodes it whole, so reading a day hour by hour in either direction decodes it at most
    /// twice.
    func archivedDay(probe: Int64, start: Int64, from: Int64 = .min, to: Int64 = .max, _ db: Connection) throws -> [RawSample] {
        let select = try db.prepare("SELECT data FROM sample_archive WHERE probe_id = ?1 AND start = ?2")
        try select.bind(1, probe)
        try select.bind(2, start)
        defer { select.reset() }
        guard try select.step() else { return [] }
        let data = select.blob(0)
        let samples: [RawSample]
        let cached = lastArchivedDay.flatMap { $0.probe == probe && $0.start == start && $0.data == data ? $0 : nil }
        if let cached, to <= cached.through {
            samples = cached.samples
        } else {
            let through = cached == nil && to < start + Self.archiveWidth ? to : .max
            samples = data.withUnsafeBytes { SampleArchive.decode($0, start: start, to: through, sorted: true) }
            lastArchivedDay = ArchivedDayCache(probe: probe, start: start, data: data, samples: samples, through: through)
        }
        return from == .min && to == .max ? samples : samples.filter { $0.ts >= from && $0.ts < to }
    }

    /// The probe's last archived day, if any.
    func lastArchivedDay(probe: Int64, _ db: Connection) throws -> Int64? {
        try db.scalar("SELECT max(start) FROM sample_archive WHERE probe_id = ?1", [probe])
    }

    /// Deletes the probe's archived days that end at or before `before`, at most `limit` samples' worth (at
    /// least one day); returns how many samples.
    func deleteArchivedDays(probe: Int64, before: Int64, limit: Int, _ db: Connection) throws -> Int {
        let select = try db.prepare("""
            SELECT start, data FROM sample_archive WHERE probe_id = ?1 AND start <= ?2 ORDER BY start
            """)
        try select.bind(1, probe)
        try select.bind(2, before - Self.archiveWidth)
        var days: [Int64] = []
        var deleted = 0
        while deleted < limit, try select.step() {
            days.append(select.int64(0))
            deleted += select.withBlob(1) { SampleArchive.count($0) }
        }
        select.reset()
        let delete = try db.prepare("DELETE FROM sample_archive WHERE probe_id = ?1 AND start = ?2")
        for day in days {
            try delete.bind(1, probe)
            try delete.bind(2, day)
            try delete.run()
            delete.reset()
        }
        return deleted
    }
}

/// One archived day as stored and decoded.
struct ArchivedDayCache {
    let probe: Int64
    let start: Int64
    let data: [UInt8]
    /// Every sample of the day that starts before `through` (`Int64.max`: the whole day), in start order.
    let samples: [RawSample]
    let through: Int64
}

extension Store {
    /// Version 12: archived days of raw samples (see `Store+SampleArchive.swift`).
    static let schemaSampleArchive = """
        CREATE TABLE sample_archive(
            probe_id INTEGER NOT NULL,
            start INTEGER NOT NULL,               -- the UTC day's start
            data BLOB NOT NULL                    -- SampleArchive: the probe's samples of the day
        );
        CREATE UNIQUE INDEX sample_archive_key ON sample_archive(probe_id, start);
        """
}
