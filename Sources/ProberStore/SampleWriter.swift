import CSQLite3
import Dispatch
import Foundation
import ProberCore
import ProberStorage

/// Batches samples into the store off the probe path: SQLite's `SampleRecording`.
///
/// `append` only takes a lock and pushes onto a bounded in-memory queue; a timer on the store's queue
/// writes everything pending in one transaction per `flushInterval` (sooner when `batchSize` samples are
/// waiting). When the database is locked, full or failing, the batch is kept, the warning handler is
/// told, and the write is retried with exponential backoff. Samples are dropped (oldest first, counted)
/// only when more than `capacity` are waiting. A storage problem never becomes a probe failure.
///
/// `@unchecked Sendable`: `buffer` is guarded by `lock`; `retry`, `backoff*` and the timer are touched
/// only on the store's serial queue.
public final class SampleWriter: SampleRecording, @unchecked Sendable {
    public struct Configuration: Sendable {
        /// Most samples waiting in memory; beyond it the oldest are dropped. Default 100,000.
        public var capacity: Int = 100_000
        /// Samples per transaction, and the count that triggers a write before the timer. Default 5,000.
        public var batchSize: Int = 5_000
        /// Time between writes. Default 1 s.
        public var flushInterval: Duration = .seconds(1)
        /// Longest wait between retries after failures. Default 30 s.
        public var maxBackoff: Duration = .seconds(30)
        public init(capacity: Int = 100_000, batchSize: Int = 5_000, flushInterval: Duration = .seconds(1),
                    maxBackoff: Duration = .seconds(30)) {
            self.capacity = max(capacity, 1)
            self.batchSize = max(1, min(batchSize, self.capacity))
            self.flushInterval = flushInterval
            self.maxBackoff = maxBackoff
        }
    }

    /// The counters `/metrics` shows; the same for every backend.
    public typealias Statistics = IngestStatistics

    public let store: Store
    public let configuration: Configuration
    private let warning: @Sendable (String) -> Void

    private let lock = NSLock()
    private var buffer = SampleQueue()      // guarded by lock
    private var inFlight = 0                // guarded by lock
    private var dropped = 0                 // guarded by lock
    private var written = 0                 // guarded by lock
    private var failedAttempts = 0          // guarded by lock
    private var writeScheduled = false      // guarded by lock
    private var backingOff = false          // guarded by lock: no early writes while waiting to retry

    private var retry: [Sample] = []        // store queue
    private var backoff: Double = 0         // store queue, seconds
    private var retryAt: DispatchTime?      // store queue
    private var reportedDrops = 0           // store queue
    private var timer: DispatchSourceTimer?

    /// Starts the flush timer. `warning` receives human-readable messages about storage trouble
    /// (no secrets: SQLite messages and counts only); it is called on the store's queue.
    public init(store: Store, configuration: Configuration = Configuration(),
                warning: @escaping @Sendable (String) -> Void = { _ in }) {
        self.store = store
        self.configuration = configuration
        self.warning = warning
        let timer = DispatchSource.makeTimerSource(queue: store.queue)
        let interval = DispatchTimeInterval.microseconds(Int(configuration.flushInterval.microseconds))
        timer.schedule(deadline: .now() + interval, repeating: interval, leeway: .milliseconds(50))
        timer.setEventHandler { [weak self] in self?.writePending(force: false) }
        timer.resume()
        self.timer = timer
    }

    deinit { timer?.cancel() }

    /// Queues a sample for writing. Never blocks on the database.
    public func append(_ sample: Sample) {
        lock.lock()
        buffer.push(sample)
        if buffer.count + inFlight > configuration.capacity, buffer.count > 0 {
            buffer.dropFirst()
            dropped += 1
        }
        let trigger = buffer.count >= configuration.batchSize && !writeScheduled && !backingOff
        if trigger { writeScheduled = true }
        lock.unlock()
        if trigger {
            store.queue.async { [weak self] in self?.writePending(force: false) }
        }
    }

    /// Writes everything queued so far, waiting for it (for shutdown and tests). Throws the storage
    /// error when a write fails; the samples stay queued.
    public func flush() throws {
        dispatchPrecondition(condition: .notOnQueue(store.queue))
        if let error = store.queue.sync(execute: { writePending(force: true) }) { throw error }
    }

    /// Stops the timer after a final flush attempt; when it fails, the WAL is checkpointed and truncated (which
    /// can free the space the write needed) and the flush tried once more. What is still pending after a
    /// failure is lost: `statistics.pending` says how many.
    public func close() throws {
        defer { timer?.cancel() }
        do { try flush() } catch {
            store.queue.sync { _ = store.checkpoint(truncate: true) }
            try flush()
        }
    }

    public var statistics: Statistics {
        lock.lock()
        defer { lock.unlock() }
        return Statistics(written: written, dropped: dropped, pending: buffer.count + inFlight, failedAttempts: failedAttempts)
    }

