import CSQLite3
import Foundation
import ProberCore
@testable import ProberStore
import XCTest

final class MigrationTests: XCTestCase {
    func testFreshFileGetsEveryMigrationAndWAL() throws {
        let path = try temporaryDatabase(self)
        _ = try Store(path: path)
        let raw = try RawConnection(path)
        XCTAssertEqual(try raw.int("PRAGMA user_version"), Int64(Store.schemaVersion))
        XCTAssertGreaterThanOrEqual(Store.schemaVersion, 1)
        for table in ["probes", "sample_recent", "sample_blocks", "sample_span", "rollup_5m", "rollup_1h", "incidents", "incident_updates", "outbox"] {
            XCTAssertEqual(try raw.int("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '\(table)'"), 1, table)
        }
        // The sample tables are clustered on their key; blocks (hundreds of bytes each) are rowid rows with a unique key.
        XCTAssertEqual(try raw.int("SELECT count(*) FROM sqlite_master WHERE sql LIKE '%WITHOUT ROWID%' AND name IN ('sample_recent', 'rollup_5m', 'rollup_1h')"), 3)
        XCTAssertEqual(try raw.int("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'sample_blocks_key' AND tbl_name = 'sample_blocks'"), 1)
        var stmt: OpaquePointer?
        sqlite3_prepare_v2(raw.handle, "PRAGMA journal_mode", -1, &stmt, nil)
        defer { sqlite3_finalize(stmt) }
        XCTAssertEqual(sqlite3_step(stmt), SQLITE_ROW)
        XCTAssertEqual(String(cString: sqlite3_column_text(stmt, 0)), "wal")
    }

    func testANewFileHasSmallPagesAndAnExistingOneKeepsItsOwn() throws {
        let fresh = try temporaryDatabase(self)
        _ = try Store(path: fresh)
        XCTAssertEqual(try RawConnection(fresh).int("PRAGMA page_size"), Int64(Store.pageSize))
        XCTAssertEqual(Store.pageSize, 1024)

        // A database made with 4 KiB pages (by an earlier prober) is used as it is.
        let old = try temporaryDatabase(self)
        try RawConnection(old).execute("PRAGMA page_size = 4096; CREATE TABLE t(x); DROP TABLE t;")
        let store = try Store(path: old)
        try fill(store, makeSamples(probe: "web", start: 1_000_000_000_000_000, interval: 1_000_000, count: 10))
        XCTAssertEqual(try store.recentSamples(probe: "web", limit: 100).count, 10)
        XCTAssertEqual(try RawConnection(old).int("PRAGMA page_size"), 4096)

        // The WAL is checkpointed by size, whatever the page size: 32 MiB.
        XCTAssertEqual(try store.read { try $0.scalar("PRAGMA wal_autocheckpoint") }, Store.checkpointBytes / 4096)
        XCTAssertEqual(try Store(path: fresh).read { try $0.scalar("PRAGMA wal_autocheckpoint") }, Store.checkpointBytes / 1024)
    }

    func testReopeningKeepsDataAndVersion() throws {
        let path = try temporaryDatabase(self)
        try fill(try Store(path: path), makeSamples(probe: "web", start: 1_000_000_000_000_000, interval: 1_000_000, count: 10))
        let store = try Store(path: path)
        XCTAssertEqual(try store.recentSamples(probe: "web", limit: 100).count, 10)
        XCTAssertEqual(try RawConnection(path).int("PRAGMA user_version"), Int64(Store.schemaVersion))
    }

    func testMigratesFromEveryEarlierVersion() throws {
        // Each earlier version is simulated by applying the first N steps only, then opening with the binary.
        for version in 0..<Store.schemaVersion {
            let path = try temporaryDatabase(self)
            do {
                _ = try migratedConnection(at: path, version: version)
            }
            let raw = try RawConnection(path)
            let store = try Store(path: path)
            XCTAssertEqual(try raw.int("PRAGMA user_version"), Int64(Store.schemaVersion), "from version \(version)")
            // What the migrations wrote is in the database file, not left in the WAL for every reader to look up
            // (asked while the store is open: closing the last connection would checkpoint anyway).
            var wal = stat()
            XCTAssertTrue(stat(path + "-wal", &wal) != 0 || wal.st_size == 0, "from version \(version): WAL of \(wal.st_size) bytes")
            withExtendedLifetime(store) {}
        }
    }

