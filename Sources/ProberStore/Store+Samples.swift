import Dispatch
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
/// layout behind them is known in this file only. All run on the store's queue.
///
/// Layout (docs/storage.md): a commit appends its samples to `sample_recent`, keyed by the commit's sequence
/// number, so a batch fills pages at the end of one B-tree instead of dirtying one page per probe. `fold` moves
/// the samples of each 5-minute window, once it ended `foldGrace` ago, into one `sample_blocks` row per probe
/// (`SampleBlock`), keyed (window, probe) so a fold also writes at the end. `sample_span` keeps each probe's
/// first and last block, so that reads seek the probe's windows only. Days of blocks are merged into archived days
/// later (`Store+SampleArchive.swift`). A reader sees archived days, blocks and recent rows; of two samples of the
/// same probe and microsecond the later written wins (a block over an archived day, a recent row over a block).
extension Store {
    /// Width of a block's window: the 5-minute rollup bucket, so a rollup reads one block.
    static let blockWidth = bucket5m
    /// A window is folded once it ended this long ago (longer checks are merged into their block later).
    static let foldGrace: Int64 = 60_000_000
    /// Above this many commits in `sample_recent`, a probe's recent samples are read by one scan, not one seek a commit.
    private static let recentSeeks: Int64 = 2_000

    /// Calls `body` with the probe's samples with `from <= ts < to`, in start order (newest first with
    /// `newestFirst`), until it returns false. With `recentAfter`, the caller knows the probe has no such recent row
    /// of that commit or an earlier one: only later commits are read.
    func forEachSample(probe: Int64, from: Int64, to: Int64, newestFirst: Bool = false, recentAfter: Int64 = .min,
                       _ db: Connection, _ body: (RawSample) throws -> Bool) throws {
        // Far enough from the ends of Int64 that window arithmetic cannot overflow.
        let from = max(from, Int64.min / 4), to = min(to, Int64.max / 4)
        guard from < to else { return }
        var recent: [Int64: [RawSample]] = [:]
        for sample in try recentSamples(probe: probe, from: from, to: to, after: recentAfter, db) {
            recent[Self.floor(sample.ts, Self.blockWidth), default: []].append(sample)
        }
        // The windows to visit, in order: the blocks' within the probe's span, and those of recent samples outside it.
        var lo: Int64 = 0, hi: Int64 = -1
        if let span = try span(probe: probe, db) {
            lo = max(Self.floor(from, Self.blockWidth), span.first)
            hi = min(Self.floor(to - 1, Self.blockWidth), span.last)
        }
        let recentWindows = recent.keys.sorted()
        let before = recentWindows.filter { lo > hi || $0 < lo }, after = lo > hi ? [] : recentWindows.filter { $0 > hi }
        let blocks = lo > hi ? [] : Array(stride(from: lo, through: hi, by: Int(Self.blockWidth)))
        let windows = before + blocks + after
        // An archived day is read whole, with the windows inside it laid over it; the other windows one by one.
        let days = try archivedDays(probe: probe, from: from, to: to, db)
        let archived = Set(days)
        var units = days.map { (start: $0, day: true) }
        units += windows.filter { !archived.contains(Self.floor($0, Self.archiveWidth)) }.map { (start: $0, day: false) }
        units.sort { $0.start < $1.start }
        var inDay: [Int64: [Int64]] = [:]
        for w in windows where archived.contains(Self.floor(w, Self.archiveWidth)) {
            inDay[Self.floor(w, Self.archiveWidth), default: []].append(w)
        }
        let block = try db.prepare("SELECT data FROM sample_blocks WHERE start = ?1 AND probe_id = ?2")
        func window(_ w: Int64) throws -> [RawSample] {
            let samples = try readBlock(block, start: w, probe: probe)
            return recent[w].map { Self.merged(samples, $0) } ?? samples
        }
        for unit in newestFirst ? units.reversed() : units {
            var samples: [RawSample]
            if unit.day {
                samples = try archivedDay(probe: probe, start: unit.start, from: from, to: to, db)
                let newer = try (inDay[unit.start] ?? []).flatMap(window)
                if !newer.isEmpty { samples = Self.merged(samples, newer) }
            } else {
                samples = try window(unit.start)
            }
            for sample in newestFirst ? samples.reversed() : samples where sample.ts >= from && sample.ts < to {
                guard try body(sample) else { return }
            }
        }
    }

