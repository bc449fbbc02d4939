import ProberCore
import ProberStorage
import ProberStore

/// The per-location summary (`location_summary`, one row per probe and location) that ingest keeps, so `status`
/// reads one small row per location instead of rollups and raw samples (4-5 s at 30,000 locations of probes).
///
/// A row holds the location's last check and its hour as thirteen 5-minute slots (`slots`) plus their merge
/// (`hour`, valid for the 13 buckets ending at `bucket`). The hour `status` shows is the slots from the one holding
/// `now - 1 h` to the one holding `now`: exactly `[now - 1 h, now]` when `now` is on a 5-minute boundary, up to
/// 5 minutes more otherwise; its p95 comes from the histogram (within `LatencyHistogram.relativeError`).
/// Only the location's own recorder writes its rows, inside the batch's transaction, so they never disagree
/// with `samples` and need no lock; a sample replayed from the spool counts twice in its slot (the hour only).
extension PostgresStore {
    /// Slots in an hour's window: the one holding `now - 1 h` through the one holding `now`.
    static let summarySlots: Int64 = 13

    /// Folds one batch of this location's samples into its summary rows: one multi-row upsert, and a read of the
    /// rows `known` does not hold. Returns the rows written, for the caller to keep once the transaction commits.
    ///
    /// `known` is the caller's copy of rows it wrote before (only this location's recorder writes them): read back
    /// every batch, they were a round trip and a fifth of the recorder's statement time, and their hex decoding a
    /// third of the summary's CPU in the prober.
    func updateSummaries(_ batch: [Sample], ids: [String: Int64], site: String, known: [Int64: LocationSummary] = [:],
                         _ db: PGConnection) throws -> [Int64: LocationSummary] {
        var byProbe: [Int64: [Sample]] = [:]
        for sample in batch { if let id = ids[sample.probe] { byProbe[id, default: []].append(sample) } }
        guard !byProbe.isEmpty else { return [:] }
        var summaries: [Int64: LocationSummary] = [:]
        summaries.reserveCapacity(byProbe.count)
        var unknown: [Int64] = []
        for id in byProbe.keys {
            if let summary = known[id] { summaries[id] = summary } else { unknown.append(id) }
        }
        if !unknown.isEmpty {
            let rows = try db.query("""
                SELECT probe_id, last_at, last_reason, last_status, last_phases, bucket, hour, slots FROM location_summary
                WHERE location = $1 AND probe_id = ANY($2::bigint[])
                """, [.text(site), .text(Self.idArray(unknown))])
            for r in 0..<rows.count {
                summaries[rows.int64(r, 0)] = LocationSummary(
                    lastAt: rows.int64(r, 1), lastReason: rows.int64(r, 2), lastStatus: rows.int64OrNil(r, 3),
                    lastPhases: rows.bytes(r, 4), bucket: rows.int64(r, 5), hour: rows.bytes(r, 6) ?? [], slots: rows.bytes(r, 7) ?? [])
            }
        }
        var columns = SummaryColumns()
        for (id, samples) in byProbe {
            var summary = summaries[id] ?? LocationSummary()
            summary.add(samples)
            columns.append(id, summary)
            summaries[id] = summary
        }
        try columns.upsert(site: site, db)
        return summaries
    }

