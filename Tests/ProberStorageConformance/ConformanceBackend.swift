import ProberStorage
import Testing

/// A storage backend under test: how to make a fresh history, open it, and put it in the states the suite
/// needs. The cases use nothing else, so a backend that fills these in runs the whole suite.
public struct ConformanceBackend: Sendable, CustomTestStringConvertible {
    public var name: String
    /// A location for a fresh history nobody else uses, not created yet (a path in a new temporary folder,
    /// a new database on the server).
    public var makeLocation: @Sendable () throws -> String
    /// Removes everything `makeLocation` and the storages opened there left behind.
    public var removeLocation: @Sendable (String) -> Void
    /// Opens the history at a location, as `StorageBackend.open` does.
    public var open: @Sendable (_ location: String, _ readOnly: Bool) throws -> any Storage
    /// Makes an existing history at `location` claim a schema version newer than this binary's.
    public var claimNewerSchema: @Sendable (_ location: String) throws -> Void
    /// Takes the history's write lock from another connection, as another process could; the returned
    /// closure releases it.
    public var holdWriteLock: @Sendable (_ location: String) throws -> @Sendable () -> Void
    /// Opens the history writable as a prober at `site` (`prober run --location`) would; nil for a backend that
    /// keeps no location (one SQLite file is one prober).
    public var openAtSite: (@Sendable (_ location: String, _ site: String) throws -> any Storage)?

    public init(name: String, makeLocation: @escaping @Sendable () throws -> String,
                removeLocation: @escaping @Sendable (String) -> Void,
                open: @escaping @Sendable (String, Bool) throws -> any Storage,
                claimNewerSchema: @escaping @Sendable (String) throws -> Void,
                holdWriteLock: @escaping @Sendable (String) throws -> @Sendable () -> Void,
                openAtSite: (@Sendable (String, String) throws -> any Storage)? = nil) {
        self.name = name
        self.makeLocation = makeLocation
        self.removeLocation = removeLocation
        self.open = open
        self.claimNewerSchema = claimNewerSchema
        self.holdWriteLock = holdWriteLock
        self.openAtSite = openAtSite
    }

    public var testDescription: String { name }

    /// Runs `body` with a fresh location, removed afterwards.
    public func withLocation<T>(_ body: (String) throws -> T) throws -> T {
        let location = try makeLocation()
        defer { removeLocation(location) }
        return try body(location)
    }

    /// Runs `body` with a writable history in a fresh location, removed afterwards.
    public func withStorage<T>(_ body: (any Storage, String) throws -> T) throws -> T {
        try withLocation { location in try body(try open(location, false), location) }
    }
}

/// One case of a conformance suite, run against each backend.
public struct ConformanceCase: Sendable, CustomTestStringConvertible {
    public var name: String
    public var run: @Sendable (ConformanceBackend) throws -> Void

    public init(_ name: String, _ run: @escaping @Sendable (ConformanceBackend) throws -> Void) {
        self.name = name
        self.run = run
    }

    public var testDescription: String { name }
}
