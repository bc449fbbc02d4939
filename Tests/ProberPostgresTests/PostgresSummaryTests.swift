import Foundation
import ProberCore
@testable import ProberPostgres
import ProberStorage
import ProberTestSupport
import Testing

/// `location_summary`: the per-location last check and hour that ingest keeps and `status` reads (one row per
/// probe and location), against the figures computed from the samples themselves.
@Suite struct PostgresSummaryTests {
    static let minute: Int64 = 60_000_000
    /// Midnight UTC (2027-01-15): on a 5-minute boundary.
    static let t0: Int64 = 1_799_971_200_000_000
    /// On a 5-minute boundary, so the hour's slots are exactly `[now - 1 h, now]`.
    static let now = t0 + 3 * 60 * minute

    struct FixedClock: WallClock {
        let at: Int64
        func now() -> Int64 { at }
    }

    /// fra every 20 s until `now`, one in five failing, its last check failing; nyc every 30 s, all passing, and
    /// stopped 20 minutes before `now`.
    static let fra = stride(from: t0, through: now, by: 20_000_000).enumerated().map { i, at in
        let failing = i % 5 == 4 || at == now
        return Sample(probe: "api", startedAt: at, failure: failing ? Failure(.connectRefused, "refused") : nil,
                      phases: Phases(total: 1_000 + Int64(i % 97) * 37), status: failing ? nil : 200)
    }
    static let nyc = stride(from: t0 + 7_000_000, to: now - 20 * minute, by: 30_000_000).enumerated().map { i, at in
        Sample(probe: "api", startedAt: at, phases: Phases(total: 2_000 + Int64(i % 53) * 91), status: 200)
    }

    static func record(_ samples: [Sample], _ store: PostgresStore, batch: Int) throws {
        let recorder = store.makeSampleRecorder(warning: { _ in })
        for (i, s) in samples.enumerated() {
            recorder.append(s)
            if i % batch == batch - 1 { try recorder.flush() }
        }
        try recorder.close()
    }

    /// What `status` showed before the summary: every check of `[now - 1 h, now]`, the exact p95, the last check.
    static func expectStatus(_ url: String, at now: Int64, _ note: Comment) throws {
        let reader = try PostgresStore(url: url, readOnly: true, site: "reader", clock: FixedClock(at: now))
        let inHour = { (s: [Sample]) in s.filter { $0.startedAt >= now - 60 * minute && $0.startedAt <= now } }
        let lines = try #require(try reader.locationStatus(now: now)["api"], note)
        #expect(lines.map(\.location) == ["fra", "nyc"], note)
        for (line, samples) in zip(lines, [fra, nyc]) {
            #expect(line.checks1h == inHour(samples).count, "\(line.location): \(note)")
            #expect(line.failures1h == inHour(samples).filter { $0.failure != nil }.count, "\(line.location): \(note)")
            let exact = exactP95(inHour(samples))
            #expect(near(line.p95_1h, exact), "\(line.location) p95 \(String(describing: line.p95_1h)) against \(exact): \(note)")
            #expect(line.last?.at == samples.last?.startedAt, "\(line.location): \(note)")
        }
        #expect(lines[0].last?.ok == false, "fra's last check failed: \(note)")
        #expect(lines[1].last?.ok == true, "nyc's last check passed: \(note)")
        let row = try #require(try reader.status(now: now).first { $0.name == "api" }, note)
        let both = inHour(fra) + inHour(nyc)
        #expect(row.checks1h == both.count, note)
        #expect(row.failures1h == both.filter { $0.failure != nil }.count, note)
        #expect(near(row.p95_1h, exactP95(both)), "p95 \(String(describing: row.p95_1h)) against \(exactP95(both)): \(note)")
        #expect(row.last?.at == fra.last?.startedAt && row.last?.ok == false, note)
        #expect(try reader.lastChecks()["api"]?.at == fra.last?.startedAt, note)
    }