    /// Fills `location_summary` from the samples and rollups already stored (the migration that adds it): each
    /// location's last check and the slots of the hour before `now`, read as `status` read them before.
    func backfillSummaries(now: Int64, _ db: PGConnection) throws {
        let window = Self.floor(now - Self.bucket1h, Self.bucket5m)
        struct Key: Hashable { var probe: Int64, location: String }
        var summaries: [Key: LocationSummary] = [:]
        var slots: [Key: [Int64: Aggregate]] = [:]
        let last = try db.query("""
            SELECT l.probe_id, l.location, s.at, s.reason, s.status, s.phases FROM probe_locations l
            CROSS JOIN LATERAL (SELECT at, reason, status, phases FROM samples
                WHERE probe_id = l.probe_id AND location = l.location ORDER BY at DESC LIMIT 1) s
            """)
        for r in 0..<last.count {
            let at = last.int64(r, 2)
            summaries[Key(probe: last.int64(r, 0), location: last.string(r, 1))] = LocationSummary(
                lastAt: at, lastReason: last.int64(r, 3), lastStatus: last.int64OrNil(r, 4), lastPhases: last.bytes(r, 5),
                bucket: max(Self.floor(now, Self.bucket5m), Self.floor(at, Self.bucket5m)), hour: [], slots: [])
        }
        // The hour's 5-minute rollups below each watermark, then its raw samples from the watermark on.
        let rollups = try db.query("""
            SELECT l.probe_id, l.location, r.bucket, r.checks, r.failures, r.reasons, r.lat_n, r.lat_min, r.lat_max, r.lat_sum,
                r.hist, r.phases FROM probe_locations l
            JOIN rollup_5m r ON r.probe_id = l.probe_id AND r.location = l.location AND r.bucket >= $1 AND r.bucket < l.rolled_5m
            """, [.int(window)], binary: true)
        for r in 0..<rollups.count {
            var slot = Aggregate()
            slot.mergeRollup(rollups, r, from: 3)
            slots[Key(probe: rollups.int64(r, 0), location: rollups.string(r, 1)), default: [:]][rollups.int64(r, 2)] = slot
        }
        let raw = try db.query("""
            SELECT l.probe_id, l.location, s.at, s.reason, s.phases FROM probe_locations l
            JOIN samples s ON s.probe_id = l.probe_id AND s.location = l.location AND s.at >= greatest($1, coalesce(l.rolled_5m, $1))
            WHERE s.at >= $1
            """, [.int(window)])
        for r in 0..<raw.count {
            let key = Key(probe: raw.int64(r, 0), location: raw.string(r, 1))
            slots[key, default: [:]][Self.floor(raw.int64(r, 2), Self.bucket5m), default: .rollupEmpty]
                .add(reason: Int(raw.int64(r, 3)), phases: Self.phases(raw, r, 4))
        }
        var columns = SummaryColumns()
        for (key, var summary) in summaries {
            summary.setSlots(slots[key] ?? [:])
            columns.append(key.probe, summary, location: key.location)
        }
        try columns.upsert(site: nil, db)
    }

    /// Every location of every probe (of `ids`, or all) from `location_summary`, with its last check and, with
    /// `lastHour`, its hour before `now` (see the extension's comment): one statement, one row per location.
    /// The merged hour is sent for the locations whose newest slot is `now`'s (a running prober's); the slots
    /// only for the others, which are merged here.
    func locatedHours(now: Int64, probes ids: [Int64]?, lastHour: Bool, _ db: PGConnection) throws -> [LocatedHour] {
        let current = Self.floor(now, Self.bucket5m)
        let oldest = current - (Self.summarySlots - 1) * Self.bucket5m
        var params: [PGParam] = []
        var hour = "NULL::bytea, NULL::bytea"
        if lastHour {
            params = [.int(current), .int(oldest)]
            hour = "CASE WHEN bucket = $1 THEN hour END, CASE WHEN bucket <> $1 AND bucket >= $2 THEN slots END"
        }
        var only = ""
        if let ids {
            params.append(.text(Self.idArray(ids)))
            only = "WHERE probe_id = ANY($\(params.count)::bigint[])"
        }
        let r = try db.query("""
            SELECT probe_id, location, last_at, last_reason, last_status, last_phases, \(hour) FROM location_summary
            \(only)
            """, params)
        var out: [LocatedHour] = []
        out.reserveCapacity(r.count)
        for i in 0..<r.count {
            let reason = Int(r.int64(i, 3))
            var row = LocatedHour(probe: r.int64(i, 0), location: r.string(i, 1))
            row.last = .init(at: r.int64(i, 2), reason: reason == 0 ? nil : FailureReason(code: reason) ?? .other,
                             status: r.int64OrNil(i, 4).map(Int.init), latency: Self.phases(r, i, 5).total)
            if let merged = r.bytes(i, 6) {
                row.hour.add(encoded: merged[...])
            } else if let slots = r.bytes(i, 7) {
                for slot in SummaryCodec.slots(slots) where slot.bucket >= oldest && slot.bucket <= current {
                    row.hour.add(encoded: slot.bytes)
                }
            }
            out.append(row)
        }
        return out
    }
}

/// One `location_summary` row being updated.
struct LocationSummary {
    var lastAt: Int64 = .min
    var lastReason: Int64 = 0
    var lastStatus: Int64?
    var lastPhases: [UInt8]?
    /// The newest 5-minute bucket; `hour` merges the slots of the 13 ending here.
    var bucket: Int64 = .min
    var hour: [UInt8] = []
    var slots: [UInt8] = []

