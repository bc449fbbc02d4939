import ProberCore
@testable import ProberPostgres
import ProberStorage
import ProberTestSupport
import Testing

/// SQLite's default raw retention is 30 days (archived days, ~9 bytes a sample); PostgreSQL keeps rows (~140
/// bytes), so unless a probe file sets `storage.raw` it keeps 7 days, as before.
@Suite struct PostgresRetentionDefaultTests {
    static let day: Int64 = 86_400_000_000
    static let t0: Int64 = 1_799_971_200_000_000

    @Test func withoutStorageRawAFleetKeepsSevenDaysOfRawSamples() throws {
        #expect(StoragePolicy().raw == .seconds(30 * 86_400))
        #expect(StoragePolicy().rawUnarchived == .seconds(7 * 86_400))
        var set = StoragePolicy()
        set.raw = .seconds(30 * 86_400)
        #expect(set.rawUnarchived == .seconds(30 * 86_400), "a raw retention set in a file holds on PostgreSQL too")

        let cluster = try TestPostgres.shared()
        let database = try cluster.makeDatabase()
        defer { cluster.dropDatabase(database) }
        let store = try PostgresStore(url: cluster.socketURL(database), site: "fra-1")
        // Ten days, a check every hour.
        let recorder = store.makeSampleRecorder(warning: { _ in })
        for i in 0..<(10 * 24) {
            recorder.append(Sample(probe: "api", startedAt: Self.t0 + Int64(i) * 3_600_000_000, phases: Phases(total: 1_000), status: 200))
        }
        try recorder.close()
        let now = Self.t0 + 10 * Self.day
        var report = try store.maintain(now: now, policy: StoragePolicy(), budget: .seconds(30))
        while !report.finished { report = try store.maintain(now: now, policy: StoragePolicy(), budget: .seconds(30)) }
        let oldest = try cluster.psql("""
            SELECT min(c.relname) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = 'samples'::regclass
            """, database: database)
        #expect(oldest == Partitions.name(dayStart: Self.t0 + 3 * Self.day) + "\n", "days 1-3 dropped, 7 kept")
    }
}
