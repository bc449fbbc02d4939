import Dispatch
import Foundation
@testable import ProberPostgres
import ProberTestSupport
import Testing

/// Probers started together on one database: all but the one migrating wait for its migration.
@Suite struct PostgresMigrationLockTests {
    /// Ten probers starting at once on a busy machine: one migrated for over a second and the others failed with
    /// 55P03 (lock timeout) after the connection's 1 s. A store opened while another session holds the migration
    /// lock for 2.5 s opens once it is released.
    @Test func aStartWaitsForAnotherProbersMigration() throws {
        let cluster = try TestPostgres.shared()
        let name = try cluster.makeDatabase()
        defer { cluster.dropDatabase(name) }
        // Another session (psql) takes the migration lock and keeps it for 2.5 s.
        let key = PostgresStore.migrationLock
        let released = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            _ = try? cluster.psql("SELECT pg_advisory_lock(\(key)); SELECT pg_sleep(2.5)", database: name)
            released.signal()
        }
        #expect(waitUntil {
            (try? cluster.psql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted", database: name)) == "1\n"
        }, "the other session never took the lock")
        let started = ContinuousClock.now
        let store = try PostgresStore(url: cluster.socketURL(name), site: "a")
        released.wait()
        #expect(ContinuousClock.now - started >= .seconds(2), "the store opened before the lock was released")
        #expect(PostgresStore.schemaVersion > 0)
        // The connection's own bound is back after the migration.
        let timeout = try store.queue.sync { try store.connection.query("SHOW lock_timeout").string(0, 0) }
        #expect(timeout == "1s")
    }
}
