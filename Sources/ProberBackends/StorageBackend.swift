import Foundation
import ProberPostgres
import ProberStorage
import ProberStore

/// Opens the history named by `--db`: the one place that constructs a backend. A `postgres://` or
/// `postgresql://` URL opens PostgreSQL (`PostgresStore`); anything else is a SQLite file path (`Store`).
public enum StorageBackend {
    /// Opens the history at `database`. Writable: created (SQLite) or migrated when needed. Read-only: it must
    /// exist (`StorageErrorKind.missing`), be a prober database of this binary's schema version
    /// (`newerSchema`, `olderSchema`), and the open never blocks a daemon writing it. Throws a `StorageError`
    /// whose messages name the database without its password.
    ///
    /// `site` names where this prober probes from (`prober run --location`); PostgreSQL stores it with every
    /// sample and keeps rollups per site. SQLite ignores it: one file is one site.
    ///
    /// `spool` holds the samples a PostgreSQL server cannot take (`prober run --spool`); SQLite has none (its
    /// database is the local disk).
    public static func open(database: String, readOnly: Bool, site: String = defaultSite, spool: SampleSpool? = nil,
                            environment: [String: String] = ProcessInfo.processInfo.environment) throws -> any Storage {
        if RedactedDatabaseURL.isServerURL(database) {
            return try PostgresStore(url: database, readOnly: readOnly, site: site,
                                     password: try PostgresStore.passwordFile(environment: environment), spool: spool)
        }
        // Commands wait longer than the daemon for a lock: a checkpoint may hold it for a moment, and the
        // daemon's writer must not stall behind a reader.
        return try Store(path: database, readOnly: readOnly, busyTimeout: readOnly ? .seconds(5) : .seconds(1))
    }

    /// The host name: the site of a prober not told its location.
    public static var defaultSite: String { ProcessInfo.processInfo.hostName }
}
