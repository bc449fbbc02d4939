import Dispatch
import Foundation
import ProberCore
import ProberStorage
import ProberStore

/// PostgreSQL's write step for `SampleWriter` (which batches, retries and spools): one batch in one
/// transaction over the recorder's own connection, so ingest never waits behind a slow read on the store's.
///
/// A batch goes in with one `COPY` into a temporary table and one `INSERT … ON CONFLICT` (a second sample of
/// the same probe, location and microsecond replaces the first, so a batch replayed from the spool is
/// harmless). After a failure the connection is dropped when it was lost (the next write connects again) and
/// the known partitions are forgotten (retention may have dropped one).
///
/// Steady state is five statements a batch (`BEGIN`, the watermarks, `COPY`, `INSERT`, the summary upsert) and
/// `COMMIT`: the probes' ids and their `probe_locations` rows are written once and remembered, as are the temporary
/// table of the connection and the summary rows this recorder wrote (`summaries`).
///
/// `@unchecked Sendable`: `connection`, `knownPartitions`, `ids`, `tempTable` and `summaries` are touched only on
/// `queue`.
final class PostgresSampleBatches: SampleBatchWriting, @unchecked Sendable {
    let store: PostgresStore
    let queue = DispatchQueue(label: "prober.postgres.recorder")
    private var connection: PGConnection?   // queue
    private var knownPartitions: Set<Int64> = []  // queue
    /// Probe ids by name, of probes whose `probe_locations` row of this site exists (both are never deleted).
    private var ids: [String: Int64] = [:]  // queue
    /// Whether `samples_in` exists on `connection`.
    private var tempTable = false  // queue
    /// The `location_summary` rows of this site as last committed, by probe id (this recorder alone writes them).
    /// Forgotten after any failure: a commit whose answer was lost may have written the batch after all.
    private var summaries: [Int64: LocationSummary] = [:]  // queue

    init(store: PostgresStore) { self.store = store }

    func write(_ batch: [Sample]) throws {
        if connection == nil { tempTable = false }
        let db = try connection ?? store.connect()
        connection = db
        try write(batch, db)
    }

    func recover(after error: any Error, closing: Bool) {
        knownPartitions.removeAll()
        ids.removeAll()
        summaries.removeAll()
        if let db = connection, !db.isConnected { connection = nil }
    }

    func close() { connection = nil }

    /// Writes one batch in one transaction (the day partitions it needs are created before, each in its own).
    private func write(_ samples: [Sample], _ db: PGConnection) throws {
        // The last of several samples of one probe and microsecond wins, as in SQLite.
        var index: [String: [Int64: Int]] = [:]
        var batch: [Sample] = []
        batch.reserveCapacity(samples.count)
        for s in samples {
            if let i = index[s.probe]?[s.startedAt] { batch[i] = s } else {
                index[s.probe, default: [:]][s.startedAt] = batch.count
                batch.append(s)
            }
        }
        if store.isReadOnly { throw PostgresError(sqlState: "25006", message: "store opened read-only", database: store.database) }
        try Partitions.ensure(Set(batch.map { Partitions.dayStart($0.startedAt) }), known: &knownPartitions, db)
        let site = store.site
        let (ids, written) = try db.transaction {
            let names = index.keys.filter { self.ids[$0] == nil }
            var ids = self.ids
            if !names.isEmpty {
                let now = store.clock.now()
                try db.query("""
                    INSERT INTO probes(name, created_at) SELECT unnest($1::text[]), $2 ORDER BY 1 ON CONFLICT (name) DO NOTHING
                    """, [.text(pgTextArray(names)), .int(now)])
                let rows = try db.query("SELECT id, name FROM probes WHERE name = ANY($1::text[])", [.text(pgTextArray(names))])
                var new: [Int64] = []
                for i in 0..<rows.count {
                    ids[rows.string(i, 1)] = rows.int64(i, 0)
                    new.append(rows.int64(i, 0))
                }
                try db.query("""
                    INSERT INTO probe_locations(probe_id, location) SELECT unnest($1::bigint[]), $2 ORDER BY 1
                    ON CONFLICT DO NOTHING
                    """, [.text("{" + new.sorted().map(String.init).joined(separator: ",") + "}"), .text(site)])
            }
            var idList: [UInt8] = [123]
            for name in index.keys { if let id = ids[name] { CopyText.int(&idList, id); idList.append(44) } }
            if idList.last == 44 { idList[idList.count - 1] = 125 } else { idList.append(125) }
            let marks = try db.query("""
                SELECT probe_id, rolled_5m, rolled_1h FROM probe_locations WHERE location = $1 AND probe_id = ANY($2::bigint[])
                """, [.text(site), .text(String(decoding: idList, as: UTF8.self))])
            var watermarks: [Int64: (rolled5m: Int64?, rolled1h: Int64?)] = [:]
            for i in 0..<marks.count { watermarks[marks.int64(i, 0)] = (marks.int64OrNil(i, 1), marks.int64OrNil(i, 2)) }

            var copy: [UInt8] = []
            copy.reserveCapacity(batch.count * 48)
            for sample in batch {
                guard let id = ids[sample.probe] else { continue }
                if let mark = watermarks[id], let rolled = mark.rolled5m, sample.startedAt < rolled {
                    try store.mergeLate(sample, probe: id, site: site, rolled1h: mark.rolled1h, db)
                }
                CopyText.row(&copy, id: id, site: site, sample: sample)
            }
            if !tempTable {
                try db.execute("""
                    CREATE TEMP TABLE IF NOT EXISTS samples_in(
                        probe_id bigint, location text, at bigint, reason smallint, status smallint, phases bytea,
                        bytes bigint, family smallint) ON COMMIT DELETE ROWS
                    """)
            }
            try db.copy("COPY samples_in FROM STDIN", data: copy)
            try db.execute("""
                INSERT INTO samples SELECT * FROM samples_in
                ON CONFLICT (probe_id, location, at) DO UPDATE SET reason = excluded.reason, status = excluded.status,
                    phases = excluded.phases, bytes = excluded.bytes, family = excluded.family
                """)
            let written = try store.updateSummaries(batch, ids: ids, site: site, known: summaries, db)
            return (ids, written)
        }
        self.ids = ids
        summaries.merge(written) { _, new in new }
        tempTable = true
    }
}

