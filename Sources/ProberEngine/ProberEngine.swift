import Foundation
import ProberCore

/// Runs one check of a probe. The engine's seam to the probes module (`ProberProbes.CurlEngine` conforms).
///
/// `run` is called on the scheduler's queue and must return promptly (hand the work to its own thread);
/// `completion` may be called from any thread, exactly once, within about `spec.timeout`.
public protocol CheckRunner: Sendable {
    func run(_ spec: ProbeSpec, completion: @escaping @Sendable (Sample) -> Void)
}

/// Receives every check's result (the store, the evaluator). Called on the scheduler's queue: must not block.
public protocol SampleSink: Sendable {
    func record(_ sample: Sample)
}

/// A value guarded by a lock, readable from any thread.
///
/// `@unchecked Sendable` is safe because every access to `value` goes through `lock`.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }

    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }

    var current: Value { withLock { $0 } }
}
