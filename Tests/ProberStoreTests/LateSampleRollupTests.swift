import Foundation
import ProberCore
@testable import ProberStore
import ProberStorage
import ProberTestSupport
import Testing

/// Issue 13 item 12: a check written after its bucket was rolled up (a check longer than the rollup grace, or
/// samples kept in memory while the database was locked or full) still counts in the rollups.
@Suite struct LateSampleRollupTests {
    let hour: Int64 = 3_600_000_000
    let minute: Int64 = 60_000_000
    /// A Monday at 00:00 UTC.
    let start: Int64 = 1_700_438_400_000_000

    func write(_ store: Store, _ samples: [Sample]) throws {
        let writer = SampleWriter(store: store)
        for sample in samples { writer.append(sample) }
        try writer.close()
        #expect(writer.statistics.written == samples.count)
    }

    func rollup(_ store: Store, _ table: String, at bucket: Int64) throws -> Aggregate? {
        try store.read { db in
            try store.rollups(table: table, probe: store.probeID("api", create: false, db)!, from: bucket, to: bucket + 1, db).first?.1
        }
    }

    @Test func aLateCheckIsMergedIntoTheRollupsOfItsBucketOnce() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(path: directory.path + "/prober.db")
        // Two hours of checks every minute, rolled up to the hour, except the one at 00:10 (a check of 5 minutes:
        // its sample is written after maintenance ran).
        let all = makeSamples(probe: "api", start: start, interval: minute, count: 120, failureRate: 0.1, seed: 12)
        let late = all[10]
        try write(store, all.filter { $0.startedAt != late.startedAt })
        try store.maintain(now: start + 2 * hour + 10 * minute, policy: StoragePolicy())
        let bucket5m = Store.floor(late.startedAt, Store.bucket5m)
        #expect(try rollup(store, "rollup_5m", at: bucket5m)?.checks == 4)
        #expect(try rollup(store, "rollup_1h", at: start)?.checks == 59)

        try write(store, [late])
        let five = try #require(try rollup(store, "rollup_5m", at: bucket5m))
        let hourly = try #require(try rollup(store, "rollup_1h", at: start))
        #expect(five.checks == 5)
        #expect(hourly.checks == 60)
        let raw = all.filter { $0.startedAt < start + hour }
        #expect(hourly.failures == raw.filter { !$0.ok }.count)
        #expect(hourly.latencySum == raw.filter(\.ok).compactMap(\.phases.total).reduce(0, +))

        // Written again (the same microsecond replaces the row): counted once. Maintenance does not recount it.
        try write(store, [late])
        try store.maintain(now: start + 3 * hour, policy: StoragePolicy())
        #expect(try rollup(store, "rollup_5m", at: bucket5m)?.checks == 5)
        #expect(try rollup(store, "rollup_1h", at: start)?.checks == 60)
        #expect(try rollup(store, "rollup_1h", at: start + hour)?.checks == 60)
    }

    @Test func aLateCheckInABucketNotYetRolledUpIsLeftToMaintenance() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(path: directory.path + "/prober.db")
        let all = makeSamples(probe: "api", start: start, interval: minute, count: 90, seed: 13)
        try write(store, Array(all.dropLast()))
        try store.maintain(now: start + 80 * minute, policy: StoragePolicy())
        #expect(try rollup(store, "rollup_5m", at: start + 55 * minute)?.checks == 5)
        try write(store, [all[all.count - 1]]) // 01:29, after the watermark (01:00: 5-minute rows wait for the hour)
        #expect(try rollup(store, "rollup_5m", at: start + 85 * minute) == nil)
        try store.maintain(now: start + 2 * hour + 5 * minute, policy: StoragePolicy())
        #expect(try rollup(store, "rollup_5m", at: start + 85 * minute)?.checks == 5)
    }
}
