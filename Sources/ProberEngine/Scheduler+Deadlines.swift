import ProberCore

extension Scheduler {
    /// Entries by due time, earliest first (`DueHeap`). Touched only on the scheduler's queue, like the entries.
    typealias DeadlineHeap = DueHeap<Entry>
}

extension DueHeap where Element == Scheduler.Entry {
    /// Adds `entry` at its current `due`, which must not change while it waits here.
    mutating func push(_ entry: Scheduler.Entry) {
        push(entry, due: entry.due)
    }
}
