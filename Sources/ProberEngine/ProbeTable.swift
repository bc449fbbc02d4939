import ProberCore

/// Per-probe values by probe name, stored densely: the values in one array in the slot order of a `ProbeIndex`
/// that every table shares, and the few names outside it (connectivity canaries, probes a test names without
/// loading a probe file) in a small table of their own.
///
/// A `[String: Value]` keeps every value in a slot of its hash table, which is at most three quarters full and
/// usually far less (60,000 probes take 131,072 slots): for a value of 64 bytes that is 174 bytes per probe, here
/// 64, plus the shared index. Reads and writes by name cost one hash lookup, as in a dictionary; a value is
/// changed in place (`table[name]?.count += 1` copies nothing).
///
/// A table adopts `ProbeIndex.latest` when a name it is given is in that index and not in its own (the first
/// probe stored after a load or a reload that added probes): its values move to their slots in the new index.
public struct ProbeTable<Value>: Sequence {
    private var index = ProbeIndex.empty
    /// One per name of `index` once a value is stored, nil where the table has none.
    private var stored: [Value?] = []
    /// How many of `stored` are not nil.
    private var indexedCount = 0
    /// The values of names outside `index`.
    private var others = OrderedValues<Value>()

    public init() {}

    /// An empty table with `other`'s index, for values of the same probes (no adoption on the first name).
    public init<Other>(indexedLike other: ProbeTable<Other>) {
        index = other.index
    }

    public var count: Int { indexedCount + others.count }
    public var isEmpty: Bool { count == 0 }
    /// The probes' names, in table order.
    public var keys: [String] { map(\.key) }
    /// The values, in table order.
    public var values: [Value] { map(\.value) }

    /// Room for `n` names outside the shared index (the values of those in it take one array, made at once).
    public mutating func reserveCapacity(_ n: Int) {
        if index.count == 0 { others.reserveCapacity(n) }
    }

    public subscript(name: String) -> Value? {
        get {
            if let i = index.slot(name) { return i < stored.count ? stored[i] : nil }
            return others[name]
        }
        set {
            let i = slot(for: name, adding: newValue != nil)
            guard let i else {
                others[name] = newValue
                return
            }
            indexedCount += (newValue != nil ? 1 : 0) - (stored[i] != nil ? 1 : 0)
            stored[i] = newValue
        }
        _modify {
            guard let i = slot(for: name, adding: true) else {
                yield &others[name]
                return
            }
            let had = stored[i] != nil
            // In place: what the value holds (an array) is not shared with a copy meanwhile.
            defer { indexedCount += (stored[i] != nil ? 1 : 0) - (had ? 1 : 0) }
            yield &stored[i]
        }
    }

    /// The value for `name`, added as `defaultValue` when absent, for a change in place.
    public subscript(name: String, default defaultValue: @autoclosure () -> Value) -> Value {
        get { self[name] ?? defaultValue() }
        _modify {
            guard let i = slot(for: name, adding: true) else {
                yield &others[name, default: defaultValue()]
                return
            }
            if stored[i] == nil {
                stored[i] = defaultValue()
                indexedCount += 1
            }
            yield &stored[i]!
        }
    }

    public mutating func removeAll() {
        self = ProbeTable()
    }

    /// Removes the probes for which `shouldRemove` is true; the others keep their order.
    public mutating func removeAll(where shouldRemove: (String, Value) -> Bool) {
        var kept = ProbeTable()
        for (name, value) in self where !shouldRemove(name, value) { kept[name] = value }
        self = kept
    }

    public struct Iterator: IteratorProtocol {
        fileprivate let table: ProbeTable
        fileprivate var slot = 0
        fileprivate var other = 0
        public mutating func next() -> (key: String, value: Value)? {
            while slot < table.stored.count {
                defer { slot += 1 }
                if let value = table.stored[slot] { return (table.index.names[slot], value) }
            }
            guard other < table.others.count else { return nil }
            defer { other += 1 }
            return table.others.element(at: other)
        }
    }

    public func makeIterator() -> Iterator { Iterator(table: self) }

