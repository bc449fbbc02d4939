import Dispatch
import ProberCore

/// A check handed to the engine ahead of its due time: the engine thread keeps it until `due` (or `earlyStart`
/// before it) and starts it then, so a paced check costs no wake-up of its own (the scheduler hands over a window of
/// them at once).
public struct ScheduledCheck: Sendable {
    /// What became of a scheduled check: exactly one per check.
    public enum Outcome: Sendable {
        /// It ran; it started `lateness` µs after `due`, measured on the engine thread as it started. Never negative:
        /// a check started early (`ScheduledCheck.earlyStart`) was not late, and its owner takes `due` as its start.
        case ran(Sample, lateness: Int64)
        /// Cancelled, or the engine stopped, before it started.
        case cancelled
    }

    /// Names the check for `CurlEngine.cancel`: unique among the checks its owner has handed over.
    public let id: UInt64
    public let spec: ProbeSpec
    public let due: DispatchTime
    /// Called through the `BatchedCompletions` the check was scheduled with, like a finished check's completion.
    public let completion: @Sendable (Outcome) -> Void

    /// How long before `due` the engine may start the check, when it is awake for something else (another check
    /// due, a response): a hundredth of the probe's interval, at most 100 ms (1 ms at the shortest interval, 100 ms),
    /// and at most `EarlyStartBudget.perTurn` checks a turn of the engine loop. A check due alone cost the engine
    /// thread a wake-up of its own, and checks started together have their responses come back in fewer wake-ups
    /// too. The C libcurl loop paced like the daemon (bench/c/curl_paced.c) at 30,000 probes at 10 s took 0.141 ms of
    /// CPU per check without a window, 0.134 with 5 ms and 0.115 with 20 ms, where the same loop flat out took 0.099
    /// (2026-12-04, one run each on a busy machine). A 20 ms limit started ~20 checks a wake-up at 10,000 probes;
    /// with 100 ms (and 64 a turn) two daemons side by side took B/A 0.88-0.92 of the CPU per check at 10,000 probes,
    /// 0.99 at 30,000 (where 20 ms already held ~60; `bench/side-by-side`, 2026-12-04). The probe's grid does not
    /// move: its tick is still due at its own time, and its check starts in [due - earlyStart, due + lateness].
    public var earlyStart: Duration { min(Self.earlyStartLimit, spec.interval / 100) }
    public static let earlyStartLimit = Duration.milliseconds(100)

    public init(id: UInt64, spec: ProbeSpec, due: DispatchTime, completion: @escaping @Sendable (Outcome) -> Void) {
        self.id = id
        self.spec = spec
        self.due = due
        self.completion = completion
    }

    /// Hands `.cancelled` to `batches` with the other checks of `batch` (a sample is what a batch carries; this
    /// one's is never read).
    static func cancel(_ batch: [ScheduledCheck], to batches: BatchedCompletions) {
        guard !batch.isEmpty else { return }
        batches.deliver(batch.map { check in
            BatchedCompletions.Finished(sample: Sample(probe: check.spec.name, startedAt: 0),
                                        completion: { _ in check.completion(.cancelled) })
        })
    }
}

extension CurlEngine {
    /// Hands `checks` to the engine thread in one post (one wake-up at most): each starts at its `due` (or as soon
    /// after as a slot frees), and its outcome reaches `batches` with the checks that end in the same turn.
    public func schedule(_ checks: [ScheduledCheck], batches: BatchedCompletions) {
        guard !checks.isEmpty else { return }
        switch inbox.post(scheduling: checks, batches: batches) {
        case .first: multi.wakeup()
        case .queued: break
        case .refused: ScheduledCheck.cancel(checks, to: batches)
        }
    }

    /// Cancels the scheduled checks of `ids` that have not started: each answers `.cancelled`. A check already
    /// started runs to its end as usual; an id the engine no longer holds is ignored.
    public func cancel(_ ids: [UInt64]) {
        guard !ids.isEmpty else { return }
        if inbox.post(cancelling: ids) == .first { multi.wakeup() }
    }
}

/// A scheduled check waiting on the engine thread for its due time (`DueHeap` key: `DispatchTime.uptimeNanoseconds`).
struct ScheduledStart {
    let check: ScheduledCheck
    let batches: BatchedCompletions
    /// `check.earlyStart` in nanoseconds, worked out once.
    let earlyNanos: Int64

    init(check: ScheduledCheck, batches: BatchedCompletions) {
        self.check = check
        self.batches = batches
        earlyNanos = check.earlyStart.microseconds * 1_000
    }
}
