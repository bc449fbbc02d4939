extension Scheduler {
    /// Entries by due time, earliest first: a binary min-heap (push and remove O(log n)). Touched only on the
    /// scheduler's queue, like the entries.
    struct DeadlineHeap {
        private var entries: [Entry] = []

        var count: Int { entries.count }
        /// The earliest due entry.
        var first: Entry? { entries.first }

        mutating func push(_ entry: Entry) {
            entries.append(entry)
            var child = entries.count - 1
            while child > 0 {
                let parent = (child - 1) / 2
                guard entries[child].due < entries[parent].due else { break }
                entries.swapAt(child, parent)
                child = parent
            }
        }

        /// Removes the earliest due entry.
        mutating func removeFirst() {
            guard !entries.isEmpty else { return }
            entries.swapAt(0, entries.count - 1)
            entries.removeLast()
            var parent = 0
            while true {
                let left = 2 * parent + 1, right = left + 1
                var smallest = parent
                if left < entries.count, entries[left].due < entries[smallest].due { smallest = left }
                if right < entries.count, entries[right].due < entries[smallest].due { smallest = right }
                if smallest == parent { return }
                entries.swapAt(parent, smallest)
                parent = smallest
            }
        }
    }
}
