import ProberCore
import ProberTestSupport
import Testing
@testable import ProberEngine

/// `Scheduler.update` works out the change off the queue and applies it a slice at a time: the result must
/// be the same as one swap.
@Suite struct SchedulerUpdateTests {
    /// 3,000 probes, then an update that keeps 1,000, changes 1,200, removes 800 and adds 300: several slices
    /// of retiring and arming.
    @Test func anUpdateOverSeveralSlicesEndsInTheNewSet() throws {
        let runner = ScriptedRunner()
        let scheduler = Scheduler(runner: runner)
        defer { scheduler.stop(drain: false) }
        let first = (0..<3_000).map { httpProbe("p\($0)", interval: .seconds(60)) }
        #expect(scheduler.start(probes: first).added.count == 3_000)

        var next = Array(first[0..<1_000])
        next += first[1_000..<2_200].map { spec in
            var changed = spec
            changed.interval = .milliseconds(200)
            return changed
        }
        next += (0..<300).map { httpProbe("new\($0)", interval: .milliseconds(200)) }
        #expect(next.count + 800 > 2 * Scheduler.applySlice, "more than two slices")

        let summary = scheduler.update(probes: next)
        #expect(summary.unchanged.count == 1_000)
        #expect(Set(summary.changed) == Set(first[1_000..<2_200].map(\.name)))
        #expect(Set(summary.removed) == Set(first[2_200...].map(\.name)))
        #expect(summary.added.count == 300)

        let stats = scheduler.stats
        #expect(Set(stats.probes.keys) == Set(next.map(\.name)))
        #expect(stats.probes["p1500"]?.intervalMicros == 200_000, "a changed probe has its new interval")
        #expect(stats.probes["p10"]?.intervalMicros == 60_000_000)
        // The changed and added probes tick at their new 200 ms; the removed ones never again.
        #expect(waitUntil(timeout: .seconds(20)) {
            let s = scheduler.stats
            return ["p1000", "p2199", "new0", "new299"].allSatisfy { (s.probes[$0]?.started ?? 0) >= 2 }
        })
        #expect(first[2_200...].allSatisfy { runner.starts($0.name).count <= 1 })
    }

    /// An update with nothing changed touches no entry: every probe keeps its place on the grid.
    @Test func anUnchangedSetChangesNothing() throws {
        let scheduler = Scheduler(runner: ScriptedRunner())
        defer { scheduler.stop(drain: false) }
        let probes = (0..<2_500).map { httpProbe("p\($0)", interval: .seconds(60)) }
        scheduler.start(probes: probes)
        let before = scheduler.stats.probes
        let summary = scheduler.update(probes: probes)
        #expect(summary == Scheduler.UpdateSummary(unchanged: probes.map(\.name)))
        let after = scheduler.stats.probes
        #expect(after.count == before.count)
        #expect(probes.allSatisfy { after[$0.name]?.phaseMicros == before[$0.name]?.phaseMicros })
    }
}