    /// Adds samples: the last check, and each sample to its slot and (unless the window moved) to the merged hour.
    /// Only the slots touched are decoded; a new newest bucket drops the slots that left the window and merges again.
    mutating func add(_ samples: [Sample]) {
        guard !samples.isEmpty else { return }
        let width = PostgresStore.bucket5m
        let newest = samples.map { PostgresStore.floor($0.startedAt, width) }.max() ?? bucket
        let moved = newest > bucket
        let oldest = max(bucket, newest) - (PostgresStore.summarySlots - 1) * width
        var kept = SummaryCodec.slots(slots).filter { $0.bucket >= oldest }
        var touched: [Int64: Aggregate] = [:]
        var merged = moved ? Aggregate.rollupEmpty : SummaryCodec.decode(hour[...])
        for s in samples {
            if s.startedAt >= lastAt {
                lastAt = s.startedAt
                lastReason = Int64(s.failure?.reason.code ?? 0)
                lastStatus = s.status.map(Int64.init)
                lastPhases = PhaseCodec.encode(s.phases)
            }
            let b = PostgresStore.floor(s.startedAt, width)
            guard b >= oldest else { continue }
            let reason = s.failure?.reason.code ?? 0
            if touched[b] == nil {
                touched[b] = kept.first { $0.bucket == b }.map { SummaryCodec.decode($0.bytes) } ?? .rollupEmpty
            }
            touched[b]!.add(reason: reason, phases: s.phases)
            if !moved { merged.add(reason: reason, phases: s.phases) }
        }
        bucket = max(bucket, newest)
        kept.removeAll { touched[$0.bucket] != nil }
        var all = kept.map { ($0.bucket, $0.bytes) }
        for (b, a) in touched { all.append((b, ArraySlice(SummaryCodec.encode(a)))) }
        all.sort { $0.0 < $1.0 }
        if moved {
            for slot in all { merged.merge(SummaryCodec.decode(slot.1)) }
        }
        slots = SummaryCodec.encodeSlots(all)
        hour = SummaryCodec.encode(merged)
    }

    /// Sets the slots (and their merge) from aggregates by bucket, keeping the 13 ending at `bucket`.
    mutating func setSlots(_ aggregates: [Int64: Aggregate]) {
        let oldest = bucket - (PostgresStore.summarySlots - 1) * PostgresStore.bucket5m
        let kept = aggregates.filter { $0.key >= oldest && $0.key <= bucket }.sorted { $0.key < $1.key }
        var merged = Aggregate.rollupEmpty
        for (_, a) in kept { merged.merge(a) }
        slots = SummaryCodec.encodeSlots(kept.map { ($0.key, ArraySlice(SummaryCodec.encode($0.value))) })
        hour = SummaryCodec.encode(merged)
    }
}

/// Rows of `location_summary` as parallel arrays, written by one `INSERT … SELECT unnest(…) ON CONFLICT`.
struct SummaryColumns {
    var ids: [String?] = [], locations: [String?] = [], lastAt: [String?] = [], lastReason: [String?] = []
    var lastStatus: [String?] = [], lastPhases: [String?] = [], bucket: [String?] = [], hour: [String?] = []
    var slots: [String?] = []

    mutating func append(_ id: Int64, _ s: LocationSummary, location: String? = nil) {
        ids.append(String(id))
        locations.append(location)
        lastAt.append(String(s.lastAt))
        lastReason.append(String(s.lastReason))
        lastStatus.append(s.lastStatus.map(String.init))
        lastPhases.append(s.lastPhases.map(Self.hex))
        bucket.append(String(s.bucket))
        hour.append(Self.hex(s.hour))
        slots.append(Self.hex(s.slots))
    }

    /// Upserts the rows; `site` is every row's location when given (a recorder's batch), else each row's own.
    func upsert(site: String?, _ db: PGConnection) throws {
        guard !ids.isEmpty else { return }
        try db.query("""
            INSERT INTO location_summary(probe_id, location, last_at, last_reason, last_status, last_phases, bucket, hour, slots)
            SELECT id, coalesce($10::text, location), last_at, last_reason, last_status, decode(last_phases, 'hex'), bucket,
                decode(hour, 'hex'), decode(slots, 'hex')
            FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::smallint[], $5::smallint[], $6::text[], $7::bigint[],
                $8::text[], $9::text[]) AS u(id, location, last_at, last_reason, last_status, last_phases, bucket, hour, slots)
            ORDER BY 1
            ON CONFLICT (probe_id, location) DO UPDATE SET last_at = excluded.last_at, last_reason = excluded.last_reason,
                last_status = excluded.last_status, last_phases = excluded.last_phases, bucket = excluded.bucket,
                hour = excluded.hour, slots = excluded.slots
            """, [.text(pgArray(ids)), .text(pgArray(locations)), .text(pgArray(lastAt)), .text(pgArray(lastReason)),
                  .text(pgArray(lastStatus)), .text(pgArray(lastPhases)), .text(pgArray(bucket)), .text(pgArray(hour)),
                  .text(pgArray(slots)), PGParam(site)])
    }