    /// A fresh database on the shared cluster with fra's and nyc's samples recorded (in batches of `fraBatch` and
    /// `nycBatch`): `body` gets the cluster, the database and its URL; the database is dropped after.
    static func withRecorded(fraBatch: Int, nycBatch: Int, _ body: (TestPostgres, String, String) throws -> Void) throws {
        let cluster = try TestPostgres.shared()
        let database = try cluster.makeDatabase()
        defer { cluster.dropDatabase(database) }
        let url = cluster.socketURL(database)
        try record(fra, try PostgresStore(url: url, site: "fra"), batch: fraBatch)
        try record(nyc, try PostgresStore(url: url, site: "nyc"), batch: nycBatch)
        try body(cluster, database, url)
    }

    static func exactP95(_ samples: [Sample]) -> Int64 {
        let totals = samples.filter { $0.failure == nil }.compactMap(\.phases.total).sorted()
        return totals[min(max(Int((0.95 * Double(totals.count)).rounded(.up)), 1), totals.count) - 1]
    }

    /// Within the histogram's relative error (4.4 %).
    static func near(_ p95: Int64?, _ exact: Int64) -> Bool {
        guard let p95 else { return false }
        return abs(Double(p95 - exact)) / Double(exact) <= 0.05
    }

    @Test func statusFromTheSummaryShowsWhatTheSamplesSayAndSurvivesARestart() throws {
        // Batches of different sizes, so slots move within a batch and between batches.
        try Self.withRecorded(fraBatch: 7, nycBatch: 50) { cluster, database, url in
            #expect(try cluster.psql("SELECT count(*) FROM location_summary", database: database) == "2\n")
            // fra wrote `now`'s slot (the merged hour is read); nyc stopped earlier (its slots are merged by the reader).
            try Self.expectStatus(url, at: Self.now, "after ingest")

            // A spool replay of a whole batch leaves the last check right; a restarted prober goes on from its row.
            try Self.record(Array(Self.fra.suffix(3)), try PostgresStore(url: url, site: "fra"), batch: 3)
            let later = Self.now + 20_000_000
            let fra = try PostgresStore(url: url, site: "fra")
            try Self.record([Sample(probe: "api", startedAt: later, phases: Phases(total: 1_500), status: 200)], fra, batch: 1)
            let reader = try PostgresStore(url: url, readOnly: true, site: "reader")
            let line = try #require(try reader.locationStatus(now: later)["api"]?.first)
            #expect(line.last?.at == later && line.last?.ok == true)
            #expect(line.checks1h == Self.fra.filter { $0.startedAt >= Self.now - 60 * Self.minute }.count + 3 + 1,
                    "the slots from the one holding later - 1 h (the replayed three count twice)")
        }
    }

    @Test func migratingAnExistingDatabaseFillsTheSummaryFromItsSamplesAndRollups() throws {
        try Self.withRecorded(fraBatch: 100, nycBatch: 100) { cluster, database, url in
            // Part of the hour rolled up, so the backfill reads rollups below the watermark and raw samples above.
            let maintainer = try PostgresStore(url: url, site: "fra", clock: FixedClock(at: Self.now))
            var policy = StoragePolicy()
            policy.raw = .seconds(86_400)
            while try !maintainer.maintain(now: Self.now - 30 * Self.minute, policy: policy, budget: .seconds(30)).finished {}
            #expect(try cluster.psql("SELECT count(*) > 0 FROM rollup_5m WHERE bucket >= \(Self.now - 60 * Self.minute)",
                                     database: database) == "t\n")

            // The database as the previous schema left it (the summary is the last migration).
            let previous = PostgresStore.migrations.count - 1
            #expect(PostgresStore.migrations[previous].sql == PostgresStore.schemaSummary)
            try cluster.psql("DROP TABLE location_summary; UPDATE prober_schema SET version = \(previous)", database: database)
            _ = try PostgresStore(url: url, site: "fra", clock: FixedClock(at: Self.now))
            #expect(try cluster.psql("SELECT version FROM prober_schema", database: database) == "\(previous + 1)\n")
            try Self.expectStatus(url, at: Self.now, "after the migration")
        }
    }
}
