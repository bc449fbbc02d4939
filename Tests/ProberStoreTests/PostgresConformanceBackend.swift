import Foundation
import ProberBackends
@testable import ProberPostgres
import ProberStorage
import ProberStorageConformance
import ProberTestSupport

extension ConformanceBackend {
    /// PostgreSQL: a new database of this process's throwaway cluster (`TestPostgres.shared`), reached over its
    /// unix socket, opened as `StorageBackend.open` does.
    static let postgres = ConformanceBackend(
        name: "PostgreSQL",
        makeLocation: {
            let cluster = try TestPostgres.shared()
            return cluster.socketURL(try cluster.makeDatabase())
        },
        removeLocation: { url in
            guard let cluster = try? TestPostgres.shared() else { return }
            cluster.dropDatabase(PostgresConformance.databaseName(url))
        },
        open: { url, readOnly in try StorageBackend.open(database: url, readOnly: readOnly) },
        claimNewerSchema: { url in
            try TestPostgres.shared().psql("UPDATE prober_schema SET version = \(PostgresStore.schemaVersion + 1)",
                                           database: PostgresConformance.databaseName(url))
        },
        holdWriteLock: { url in
            let lock = try PostgresWriteLock(url)
            return { lock.release() }
        },
        openAtSite: { url, site in try StorageBackend.open(database: url, readOnly: false, site: site) }
    )
}

enum PostgresConformance {
    /// The database name of a `TestPostgres.socketURL`.
    static func databaseName(_ url: String) -> String {
        String(url.split(separator: "/", maxSplits: 3)[2].split(separator: "?")[0])
    }
}

/// The samples table locked against writers by a second connection, as another prober's long transaction would.
/// `@unchecked Sendable`: the connection is used by the test that took the lock, then by `release`, never at once.
final class PostgresWriteLock: @unchecked Sendable {
    private let connection: PGConnection

    init(_ url: String) throws {
        connection = try PGConnection(url: url, password: nil, readOnly: false, lockTimeout: .seconds(5))
        try connection.execute("BEGIN; LOCK TABLE samples IN EXCLUSIVE MODE")
    }

    func release() { try? connection.execute("ROLLBACK") }
}
