import Foundation
import Testing
import ProberCore
@testable import ProberEngine

/// Names no probe file of the test suite has, so that no published `ProbeIndex` holds them: these tables keep
/// them outside any index, in insertion order.
/// The allocator's size of an allocated block (`malloc_usable_size`, jemalloc's here), which no imported module declares.
@_silgen_name("malloc_usable_size") private func mallocUsableSize(_ pointer: UnsafeMutableRawPointer) -> Int

private let a = "table-a", b = "table-b", c = "table-c", d = "table-d", e = "table-e"

@Suite struct ProbeTableTests {
    @Test func readsWritesAndRemovesByName() {
        var table: ProbeTable<Int> = [a: 1, b: 2, c: 3]
        #expect(table.count == 3)
        #expect(table[b] == 2)
        #expect(table["table-z"] == nil)
        table[b] = 20
        table[d] = 4
        #expect(table.keys == [a, b, c, d])
        table[a] = nil // the last one takes its place
        #expect(table.keys == [d, b, c])
        #expect(table[d] == 4 && table[b] == 20 && table[c] == 3 && table[a] == nil)
        table[c] = nil
        table[d] = nil
        table[b] = nil
        #expect(table.isEmpty)
        table[e] = 5
        #expect(Array(table.map(\.key)) == [e] && table.values == [5])
    }

    @Test func changesInPlace() {
        var table: ProbeTable<[Int]> = [:]
        table[a] = [1]
        table[a]?.reserveCapacity(100)
        let before = table[a]!.withUnsafeBufferPointer { $0.baseAddress }
        table[a]?.append(2)
        table[b, default: []].append(7)
        table[b, default: []].append(8)
        #expect(table[a] == [1, 2])
        #expect(table[b] == [7, 8])
        // Changed in place: the array was not copied.
        #expect(table[a]!.withUnsafeBufferPointer { $0.baseAddress } == before)
        table["table-missing"]?.append(1)
        #expect(table["table-missing"] == nil)
        // Set to nil through a change: removed.
        table[a] = Optional<[Int]>.none
        #expect(table.keys == [b])
    }

    @Test func removesWhereAndIterates() {
        var table = ProbeTable<Int>()
        for i in 0..<1_000 { table["table-\(i)"] = i }
        table.removeAll { _, value in value % 2 == 1 }
        #expect(table.count == 500)
        #expect(table.allSatisfy { $0.value % 2 == 0 && $0.key == "table-\($0.value)" })
        for i in stride(from: 0, to: 1_000, by: 4) { table["table-\(i)"] = nil }
        #expect(table.count == 250)
        #expect(table.allSatisfy { table[$0.key] == $0.value && $0.value % 4 == 2 })
        table.removeAll()
        #expect(table.isEmpty && table["table-2"] == nil)
    }

    /// Tables given one index keep their values in its slots; names outside it go to the table's own part.
    @Test func tablesShareAnIndex() {
        let names = (0..<100).map { "shared-\(UUID())-\($0)" }
        let index = ProbeIndex(names)
        var counters = ProbeTable<Int>(), flags = ProbeTable<Bool>()
        counters.adopt(index)
        flags.adopt(index)
        for (i, name) in names.enumerated() where i % 3 != 0 { counters[name] = i }
        for name in names.prefix(10) { flags[name] = true }
        counters["canary"] = -1
        #expect(counters.uses(index) && flags.uses(index))
        #expect(counters.count == 67 && flags.count == 10)
        #expect(counters[names[1]] == 1 && counters[names[3]] == nil && counters["canary"] == -1)
        // Index order, then the names outside it.
        #expect(counters.keys == names.enumerated().filter { $0.offset % 3 != 0 }.map(\.element) + ["canary"])
        counters[names[1]]! += 100
        counters[names[3], default: 0] += 3
        counters[names[2]] = nil
        #expect(counters[names[1]] == 101 && counters[names[3]] == 3 && counters[names[2]] == nil && counters.count == 67)

        // A new index (a reload that removed the first ten and added one): values move by name, a removed
        // probe's stays until its owner drops it.
        let added = "shared-\(UUID())"
        let reloaded = ProbeIndex(Array(names.dropFirst(10)) + [added])
        counters.adopt(reloaded)
        counters[added] = 7
        #expect(counters.uses(reloaded) && counters.count == 68)
        #expect(counters[names[1]] == 101 && counters[names[50]] == 50 && counters[added] == 7 && counters["canary"] == -1)

        // A value in the index's slots is changed in place too.
        var windows = ProbeTable<[Int]>()
        windows.adopt(index)
        windows[names[5]] = [1]
        windows[names[5]]?.reserveCapacity(100)
        let before = windows[names[5]]!.withUnsafeBufferPointer { $0.baseAddress }
        windows[names[5]]?.append(2)
        windows[names[6], default: []].append(3)
        #expect(windows[names[5]]!.withUnsafeBufferPointer { $0.baseAddress } == before)
        #expect(windows[names[5]] == [1, 2] && windows[names[6]] == [3])
    }

