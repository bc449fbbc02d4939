import ProberCore

/// Rollups and retention, run a little at a time beside ingest (see `MaintenanceWorker` in ProberStore).
public protocol StorageMaintaining: AnyObject, Sendable {
    /// Folds raw samples into 5-minute and those into 1-hour rollups, then deletes what is past `policy`'s
    /// retention, in transactions small enough that ingest interleaves. Raw samples and 5-minute rows are
    /// only deleted once rolled up, so history past raw retention is still answered from rollups.
    /// Stops after about `budget` and says whether work is left; every call makes progress even with a
    /// zero budget, so repeated calls finish. Blocks: call it from a thread that may (not the cooperative
    /// pool). `now` is microseconds since the epoch.
    @discardableResult
    func maintain(now: Int64, policy: StoragePolicy, budget: Duration) throws -> MaintenanceReport
}

/// What one `maintain` call did.
public struct MaintenanceReport: Sendable, Equatable {
    /// 5-minute and 1-hour buckets written.
    public var rolled5m = 0
    public var rolled1h = 0
    /// Rows deleted by retention.
    public var prunedSamples = 0
    public var pruned5m = 0
    public var pruned1h = 0
    /// Transactions used (each one small).
    public var transactions = 0
    /// False when the time budget ran out with work left; the next call continues.
    public var finished = true
    public init() {}
}
