/// Elements by due time, earliest first: a 4-ary min-heap (push and remove O(log n)).
///
/// The scheduler's probes and the libcurl engine's scheduled starts both wait in one. The due time is stored beside
/// each element, so sifting compares plain integers in the heap's own array instead of reaching into each element.
/// Four children a node: the scheduler's heap holds every probe (60,000: 8 levels instead of 16), a removal visits each
/// level, and a node's children (16 bytes each) share a cache line or two. Elements with equal due times come out in
/// no particular order. `@inlinable` so that each module's use is specialized for its element type (a generic call
/// across modules otherwise goes through witness tables).
public struct DueHeap<Element> {
    @usableFromInline var items: [(due: Int64, element: Element)] = []

    @inlinable public init() {}

    @inlinable public var isEmpty: Bool { items.isEmpty }
    @inlinable public var count: Int { items.count }
    /// The earliest element, and its due time.
    @inlinable public var first: Element? { items.first?.element }
    @inlinable public var firstDue: Int64? { items.first?.due }
    /// A property of the earliest element, read in place (`first` copies the element, retaining what it holds).
    @inlinable public func first<T>(_ property: (Element) -> T) -> T? {
        items.withUnsafeBufferPointer { heap in heap.isEmpty ? nil : property(heap.baseAddress!.pointee.element) }
    }

    @inlinable public mutating func push(_ element: Element, due: Int64) {
        items.append((due, element))
        items.withUnsafeMutableBufferPointer { heap in
            // A hole moves up instead of swapping at each level: one move per level, no uniqueness check per swap.
            var child = heap.count - 1
            guard child > 0, due < heap[(child - 1) / 4].due else { return }
            let moving = (heap.baseAddress! + child).move()
            while child > 0 {
                let parent = (child - 1) / 4
                guard due < heap[parent].due else { break }
                (heap.baseAddress! + child).moveInitialize(from: heap.baseAddress! + parent, count: 1)
                child = parent
            }
            (heap.baseAddress! + child).initialize(to: moving)
        }
    }

    /// Removes and returns the earliest element; nil when empty.
    @inlinable @discardableResult public mutating func removeFirst() -> Element? {
        guard !items.isEmpty else { return nil }
        // The root and the last element trade places by moves (`swapAt` copied both), then the root leaves.
        items.withUnsafeMutableBufferPointer { heap in
            guard let root = heap.baseAddress, heap.count > 1 else { return }
            let last = root + heap.count - 1
            let first = root.move()
            root.moveInitialize(from: last, count: 1)
            last.initialize(to: first)
        }
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
        for i in stride(from: (items.count - 2) / 4, through: 0, by: -1) { siftDown(from: i) }
        return removed
    }

    /// Moves the element at `start` down to its place: a hole moves down (one move per level) in the array's own
    /// buffer, with no swaps and no check per level that the array is unshared (this runs for every tick). The element
    /// is moved out only once it is known to move, and back in by a move: no copy of it (a copy of the engine's
    /// scheduled start retains and releases each of its references).
    @inlinable mutating func siftDown(from start: Int) {
        items.withUnsafeMutableBufferPointer { heap in
            let count = heap.count
            guard start < count, let base = heap.baseAddress else { return }
            let due = base[start].due
            /// The child of `parent` due first, when it is due before the element moving down.
            func earlierChild(_ parent: Int) -> Int? {
                let first = 4 * parent + 1
                guard first < count else { return nil }
                var smallest = first
                for child in first + 1 ..< min(first + 4, count) where base[child].due < base[smallest].due { smallest = child }
                return base[smallest].due < due ? smallest : nil
            }
            guard var child = earlierChild(start) else { return }
            let moving = (base + start).move()
            var parent = start
            while true {
                (base + parent).moveInitialize(from: base + child, count: 1)
                parent = child
                guard let next = earlierChild(parent) else { break }
                child = next
            }
            (base + parent).initialize(to: moving)
        }
    }
}

extension DueHeap: Sendable where Element: Sendable {}
