import Foundation
import XCTest
import ProberTestSupport
@testable import ProberEngine

final class InstanceLockTests: XCTestCase {
    func testASecondLockOnTheSameDatabaseIsRefusedNamingTheHolder() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let db = dir.url.appendingPathComponent("prober.db").path
        let first = try InstanceLock(database: db)
        XCTAssertEqual(first.path, db + ".lock")
        XCTAssertThrowsError(try InstanceLock(database: db)) { error in
            let lockError = error as? InstanceLockError
            XCTAssertEqual(lockError?.holder, getpid())
            XCTAssertEqual("\(error)", "another prober is already running on database \(db) (pid \(getpid()) holds the lock \(db).lock)")
        }
        first.release()
        let again = try InstanceLock(database: db)
        again.release()
    }

    /// Issue 13, item 8: the lock file beside the database is private too.
    func testTheLockFileIs0600() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let db = dir.url.appendingPathComponent("prober.db").path
        let lock = try InstanceLock(database: db)
        defer { lock.release() }
        let mode = try FileManager.default.attributesOfItem(atPath: db + ".lock")[.posixPermissions] as? Int
        XCTAssertEqual(mode, 0o600)
    }

    func testAnotherProcessSeesTheLock() throws {
        let flock = "/usr/bin/flock"
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: flock), "needs util-linux flock")
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let db = dir.url.appendingPathComponent("prober.db").path
        func tryLockInChild() throws -> Int32 {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: flock)
            process.arguments = ["--nonblock", "--conflict-exit-code", "99", db + ".lock", "true"]
            try process.run()
            process.waitUntilExit()
            return process.terminationStatus
        }
        let lock = try InstanceLock(database: db)
        XCTAssertEqual(try tryLockInChild(), 99, "a child process must be refused while we hold the lock")
        lock.release()
        XCTAssertEqual(try tryLockInChild(), 0)
    }

    func testUnusableLockPathIsAClearError() {
        XCTAssertThrowsError(try InstanceLock(database: "/nonexistent-dir-\(UUID().uuidString)/prober.db")) { error in
            XCTAssertTrue("\(error)".hasPrefix("cannot open /nonexistent-dir-"), "\(error)")
        }
    }
}