    /// The probe's samples with `from <= ts < to`, in start order.
    func samples(probe: Int64, from: Int64, to: Int64, _ db: Connection) throws -> [RawSample] {
        var out: [RawSample] = []
        try forEachSample(probe: probe, from: from, to: to, db) { out.append($0); return true }
        return out
    }

    /// The start of the probe's oldest sample kept: folded, or recent before `to` of the commits after `after` (a
    /// caller that knows the probe has no recent row before `to` up to that commit, `RecentScan`).
    func firstSampleTime(probe: Int64, to: Int64 = Int64.max, after: Int64 = .min, _ db: Connection) throws -> Int64? {
        let recent = try recentSamples(probe: probe, from: Int64.min, to: to, after: after, db).first?.ts
        return try [recent, firstFoldedSampleTime(probe: probe, db)].compactMap { $0 }.min()
    }

    /// The start of the probe's oldest folded sample (in a block or an archived day).
    private func firstFoldedSampleTime(probe: Int64, _ db: Connection) throws -> Int64? {
        var first: Int64?
        if let day = try archivedDays(probe: probe, from: Int64.min / 4, to: Int64.max / 4, db).first,
           let ts = try archivedDay(probe: probe, start: day, db).first?.ts {
            first = min(first ?? ts, ts)
        }
        if let span = try span(probe: probe, db) {
            let block = try db.prepare("SELECT data FROM sample_blocks WHERE start = ?1 AND probe_id = ?2")
            for w in stride(from: span.first, through: span.last, by: Int(Self.blockWidth)) {
                if let ts = try readBlock(block, start: w, probe: probe).first?.ts {
                    first = min(first ?? ts, ts)
                    break
                }
            }
        }
        return first
    }

    /// The probe's newest sample.
    func lastSample(probe: Int64, _ db: Connection) throws -> RawSample? {
        var last: RawSample?
        try forEachSample(probe: probe, from: Int64.min, to: Int64.max, newestFirst: true, db) { last = $0; return false }
        return last
    }

    /// The newest sample of every probe that has one, by probe id: one scan of the recent rows and a seek of each
    /// probe's last block.
    func lastSamples(_ db: Connection) throws -> [Int64: RawSample] {
        var out: [Int64: RawSample] = [:]
        let recent = try db.prepare("SELECT probe_id, ts, reason, status, phases, bytes, family FROM sample_recent")
        while try recent.step() {
            let id = recent.int64(0)
            let sample = Self.rawSample(recent, from: 1)
            if let old = out[id], old.ts > sample.ts { continue }
            out[id] = sample
        }
        recent.reset()
        let spans = try db.prepare("""
            SELECT s.probe_id, s.last, b.data FROM sample_span s
            CROSS JOIN sample_blocks b ON b.start = s.last AND b.probe_id = s.probe_id
            """)
        defer { spans.reset() }
        while try spans.step() {
            let id = spans.int64(0)
            guard let sample = spans.withBlob(2, { SampleBlock.decode($0, start: spans.int64(1)) }).last else { continue }
            if let newer = out[id], newer.ts >= sample.ts { continue }
            out[id] = sample
        }
        // A probe whose newest samples may be archived (it stopped a day ago or more).
        let archived = try db.prepare("SELECT p.id, (SELECT max(start) FROM sample_archive WHERE probe_id = p.id) FROM probes p")
        var candidates: [(Int64, Int64)] = []
        while try archived.step() {
            guard let day = archived.int64OrNil(1) else { continue }
            let id = archived.int64(0)
            if let newer = out[id], newer.ts >= day + Self.archiveWidth { continue }
            candidates.append((id, day))
        }
        archived.reset()
        for (id, day) in candidates {
            guard let sample = try archivedDay(probe: id, start: day, db).last else { continue }
            if let newer = out[id], newer.ts >= sample.ts { continue }
            out[id] = sample
        }
        return out
    }