    /// The loader publishes its set's index; a table adopts it when it is given one of its names.
    @Test func adoptsThePublishedIndex() {
        // Other tests load probe files meanwhile, each publishing its own: tried until no other came between.
        var adopted = false
        for _ in 0..<100 where !adopted {
            let names = (0..<10).map { "published-\(UUID())-\($0)" }
            var table: ProbeTable<Int> = ["table-before": 0]
            let index = ProbeIndex.publish(names)
            table[names[4]] = 4
            adopted = table.uses(index)
            #expect(table[names[4]] == 4 && table["table-before"] == 0 && table.count == 2)
        }
        #expect(adopted)
    }

    /// A kept position reaches the name's value without hashing the name, and never another name's: after a new
    /// index (a reload) the kept slot holds another probe, so the name is looked up and its position kept again.
    @Test func changesThroughAKeptPosition() {
        let names = (0..<10).map { "position-\(UUID())-\($0)" }
        var table = ProbeTable<Int>()
        table.adopt(ProbeIndex(names))
        for (i, name) in names.enumerated() { table[name] = i }
        var position = ProbeTable<Int>.Position.unknown
        table.change(names[3], at: &position) { $0 += 100 }
        let kept = position
        #expect(kept != .unknown)
        table.change(names[3], at: &position) { $0 += 100 }
        #expect(table[names[3]] == 203 && position == kept)

        table.adopt(ProbeIndex(names.reversed())) // names[3] now at slot 6, slot 3 is names[6]'s
        table.change(names[3], at: &position) { $0 += 1 }
        #expect(table[names[3]] == 204 && table[names[6]] == 6)
        #expect(position != kept && position != .unknown)

        // No value: nothing changed, nothing added. A name outside the index is changed by name.
        table[names[0]] = nil
        var other = ProbeTable<Int>.Position.unknown
        table.change(names[0], at: &other) { $0 += 1 }
        #expect(table[names[0]] == nil && table.count == 9)
        table["position-outside"] = 1
        table.change("position-outside", at: &other) { $0 += 1 }
        #expect(table["position-outside"] == 2 && other == .unknown)
    }

    /// The per-probe values' sizes: each is held once per probe (`docs/architecture.md`, "Memory per probe").
    @Test func perProbeValuesStayCompact() {
        #expect(MemoryLayout<SchedulerStats.Probe>.stride <= 64)
        #expect(MemoryLayout<LatenessSummary>.stride <= 16)
        #expect(MemoryLayout<LatestCheck>.stride <= 48)
        #expect(MemoryLayout<LatestCheck?>.stride <= 48)
        #expect(MemoryLayout<SchedulerStats.Probe?>.stride <= 64)
        // A scheduler entry (one object per probe) fits a 64-byte block: jemalloc's size class of 64 (its usable size
        // is the class's, with no header; the next class is 80).
        let entry = Scheduler.Entry(spec: ProbeSpec(name: "compact", target: .http(HTTPTarget(url: "http://127.0.0.1/")),
                                                    interval: .seconds(10), timeout: .seconds(1)))
        #expect(mallocUsableSize(Unmanaged.passUnretained(entry).toOpaque()) <= 64)
    }

    @Test func schedulerCountersKeepTheirValues() {
        var probe = SchedulerStats.Probe()
        #expect(probe.lastDue == nil)
        probe.lastDue = 1_700_000_000_000_000
        probe.started += 3
        probe.finished = 2
        probe.skippedOverlap += 1
        probe.missed += 4
        probe.overload += 5
        probe.lateness.record(-5)
        probe.lateness.record(1_500)
        #expect(probe.lastDue == 1_700_000_000_000_000)
        #expect((probe.started, probe.finished, probe.skipped) == (3, 2, 10))
        #expect((probe.lateness.count, probe.lateness.sum, probe.lateness.max, probe.lateness.mean) == (2, 1_500, 1_500, 750))
    }
}
