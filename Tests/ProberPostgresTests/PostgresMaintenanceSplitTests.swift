import Dispatch
import Foundation
import ProberCore
@testable import ProberPostgres
import ProberStorage
import ProberTestSupport
import Testing

/// Set-based maintenance: a pass rolls up every location at once, and probers maintaining the same database at once
/// split the work (one pass at a time) instead of each doing all of it.
@Suite struct PostgresMaintenanceSplitTests {
    static let minute: Int64 = 60_000_000
    /// Midnight UTC (2027-01-15).
    static let t0: Int64 = 1_799_971_200_000_000
    static let sites = ["a", "b", "c"]
    static let now = t0 + 3 * 60 * minute

    /// Three locations × four probes, a check every 20 s for three hours, some failing, with varied phases.
    static func record(_ url: String) throws {
        for (n, site) in sites.enumerated() {
            let store = try PostgresStore(url: url, site: site)
            let recorder = store.makeSampleRecorder(warning: { _ in })
            for probe in 0..<4 {
                for (i, at) in stride(from: t0 + Int64(n) * 1_000_000, to: now, by: 20_000_000).enumerated() {
                    let fails = (i + probe) % 17 == 0
                    recorder.append(Sample(probe: "p\(probe)", startedAt: at, failure: fails ? Failure(.httpStatus, "503") : nil,
                                           phases: Phases(total: Int64(1_000 + (i * 37 + probe) % 900)), status: fails ? 503 : 200))
                }
            }
            try recorder.close()
        }
    }

    static func rollups(_ cluster: TestPostgres, _ database: String) throws -> String {
        try ["rollup_5m", "rollup_1h", "rollup_1d"].map { table in
            try cluster.psql("SELECT p.name, r.location, r.bucket, r.checks, r.failures, md5(row(r.*)::text) FROM \(table) r " +
                             "JOIN probes p ON p.id = r.probe_id ORDER BY 1, 2, 3", database: database)
        }.joined(separator: "--\n") + (try cluster.psql("SELECT location, rolled_5m, rolled_1h, rolled_1d FROM probe_locations " +
                                                       "ORDER BY probe_id, location", database: database))
    }

    @Test func twoProbersMaintainingAtOnceRollEachLocationUpOnce() throws {
        let cluster = try TestPostgres.shared()
        let alone = try cluster.makeDatabase(), together = try cluster.makeDatabase()
        defer { cluster.dropDatabase(alone); cluster.dropDatabase(together) }
        try Self.record(cluster.socketURL(alone))
        try Self.record(cluster.socketURL(together))

        let one = try PostgresStore(url: cluster.socketURL(alone), site: "a")
        let single = try one.maintain(now: Self.now, policy: StoragePolicy(), budget: .seconds(60))
        #expect(single.finished)
        // 3 locations × 4 probes × (3 h less the 2-minute grace: 35 buckets of 5 minutes, 2 hours).
        #expect(single.rolled5m == 3 * 4 * 35 && single.rolled1h == 3 * 4 * 2)

        let stores = try Self.sites.prefix(2).map { try PostgresStore(url: cluster.socketURL(together), site: $0) }
        let reports = Results<Result<MaintenanceReport, any Error>>()
        let start = DispatchSemaphore(value: 0)
        let group = DispatchGroup()
        for store in stores {
            DispatchQueue.global().async(group: group) {
                start.wait()
                reports.append(Result { try store.maintain(now: Self.now, policy: StoragePolicy(), budget: .seconds(60)) })
            }
        }
        start.signal(); start.signal()
        group.wait()
        let both = try reports.all.map { try $0.get() }
        #expect(both.map(\.rolled5m).reduce(0, +) == single.rolled5m, "a bucket was rolled up twice: \(both)")
        #expect(both.map(\.rolled1h).reduce(0, +) == single.rolled1h, "\(both)")
        #expect(try Self.rollups(cluster, together) == Self.rollups(cluster, alone))
        #expect(try Self.rollups(cluster, alone).contains("p3|c|"))
    }

    @Test func anIdlePassIsAHandfulOfTransactionsHoweverManyLocations() throws {
        let cluster = try TestPostgres.shared()
        let database = try cluster.makeDatabase()
        defer { cluster.dropDatabase(database) }
        try Self.record(cluster.socketURL(database))
        let store = try PostgresStore(url: cluster.socketURL(database), site: "a")
        try store.maintain(now: Self.now, policy: StoragePolicy(), budget: .seconds(60))
        let idle = try store.maintain(now: Self.now, policy: StoragePolicy(), budget: .seconds(60))
        #expect(idle.finished && idle.rolled5m == 0 && idle.rolled1h == 0)
        // Before: 6 per probe and location (72 here, 180,000 at 30,000).
        #expect(idle.transactions <= 8, "\(idle)")
    }
}