    /// The slot of `name` in `index`, with `stored` made for it; nil for a name kept in `others`. When `adding`
    /// a name neither has, the latest index is adopted first if it has the name.
    private mutating func slot(for name: String, adding: Bool) -> Int? {
        var i = index.slot(name) // one hash of the name, unless it is outside the index
        if i == nil, adding, others[name] == nil {
            let latest = ProbeIndex.latest
            if latest !== index, latest.slot(name) != nil {
                adopt(latest)
                i = index.slot(name)
            }
        }
        guard let i else { return nil }
        if stored.isEmpty { stored = Array(repeating: nil, count: index.count) }
        return i
    }

    /// Where a name's value was last found: its slot in the index the table had then. Kept beside what the name
    /// belongs to (4 bytes), it lets `change(_:at:_:)` skip hashing the name: the slot is trusted only while the
    /// table's index has that very name there, which a comparison of the names tells.
    public struct Position: Sendable, Equatable {
        fileprivate var slot: Int32
        /// No position yet: the first change looks the name up.
        public static var unknown: Position { Position(slot: -1) }
    }

    /// Changes `name`'s value in place, when the table has one (as `table[name]?.x += 1`, without adopting an
    /// index). Found through `position` while it still holds, by name otherwise, and `position` is then updated.
    public mutating func change(_ name: String, at position: inout Position, _ body: (inout Value) -> Void) {
        let kept = Int(position.slot)
        if kept >= 0, kept < stored.count, index.names[kept] == name, stored[kept] != nil {
            body(&stored[kept]!)
            return
        }
        guard let i = index.slot(name) else {
            position = .unknown
            if others[name] != nil { body(&others[name]!) }
            return
        }
        position = Position(slot: Int32(i))
        if i < stored.count, stored[i] != nil { body(&stored[i]!) }
    }

    /// Whether the table keeps its values in `index`'s slots.
    func uses(_ index: ProbeIndex) -> Bool { self.index === index }

    /// Moves every value to its slot in `new`, or to `others` when `new` lacks its name.
    mutating func adopt(_ new: ProbeIndex) {
        var table = ProbeTable()
        table.index = new
        table.stored = Array(repeating: nil, count: new.count)
        for (name, value) in self {
            if let i = new.slot(name) {
                table.stored[i] = value
                table.indexedCount += 1
            } else {
                table.others[name] = value
            }
        }
        self = table
    }
}

extension ProbeTable: ExpressibleByDictionaryLiteral {
    public init(dictionaryLiteral elements: (String, Value)...) {
        for (name, value) in elements { self[name] = value }
    }
}

extension ProbeTable: Sendable where Value: Sendable {}

/// Values by name in insertion order (a removal moves the last one into the hole): `ProbeTable`'s names
/// outside its index.
struct OrderedValues<Value> {
    private var slots: [String: Int32] = [:]
    private var names: [String] = []
    /// Optional so that `_modify` can move a value out while it is changed (no copy of what it holds).
    private var values: [Value?] = []

    var count: Int { names.count }

    mutating func reserveCapacity(_ n: Int) {
        slots.reserveCapacity(n)
        names.reserveCapacity(n)
        values.reserveCapacity(n)
    }

    func element(at i: Int) -> (key: String, value: Value) { (names[i], values[i]!) }

    subscript(name: String) -> Value? {
        get { slots[name].map { values[Int($0)]! } }
        set {
            if let slot = slots[name] {
                if let newValue { values[Int(slot)] = newValue } else { remove(at: Int(slot)) }
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
            var value: Value?
            swap(&value, &values[i])
            defer {
                if value == nil { remove(at: i) } else { values[i] = value }
            }
            yield &value
        }
    }

    subscript(name: String, default defaultValue: @autoclosure () -> Value) -> Value {
        get { self[name] ?? defaultValue() }
        _modify {
            if slots[name] == nil { append(name, defaultValue()) }
            yield &values[Int(slots[name]!)]!
        }
    }

    private mutating func append(_ name: String, _ value: Value) {
        slots[name] = Int32(names.count)
        names.append(name)
        values.append(value)
    }

    /// Removes the value at `i`, moving the last one into its place.
    private mutating func remove(at i: Int) {
        let last = names.count - 1
        slots[names[i]] = nil
        if i != last {
            names.swapAt(i, last)
            values.swapAt(i, last)
            slots[names[i]] = Int32(i)
        }
        names.removeLast()
        values.removeLast()
    }
}

extension OrderedValues: Sendable where Value: Sendable {}