/// Rows in COPY's text format: tab-separated, `\N` for NULL, `bytea` as `\\x` and hex digits.
enum CopyText {
    static func row(_ out: inout [UInt8], id: Int64, site: String, sample: Sample) {
        int(&out, id)
        out.append(9)
        text(&out, site)
        out.append(9)
        int(&out, sample.startedAt)
        out.append(9)
        int(&out, Int64(sample.failure?.reason.code ?? 0))
        out.append(9)
        optional(&out, sample.status.map(Int64.init))
        out.append(9)
        optionalBytea(&out, PhaseCodec.encode(sample.phases))
        out.append(9)
        optional(&out, sample.bytes)
        out.append(9)
        optional(&out, sample.ipFamily.map { $0 == .ipv6 ? 1 : 0 })
        out.append(10)
    }

    /// An integer's decimal digits, without a `String` in between (a batch writes several per sample).
    static func int(_ out: inout [UInt8], _ value: Int64) {
        if value < 0 { out.append(45) }
        var v = value.magnitude
        var divisor: UInt64 = 1
        while v / divisor >= 10 { divisor *= 10 }
        while divisor > 0 {
            out.append(UInt8(truncatingIfNeeded: v / divisor) &+ 48)
            v %= divisor
            divisor /= 10
        }
    }

    static func optionalBytea(_ out: inout [UInt8], _ bytes: [UInt8]?) {
        if let bytes { bytea(&out, bytes) } else { null(&out) }
    }

    static func null(_ out: inout [UInt8]) { out.append(contentsOf: [92, 78]) } // \N

    static func optional(_ out: inout [UInt8], _ value: Int64?) {
        if let value { int(&out, value) } else { null(&out) }
    }

    static func text(_ out: inout [UInt8], _ value: String) {
        for byte in value.utf8 {
            switch byte {
            case 92: out.append(contentsOf: [92, 92])
            case 9: out.append(contentsOf: [92, 116])
            case 10: out.append(contentsOf: [92, 110])
            case 13: out.append(contentsOf: [92, 114])
            default: out.append(byte)
            }
        }
    }

    private static let hex = Array("0123456789abcdef".utf8)

    static func bytea(_ out: inout [UInt8], _ bytes: [UInt8]) {
        out.append(contentsOf: [92, 92, 120]) // \\x: COPY unescapes it to bytea's \x
        for b in bytes {
            out.append(hex[Int(b >> 4)])
            out.append(hex[Int(b & 15)])
        }
    }
}