    /// Writes batches until what was pending at the start is written or a write fails. Store queue only.
    @discardableResult
    private func writePending(force: Bool) -> Error? {
        lock.lock()
        writeScheduled = false
        let droppedSoFar = dropped
        // What is pending now, in batches (plus a batch being retried); later arrivals wait for the next run.
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
                try store.writeOnQueue { db in try store.insert(retry, db) }
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
                store.checkpointIfDue()
            } catch {
                lock.lock()
                failedAttempts += 1
                backingOff = true
                let pending = buffer.count + inFlight
                lock.unlock()
                backoff = min(max(backoff * 2, 0.25), configuration.maxBackoff.seconds)
                retryAt = .now() + backoff
                // A full disk may be the WAL itself: copy it into the database and truncate it, when that fits.
                if let error = error as? StoreError, error.primaryCode == SQLITE_FULL { store.checkpoint(truncate: true) }
                warning("cannot write samples, keeping \(pending) in memory and retrying in \(backoff) s: \(error)")
                return error
            }
        }
        return nil
    }
}

extension Store {
    /// A `SampleWriter` with the default configuration.
    public func makeSampleRecorder(warning: @escaping @Sendable (String) -> Void) -> any SampleRecording {
        SampleWriter(store: self, warning: warning)
    }

    /// Inserts samples (inside the caller's transaction). A second sample for the same probe and
    /// microsecond replaces the first.
    ///
    /// A sample older than its probe's rollup watermark (a check longer than the rollup grace, or one kept in
    /// memory while the database was locked or full) is also merged into the rollup rows already made of its
    /// bucket, so that rollups count every check however late it is written.
    func insert(_ samples: [Sample], _ db: Connection) throws {
        let stmt = try db.prepare("""
            INSERT OR REPLACE INTO samples(probe_id, ts, reason, status, phases, bytes, family)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
            """)
        var marks: [Int64: (rolled5m: Int64?, rolled1h: Int64?)] = [:]
        for sample in samples {
            guard let id = try probeID(sample.probe, create: true, db) else { continue }
            let mark = try marks[id] ?? watermarks(id, db)
            marks[id] = mark
            if let rolled = mark.rolled5m, sample.startedAt < rolled {
                try mergeLate(sample, probe: id, rolled1h: mark.rolled1h, db)
            }
            let h = stmt.handle
            sqlite3_bind_int64(h, 1, id)
            sqlite3_bind_int64(h, 2, sample.startedAt)
            sqlite3_bind_int64(h, 3, Int64(sample.failure?.reason.code ?? 0))
            bindOptional(h, 4, sample.status.map(Int64.init))
            try stmt.bind(5, blob: PhaseCodec.encode(sample.phases))
            bindOptional(h, 6, sample.bytes)
            bindOptional(h, 7, sample.ipFamily.map { $0 == .ipv6 ? 1 : 0 })
            try stmt.run()
        }
    }

    /// Adds a late sample to its 5-minute rollup row, and to its hourly row when that hour is rolled up too.
    /// A sample replacing one of the same microsecond was counted already and is left out.
    private func mergeLate(_ sample: Sample, probe: Int64, rolled1h: Int64?, _ db: Connection) throws {
        if try db.scalar("SELECT 1 FROM samples WHERE probe_id = ?1 AND ts = ?2", [probe, sample.startedAt]) != nil {
            return
        }
        var late = Aggregate()
        late.add(reason: sample.failure?.reason.code ?? 0, phases: sample.phases)
        var tables = [("rollup_5m", Self.floor(sample.startedAt, Self.bucket5m))]
        if let rolled1h, sample.startedAt < rolled1h { tables.append(("rollup_1h", Self.floor(sample.startedAt, Self.bucket1h))) }
        for (table, bucket) in tables {
            var row = try rollups(table: table, probe: probe, from: bucket, to: bucket + 1, db).first?.1 ?? .rollupEmpty
            row.merge(late)
            try insertRollups(table: table, probe: probe, [(bucket, row)], db)
        }
    }

    private func bindOptional(_ stmt: OpaquePointer, _ index: Int32, _ value: Int64?) {
        if let value { sqlite3_bind_int64(stmt, index, value) } else { sqlite3_bind_null(stmt, index) }
    }
}

/// A FIFO of samples with O(1) amortized push, pop and drop-oldest.
package struct SampleQueue {
    private var items: [Sample] = []
    private var head = 0

    package init() {}

    package var count: Int { items.count - head }

    package mutating func push(_ sample: Sample) { items.append(sample) }

    package mutating func dropFirst() {
        head += 1
        compact()
    }

    package mutating func pop(max n: Int) -> [Sample] {
        let k = min(n, count)
        let out = Array(items[head..<(head + k)])
        head += k
        compact()
        return out
    }

    private mutating func compact() {
        if head == items.count {
            items.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 1024, head * 2 >= items.count {
            items.removeFirst(head)
            head = 0
        }
    }
}
