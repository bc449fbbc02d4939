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
/// `@unchecked Sendable`: `connection` and `knownPartitions` are touched only on `queue`.
final class PostgresSampleBatches: SampleBatchWriting, @unchecked Sendable {
    let store: PostgresStore
    let queue = DispatchQueue(label: "prober.postgres.recorder")
    private var connection: PGConnection?   // queue
    private var knownPartitions: Set<Int64> = []  // queue

    init(store: PostgresStore) { self.store = store }

    func write(_ batch: [Sample]) throws {
        let db = try connection ?? store.connect()
        connection = db
        try write(batch, db)
    }

    func recover(after error: any Error, closing: Bool) {
        knownPartitions.removeAll()
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
        try db.transaction {
            let names = Array(index.keys)
            let now = store.clock.now()
            try db.query("""
                INSERT INTO probes(name, created_at) SELECT unnest($1::text[]), $2 ORDER BY 1 ON CONFLICT (name) DO NOTHING
                """, [.text(pgTextArray(names)), .int(now)])
            let rows = try db.query("SELECT id, name FROM probes WHERE name = ANY($1::text[])", [.text(pgTextArray(names))])
            var ids: [String: Int64] = [:]
            for i in 0..<rows.count { ids[rows.string(i, 1)] = rows.int64(i, 0) }
            let idList = "{" + ids.values.sorted().map(String.init).joined(separator: ",") + "}"
            try db.query("""
                INSERT INTO probe_locations(probe_id, location) SELECT unnest($1::bigint[]), $2 ORDER BY 1
                ON CONFLICT DO NOTHING
                """, [.text(idList), .text(site)])
            let marks = try db.query("""
                SELECT probe_id, rolled_5m, rolled_1h FROM probe_locations WHERE location = $1 AND probe_id = ANY($2::bigint[])
                """, [.text(site), .text(idList)])
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
            try db.execute("""
                CREATE TEMP TABLE IF NOT EXISTS samples_in(
                    probe_id bigint, location text, at bigint, reason smallint, status smallint, phases bytea,
                    bytes bigint, family smallint) ON COMMIT DELETE ROWS
                """)
            try db.copy("COPY samples_in FROM STDIN", data: copy)
            try db.execute("""
                INSERT INTO samples SELECT * FROM samples_in
                ON CONFLICT (probe_id, location, at) DO UPDATE SET reason = excluded.reason, status = excluded.status,
                    phases = excluded.phases, bytes = excluded.bytes, family = excluded.family
                """)
            try store.updateSummaries(batch, ids: ids, site: site, db)
        }
    }
}

/// Rows in COPY's text format: tab-separated, `\N` for NULL, `bytea` as `\\x` and hex digits.
enum CopyText {
    static func row(_ out: inout [UInt8], id: Int64, site: String, sample: Sample) {
        out.append(contentsOf: String(id).utf8)
        out.append(9)
        text(&out, site)
        out.append(9)
        out.append(contentsOf: String(sample.startedAt).utf8)
        out.append(9)
        out.append(contentsOf: String(sample.failure?.reason.code ?? 0).utf8)
        out.append(9)
        optional(&out, sample.status.map(Int64.init))
        out.append(9)
        if let phases = PhaseCodec.encode(sample.phases) { bytea(&out, phases) } else { null(&out) }
        out.append(9)
        optional(&out, sample.bytes)
        out.append(9)
        optional(&out, sample.ipFamily.map { $0 == .ipv6 ? 1 : 0 })
        out.append(10)
    }

    static func null(_ out: inout [UInt8]) { out.append(contentsOf: [92, 78]) } // \N

    static func optional(_ out: inout [UInt8], _ value: Int64?) {
        if let value { out.append(contentsOf: String(value).utf8) } else { null(&out) }
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
