import Dispatch
import Foundation
import ProberCore
import ProberStorage
import ProberStore

/// Batches samples into PostgreSQL off the probe path: PostgreSQL's `SampleRecording`.
///
/// The same contract as SQLite's `SampleWriter`: `append` only takes a lock and pushes onto a bounded
/// in-memory queue; a timer on the recorder's own queue (its own connection too) writes what is pending,
/// one transaction per batch of up to `batchSize`, every `flushInterval` (sooner when a batch is waiting).
/// A batch goes in with one `COPY` into a temporary table and one `INSERT … ON CONFLICT` (a second sample
/// of the same probe, location and microsecond replaces the first). When the server is down, locked or
/// failing, the batch is kept, the warning handler is told, and the write is retried with exponential
/// backoff (reconnecting when the connection was lost). Samples are dropped, oldest first and counted, only
/// when more than `capacity` wait.
///
/// `@unchecked Sendable`: the counters and `buffer` are guarded by `lock`; `retry`, `backoff`, `retryAt`,
/// `connection` and `knownPartitions` are touched only on `queue`.
final class PostgresSampleRecorder: SampleRecording, @unchecked Sendable {
    struct Configuration: Sendable {
        var capacity = 100_000
        var batchSize = 5_000
        var flushInterval: Duration = .seconds(1)
        var maxBackoff: Duration = .seconds(30)
    }

    let store: PostgresStore
    let configuration: Configuration
    private let warning: @Sendable (String) -> Void
    private let queue = DispatchQueue(label: "prober.postgres.recorder")

    private let lock = NSLock()
    private var buffer = SampleQueue()      // guarded by lock
    private var inFlight = 0                // guarded by lock
    private var dropped = 0                 // guarded by lock
    private var written = 0                 // guarded by lock
    private var failedAttempts = 0          // guarded by lock
    private var writeScheduled = false      // guarded by lock
    private var backingOff = false          // guarded by lock
    private var closed = false              // guarded by lock

    private var retry: [Sample] = []        // queue
    private var backoff: Double = 0         // queue, seconds
    private var retryAt: DispatchTime?      // queue
    private var reportedDrops = 0           // queue
    private var connection: PGConnection?   // queue
    private var knownPartitions: Set<Int64> = []  // queue
    private var timer: DispatchSourceTimer?

    init(store: PostgresStore, configuration: Configuration = Configuration(),
         warning: @escaping @Sendable (String) -> Void) {
        self.store = store
        self.configuration = configuration
        self.warning = warning
        let timer = DispatchSource.makeTimerSource(queue: queue)
        let interval = DispatchTimeInterval.microseconds(Int(configuration.flushInterval.microseconds))
        timer.schedule(deadline: .now() + interval, repeating: interval, leeway: .milliseconds(50))
        timer.setEventHandler { [weak self] in self?.writePending(force: false) }
        timer.resume()
        self.timer = timer
    }

    deinit { timer?.cancel() }

    func append(_ sample: Sample) {
        lock.lock()
        buffer.push(sample)
        if buffer.count + inFlight > configuration.capacity, buffer.count > 0 {
            buffer.dropFirst()
            dropped += 1
        }
        let trigger = buffer.count >= configuration.batchSize && !writeScheduled && !backingOff
        if trigger { writeScheduled = true }
        lock.unlock()
        if trigger { queue.async { [weak self] in self?.writePending(force: false) } }
    }

    func flush() throws {
        dispatchPrecondition(condition: .notOnQueue(queue))
        if let error = queue.sync(execute: { writePending(force: true) }) { throw error }
    }

    func close() throws {
        defer {
            timer?.cancel()
            queue.sync { connection = nil }
        }
        try flush()
    }

    var statistics: IngestStatistics {
        lock.lock()
        defer { lock.unlock() }
        return IngestStatistics(written: written, dropped: dropped, pending: buffer.count + inFlight, failedAttempts: failedAttempts)
    }

    /// Writes batches until what was pending at the start is written or a write fails. Queue only.
    @discardableResult
    private func writePending(force: Bool) -> Error? {
        lock.lock()
        writeScheduled = false
        let droppedSoFar = dropped
        var batches = (buffer.count + configuration.batchSize - 1) / configuration.batchSize + 1
        lock.unlock()
        if droppedSoFar > reportedDrops {
            warning("sample queue full (\(configuration.capacity)): dropped \(droppedSoFar - reportedDrops) oldest samples "
                + "(\(droppedSoFar) in total)")
            reportedDrops = droppedSoFar
        }
        if !force, let retryAt, DispatchTime.now() < retryAt { return nil }
        while batches > 0 {
            batches -= 1
            if retry.isEmpty {
                lock.lock()
                retry = buffer.pop(max: configuration.batchSize)
                inFlight = retry.count
                lock.unlock()
            }
            if retry.isEmpty { return nil }
            do {
                let db = try connection ?? store.connect()
                connection = db
                try write(retry, db)
                lock.lock()
                written += retry.count
                inFlight = 0
                backingOff = false
                let failures = failedAttempts
                lock.unlock()
                retry = []
                if retryAt != nil {
                    warning("storage recovered; pending samples written (\(failures) failed attempts so far)")
                }
                retryAt = nil
                backoff = 0
            } catch {
                lock.lock()
                failedAttempts += 1
                backingOff = true
                let pending = buffer.count + inFlight
                lock.unlock()
                // A partition may have been dropped by retention meanwhile; a lost connection is opened again.
                knownPartitions.removeAll()
                if let db = connection, !db.isConnected { connection = nil }
                backoff = min(max(backoff * 2, 0.25), configuration.maxBackoff.seconds)
                retryAt = .now() + backoff
                warning("cannot write samples, keeping \(pending) in memory and retrying in \(backoff) s: \(error)")
                return error
            }
        }
        return nil
    }

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
