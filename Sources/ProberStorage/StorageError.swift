/// An error of a storage backend, with what a person needs to act: what kind of trouble, and where.
///
/// Each backend throws its own type (SQLite's `StoreError` carries the result code and the SQL) and
/// conforms it here, so that the engine and the command line decide on `kind` without knowing the backend.
/// `description` is the message for people: it names the location and never contains a secret.
public protocol StorageError: Error, CustomStringConvertible, Sendable {
    var kind: StorageErrorKind { get }
    /// The database the error is about (a file path; for a server, its URL without the password).
    var location: String { get }
}

/// What went wrong, as far as a caller can act on it.
public enum StorageErrorKind: String, Sendable, Equatable {
    /// Reading a database that does not exist (it is created by `prober run`).
    case missing
    /// The location holds something that is not a prober database.
    case notADatabase
    /// The database was written by a newer prober (a newer schema version): refused, never downgraded.
    case newerSchema
    /// The database needs a migration that a read-only open cannot apply.
    case olderSchema
    /// A write on a store opened read-only.
    case readOnly
    /// Another writer holds the lock longer than the busy timeout; retrying later can succeed.
    case busy
    /// The server refused the credentials (a wrong password, no password) or the URL is invalid: fix the
    /// configuration; retrying as is cannot succeed.
    case configuration
    /// A write the database refused because another prober did it first (a second open incident of a probe).
    case conflict
    /// Any other failure of the backend (disk full, I/O error, a failed statement).
    case failed
}
