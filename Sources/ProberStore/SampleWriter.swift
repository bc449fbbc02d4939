import CSQLite3
import Dispatch
import Foundation
import ProberCore
import ProberStorage

/// One backend's write step: what `SampleWriter` needs of a database to batch samples into it.
///
/// Every call runs on `queue`, a serial queue the backend owns (SQLite: the store's; PostgreSQL: the
/// recorder's own connection's), so an implementation keeps its connection state there without a lock.
public protocol SampleBatchWriting: AnyObject, Sendable {
    /// Where the writer's timer and every call below run.
    var queue: DispatchQueue { get }
    /// Writes `batch` in one transaction: all of it or, on a throw, none. A second sample of the same probe
    /// and microsecond replaces the first, so a batch written twice (a replay from the spool) is harmless.
    func write(_ batch: [Sample]) throws
    /// After a failed `write`: whatever may help the next attempt (reconnect, free space). `closing`: the
    /// last attempt before shutdown.
    func recover(after error: any Error, closing: Bool)
    /// After the writer's last write: release what the write step holds (a connection).
    func close()
}

/// Batches samples into a database off the probe path: the `SampleRecording` of every backend, which
/// brings only its write step (`SampleBatchWriting`).
///
/// `append` only takes a lock and pushes onto a bounded in-memory queue; a timer on the backend's queue
/// writes everything pending in one transaction per batch of up to `batchSize` every `flushInterval` (sooner
/// when `batchSize` samples are waiting). When the database is locked, full or unreachable, the batch is kept,
/// the warning handler is told, and the write is retried with exponential backoff. A storage problem never
/// becomes a probe failure.
///
/// Without a spool (SQLite: its database is the local disk) samples are dropped, oldest first and counted,
/// only when more than `capacity` wait in memory. With a `SampleSpool` (PostgreSQL), once writes have failed
/// for `spillAfter` (or `spillAt` samples wait) what is in memory goes to the spool, and from then on every
/// batch goes behind it until the spool is drained, oldest first, when the database takes writes again: order
/// is kept, a restart finds the spool, and `close` while the database is down spills what is in memory.
///
/// `@unchecked Sendable`: the counters and `buffer` are guarded by `lock`; `retry`, `backoff*`, `failingSince`,
/// `spool` and the timer are touched only on the backend's serial queue.
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
        /// With a spool: how long writes may fail before what is in memory goes to disk (shorter blips are absorbed
        /// in memory). Default 1 s: a `kill -9` during an outage then loses about as much as a crash loses on
        /// SQLite (the last second), not the whole wait.
        public var spillAfter: Duration = .seconds(1)
        /// With a spool: samples waiting in memory, while writes fail, that send them to disk before
        /// `spillAfter`. Default 20,000.
        public var spillAt: Int = 20_000
        public init(capacity: Int = 100_000, batchSize: Int = 5_000, flushInterval: Duration = .seconds(1),
                    maxBackoff: Duration = .seconds(30), spillAfter: Duration = .seconds(1), spillAt: Int = 20_000) {
            self.capacity = max(capacity, 1)
            self.batchSize = max(1, min(batchSize, self.capacity))
            self.flushInterval = flushInterval
            self.maxBackoff = maxBackoff
            self.spillAfter = spillAfter
            self.spillAt = max(1, min(spillAt, self.capacity))
        }
    }

    /// The counters `/metrics` shows; the same for every backend.
    public typealias Statistics = IngestStatistics

    public let batches: any SampleBatchWriting
    public let configuration: Configuration
    private let warning: @Sendable (String) -> Void
    private var queue: DispatchQueue { batches.queue }

    private let lock = NSLock()
    private var buffer = SampleQueue()      // guarded by lock
    private var inFlight = 0                // guarded by lock
    private var dropped = 0                 // guarded by lock
    private var written = 0                 // guarded by lock
    private var failedAttempts = 0          // guarded by lock
    private var writeScheduled = false      // guarded by lock
    private var backingOff = false          // guarded by lock: no early writes while waiting to retry
    private var spooled = 0                 // guarded by lock: a copy of spool.samples for statistics
    private var spooledBytes: Int64 = 0     // guarded by lock: a copy of spool.bytes
    private var commitLag = IngestLagHistogram()  // guarded by lock
    private var batchWrite = IngestLagHistogram() // guarded by lock
    /// What a committed sample's lag is measured against (its check's end, on the same wall clock).
    private let clock: any WallClock

    private var retry: [Sample] = []        // queue
    private var backoff: Double = 0         // queue, seconds
    private var retryAt: DispatchTime?      // queue
    private var failingSince: DispatchTime? // queue: the first failure of the current run of failures
    private var reportedDrops = 0           // queue
    private var lastDropWarning: DispatchTime? // queue
    private var spoolDropsCounted = 0       // queue: spool.dropped already added to `dropped`
    private let spool: SampleSpool?         // queue
    private var timer: DispatchSourceTimer?

    /// Starts the flush timer. `warning` receives human-readable messages about storage trouble (no secrets:
    /// database messages and counts only); it is called on the backend's queue. A `spool` that holds samples
    /// from an earlier run is sent first.
    public init(batches: any SampleBatchWriting, spool: SampleSpool? = nil, configuration: Configuration = Configuration(),
                clock: any WallClock = SystemWallClock(), warning: @escaping @Sendable (String) -> Void = { _ in }) {
        self.batches = batches
        self.clock = clock
        self.spool = spool
        self.configuration = configuration
        self.warning = warning
        if let spool {
            spooled = spool.samples
            spooledBytes = spool.bytes
            spoolDropsCounted = spool.dropped
            if spool.samples > 0 {
                warning("spool \(spool.directory) holds \(spool.samples) samples from an earlier run; sending them first")
            }
        }
        let timer = DispatchSource.makeTimerSource(queue: batches.queue)
        let interval = DispatchTimeInterval.microseconds(Int(configuration.flushInterval.microseconds))
        timer.schedule(deadline: .now() + (spooled > 0 ? .milliseconds(1) : interval), repeating: interval, leeway: .milliseconds(50))
        timer.setEventHandler { [weak self] in self?.writePending(force: false) }
        timer.resume()
        self.timer = timer
    }

    /// A writer into a SQLite store (no spool: the store is the local disk).
    public convenience init(store: Store, configuration: Configuration = Configuration(),
                            warning: @escaping @Sendable (String) -> Void = { _ in }) {
        self.init(batches: SQLiteSampleBatches(store: store), configuration: configuration, clock: store.clock, warning: warning)
    }

    deinit { timer?.cancel() }

    /// Queues a sample for writing. Never blocks on the database.
    public func append(_ sample: Sample) {
        lock.lock()
        push(sample)
        let trigger = triggersWrite()
        lock.unlock()
        if trigger {
            queue.async { [weak self] in self?.writePending(force: false) }
        }
    }

    /// Queues samples for writing, in order, under one lock. Never blocks on the database.
    public func append(contentsOf samples: [Sample]) {
        lock.lock()
        for sample in samples { push(sample) }
        let trigger = triggersWrite()
        lock.unlock()
        if trigger {
            queue.async { [weak self] in self?.writePending(force: false) }
        }
    }

    /// Adds a sample to the buffer, dropping the oldest beyond capacity. Under `lock`.
    private func push(_ sample: Sample) {
        buffer.push(sample)
        if buffer.count + inFlight > configuration.capacity, buffer.count > 0 {
            buffer.dropFirst()
            dropped += 1
        }
    }

    /// Whether a full batch waits and no write is on its way: then the caller schedules one. Under `lock`.
    private func triggersWrite() -> Bool {
        let trigger = buffer.count >= configuration.batchSize && !writeScheduled && !backingOff
        if trigger { writeScheduled = true }
        return trigger
    }

    /// Writes everything queued so far (the spool first), waiting for it (for shutdown and tests). Throws the
    /// storage error when a write fails; the samples stay queued.
    public func flush() throws {
        dispatchPrecondition(condition: .notOnQueue(queue))
        if let error = queue.sync(execute: { writePending(force: true) }) { throw error }
    }

    /// Stops the timer after a final flush attempt. When it fails: with a spool, what is in memory goes to the
    /// spool (nothing is lost; the next start sends it), without one the backend's `recover(closing: true)` runs
    /// (SQLite checkpoints and truncates its WAL, which can free the space the write needed) and the flush is
    /// tried once more. What is still pending after a failure is lost: `statistics.pending` says how many.
    public func close() throws {
        defer {
            timer?.cancel()
            queue.sync {
                batches.close()
                spool?.close()
            }
        }
        if spool != nil {
            // While the database is failing, one more attempt could wait on a connect timeout: spill at once.
            let error: (any Error)? = queue.sync {
                if failingSince != nil, spill() == nil { return nil }
                guard let error = writePending(force: true) else { return nil }
                return spill() == nil ? nil : error
            }
            if let error { throw error }
            let kept = statistics.spooled
            if kept > 0 {
                queue.sync { warning("database unavailable at shutdown: \(kept) samples kept in the spool \(spool!.directory) for the next start") }
            }
            return
        }
        do { try flush() } catch {
            queue.sync { batches.recover(after: error, closing: true) }
            try flush()
        }
    }

    public var statistics: Statistics {
        lock.lock()
        defer { lock.unlock() }
        return Statistics(written: written, dropped: dropped, pending: buffer.count + inFlight + spooled,
                          failedAttempts: failedAttempts, spooled: spooled, spooledBytes: spooledBytes,
                          commitLag: commitLag, batchWrite: batchWrite)
    }

    /// Writes the spool, then batches of memory, until what was pending at the start is written or a write
    /// fails; spills to the spool when writes have failed long enough. Queue only.
    @discardableResult
    private func writePending(force: Bool) -> Error? {
        lock.lock()
        writeScheduled = false
        let memory = buffer.count
        // What is pending now, in batches (plus a batch being retried); later arrivals wait for the next run. An
        // extra batch for no retry wrote what arrived during the first write as a second transaction of a few
        // samples, every period (twice the transactions: 7.8 a second on PostgreSQL at 300 checks/s, not 4).
        var batches = (memory + configuration.batchSize - 1) / configuration.batchSize + (retry.isEmpty ? 0 : 1)
        lock.unlock()
        reportDrops()
        if !force, let retryAt, DispatchTime.now() < retryAt {
            if shouldSpill(memory: memory) { _ = spill() }
            return nil
        }
        if let spool, spool.samples > 0 {
            // Newer samples go behind the spool, so the database receives everything in order. When the disk
            // refuses them they stay in memory, still behind the spool: it is drained all the same.
            _ = spill()
            while let batch = spool.peek() {
                let started = DispatchTime.now()
                do {
                    try self.batches.write(batch)
                } catch {
                    lock.lock()
                    let pending = buffer.count + inFlight
                    lock.unlock()
                    failed(error, memory: pending)
                    return error
                }
                spool.commit()
                committed(batch, writeStarted: started)
                succeeded(batch.count)
            }
            syncSpoolCounters()
            return nil
        }
        while batches > 0 {
            batches -= 1
            if retry.isEmpty {
                lock.lock()
                retry = buffer.pop(max: configuration.batchSize)
                inFlight = retry.count
                lock.unlock()
            }
            if retry.isEmpty { return nil }
            let started = DispatchTime.now()
            do {
                try self.batches.write(retry)
                committed(retry, writeStarted: started)
                succeeded(retry.count)
                retry = []
            } catch {
                lock.lock()
                let pending = buffer.count + inFlight
                lock.unlock()
                failed(error, memory: pending)
                if shouldSpill(memory: pending) { _ = spill() }
                return error
            }
        }
        return nil
    }

    /// Counts a committed batch in `statistics`: each sample's lag from its check's end to now, and the write's time.
    private func committed(_ batch: [Sample], writeStarted: DispatchTime) {
        let now = clock.now()
        let took = Int64((DispatchTime.now().uptimeNanoseconds - writeStarted.uptimeNanoseconds) / 1_000)
        var lags = IngestLagHistogram()
        for sample in batch { lags.record(now - sample.startedAt - (sample.phases.total ?? 0)) }
        lock.lock()
        commitLag.merge(lags)
        batchWrite.record(took)
        lock.unlock()
    }

    private func succeeded(_ count: Int) {
        lock.lock()
        written += count
        inFlight = 0
        backingOff = false
        let failures = failedAttempts
        lock.unlock()
        if retryAt != nil {
            warning("storage recovered; pending samples written (\(failures) failed attempts so far)")
        }
        retryAt = nil
        failingSince = nil
        backoff = 0
        syncSpoolCounters()
    }

    private func failed(_ error: any Error, memory: Int) {
        lock.lock()
        failedAttempts += 1
        backingOff = true
        lock.unlock()
        let now = DispatchTime.now()
        if failingSince == nil { failingSince = now }
        backoff = min(max(backoff * 2, 0.25), configuration.maxBackoff.seconds)
        retryAt = now + backoff
        batches.recover(after: error, closing: false)
        let onDisk = spool.map { " and \($0.samples) in the spool" } ?? ""
        warning("cannot write samples, keeping \(memory) in memory\(onDisk) and retrying in \(backoff) s: \(error)")
    }

    /// Whether what waits in memory should go to the spool: writes have failed for `spillAfter`, or too much waits.
    private func shouldSpill(memory: Int) -> Bool {
        guard spool != nil, let failingSince else { return false }
        if memory >= configuration.spillAt { return true }
        return DispatchTime.now().uptimeNanoseconds - failingSince.uptimeNanoseconds
            >= UInt64(configuration.spillAfter.seconds * 1e9)
    }

    /// Moves every sample in memory (the batch being retried first) to the end of the spool. Returns the spool's
    /// error when the disk refuses: the samples not written stay in memory.
    private func spill() -> Error? {
        guard let spool else { return nil }
        defer { syncSpoolCounters() }
        while true {
            if retry.isEmpty {
                lock.lock()
                retry = buffer.pop(max: configuration.batchSize)
                inFlight = retry.count
                lock.unlock()
            }
            if retry.isEmpty { return nil }
            do {
                try spool.append(retry)
            } catch {
                warning("cannot spool samples, keeping them in memory: \(error)")
                return error
            }
            retry = []
            lock.lock()
            inFlight = 0
            lock.unlock()
        }
    }

    /// Copies the spool's counters for `statistics`, adding what it dropped to `dropped`.
    private func syncSpoolCounters() {
        guard let spool else { return }
        lock.lock()
        spooled = spool.samples
        spooledBytes = spool.bytes
        dropped += spool.dropped - spoolDropsCounted
        lock.unlock()
        spoolDropsCounted = spool.dropped
    }

    /// Warns about dropped samples: at once the first time, then at most every 10 s, with counts.
    private func reportDrops() {
        lock.lock()
        let droppedSoFar = dropped
        lock.unlock()
        guard droppedSoFar > reportedDrops else { return }
        let now = DispatchTime.now()
        if let last = lastDropWarning, now.uptimeNanoseconds - last.uptimeNanoseconds < 10_000_000_000 { return }
        let bound = spool.map { "spool full (\(Self.bytes($0.configuration.maxBytes))) or memory queue full" }
            ?? "sample queue full (\(configuration.capacity))"
        warning("\(bound): dropped \(droppedSoFar - reportedDrops) oldest samples (\(droppedSoFar) in total)")
        reportedDrops = droppedSoFar
        lastDropWarning = now
    }

    private static func bytes(_ n: Int64) -> String {
        n >= 1 << 30 && n % (1 << 30) == 0 ? "\(n >> 30) GiB" : n >= 1 << 20 ? "\(n >> 20) MiB" : "\(n) bytes"
    }
}