    /// Version 15 moves the rollup watermarks out of `probes` into `rollup_marks`: every probe's three marks kept as
    /// they were (maintenance goes on from them, nothing rolled up twice), none made up for a probe without any, and
    /// the probes' other columns untouched.
    func testTheWatermarksMoveToTheirOwnTableIntact() throws {
        let path = try temporaryDatabase(self)
        let day: Int64 = 86_400_000_000, start: Int64 = 1_700_438_400_000_000
        do {
            let connection = try migratedConnection(at: path, version: 14)
            try connection.execute("""
                INSERT INTO probes(id, name, kind, target, created_at, settings, rolled_5m, rolled_1h, rolled_1d)
                    VALUES (1, 'api', 'http', 'https://api.example/health', \(start), 'url\thttps://api.example/health',
                            \(start + 2 * day + 300_000_000), \(start + 2 * day), \(start + day));
                INSERT INTO probes(id, name, created_at, rolled_5m) VALUES (2, 'fresh', \(start), \(start + 600_000_000));
                INSERT INTO probes(id, name, created_at) VALUES (3, 'new', \(start));
                INSERT INTO rollup_5m(probe_id, bucket, checks, failures, lat_n) VALUES (2, \(start), 30, 0, 0), (2, \(start + 300_000_000), 30, 1, 0);
                """)
        }
        let store = try Store(path: path)
        try store.read { db in
            XCTAssertEqual(try store.watermarks(1, db).rolled5m, start + 2 * day + 300_000_000)
            XCTAssertEqual(try store.watermarks(1, db).rolled1h, start + 2 * day)
            XCTAssertEqual(try store.watermarks(1, db).rolled1d, start + day)
            XCTAssertEqual(try store.watermarks(2, db).rolled5m, start + 600_000_000)
            XCTAssertNil(try store.watermarks(2, db).rolled1h)
            XCTAssertNil(try store.watermarks(3, db).rolled5m)
        }
        let raw = try RawConnection(path)
        XCTAssertEqual(try raw.int("SELECT count(*) FROM rollup_marks"), 2)
        XCTAssertEqual(try raw.int("SELECT count(*) FROM pragma_table_info('probes') WHERE name LIKE 'rolled%'"), 0)
        XCTAssertEqual(try store.probeInfo("api")?.target, "https://api.example/health")
        // The 5-minute rows before the mark count once: not rolled up again from raw samples, none left anyway.
        let history = try XCTUnwrap(try store.history(probe: "fresh", since: start, until: start + 600_000_000))
        XCTAssertEqual(history.summary.checks, 60)
        XCTAssertEqual(history.summary.failures, 1)
    }

    func testAnOlderDatabaseIsUpgradedByTheDaemonAndExplainedToReaders() throws {
        let path = try temporaryDatabase(self)
        do {
            _ = try migratedConnection(at: path, version: Store.schemaVersion - 1)
        }
        // A reader cannot migrate: it says what to do instead of failing on a missing column.
        XCTAssertThrowsError(try Store(path: path, readOnly: true)) { error in
            XCTAssertTrue(String(describing: error).contains("older than this prober"), "\(error)")
        }
        // The daemon's writable open upgrades it, and then readers work.
        _ = try Store(path: path)
        XCTAssertNoThrow(try Store(path: path, readOnly: true).incidents(since: nil))
    }

    func testNewerDatabaseIsRefusedWithAClearMessage() throws {
        let path = try temporaryDatabase(self)
        _ = try Store(path: path)
        try RawConnection(path).execute("PRAGMA user_version = \(Store.schemaVersion + 1)")
        for readOnly in [false, true] {
            XCTAssertThrowsError(try Store(path: path, readOnly: readOnly)) { error in
                let text = String(describing: error)
                XCTAssertTrue(text.contains("newer"), text)
                XCTAssertTrue(text.contains(path), text)
            }
        }
        // Refusing did not touch the file.
        XCTAssertEqual(try RawConnection(path).int("PRAGMA user_version"), Int64(Store.schemaVersion + 1))
    }

    func testReadOnlyNeverCreatesAFile() throws {
        let path = try temporaryDatabase(self)
        XCTAssertThrowsError(try Store(path: path, readOnly: true)) { error in
            XCTAssertTrue(String(describing: error).contains("no database"), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
    }

    func testReadOnlyStoreReadsWhileAnotherConnectionHoldsTheWriteLock() throws {
        let path = try temporaryDatabase(self)
        let store = try Store(path: path)
        try fill(store, makeSamples(probe: "web", start: 1_000_000_000_000_000, interval: 1_000_000, count: 20))
        let other = try RawConnection(path)
        try other.execute("BEGIN IMMEDIATE; DELETE FROM sample_recent; DELETE FROM sample_blocks;")
        defer { try? other.execute("ROLLBACK") }
        let reader = try Store(path: path, readOnly: true, busyTimeout: .milliseconds(1))
        XCTAssertEqual(try reader.recentSamples(probe: "web", limit: 100).count, 20)
        XCTAssertEqual(try reader.status(now: 1_000_000_000_000_000 + 30_000_000).first?.checks1h, 20)
        XCTAssertThrowsError(try reader.register([ProbeSpec(name: "x", target: .tcp(TCPTarget(host: "h", port: 1)))]))
    }
}