    /// Appends samples (inside the caller's transaction), `probe` being each one's probe id, as one commit of
    /// `sample_recent`. A second sample for the same probe and microsecond replaces the first.
    func appendSamples(_ samples: [(probe: Int64, sample: Sample)], _ db: Connection) throws {
        guard !samples.isEmpty else { return }
        let seq = max(try db.scalar("SELECT max(seq) FROM sample_recent") ?? 0, lastRecentSeq) + 1
        lastRecentSeq = seq
        let stmt = try db.prepare("""
            INSERT OR REPLACE INTO sample_recent(seq, probe_id, ts, reason, status, phases, bytes, family)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
            """)
        // In key order, so the batch fills its pages one after the other.
        for (id, sample) in samples.sorted(by: { ($0.probe, $0.sample.startedAt) < ($1.probe, $1.sample.startedAt) }) {
            try Self.bindRecent(stmt, seq: seq, probe: id, ts: sample.startedAt, reason: Int64(sample.failure?.reason.code ?? 0),
                                status: sample.status.map(Int64.init), phases: PhaseCodec.encode(sample.phases), bytes: sample.bytes,
                                family: sample.ipFamily.map { $0 == .ipv6 ? 1 : 0 })
            try stmt.run()
        }
    }

    /// Binds one `sample_recent` row to `stmt`'s parameters 1-8, in the table's column order.
    private static func bindRecent(_ stmt: Statement, seq: Int64, probe: Int64, ts: Int64, reason: Int64, status: Int64?,
                                   phases: [UInt8]?, bytes: Int64?, family: Int64?) throws {
        let h = stmt.handle
        sqlite3_bind_int64(h, 1, seq)
        sqlite3_bind_int64(h, 2, probe)
        sqlite3_bind_int64(h, 3, ts)
        sqlite3_bind_int64(h, 4, reason)
        bindOptional(h, 5, status)
        try stmt.bind(6, blob: phases)
        bindOptional(h, 7, bytes)
        bindOptional(h, 8, family)
    }

    /// Deletes the probe's archived days, else its blocks, that end at or before `before`, at most `limit` samples'
    /// worth (at least one day or block); returns how many samples. Retention applies to days and blocks whole.
    func deleteSamples(probe: Int64, before: Int64, limit: Int, _ db: Connection) throws -> Int {
        let archived = try deleteArchivedDays(probe: probe, before: before, limit: limit, db)
        guard archived == 0, let span = try span(probe: probe, db) else { return archived }
        let block = try db.prepare("SELECT data FROM sample_blocks WHERE start = ?1 AND probe_id = ?2")
        let delete = try db.prepare("DELETE FROM sample_blocks WHERE start = ?1 AND probe_id = ?2")
        var deleted = 0
        var w = span.first
        while w <= span.last, w + Self.blockWidth <= before, deleted < limit {
            try block.bind(1, w)
            try block.bind(2, probe)
            let n = try block.step() ? block.withBlob(0) { SampleBlock.count($0) } : 0
            block.reset()
            if n > 0 {
                try delete.bind(1, w)
                try delete.bind(2, probe)
                try delete.run()
                delete.reset()
                deleted += n
            }
            w += Self.blockWidth
        }
        if w != span.first {
            let update = try db.prepare(w > span.last
                ? "DELETE FROM sample_span WHERE probe_id = ?1"
                : "UPDATE sample_span SET first = ?2 WHERE probe_id = ?1")
            try update.bind(1, probe)
            if w <= span.last { try update.bind(2, w) }
            try update.run()
        }
        return deleted
    }

    // MARK: Folding recent rows into blocks

