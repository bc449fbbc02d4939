import Synchronization

/// The probe names of a loaded probe set, each with a dense slot (its position): the one name index the
/// daemon's per-probe tables share (`ProbeTable` in ProberEngine) instead of a hash table of names each.
///
/// Immutable. `ProbeLoader` publishes the index of each set it loads (`publish`); a table adopts the latest one
/// when it meets a name its own index lacks and the latest has. At 60,000 probes an index costs 3.6 MB (a
/// dictionary of 131,072 slots and the names), which three tables each paid before.
public final class ProbeIndex: Sendable {
    private let slots: [String: Int32]
    /// The names, in slot order.
    public let names: [String]

    /// An index of `names`; a repeated name keeps its first slot.
    public init(_ names: [String]) {
        var slots: [String: Int32] = [:]
        slots.reserveCapacity(names.count)
        var unique: [String] = []
        unique.reserveCapacity(names.count)
        for name in names where slots[name] == nil {
            slots[name] = Int32(unique.count)
            unique.append(name)
        }
        self.slots = slots
        self.names = unique
    }

    public var count: Int { names.count }

    /// The slot of `name`, nil when the index lacks it.
    public func slot(_ name: String) -> Int? { slots[name].map(Int.init) }

    /// An index with no names, which every table starts with.
    public static let empty = ProbeIndex([])

    /// The index of the probe set loaded last.
    public static var latest: ProbeIndex { published.withLock { $0 } }

    /// Makes the index of `names` the latest, and returns it: the current one when it has the same names in the
    /// same order (a reload that changes no name keeps every table's index), else a new one.
    @discardableResult
    public static func publish(_ names: [String]) -> ProbeIndex {
        if let current = published.withLock({ $0.names == names ? $0 : nil }) { return current }
        let index = ProbeIndex(names)
        published.withLock { $0 = index }
        return index
    }

    private static let published = Mutex(ProbeIndex.empty)
}
