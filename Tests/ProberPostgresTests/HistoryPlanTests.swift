import Foundation
@testable import ProberPostgres
import ProberTestSupport
import Testing

/// `history`'s raw read is a range of the primary key per location, whatever the planner believes of the probe's
/// share of a day partition. Joined on the location, it was bounded by the probe alone: with one probe seeded over
/// the day beside 3,000 probes' last minutes (as `bench/fleet/run` does), the planner scanned the partition in
/// parallel, 40-85 ms of a 150 ms `history` beside the fleet.
@Suite struct HistoryPlanTests {
    @Test func theRawStretchIsReadByLocationThroughThePrimaryKey() throws {
        let cluster = try TestPostgres.shared()
        let database = try cluster.makeDatabase()
        defer { cluster.dropDatabase(database) }
        let url = cluster.socketURL(database)
        _ = try PostgresStore(url: url, site: "l1")
        let db = try PGConnection(url: url, password: nil, readOnly: false, lockTimeout: .seconds(5))
        let day: Int64 = 86_400_000_000
        let now = 1_799_971_200_000_000 + day * 17 / 24 // 17:00 UTC
        let midnight = now / day * day
        let minute: Int64 = 60_000_000
        try db.execute("""
            CREATE TABLE IF NOT EXISTS samples_plan PARTITION OF samples FOR VALUES FROM (\(midnight)) TO (\(midnight + day));
            INSERT INTO probes(name, created_at) SELECT 'p' || i, 0 FROM generate_series(1, 3001) i;
            -- p1 from 10 locations every 10 s since midnight; the others over the last 3 minutes.
            INSERT INTO samples(probe_id, location, at, reason, phases)
                SELECT (SELECT id FROM probes WHERE name = 'p1'), 'l' || l, t, 0, '\\x0102'::bytea
                FROM generate_series(1, 10) l, generate_series(\(midnight), \(now - 3 * minute), 10000000) t;
            INSERT INTO samples(probe_id, location, at, reason, phases)
                SELECT p.id, 'l' || l, \(now - 3 * minute) + (p.id * 7919 % 10000000) + k * 10000000, 0, '\\x0102'::bytea
                FROM probes p, generate_series(1, 10) l, generate_series(0, 17) k WHERE p.name <> 'p1';
            ANALYZE samples_plan
            """)
        let probe = try #require(try db.scalar("SELECT id FROM probes WHERE name = 'p1'"))
        let sites = (1...10).map { "l\($0)" }
        let from = now - 7 * minute
        let plan = try db.query("EXPLAIN (FORMAT JSON) " + PostgresStore.historyRawSQL,
                                [.int(probe), .text(pgTextArray(sites)), .text(PostgresStore.idArray(sites.map { _ in from })),
                                 .int(from), .int(now)]).string(0, 0)
        #expect(!plan.contains("Seq Scan"), "\(plan)")
        #expect(plan.contains("\"Index Scan\"") && plan.contains("\"Index Name\": \"samples_plan_pkey\""), "\(plan)")
        #expect(plan.contains("(location = u.location)"), "the location bounds the index scan: \(plan)")
        let rows = try db.query(PostgresStore.historyRawSQL, [.int(probe), .text(pgTextArray(sites)),
                                                              .text(PostgresStore.idArray(sites.map { _ in from })), .int(from), .int(now)])
        #expect(rows.count == 10 * 25, "p1 from each location every 10 s from 7 to 3 minutes ago, both included")
    }
}