    /// Folds when the horizon (the last window that ended `foldGrace` ago) moved since the last fold: forward as
    /// time passes, or back (a clock stepped back, or `maintain` called with another `now`, as tests do). Store
    /// queue only; its own transaction.
    func foldIfDue(now: Int64) throws {
        let horizon = Self.floor(now - Self.foldGrace, Self.blockWidth)
        guard horizon != foldedUpTo, !isReadOnly else { return }
        try fold(before: horizon)
        foldedUpTo = horizon
    }

    /// Decoded rows a fold holds at once (~180 bytes each, and half as much again while they are sorted): the fold
    /// reads the probes in ranges of about this many rows. 50,000 (~14 MB) took 6 MiB more of `prober bench-maintain`'s
    /// peak RSS folding 60,000 probes than 20,000, for no less CPU.
    static let foldRowsPerPass = 20_000

    /// Moves every recent sample that started before `horizon` into its probe's block of its window (merged with
    /// the block when one exists: a late sample), then deletes those rows. Store queue only.
    ///
    /// Memory stays bounded whatever the number of probes. The probes are folded in ranges of ids holding about
    /// `rowsPerPass` rows, each range read commit by commit through the key (seq, probe_id, ts), so a pass reads its
    /// own rows only, and each pass is its own transaction. Reading the whole window at once held 60,000 probes'
    /// 1.8 M rows, and one transaction their 60,000 blocks: `prober bench-maintain` peaked at 503 MiB folding them.
    ///
    /// The rows are deleted in one more transaction. A crash before it leaves folded rows in `sample_recent` as well
    /// as in their blocks: a reader takes a recent row over a block's sample at the same microsecond, so it reads
    /// the same history, and the next fold merges them into their blocks again, which changes nothing.
    func fold(before horizon: Int64, rowsPerPass: Int = foldRowsPerPass) throws {
        dispatchPrecondition(condition: .onQueue(queue))
        // The commits that hold rows to fold, and the probes' id range.
        var seqs: [Int64] = []
        var folded = 0, lowest = Int64.max, highest = Int64.min
        do { // on the queue: a read of its own
            let commits = try connection.prepare("""
                SELECT seq, count(*), min(probe_id), max(probe_id) FROM sample_recent WHERE ts < ?1 GROUP BY seq ORDER BY seq
                """)
            try commits.bind(1, horizon)
            while try commits.step() {
                seqs.append(commits.int64(0))
                folded += Int(commits.int64(1))
                lowest = min(lowest, commits.int64(2))
                highest = max(highest, commits.int64(3))
            }
            commits.reset()
        }
        guard folded > 0 else { return }
        let passes = Int64(max(1, (folded + rowsPerPass - 1) / max(1, rowsPerPass)))
        let width = (highest - lowest) / passes + 1
        var rows: [(window: Int64, probe: Int64, seq: Int64, sample: RawSample)] = []
        for from in stride(from: lowest, through: highest, by: Int(width)) {
            try writeOnQueue { db in
                let select = try db.prepare("""
                    SELECT probe_id, ts, reason, status, phases, bytes, family FROM sample_recent
                    WHERE seq = ?1 AND probe_id >= ?2 AND probe_id < ?3 AND ts < ?4
                    """)
                for seq in seqs {
                    try select.bind(1, seq)
                    try select.bind(2, from)
                    try select.bind(3, from + width)
                    try select.bind(4, horizon)
                    while try select.step() {
                        let sample = Self.rawSample(select, from: 1)
                        rows.append((Self.floor(sample.ts, Self.blockWidth), select.int64(0), seq, sample))
                    }
                    select.reset()
                }
                try writeBlocks(&rows, db)
            }
        }
        rows = []
        try writeOnQueue { try deleteRecent(before: horizon, folded: folded, $0) }
    }

