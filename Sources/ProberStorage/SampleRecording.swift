import ProberCore

/// Where the run loop sends every check's sample: what the engine's pipeline and `/metrics` need of ingest.
///
/// How samples reach the history (SQLite batches them in memory, a server database may spool them to disk)
/// is the backend's business; the guarantees below are the contract.
public protocol SampleRecording: AnyObject, Sendable {
    /// Queues a sample. Returns at once and never blocks on the database, whatever its state: a storage
    /// problem never becomes a probe failure. Samples of one probe are stored in `startedAt` order
    /// whatever order they were appended in; a second sample of the same probe and microsecond replaces
    /// the first. When more samples wait than the backend can hold, the oldest are dropped and counted
    /// in `statistics.dropped`, never silently.
    func append(_ sample: Sample)

    /// Queues several samples, in order: `append` each, for a backend that takes them in one step (one lock
    /// rather than one per sample).
    func append(contentsOf samples: [Sample])

    /// Writes everything appended before the call and returns once it is durable (a store opened
    /// afterwards on the same location reads it). Throws the backend's `StorageError` when it cannot;
    /// the samples then stay queued for the next attempt.
    func flush() throws

    /// A final `flush`, after which the recorder writes nothing more (shutdown).
    func close() throws

    /// Counters for `/metrics`; cheap enough to read on every scrape.
    var statistics: IngestStatistics { get }
}

extension SampleRecording {
    public func append(contentsOf samples: [Sample]) {
        for sample in samples { append(sample) }
    }
}

/// What a sample recorder has done since it started.
public struct IngestStatistics: Sendable, Equatable {
    /// Samples committed to the database.
    public var written: Int
    /// Samples dropped because more were waiting than the recorder holds.
    public var dropped: Int
    /// Samples waiting (including a batch being retried).
    public var pending: Int
    /// Failed write attempts since the recorder started.
    public var failedAttempts: Int
    /// Samples held in the on-disk spool while the database cannot take them (part of `pending`); 0 for a
    /// backend without a spool.
    public var spooled: Int
    /// Bytes the on-disk spool takes (0 without one).
    public var spooledBytes: Int64
    /// Each committed sample's lag from its check's end to its commit: what ingest adds to a check's age in storage
    /// (hand-over, the batch period, the write; a spooled sample's outage too).
    public var commitLag: IngestLagHistogram
    /// How long each committed batch's write took (its transaction, from the first statement to the commit).
    public var batchWrite: IngestLagHistogram

    public init(written: Int = 0, dropped: Int = 0, pending: Int = 0, failedAttempts: Int = 0, spooled: Int = 0,
                spooledBytes: Int64 = 0, commitLag: IngestLagHistogram = IngestLagHistogram(),
                batchWrite: IngestLagHistogram = IngestLagHistogram()) {
        self.commitLag = commitLag
        self.batchWrite = batchWrite
        self.written = written
        self.dropped = dropped
        self.pending = pending
        self.failedAttempts = failedAttempts
        self.spooled = spooled
        self.spooledBytes = spooledBytes
    }
}
