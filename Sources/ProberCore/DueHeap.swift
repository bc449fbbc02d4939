/// Elements by due time, earliest first: a binary min-heap (push and remove O(log n)).
///
/// The scheduler's probes and the libcurl engine's scheduled starts both wait in one. The due time is stored beside
/// each element, so sifting compares plain integers in the heap's own array instead of reaching into each element.
/// Elements with equal due times come out in no particular order. `@inlinable` so that each module's use is
/// specialized for its element type (a generic call across modules otherwise goes through witness tables).
public struct DueHeap<Element> {
    @usableFromInline var items: [(due: Int64, element: Element)] = []

    @inlinable public init() {}

    @inlinable public var isEmpty: Bool { items.isEmpty }
    @inlinable public var count: Int { items.count }
    /// The earliest element, and its due time.
    @inlinable public var first: Element? { items.first?.element }
    @inlinable public var firstDue: Int64? { items.first?.due }

    @inlinable public mutating func push(_ element: Element, due: Int64) {
        items.append((due, element))
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard items[child].due < items[parent].due else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    /// Removes and returns the earliest element; nil when empty.
    @inlinable @discardableResult public mutating func removeFirst() -> Element? {
        guard !items.isEmpty else { return nil }
        items.swapAt(0, items.count - 1)
        let first = items.removeLast().element
        siftDown(from: 0)
        return first
    }

    /// Removes every element `shouldRemove` picks and returns them with their due times, in no particular order.
    /// O(n): for cancellations, which are rare.
    @inlinable public mutating func removeAll(where shouldRemove: (Element) -> Bool) -> [(due: Int64, element: Element)] {
        var removed: [(due: Int64, element: Element)] = []
        var kept: [(due: Int64, element: Element)] = []
        kept.reserveCapacity(items.count)
        for item in items {
            if shouldRemove(item.element) { removed.append(item) } else { kept.append(item) }
        }
        guard !removed.isEmpty else { return [] }
        items = kept
        for i in stride(from: items.count / 2 - 1, through: 0, by: -1) { siftDown(from: i) }
        return removed
    }

    @inlinable mutating func siftDown(from start: Int) {
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

extension DueHeap: Sendable where Element: Sendable {}