    /// Writes the blocks of `rows` (any order; of two samples of a probe at one microsecond the later commit's
    /// wins), in key order, and empties `rows` keeping its capacity.
    private func writeBlocks(_ rows: inout [(window: Int64, probe: Int64, seq: Int64, sample: RawSample)], _ db: Connection) throws {
        rows.sort { ($0.window, $0.probe, $0.sample.ts, $0.seq) < ($1.window, $1.probe, $1.sample.ts, $1.seq) }
        var samples: [RawSample] = []
        var i = 0
        while i < rows.count {
            var j = i
            samples.removeAll(keepingCapacity: true)
            while j < rows.count, rows[j].window == rows[i].window, rows[j].probe == rows[i].probe {
                if samples.last?.ts == rows[j].sample.ts { samples.removeLast() }
                samples.append(rows[j].sample)
                j += 1
            }
            try writeBlock(probe: rows[i].probe, start: rows[i].window, samples, merge: true, db)
            i = j
        }
        rows.removeAll(keepingCapacity: true)
    }

    /// Deletes the recent rows that started before `horizon` (`folded` of them). A delete by range rewrites every
    /// page it empties (about 44 bytes of WAL per row, and again at the checkpoint: as much as the commits wrote);
    /// emptying the table is SQLite's truncate (its pages go to the free list unwritten, with `secure_delete` FAST),
    /// so when fewer rows stay than go, which is the rule (a fold runs `foldGrace` after its window ended), the rows
    /// that stay are read, the table emptied, and they are put back as they were.
    ///
    /// They wait as varints in one buffer (`KeptRows`, ~20 bytes a row): a minute of checks at 60,000 probes is
    /// 360,000 rows, which took ~38 MB as an array of their values (a temporary table instead wrote them to SQLite's
    /// temporary file, ~17 MB of disk writes a fold).
    private func deleteRecent(before horizon: Int64, folded: Int, _ db: Connection) throws {
        let staying = try db.scalar("SELECT count(*) FROM sample_recent WHERE ts >= ?1", [horizon]) ?? 0
        guard staying <= folded else {
            let delete = try db.prepare("DELETE FROM sample_recent WHERE ts < ?1")
            try delete.bind(1, horizon)
            try delete.run()
            return
        }
        let columns = "seq, probe_id, ts, reason, status, phases, bytes, family"
        let select = try db.prepare("SELECT \(columns) FROM sample_recent WHERE ts >= ?1")
        try select.bind(1, horizon)
        var kept = KeptRows(reservingRows: Int(staying))
        while try select.step() {
            func keep(_ phases: UnsafeRawBufferPointer?) {
                kept.append((select.int64(0), select.int64(1), select.int64(2), select.int64(3), select.int64OrNil(4), phases,
                             select.int64OrNil(6), select.int64OrNil(7)))
            }
            if select.isNull(5) { keep(nil) } else { select.withBlob(5) { keep($0) } }
        }
        select.reset()
        try db.execute("DELETE FROM sample_recent")
        let insert = try db.prepare("INSERT INTO sample_recent(\(columns)) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")
        try kept.forEach { row in // in key order, as read
            try Self.bindRecent(insert, seq: row.seq, probe: row.probe, ts: row.ts, reason: row.reason, status: row.status,
                                phases: row.phases, bytes: row.bytes, family: row.family)
            try insert.run()
        }
    }

    /// Writes one probe's block of the window at `start` (merged into the stored one with `merge`).
    func writeBlock(probe: Int64, start: Int64, _ samples: [RawSample], merge: Bool, _ db: Connection) throws {
        var samples = samples
        if merge {
            let block = try db.prepare("SELECT data FROM sample_blocks WHERE start = ?1 AND probe_id = ?2")
            let stored = try readBlock(block, start: start, probe: probe)
            if !stored.isEmpty { samples = Self.merged(stored, samples) }
        }
        try Self.insertBlock(probe: probe, start: start, samples, db)
    }

    /// Stores one probe's block of the window at `start`, replacing the stored one, and widens the probe's span to it.
    static func insertBlock(probe: Int64, start: Int64, _ samples: [RawSample], _ db: Connection) throws {
        let insert = try db.prepare("INSERT OR REPLACE INTO sample_blocks(start, probe_id, data) VALUES (?1, ?2, ?3)")
        try insert.bind(1, start)
        try insert.bind(2, probe)
        try insert.bind(3, blob: SampleBlock.encode(samples, start: start))
        try insert.run()
        let span = try db.prepare("""
            INSERT INTO sample_span(probe_id, first, last) VALUES (?1, ?2, ?2)
            ON CONFLICT(probe_id) DO UPDATE SET first = min(first, excluded.first), last = max(last, excluded.last)
            """)
        try span.bind(1, probe)
        try span.bind(2, start)
        try span.run()
    }

