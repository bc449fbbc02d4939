import ProberCore
import Synchronization

/// Hands finished checks to their owner in batches: the checks run with one `BatchedCompletions` that finish
/// in the same turn of the engine loop (or, with `gathering`, within that long of the first) reach `deliver`
/// together, in the order they finished, on the engine thread.
///
/// The owner then makes one hop to its own queue per batch instead of one per check: each hop wakes that
/// queue's thread, and at thousands of checks a second those wake-ups cost more CPU than the checks' own
/// work in the process. (A check with `body_matches` finishes on its matching thread, in a batch of its own.)
public final class BatchedCompletions: Sendable {
    /// One finished check and its completion, to be called on the owner's queue.
    public struct Finished: Sendable {
        public let sample: Sample
        let completion: @Sendable (Sample) -> Void

        public init(sample: Sample, completion: @escaping @Sendable (Sample) -> Void) {
            self.sample = sample
            self.completion = completion
        }

        /// Calls the check's completion with its sample.
        public func complete() { completion(sample) }
    }

    private let handOver: @Sendable ([Finished]) -> Void
    /// How long the engine loop holds a batch open for more checks after the first finished (0: each turn's checks
    /// go at the end of the turn), in nanoseconds. The owner's queue then wakes at most once per this, not once per
    /// turn. The owner may change it as its rate of checks changes (`gather(for:)`); the engine reads it each turn.
    let gatheringNanos: Atomic<UInt64>

    /// How long a batch is held open for more checks after the first finished.
    public var gathering: Duration { .nanoseconds(gatheringNanos.load(ordering: .relaxed)) }

    /// `deliver` is called from the engine thread (or a matching thread) and must return at once: hand the
    /// batch to a queue.
    public init(gathering: Duration = .zero, deliver: @escaping @Sendable ([Finished]) -> Void) {
        handOver = deliver
        gatheringNanos = Atomic(Self.nanoseconds(gathering))
    }

    /// Holds batches open for `gathering` from now on (the batch already open keeps the time it started with).
    public func gather(for gathering: Duration) {
        gatheringNanos.store(Self.nanoseconds(gathering), ordering: .relaxed)
    }

    private static func nanoseconds(_ d: Duration) -> UInt64 {
        UInt64(max(0, d.components.seconds)) * 1_000_000_000 + UInt64(max(0, d.components.attoseconds / 1_000_000_000))
    }

    /// Hands over a batch (checks that finished together, in the order they finished).
    public func deliver(_ batch: [Finished]) {
        handOver(batch)
    }

    /// Hands over one check alone (a runner that does not batch, a check refused at once).
    public func deliver(_ sample: Sample, to completion: @escaping @Sendable (Sample) -> Void) {
        deliver([Finished(sample: sample, completion: completion)])
    }
}

/// Where a probe's sample goes once its check ends: to its completion at once, or, with `batches`, into the
/// batch of the engine loop's turn. Secrets are hidden here, on the way out, whichever way it goes.
struct ProbeCompletion: Sendable {
    let secrets: [Secret]
    let completion: @Sendable (Sample) -> Void
    let batches: BatchedCompletions?

    /// Calls the completion now, or hands the sample over in a batch of its own (off the engine loop's turn).
    func alone(_ sample: Sample) {
        let sample = sample.hiding(secrets)
        if let batches { batches.deliver(sample, to: completion) } else { completion(sample) }
    }
}