    private static let digits = Array("0123456789abcdef".utf8)

    static func hex(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// The summary's BLOBs: an aggregate is varints (checks, failures, latency count, min + 1, max + 1, sum; 0 for an
/// absent min or max) then the rollup columns' encodings (reasons, hist, phases), each after its length; `slots`
/// is, per slot, its bucket / 5 minutes and its aggregate's length, then the aggregate.
enum SummaryCodec {
    struct Slot {
        var bucket: Int64
        var bytes: ArraySlice<UInt8>
    }

    static func encode(_ a: Aggregate) -> [UInt8] {
        var out: [UInt8] = []
        for v in [a.checks, a.failures, a.latencyCount] { varint(UInt64(max(v, 0)), &out) }
        varint(a.latencyMin.map { UInt64(max($0, 0)) + 1 } ?? 0, &out)
        varint(a.latencyMax.map { UInt64(max($0, 0)) + 1 } ?? 0, &out)
        varint(UInt64(max(a.latencySum, 0)), &out)
        for blob in [a.encodedReasons(), a.encodedHistogram(), a.encodedPhases()] {
            varint(UInt64(blob?.count ?? 0), &out)
            out.append(contentsOf: blob ?? [])
        }
        return out
    }

    static func decode(_ bytes: ArraySlice<UInt8>) -> Aggregate {
        var a = Aggregate.rollupEmpty
        guard !bytes.isEmpty else { return a }
        var at = bytes.startIndex
        func next() -> UInt64 { varint(bytes, &at) }
        let checks = next(), failures = next(), n = next(), lo = next(), hi = next(), sum = next()
        var blobs: [ArraySlice<UInt8>] = []
        for _ in 0..<3 {
            let length = Int(next())
            let end = min(at + length, bytes.endIndex)
            blobs.append(bytes[at..<end])
            at = end
        }
        a.mergeRollup(checks: Int(checks), failures: Int(failures), reasons: blobs[0], latencyCount: Int(n),
                      min: lo == 0 ? nil : Int64(lo - 1), max: hi == 0 ? nil : Int64(hi - 1), sum: Int64(sum),
                      histogram: blobs[1], phases: blobs[2])
        return a
    }

    static func slots(_ bytes: [UInt8]) -> [Slot] {
        var out: [Slot] = []
        bytes.withUnsafeBytes { raw in
            forEachSlot(raw) { bucket, range in out.append(Slot(bucket: bucket, bytes: bytes[range])) }
        }
        return out
    }

    /// Each slot of a `slots` encoding, in place: its bucket and where its aggregate's bytes are in `bytes` (a varint
    /// cut short reads as 0, a length past the end stops at it).
    static func forEachSlot(_ bytes: UnsafeRawBufferPointer, _ body: (_ bucket: Int64, _ range: Range<Int>) -> Void) {
        var reader = Varint.BufferReader(bytes)
        while !reader.isAtEnd {
            let bucket = Int64(reader.next() ?? 0) * PostgresStore.bucket5m
            let length = Int(reader.next() ?? 0)
            let start = reader.offset, end = min(start + length, bytes.count)
            body(bucket, start..<end)
            reader.offset = end
        }
    }

    /// Buckets are after 1970 (the varint holds bucket / 5 minutes).
    static func encodeSlots(_ slots: [(Int64, ArraySlice<UInt8>)]) -> [UInt8] {
        var out: [UInt8] = []
        for (bucket, bytes) in slots {
            varint(UInt64(max(bucket / PostgresStore.bucket5m, 0)), &out)
            varint(UInt64(bytes.count), &out)
            out.append(contentsOf: bytes)
        }
        return out
    }

    static func varint(_ value: UInt64, _ out: inout [UInt8]) { Varint.append(value, to: &out) }

    /// The varint at `at` (0 past the end), moving `at` past it.
    static func varint(_ bytes: ArraySlice<UInt8>, _ at: inout Int) -> UInt64 {
        var reader = Varint.Reader(bytes[at...])
        defer { at = reader.offset }
        return reader.next() ?? 0
    }
}