    // MARK: Helpers

    /// The windows of the probe's first and last blocks.
    func span(probe: Int64, _ db: Connection) throws -> (first: Int64, last: Int64)? {
        let select = try db.prepare("SELECT first, last FROM sample_span WHERE probe_id = ?1")
        try select.bind(1, probe)
        defer { select.reset() }
        return try select.step() ? (select.int64(0), select.int64(1)) : nil
    }

    /// The block of one window, decoded (empty when there is none). `select` is the block query.
    func readBlock(_ select: Statement, start: Int64, probe: Int64) throws -> [RawSample] {
        try select.bind(1, start)
        try select.bind(2, probe)
        defer { select.reset() }
        guard try select.step() else { return [] }
        return select.withBlob(0) { SampleBlock.decode($0, start: start) }
    }

    /// The probe's recent (not yet folded) samples with `from <= ts < to` of the commits after `after`, in start
    /// order, the later written of two of the same microsecond kept: a seek per commit (they are few: one a second
    /// since the last fold).
    func recentSamples(probe: Int64, from: Int64, to: Int64, after: Int64 = .min, _ db: Connection) throws -> [RawSample] {
        guard let first = try db.scalar("SELECT min(seq) FROM sample_recent"),
              let hi = try db.scalar("SELECT max(seq) FROM sample_recent") else { return [] }
        let lo = max(first, after == .min ? .min : after + 1)
        guard lo <= hi else { return [] }
        var found: [(seq: Int64, sample: RawSample)] = []
        let columns = "ts, reason, status, phases, bytes, family, seq"
        if hi - lo < Self.recentSeeks {
            let select = try db.prepare("""
                SELECT \(columns) FROM sample_recent WHERE seq = ?1 AND probe_id = ?2 AND ts >= ?3 AND ts < ?4
                """)
            defer { select.reset() }
            for seq in lo...hi {
                try select.bind(1, seq)
                try select.bind(2, probe)
                try select.bind(3, from)
                try select.bind(4, to)
                while try select.step() { found.append((seq, Self.rawSample(select, from: 0))) }
                select.reset()
            }
        } else {
            let select = try db.prepare("""
                SELECT \(columns) FROM sample_recent WHERE probe_id = ?1 AND ts >= ?2 AND ts < ?3 AND seq >= ?4
                """)
            defer { select.reset() }
            try select.bind(1, probe)
            try select.bind(2, from)
            try select.bind(3, to)
            try select.bind(4, lo)
            while try select.step() { found.append((select.int64(6), Self.rawSample(select, from: 0))) }
        }
        found.sort { ($0.sample.ts, $0.seq) < ($1.sample.ts, $1.seq) }
        var out: [RawSample] = []
        out.reserveCapacity(found.count)
        for (_, sample) in found {
            if out.last?.ts == sample.ts { out.removeLast() }
            out.append(sample)
        }
        return out
    }

    /// Two sorted runs of samples as one, a sample of `newer` replacing one of `older` at the same microsecond.
    static func merged(_ older: [RawSample], _ newer: [RawSample]) -> [RawSample] {
        var out: [RawSample] = []
        out.reserveCapacity(older.count + newer.count)
        var i = 0, j = 0
        while i < older.count || j < newer.count {
            if j == newer.count || (i < older.count && older[i].ts < newer[j].ts) {
                out.append(older[i])
                i += 1
            } else {
                if i < older.count, older[i].ts == newer[j].ts { i += 1 }
                out.append(newer[j])
                j += 1
            }
        }
        return out
    }

