import Dispatch
import Foundation
import ProberCore
import ProberStorage
@testable import ProberStore
import ProberTestSupport
import Testing

/// A period's write is one transaction: the samples that arrive while it is being written wait for the next period
/// instead of following at once as a second, small transaction (which doubled the transactions of every backend).
@Suite struct SampleWriterBatchCountTests {
    /// SQLite's write step, counting its batches; the first one's write sees a check arrive meanwhile.
    final class Arriving: SampleBatchWriting, @unchecked Sendable { // `writes` and `writer` are touched only on `queue`
        let inner: SQLiteSampleBatches
        var writes: [Int] = []
        weak var writer: SampleWriter?
        init(store: Store) { inner = SQLiteSampleBatches(store: store) }
        var queue: DispatchQueue { inner.queue }
        func write(_ batch: [Sample]) throws {
            if writes.isEmpty { writer?.append(Sample(probe: "late", startedAt: 1_800_000_001_000_000, status: 200)) }
            writes.append(batch.count)
            try inner.write(batch)
        }
        func recover(after error: any Error, closing: Bool) { inner.recover(after: error, closing: closing) }
        func close() { inner.close() }
    }

    @Test func samplesArrivingDuringAWriteWaitForTheNextPeriod() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(path: directory.path + "/prober.db")
        let batches = Arriving(store: store)
        let writer = SampleWriter(batches: batches, configuration: .init(flushInterval: .seconds(3_600)))
        batches.queue.sync { batches.writer = writer }
        for i in 0..<3 { writer.append(Sample(probe: "api", startedAt: 1_800_000_000_000_000 + Int64(i), status: 200)) }
        try writer.flush()
        #expect(batches.queue.sync { batches.writes } == [3], "one transaction for what was pending")
        #expect(writer.statistics.pending == 1, "the check that arrived during the write waits for the next period")
        try writer.flush()
        #expect(batches.queue.sync { batches.writes } == [3, 1])
        #expect(writer.statistics.pending == 0)
        try writer.close()
    }
}
