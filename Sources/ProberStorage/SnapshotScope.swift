import Dispatch

/// A store's `HistoryReading.snapshot` as its queue sees it: whether the code running there is inside one, so the
/// store's reads join the snapshot's transaction instead of opening their own. Each store has one, made with its queue;
/// `isJoined` may be asked anywhere, `inside` runs only on the queue.
public final class SnapshotScope: @unchecked Sendable {
    /// Which scope's queue is the current queue (each scope sets itself on its own).
    private static let current = DispatchSpecificKey<ObjectIdentifier>()
    /// A snapshot's body is running. Touched only on the queue.
    private var open = false

    public init(queue: DispatchQueue) {
        queue.setSpecific(key: Self.current, value: ObjectIdentifier(self))
    }

    /// On this scope's queue, inside `inside`'s body (`open` is read only there).
    public var isJoined: Bool { DispatchQueue.getSpecific(key: Self.current) == ObjectIdentifier(self) && open }

    /// Runs a snapshot's body, already on the queue and in the snapshot's transaction.
    public func inside<T>(_ body: () throws -> T) rethrows -> T {
        open = true
        defer { open = false }
        return try body()
    }
}
