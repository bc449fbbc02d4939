import Foundation
import ProberCore
@testable import ProberPostgres
import ProberStorage
import ProberTestSupport
import Testing

/// The recorder keeps the `location_summary` rows it committed instead of reading them back every batch; after a
/// failed write it forgets them (a commit whose answer was lost may have written the batch), and reads again.
@Suite struct PostgresSummaryCacheTests {
    static let now = PostgresSummaryTests.now

    @Test func aFailedWriteForgetsTheKeptRowsAndReadsThemAgain() throws {
        let cluster = try TestPostgres.shared()
        let database = try cluster.makeDatabase()
        defer { cluster.dropDatabase(database) }
        let url = cluster.socketURL(database)
        let recorder = try PostgresStore(url: url, site: "fra").makeSampleRecorder(warning: { _ in })
        let check = { (at: Int64) in Sample(probe: "api", startedAt: at, phases: Phases(total: 1_000), status: 200) }
        recorder.append(check(Self.now - 60_000_000))
        try recorder.flush()
        recorder.append(check(Self.now - 40_000_000))
        try recorder.flush()
        let reader = {
            try PostgresStore(url: url, readOnly: true, site: "reader", clock: PostgresSummaryTests.FixedClock(at: Self.now))
        }
        #expect(try reader().locationStatus(now: Self.now)["api"]?.first?.checks1h == 2, "kept rows carry the hour on")

        // The row changes under the recorder (as a lost commit answer would leave it) and its connection drops.
        _ = try cluster.psql("DELETE FROM location_summary", database: database)
        _ = try cluster.psql("""
            SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '\(database)' AND pid <> pg_backend_pid()
            """, database: database)
        recorder.append(check(Self.now - 20_000_000))
        #expect(throws: (any Error).self, "the write on the dropped connection fails") { try recorder.flush() }
        try recorder.flush()
        let line = try #require(try reader().locationStatus(now: Self.now)["api"]?.first)
        #expect(line.checks1h == 1, "read again after the failure: the row as the database has it, plus the new check")
        #expect(line.last?.at == Self.now - 20_000_000)
        try recorder.close()
    }
}
