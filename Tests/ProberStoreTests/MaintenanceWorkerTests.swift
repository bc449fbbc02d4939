import Dispatch
import Foundation
import ProberBackends
import ProberTestSupport
import ProberCore
import ProberStorage
import ProberStorageConformance
import ProberStore
import Testing

@Suite struct MaintenanceWorkerTests {
    let t0: Int64 = 1_799_971_200_000_000
    let day: Int64 = 86_400_000_000

    /// Reports delivered by the worker, for a test to wait on.
    final class Reports: @unchecked Sendable { // guarded by lock
        private let lock = NSLock()
        private var results: [Result<MaintenanceReport, any Error>] = []
        private let arrived = DispatchSemaphore(value: 0)

        func add(_ result: Result<MaintenanceReport, any Error>) {
            lock.withLock { results.append(result) }
            arrived.signal()
        }

        /// The next report, or nil when none comes within `timeout` (a failure, not a pause).
        func next(timeout: DispatchTimeInterval = .seconds(30)) -> Result<MaintenanceReport, any Error>? {
            guard arrived.wait(timeout: .now() + timeout) == .success else { return nil }
            return lock.withLock { results.removeFirst() }
        }

        var count: Int { lock.withLock { results.count } }
    }

    func withStore(_ body: (any Storage, String) throws -> Void) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.url.appendingPathComponent("prober.db").path
        try body(try StorageBackend.open(database: path, readOnly: false), path)
    }

    @Test func rollsUpAndAppliesRetentionOnItsTimer() throws {
        try withStore { storage, _ in
            let samples = makeSamples(probe: "api", start: t0, interval: 300_000_000, count: 4 * 288)
            try record(samples, into: storage)
            let now = t0 + 4 * day
            var policy = StoragePolicy()
            policy.raw = .seconds(2 * 86_400)
            let reports = Reports()
            let worker = MaintenanceWorker(storage: storage, policy: policy,
                                           schedule: .init(firstRun: .zero, interval: .milliseconds(20), budget: .seconds(5)),
                                           now: { now }, report: reports.add)
            worker.start()
            let first = try #require(reports.next()).get()
            #expect(first.finished)
            #expect(first.rolled5m == 4 * 288 - 12, "all but the last hour: its last bucket ends at `now`, within the grace")
            #expect(first.prunedSamples == samples.filter { $0.startedAt < now - 2 * day }.count)
            #expect(try storage.recentSamples(probe: "api", limit: 10_000).count == 2 * 288)

            // A new policy applies to the next runs.
            policy.raw = .seconds(86_400)
            worker.update(policy: policy)
            var pruned = 0
            while pruned == 0 {
                let report = try #require(reports.next()).get()
                pruned = report.prunedSamples
            }
            #expect(pruned == 288)
            #expect(try storage.recentSamples(probe: "api", limit: 10_000).count == 288)

            // After stop, no run starts.
            worker.stop()
            let after = reports.count
            worker.stop()
            #expect(reports.count == after)
        }
    }

    @Test func reportsFailuresAndKeepsRunning() throws {
        try withStore { _, path in
            let readOnly = try StorageBackend.open(database: path, readOnly: true)
            try #require(readOnly.probeNames().isEmpty)
            // A probe row gives maintenance something to write; the read-only store refuses.
            let writable = try StorageBackend.open(database: path, readOnly: false)
            try record(makeSamples(probe: "api", start: t0, interval: 300_000_000, count: 300), into: writable)
            let reports = Reports()
            let worker = MaintenanceWorker(storage: readOnly, policy: StoragePolicy(),
                                           schedule: .init(firstRun: .zero, interval: .milliseconds(20)),
                                           now: { t0 + 86_400_000_000 }, report: reports.add)
            worker.start()
            defer { worker.stop() }
            for _ in 0..<2 {
                let result = try #require(reports.next())
                #expect(throws: (any Error).self) { try result.get() }
                if case .failure(let error) = result { #expect((error as? any StorageError)?.kind == .readOnly) }
            }
        }
    }
}
