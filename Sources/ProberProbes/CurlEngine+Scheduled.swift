import Dispatch
import ProberCore

/// A check handed to the engine ahead of its due time: the engine thread keeps it until `due` and starts it then,
/// so a paced check costs no wake-up of its own (the scheduler hands over a window of them at once).
public struct ScheduledCheck: Sendable {
    /// What became of a scheduled check: exactly one per check.
    public enum Outcome: Sendable {
        /// It ran; it started `lateness` µs after `due` (never negative), measured on the engine thread as it started.
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

/// Scheduled checks by due time, earliest first: a binary min-heap on the engine thread.
struct StartHeap {
    struct Item {
        let due: UInt64 // DispatchTime.uptimeNanoseconds
        let check: ScheduledCheck
        let batches: BatchedCompletions
    }

    private(set) var items: [Item] = []

    var isEmpty: Bool { items.isEmpty }
    var first: Item? { items.first }

    mutating func push(_ item: Item) {
        items.append(item)
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard items[child].due < items[parent].due else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func removeFirst() -> Item {
        let first = items[0]
        items.swapAt(0, items.count - 1)
        items.removeLast()
        siftDown(from: 0)
        return first
    }

    /// Removes every item `shouldRemove` picks and returns them (O(n): for cancellations, which are rare).
    mutating func removeAll(where shouldRemove: (Item) -> Bool) -> [Item] {
        var removed: [Item] = []
        var kept: [Item] = []
        kept.reserveCapacity(items.count)
        for item in items {
            if shouldRemove(item) { removed.append(item) } else { kept.append(item) }
        }
        guard !removed.isEmpty else { return [] }
        items = kept
        for i in stride(from: items.count / 2 - 1, through: 0, by: -1) { siftDown(from: i) }
        return removed
    }

    private mutating func siftDown(from start: Int) {
        var parent = start
        while true {
            let left = 2 * parent + 1, right = left + 1
            var smallest = parent
            if left < items.count, items[left].due < items[smallest].due { smallest = left }
            if right < items.count, items[right].due < items[smallest].due { smallest = right }
            if smallest == parent { return }
            items.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