    /// The sample in columns ts, reason, status, phases, bytes, family from `column` on.
    static func rawSample(_ s: Statement, from c: Int) -> RawSample {
        RawSample(ts: s.int64(c), reason: Int(s.int64(c + 1)), status: s.int64OrNil(c + 2), phases: phases(s, from: c + 3),
                  bytes: s.int64OrNil(c + 4), family: s.int64OrNil(c + 5))
    }

    static func bindOptional(_ stmt: OpaquePointer, _ index: Int32, _ value: Int64?) {
        if let value { sqlite3_bind_int64(stmt, index, value) } else { sqlite3_bind_null(stmt, index) }
    }
}

/// Recent rows held while `sample_recent` is emptied: each row's values as stored, as varints one after the other
/// (seq, probe id and time as zigzag changes from the row before, optional values + 2 with 0 for NULL, the phases'
/// bytes after their length + 1, 0 for NULL).
struct KeptRows {
    private var bytes: [UInt8] = []
    private var last = (seq: Int64(0), probe: Int64(0), ts: Int64(0))

    /// Room for `rows` rows of a typical size (an HTTP check's row takes ~20 bytes), so that the buffer is not
    /// copied as it grows: growing by doubling held the old and the new buffer at once, ~10 MB at 360,000 rows.
    init(reservingRows rows: Int = 0) {
        bytes.reserveCapacity(rows * Self.typicalRowBytes)
    }

    static let typicalRowBytes = 24

    mutating func append(_ row: (seq: Int64, probe: Int64, ts: Int64, reason: Int64, status: Int64?,
                                 phases: UnsafeRawBufferPointer?, bytes: Int64?, family: Int64?)) {
        Varint.append(Varint.zigzag(row.seq &- last.seq), to: &bytes)
        Varint.append(Varint.zigzag(row.probe &- last.probe), to: &bytes)
        Varint.append(Varint.zigzag(row.ts &- last.ts), to: &bytes)
        last = (row.seq, row.probe, row.ts)
        Varint.append(Varint.zigzag(row.reason), to: &bytes)
        Self.optional(row.status, &bytes)
        if let phases = row.phases {
            Varint.append(UInt64(phases.count) + 1, to: &bytes)
            bytes.append(contentsOf: phases)
        } else {
            bytes.append(0)
        }
        Self.optional(row.bytes, &bytes)
        Self.optional(row.family, &bytes)
    }

    /// The bytes held, for tests.
    var count: Int { bytes.count }

    /// Calls `body` with every row, in the order appended.
    func forEach(_ body: ((seq: Int64, probe: Int64, ts: Int64, reason: Int64, status: Int64?, phases: [UInt8]?,
                           bytes: Int64?, family: Int64?)) throws -> Void) rethrows {
        var reader = Varint.Reader(bytes)
        var last = (seq: Int64(0), probe: Int64(0), ts: Int64(0))
        func next() -> UInt64 { reader.next() ?? 0 }
        func optional() -> Int64? {
            switch next() {
            case 0: return nil
            case 1: return Varint.unzigzag(next())
            case let v: return Varint.unzigzag(v - 2)
            }
        }
        while reader.offset < bytes.count {
            last.seq = last.seq &+ Varint.unzigzag(next())
            last.probe = last.probe &+ Varint.unzigzag(next())
            last.ts = last.ts &+ Varint.unzigzag(next())
            let reason = Varint.unzigzag(next())
            let status = optional()
            var phases: [UInt8]?
            let length = Int(next())
            if length > 0 {
                phases = Array(bytes[reader.offset..<reader.offset + length - 1])
                reader.offset += length - 1
            }
            try body((last.seq, last.probe, last.ts, reason, status, phases, optional(), optional()))
        }
    }

    /// 0 for NULL, else the value's zigzag + 2; 1 for the two values whose zigzag + 2 overflows, followed by it.
    private static func optional(_ value: Int64?, _ out: inout [UInt8]) {
        guard let value else { return out.append(0) }
        let z = Varint.zigzag(value)
        if z < UInt64.max - 1 {
            Varint.append(z + 2, to: &out)
        } else {
            out.append(1)
            Varint.append(z, to: &out)
        }
    }
}
