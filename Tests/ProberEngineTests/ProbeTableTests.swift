import Testing
@testable import ProberEngine

@Suite struct ProbeTableTests {
    @Test func readsWritesAndRemovesByName() {
        var table: ProbeTable<Int> = ["a": 1, "b": 2, "c": 3]
        #expect(table.count == 3)
        #expect(table["b"] == 2)
        #expect(table["z"] == nil)
        table["b"] = 20
        table["d"] = 4
        #expect(table.keys == ["a", "b", "c", "d"])
        table["a"] = nil // the last one takes its place
        #expect(table.keys == ["d", "b", "c"])
        #expect(table["d"] == 4 && table["b"] == 20 && table["c"] == 3 && table["a"] == nil)
        table["c"] = nil
        table["d"] = nil
        table["b"] = nil
        #expect(table.isEmpty)
        table["e"] = 5
        #expect(Array(table.map(\.key)) == ["e"] && table.values == [5])
    }

    @Test func changesInPlace() {
        var table: ProbeTable<[Int]> = [:]
        table["a"] = [1]
        table["a"]?.reserveCapacity(100)
        let before = table["a"]!.withUnsafeBufferPointer { $0.baseAddress }
        table["a"]?.append(2)
        table["b", default: []].append(7)
        table["b", default: []].append(8)
        #expect(table["a"] == [1, 2])
        #expect(table["b"] == [7, 8])
        // Moved out while changed: the array was not copied.
        #expect(table["a"]!.withUnsafeBufferPointer { $0.baseAddress } == before)
        table["missing"]?.append(1)
        #expect(table["missing"] == nil)
        // Set to nil through a change: removed.
        table["a"] = Optional<[Int]>.none
        #expect(table.keys == ["b"])
    }

    @Test func removesWhereAndIterates() {
        var table = ProbeTable<Int>()
        for i in 0..<1_000 { table["p\(i)"] = i }
        table.removeAll { _, value in value % 2 == 1 }
        #expect(table.count == 500)
        #expect(table.allSatisfy { $0.value % 2 == 0 && $0.key == "p\($0.value)" })
        for i in stride(from: 0, to: 1_000, by: 4) { table["p\(i)"] = nil }
        #expect(table.count == 250)
        #expect(table.allSatisfy { table[$0.key] == $0.value && $0.value % 4 == 2 })
        table.removeAll()
        #expect(table.isEmpty && table["p2"] == nil)
    }

    /// The per-probe values' sizes: each is held once per probe (`docs/architecture.md`, "Memory per probe").
    @Test func perProbeValuesStayCompact() {
        #expect(MemoryLayout<SchedulerStats.Probe>.stride <= 64)
        #expect(MemoryLayout<LatenessSummary>.stride <= 16)
        #expect(MemoryLayout<LatestCheck>.stride <= 48)
        #expect(MemoryLayout<LatestCheck?>.stride <= 48)
        #expect(MemoryLayout<SchedulerStats.Probe?>.stride <= 64)
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
