/// Per-probe values by probe name, stored densely: a name -> slot index and the values in one array, in the order
/// the probes were added (a removal moves the last one into the hole).
///
/// A `[String: Value]` keeps every value in a slot of its hash table, which is at most three quarters full and
/// usually far less (60,000 probes take 131,072 slots): for a value of 64 bytes that is 174 bytes per probe, here
/// 124 (the index's slots hold 20 bytes, the values array 64 per probe plus its name). Reads and writes by name
/// cost one hash lookup, as in a dictionary; a value is changed in place (`table[name]?.count += 1` copies nothing).
public struct ProbeTable<Value>: Sequence {
    /// Each name's index in `names` and `stored`.
    private var slots: [String: Int32] = [:]
    private var names: [String] = []
    /// Optional so that `_modify` can move a value out while it is changed (no copy of what it holds).
    private var stored: [Value?] = []

    public init() {}

    public var count: Int { names.count }
    public var isEmpty: Bool { names.isEmpty }
    /// The probes' names, in table order.
    public var keys: [String] { names }
    /// The values, in table order.
    public var values: [Value] { stored.map { $0! } }

    public mutating func reserveCapacity(_ n: Int) {
        slots.reserveCapacity(n)
        names.reserveCapacity(n)
        stored.reserveCapacity(n)
    }

    public subscript(name: String) -> Value? {
        get { slots[name].map { stored[Int($0)]! } }
        set {
            if let slot = slots[name] {
                if let newValue { stored[Int(slot)] = newValue } else { remove(at: Int(slot)) }
            } else if let newValue {
                append(name, newValue)
            }
        }
        _modify {
            guard let slot = slots[name] else {
                var added: Value?
                yield &added
                if let added { append(name, added) }
                return
            }
            let i = Int(slot)
            // Moved out for the change, so what it holds (an array) is not shared with the table meanwhile.
            var value: Value?
            swap(&value, &stored[i])
            defer {
                if value == nil { remove(at: i) } else { stored[i] = value }
            }
            yield &value
        }
    }

    /// The value for `name`, added as `defaultValue` when absent, for a change in place.
    public subscript(name: String, default defaultValue: @autoclosure () -> Value) -> Value {
        get { self[name] ?? defaultValue() }
        _modify {
            let i: Int
            if let slot = slots[name] {
                i = Int(slot)
            } else {
                append(name, defaultValue())
                i = names.count - 1
            }
            var moved: Value?
            swap(&moved, &stored[i])
            var value = moved!
            defer { stored[i] = value }
            yield &value
        }
    }

    public mutating func removeAll() {
        slots.removeAll()
        names.removeAll()
        stored.removeAll()
    }

    /// Removes the probes for which `shouldRemove` is true; the others keep their order.
    public mutating func removeAll(where shouldRemove: (String, Value) -> Bool) {
        var kept = ProbeTable()
        kept.reserveCapacity(count)
        for (name, value) in self where !shouldRemove(name, value) { kept.append(name, value) }
        self = kept
    }

    public struct Iterator: IteratorProtocol {
        fileprivate let table: ProbeTable
        fileprivate var index = 0
        public mutating func next() -> (key: String, value: Value)? {
            guard index < table.names.count else { return nil }
            defer { index += 1 }
            return (table.names[index], table.stored[index]!)
        }
    }

    public func makeIterator() -> Iterator { Iterator(table: self) }

    private mutating func append(_ name: String, _ value: Value) {
        slots[name] = Int32(names.count)
        names.append(name)
        stored.append(value)
    }

    /// Removes the value at `i`, moving the last one into its place.
    private mutating func remove(at i: Int) {
        let last = names.count - 1
        slots[names[i]] = nil
        if i != last {
            names.swapAt(i, last)
            stored.swapAt(i, last)
            slots[names[i]] = Int32(i)
        }
        names.removeLast()
        stored.removeLast()
    }
}

extension ProbeTable: ExpressibleByDictionaryLiteral {
    public init(dictionaryLiteral elements: (String, Value)...) {
        for (name, value) in elements { self[name] = value }
    }
}

extension ProbeTable: Sendable where Value: Sendable {}
