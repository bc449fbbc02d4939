import Foundation
import ProberCore
@testable import ProberPostgres
import ProberStorage
import ProberTestSupport
import Testing

/// Maintenance at fleet size: each call is bounded by its budget and starts over, so it must begin with the locations
/// furthest behind, or the ones late in a fixed order are never rolled up while earlier ones always have work.
@Suite struct PostgresMaintenanceOrderTests {
    static let minute: Int64 = 60_000_000
    /// Midnight UTC (2027-01-15).
    static let t0: Int64 = 1_799_971_200_000_000

    @Test func aLocationNeverRolledUpGoesBeforeOnesThatAlwaysHaveWork() throws {
        let cluster = try TestPostgres.shared()
        let database = try cluster.makeDatabase()
        defer { cluster.dropDatabase(database) }
        let url = cluster.socketURL(database)
        let first = try PostgresStore(url: url, site: "a"), last = try PostgresStore(url: url, site: "z")
        func record(_ store: PostgresStore, from: Int64, to: Int64) throws {
            let recorder = store.makeSampleRecorder(warning: { _ in })
            for at in stride(from: from, to: to, by: 10_000_000) {
                recorder.append(Sample(probe: "api", startedAt: at, phases: Phases(total: 1_000), status: 200))
            }
            try recorder.close()
        }
        // `a` comes first in (probe, location) order and gets new checks before every call; `z` has checks from the
        // start. A zero budget lets each call finish one location with work.
        try record(first, from: Self.t0, to: Self.t0 + 20 * Self.minute)
        try record(last, from: Self.t0, to: Self.t0 + 20 * Self.minute)
        for step in 1...3 {
            let now = Self.t0 + Int64(20 + 5 * step) * Self.minute
            try record(first, from: now - 5 * Self.minute, to: now)
            _ = try first.maintain(now: now, policy: StoragePolicy(), budget: .zero)
        }
        let marks = try cluster.psql("SELECT location || ':' || (rolled_5m IS NOT NULL) FROM probe_locations ORDER BY location",
                                     database: database)
        #expect(marks == "a:true\nz:true\n", "z was rolled up although a always had work")
    }
}
