import Foundation
import ProberCore
import ProberStorage
@testable import ProberStore
import ProberTestSupport
import Testing

/// The recorder's own measure of ingest (`prober_store_commit_lag_seconds`): each stored sample's lag from its check's
/// end to its commit, on the store's wall clock, and each batch's write time.
@Suite struct CommitLagTests {
    struct FixedClock: WallClock {
        let at: Int64
        func now() -> Int64 { at }
    }

    @Test func eachCommittedSampleCountsFromItsChecksEnd() throws {
        let now: Int64 = 1_800_000_000_000_000
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(path: directory.path + "/prober.db", clock: FixedClock(at: now))
        let writer = SampleWriter(store: store, configuration: .init(flushInterval: .seconds(3_600)))
        // Ended 2 s before the commit (started 3 s before, took 1 s), and 0.35 s before.
        writer.append(Sample(probe: "api", startedAt: now - 3_000_000, phases: Phases(total: 1_000_000), status: 200))
        writer.append(Sample(probe: "api", startedAt: now - 400_000, phases: Phases(total: 50_000), status: 200))
        #expect(writer.statistics.commitLag.count == 0, "nothing is counted before it is committed")
        try writer.flush()
        let stats = writer.statistics
        #expect(stats.commitLag.count == 2)
        #expect(stats.commitLag.sum == 2_350_000)
        #expect(stats.commitLag.quantile(0.5) == 400_000)
        #expect(stats.commitLag.quantile(1) == 2_000_000)
        #expect(stats.batchWrite.count == 1, "one batch, one transaction")
        try writer.close()
    }

    @Test func bucketsAreFineAroundTheOneSecondBudget() {
        var h = IngestLagHistogram()
        for lag: Int64 in [950_000, 1_000_000, 1_050_000, 99_000_000] { h.record(lag) }
        #expect(h.quantile(0.25) == 1_000_000)
        #expect(h.quantile(0.5) == 1_000_000)
        #expect(h.quantile(0.75) == 1_100_000)
        #expect(h.quantile(1) == nil, "past the last bound")
        #expect(h.cumulative.last?.count == 3)
    }
}
