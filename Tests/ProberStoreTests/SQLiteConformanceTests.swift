import CSQLite3
import Foundation
import ProberBackends
import ProberTestSupport
import ProberStorage
import ProberStorageConformance
@testable import ProberStore
import Testing

/// Every backend the conformance suites run against. A second backend is one more line here.
let conformanceBackends: [ConformanceBackend] = [
    .sqlite,
    .postgres,
]

/// The storage conformance suite (`Tests/ProberStorageConformance`) against every backend.
@Suite struct StorageConformanceTests {
    @Test(arguments: conformanceBackends, StorageConformance.cases)
    func storage(_ backend: ConformanceBackend, _ test: ConformanceCase) throws {
        try test.run(backend)
    }

    @Test(arguments: conformanceBackends, LocationConformance.cases)
    func locations(_ backend: ConformanceBackend, _ test: ConformanceCase) throws {
        try test.run(backend)
    }

    @Test(arguments: conformanceBackends, IncidentConformance.cases)
    func incidents(_ backend: ConformanceBackend, _ test: ConformanceCase) throws {
        try test.run(backend)
    }

    @Test(arguments: conformanceBackends, SilenceConformance.cases)
    func silences(_ backend: ConformanceBackend, _ test: ConformanceCase) throws {
        try test.run(backend)
    }

    @Test(arguments: conformanceBackends, IncidentMembersConformance.cases)
    func incidentMembers(_ backend: ConformanceBackend, _ test: ConformanceCase) throws {
        try test.run(backend)
    }
}

extension ConformanceBackend {
    /// SQLite: a file in a new temporary folder, opened as `StorageBackend.open` does.
    static let sqlite = ConformanceBackend(
        name: "SQLite",
        makeLocation: { try TemporaryDirectory().url.appendingPathComponent("prober.db").path },
        removeLocation: { path in try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) },
        open: { path, readOnly in try StorageBackend.open(database: path, readOnly: readOnly) },
        claimNewerSchema: { path in try RawConnection(path).execute("PRAGMA user_version = \(Store.schemaVersion + 1)") },
        holdWriteLock: { path in
            let lock = try SQLiteWriteLock(path)
            return { lock.release() }
        }
    )
}

/// The write lock of a SQLite file, held by a second connection (as another process would hold it).
/// `@unchecked Sendable`: the connection is used by the test that took the lock, then by `release`, never at once.
final class SQLiteWriteLock: @unchecked Sendable {
    private let connection: RawConnection

    init(_ path: String) throws {
        connection = try RawConnection(path)
        try connection.execute("BEGIN IMMEDIATE")
    }

    func release() { try? connection.execute("ROLLBACK") }
}
