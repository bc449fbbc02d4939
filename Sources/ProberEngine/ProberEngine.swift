import Foundation
import ProberCore
import ProberProbes

/// Runs one check of a probe. The engine's seam to the probes module (`ProberProbes.CurlEngine` conforms).
///
/// `run` is called on the scheduler's queue and must return promptly (hand the work to its own thread);
/// `completion` may be called from any thread, exactly once, within about `spec.timeout`.
public protocol CheckRunner: Sendable {
    func run(_ spec: ProbeSpec, completion: @escaping @Sendable (Sample) -> Void)

    /// `run`, with the sample handed to `batches` (together with the other checks that finished at the same
    /// time, for a runner that can) rather than to `completion` directly. By default each goes alone.
    func run(_ spec: ProbeSpec, batches: BatchedCompletions, completion: @escaping @Sendable (Sample) -> Void)
}

extension CheckRunner {
    public func run(_ spec: ProbeSpec, batches: BatchedCompletions, completion: @escaping @Sendable (Sample) -> Void) {
        run(spec) { sample in batches.deliver(sample, to: completion) }
    }
}

/// A runner that starts checks at their due time itself (`ProberProbes.CurlEngine` does): the scheduler then hands
/// it a window of ticks at once, ahead of time (Scheduler+Lookahead.swift), instead of waking for each tick.
public protocol SchedulingCheckRunner: CheckRunner {
    /// Starts each check at its `due` on the runner's own thread; every outcome goes through `batches`, exactly once.
    func schedule(_ checks: [ScheduledCheck], batches: BatchedCompletions)
    /// Cancels the checks of `ids` that have not started (each answers `.cancelled`); ignores the others.
    func cancel(_ ids: [UInt64])
}

/// Receives every check's result (the store, the evaluator). Called on the scheduler's queue: must not block.
public protocol SampleSink: Sendable {
    func record(_ sample: Sample)

    /// Several checks' results at once, in the order they finished. By default one `record` each.
    func record(contentsOf samples: [Sample])
}

extension SampleSink {
    public func record(contentsOf samples: [Sample]) {
        for sample in samples { record(sample) }
    }
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
