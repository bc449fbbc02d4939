import Foundation
import ProberCore
@testable import ProberPostgres
import ProberStorage
import ProberTestSupport
import Testing

/// Schema v5: each location's days folded into `rollup_1d` by maintenance, and the status page's days read from
/// it (one row a day), as SQLite's schema v5 does.
@Suite struct PostgresDailyRollupTests {
    static let day: Int64 = 86_400_000_000
    /// Midnight UTC (2027-01-15).
    static let t0: Int64 = 1_799_971_200_000_000

    @Test func maintenanceFoldsEachLocationsDaysAndTheOverviewReadsThem() throws {
        let cluster = try TestPostgres.shared()
        let database = try cluster.makeDatabase()
        defer { cluster.dropDatabase(database) }
        let url = cluster.socketURL(database)
        let now = Self.t0 + 3 * Self.day + Self.day / 2
        // fra every 10 minutes, one in six failing; nyc every 30 minutes, all passing.
        let fra = stride(from: Self.t0, to: now, by: 600_000_000).enumerated().map { i, at in
            Sample(probe: "api", startedAt: at, failure: i % 6 == 5 ? Failure(.connectRefused, "refused") : nil,
                   phases: Phases(total: 1_000), status: i % 6 == 5 ? nil : 200)
        }
        let nyc = stride(from: Self.t0, to: now, by: 1_800_000_000).map { at in
            Sample(probe: "api", startedAt: at, phases: Phases(total: 2_000), status: 200)
        }
        let stores = [try PostgresStore(url: url, site: "fra"), try PostgresStore(url: url, site: "nyc")]
        for (store, samples) in zip(stores, [fra, nyc]) {
            let recorder = store.makeSampleRecorder(warning: { _ in })
            for s in samples { recorder.append(s) }
            try recorder.close()
        }
        var policy = StoragePolicy()
        policy.raw = .seconds(86_400)
        policy.rollup5m = .seconds(86_400)
        while try !stores[0].maintain(now: now, policy: policy, budget: .seconds(30)).finished {}
        let before = try #require(try stores[0].overview(probes: ["api"], days: 5, now: now)["api"])
        #expect(before.days.map(\.checks) == [0, 144 + 48, 144 + 48, 144 + 48, 72 + 24], "\(before.days)")

        // The three whole days before the hours' watermark are folded, per location; today is not.
        #expect(try cluster.psql("""
            SELECT location || ':' || ((bucket - \(Self.t0)) / \(Self.day)) || ':' || checks || ':' || failures
            FROM rollup_1d ORDER BY location, bucket
            """, database: database)
            == "fra:0:144:24\nfra:1:144:24\nfra:2:144:24\nnyc:0:48:0\nnyc:1:48:0\nnyc:2:48:0\n")
        #expect(try cluster.psql("SELECT DISTINCT rolled_1d - \(Self.t0) FROM probe_locations", database: database)
                == "\(3 * Self.day)\n")

        // The days come from `rollup_1d`: without the hours they were folded from, the overview is the same.
        try cluster.psql("DELETE FROM rollup_1h WHERE bucket < \(Self.t0 + 3 * Self.day)", database: database)
        let after = try #require(try stores[0].overview(probes: ["api"], days: 5, now: now)["api"])
        #expect(after.days == before.days)

        // A late check of a folded day counts in its day.
        let late = stores[1].makeSampleRecorder(warning: { _ in })
        late.append(Sample(probe: "api", startedAt: Self.t0 + Self.day + 1, failure: Failure(.connectRefused, "refused"),
                           phases: Phases(total: 2_000), status: nil))
        try late.close()
        let merged = try #require(try stores[0].overview(probes: ["api"], days: 5, now: now)["api"])
        #expect(merged.days[2].checks == 144 + 48 + 1)
        #expect(merged.days[2].failures == 25)
    }
}