/// SQLite's write step: a batch in one transaction on the store's queue, the WAL checkpointed when due; a full
/// disk checkpoints and truncates the WAL (it may be what filled it).
final class SQLiteSampleBatches: SampleBatchWriting {
    let store: Store
    init(store: Store) { self.store = store }

    var queue: DispatchQueue { store.queue }

    func write(_ batch: [Sample]) throws {
        try store.writeOnQueue { db in try store.insert(batch, db) }
        // A fold that fails (a full disk) is tried again after the next batch: its rows stay recent meanwhile.
        try? store.foldIfDue(now: store.clock.now())
        store.checkpointIfDue()
    }

    func recover(after error: any Error, closing: Bool) {
        if closing || (error as? StoreError)?.primaryCode == SQLITE_FULL { _ = store.checkpoint(truncate: true) }
    }

    func close() {}
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
        var marks: [Int64: (rolled5m: Int64?, rolled1h: Int64?, rolled1d: Int64?)] = [:]
        var rows: [(probe: Int64, sample: Sample)] = []
        rows.reserveCapacity(samples.count)
        // Late samples merged in this batch: appended only at its end, they are not yet found by `mergeLate`.
        var merged: Set<[Int64]> = []
        for sample in samples {
            guard let id = try probeID(sample.probe, create: true, db) else { continue }
            let mark = try marks[id] ?? watermarks(id, db)
            marks[id] = mark
            if let rolled = mark.rolled5m, sample.startedAt < rolled, merged.insert([id, sample.startedAt]).inserted {
                try mergeLate(sample, probe: id, rolled1h: mark.rolled1h, rolled1d: mark.rolled1d, db)
            }
            rows.append((id, sample))
        }
        try appendSamples(rows, db)
    }

    /// Adds a late sample to its 5-minute rollup row, and to its hourly row when that hour is rolled up too.
    /// A sample replacing one of the same microsecond was counted already and is left out.
    private func mergeLate(_ sample: Sample, probe: Int64, rolled1h: Int64?, rolled1d: Int64?, _ db: Connection) throws {
        if try !samples(probe: probe, from: sample.startedAt, to: sample.startedAt + 1, db).isEmpty { return }
        var late = Aggregate()
        late.add(reason: sample.failure?.reason.code ?? 0, phases: sample.phases)
        var tables = [("rollup_5m", Self.floor(sample.startedAt, Self.bucket5m))]
        if let rolled1h, sample.startedAt < rolled1h { tables.append(("rollup_1h", Self.floor(sample.startedAt, Self.bucket1h))) }
        for (table, bucket) in tables {
            var row = try rollups(table: table, probe: probe, from: bucket, to: bucket + 1, db).first?.1 ?? .rollupEmpty
            row.merge(late)
            try insertRollups(table: table, probe: probe, [(bucket, row)], db)
        }
        if let rolled1d, sample.startedAt < rolled1d {
            let upsert = try db.prepare("""
                INSERT INTO rollup_1d(probe_id, bucket, checks, failures) VALUES (?1, ?2, 1, ?3)
                ON CONFLICT(probe_id, bucket) DO UPDATE SET checks = checks + 1, failures = failures + excluded.failures
                """)
            try upsert.bind(1, probe)
            try upsert.bind(2, Self.floor(sample.startedAt, Self.day))
            try upsert.bind(3, Int64(sample.failure == nil ? 0 : 1))
            try upsert.run()
        }
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
