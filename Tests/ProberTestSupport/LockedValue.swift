import Synchronization

/// A value shared between a test and the threads or callbacks it starts.
public final class LockedValue<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>

    public init(_ value: Value) { mutex = Mutex(value) }

    /// A copy of the value as it is now.
    public var current: Value { mutex.withLock { $0 } }

    public func withLock<Result: Sendable>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        try mutex.withLock { value in try body(&value) }
    }
}
