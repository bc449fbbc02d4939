import ProberStorage

/// Opens the history named by `--db`: the one place that constructs a backend.
///
/// Today every location is a SQLite file path; a server backend (issue 14's `postgres://` URLs) is chosen
/// here by the location's scheme, and this moves to a module that can import every backend.
public enum StorageBackend {
    /// Opens the history at `location`. Writable: created and migrated when needed. Read-only: it must
    /// exist (`StorageErrorKind.missing`), be a prober database of this binary's schema version
    /// (`newerSchema`, `olderSchema`), and the open never blocks a daemon writing it. Throws a `StorageError`.
    public static func open(location: String, readOnly: Bool) throws -> any Storage {
        // Commands wait longer than the daemon for a lock: a checkpoint may hold it for a moment, and the
        // daemon's writer must not stall behind a reader.
        try Store(path: location, readOnly: readOnly, busyTimeout: readOnly ? .seconds(5) : .seconds(1))
    }
}
