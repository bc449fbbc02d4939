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
        let holder = try PGConnection(url: cluster.socketURL(name), password: nil, readOnly: false, lockTimeout: .seconds(1))
        try holder.query("SELECT pg_advisory_lock($1)", [.int(PostgresStore.migrationLock)])
        let released = DispatchSemaphore(value: 0)
        DispatchQueue.global().asyncAfter(deadline: .now() + 2.5) {
            _ = try? holder.query("SELECT pg_advisory_unlock($1)", [.int(PostgresStore.migrationLock)])
            released.signal()
        }
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
