import Dispatch
import Foundation
import ProberCore
import ProberStorage
import ProberStore

/// The PostgreSQL history: what many probers share. Probes, samples (partitioned by day) with their site,
/// per-site rollups, incidents and the outbox, in one database.
///
/// One connection, owned by one serial `DispatchQueue`: every libpq call runs on that queue, never on the
/// caller's thread or Swift's cooperative pool. The sample recorder has its own connection and queue, so
/// ingest never waits behind a slow read. A read-only store sets `default_transaction_read_only`, so the
/// server itself refuses its writes.
///
/// `@unchecked Sendable`: the only mutable state (`connection`, `knownPartitions`) is touched exclusively
/// on `queue`.
public final class PostgresStore: Storage, @unchecked Sendable {
    /// The schema version this binary writes (`prober_schema.version`).
    public static var schemaVersion: Int { migrations.count }

    /// The URL as given (with its password, if any): only for connecting.
    let url: String
    /// The password from `PROBER_DB_PASSWORD_FILE`, used when the URL has none.
    let password: String?
    public let database: String
    public let isReadOnly: Bool
    /// Where this prober probes from: stored with every sample it records.
    public let site: String
    /// Who claims outbox rows: this store's site, host, process and a random tag (two stores never share one).
    public let claimant: String
    /// How long a claimed outbox row stays with its claimant before another prober may take it.
    public let lease: Duration
    let clock: any WallClock
    /// Where the sample recorder keeps samples the server cannot take (`prober run --spool`); nil: memory only.
    let spool: SampleSpool?
    let queue = DispatchQueue(label: "prober.postgres")
    /// Touched only on `queue`.
    let connection: PGConnection
    /// Whether code on `queue` runs inside a `snapshot` (its reads join it).
    private let snapshots: SnapshotScope

    /// Connects to `url` and, for a writable store, creates or migrates the schema (under an advisory lock,
    /// so probers starting together migrate once).
    ///
    /// - Parameters:
    ///   - readOnly: the schema must exist and be this binary's version; every write is refused.
    ///   - site: the location name stored with this prober's samples.
    ///   - password: used when the URL carries none (`PROBER_DB_PASSWORD_FILE`); libpq reads `PGPASSWORD` and
    ///     `PGPASSFILE` itself.
    ///   - lease: how long a claimed outbox row is this store's (another prober takes it after).
    ///   - spool: the on-disk spool of the sample recorder (`makeSampleRecorder`), opened and locked by the caller.
    public init(url: String, readOnly: Bool = false, site: String = ProcessInfo.processInfo.hostName,
                password: String? = nil, lease: Duration = .seconds(120), spool: SampleSpool? = nil,
                clock: any WallClock = SystemWallClock()) throws {
        snapshots = SnapshotScope(queue: queue)
        self.spool = spool
        self.url = url
        self.password = password
        database = RedactedDatabaseURL(url).description
        isReadOnly = readOnly
        self.site = site
        self.lease = lease
        self.clock = clock
        claimant = "\(site)/\(ProcessInfo.processInfo.hostName)/\(getpid())/\(UInt32.random(in: 0...UInt32.max))"
        do {
            connection = try PGConnection(url: url, password: password, readOnly: readOnly,
                                          lockTimeout: readOnly ? .seconds(5) : .seconds(1))
        } catch var error as PostgresError where error.kind == .missing {
            error.message += readOnly ? "" : " (create it first: createdb, or CREATE DATABASE with an owner prober connects as)"
            throw error
        }
        if readOnly {
            let version = try Self.schemaVersion(connection)
            guard let version else {
                throw PostgresError(message: "no prober schema in this database (prober run creates it; check --db)",
                                    database: database, kind: .missing)
            }
            try refuseNewer(version)
            if version < Self.schemaVersion {
                throw PostgresError(message: "database schema version \(version) is older than this prober's "
                    + "(\(Self.schemaVersion)); run this version's `prober run` on it once to upgrade it",
                    database: database, kind: .olderSchema)
            }
        } else {
            try migrate()
        }
    }

    /// The password in the file named by `PROBER_DB_PASSWORD_FILE` (without its final newline), nil when unset.
    public static func passwordFile(environment: [String: String]) throws -> String? {
        guard let path = environment["PROBER_DB_PASSWORD_FILE"], !path.isEmpty else { return nil }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw PostgresError(message: "cannot read PROBER_DB_PASSWORD_FILE \(path)", database: "PROBER_DB_PASSWORD_FILE",
                                kind: .configuration)
        }
        var text = String(decoding: data, as: UTF8.self)
        while text.hasSuffix("\n") || text.hasSuffix("\r") { text.removeLast() }
        return text
    }

    /// A second connection with this store's settings (the sample recorder's).
    func connect() throws -> PGConnection {
        try PGConnection(url: url, password: password, readOnly: isReadOnly, lockTimeout: .seconds(1))
    }

    // MARK: Schema

    /// `prober_schema.version`, or nil when the database has no prober schema.
    /// One round trip (a reading command's start-up is a few of them): the table missing is the error it gives. Not
    /// for inside a transaction, which that error would end.
    static func schemaVersion(_ db: PGConnection) throws -> Int? {
        do {
            return try db.scalar("SELECT version FROM prober_schema").map { Int($0) } ?? 0
        } catch let error as PostgresError where error.sqlState == "42P01" { // undefined_table
            return nil
        }
    }

    private func refuseNewer(_ version: Int) throws {
        if version > Self.schemaVersion {
            throw PostgresError(message: "database schema version \(version) is newer than this prober knows "
                + "(\(Self.schemaVersion)); it was written by a newer prober: upgrade the binary",
                database: database, kind: .newerSchema)
        }
    }

    /// Applies every migration after the database's version in one transaction, under an advisory lock so two
    /// probers starting at once do not both migrate.
    private func migrate() throws {
        try connection.transaction {
            // Another prober may hold the lock for seconds (ten starting together on a busy machine) or minutes (a
            // migration's backfill): wait for it, not only the connection's 1 s, which failed all but one start
            // with 55P03. The statements after it get the connection's bound back.
            try connection.execute("SET LOCAL lock_timeout = '\(Self.migrationLockWait.milliseconds)ms'")
            try connection.query("SELECT pg_advisory_xact_lock($1)", [.int(Self.migrationLock)])
            try connection.execute("SET LOCAL lock_timeout TO DEFAULT")
            try connection.execute("""
                CREATE TABLE IF NOT EXISTS prober_schema(
                    one boolean PRIMARY KEY DEFAULT true CHECK (one),
                    version integer NOT NULL)
                """)
            try connection.execute("INSERT INTO prober_schema(version) VALUES (0) ON CONFLICT DO NOTHING")
            let version = Int(try connection.scalar("SELECT version FROM prober_schema") ?? 0)
            try refuseNewer(version)
            for (index, migration) in Self.migrations.enumerated() where index >= version {
                do {
                    try connection.execute(migration.sql)
                    try migration.backfill?(self, connection)
                } catch var error as PostgresError {
                    error.message = "migration \(index + 1) (\(migration.name)): " + error.message
                    throw error
                }
                try connection.query("UPDATE prober_schema SET version = $1", [.int(Int64(index + 1))])
            }
        }
    }

    /// The advisory lock key of migrations ("prober" in ASCII).
    static let migrationLock: Int64 = 0x70726F626572
    /// How long a starting prober waits for another's migration before it gives up.
    static let migrationLockWait: Duration = .seconds(600)
    /// The advisory lock key of partition creation.
    static let partitionLock: Int64 = 0x70726F626572 + 1

    // MARK: Running SQL on the store's queue

    /// Runs `body` on the store's queue inside one write transaction.
    func write<T>(_ body: (PGConnection) throws -> T) throws -> T {
        dispatchPrecondition(condition: .notOnQueue(queue))
        return try queue.sync {
            if isReadOnly { throw PostgresError(sqlState: "25006", message: "store opened read-only", database: database) }
            connection.reconnectIfLost()
            return try connection.transaction { try body(connection) }
        }
    }

    /// Runs `body` on the store's queue in one read-only snapshot (`REPEATABLE READ`): its own, or the `snapshot`
    /// it is called in.
    func read<T>(_ body: (PGConnection) throws -> T) throws -> T {
        if snapshots.isJoined { return try body(connection) }
        dispatchPrecondition(condition: .notOnQueue(queue))
        return try queue.sync {
            connection.reconnectIfLost()
            return try connection.transaction("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY") { try body(connection) }
        }
    }

    /// `HistoryReading.snapshot`: `body` runs on the store's queue in one read-only transaction, which its reads join.
    public func snapshot<T>(_ body: () throws -> T) throws -> T {
        if snapshots.isJoined { return try body() }
        return try read { _ in try snapshots.inside(body) }
    }

    // MARK: Probes

    public func register(_ probes: [ProbeSpec]) throws {
        guard !probes.isEmpty else { return }
        // One statement for every probe (columns as arrays): 10,000 probes are one round trip at start. Only rows that
        // are new or differ are written: `DO UPDATE` locks every row it meets, and ten probers starting on the same
        // files would queue behind each other's locks (past `lock_timeout`, and a failed start). Sorted by name, so
        // two probers lock shared rows in one order. A name once: one statement may not update a row twice.
        var seen: Set<String> = []
        let infos = probes.filter { seen.insert($0.name).inserted }.map(ProbeInfo.init(spec:)).sorted { $0.name < $1.name }
        _ = try write { db in
            try db.query("""
                INSERT INTO probes(name, kind, target, created_at, file, settings)
                SELECT u.name, u.kind, u.target, $4, u.file, u.settings
                FROM unnest($1::text[], $2::text[], $3::text[], $5::text[], $6::text[]) AS u(name, kind, target, file, settings)
                WHERE NOT EXISTS (SELECT 1 FROM probes p WHERE p.name = u.name AND p.kind = u.kind AND p.target = u.target
                                  AND p.file = u.file AND p.settings = u.settings)
                ORDER BY u.name COLLATE "C"
                ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, target = excluded.target, file = excluded.file,
                    settings = excluded.settings
                """, [.text(pgTextArray(infos.map(\.name))), .text(pgTextArray(infos.map(\.kind))),
                      .text(pgTextArray(infos.map(\.target))), .int(clock.now()), .text(pgTextArray(infos.map(\.file))),
                      .text(pgTextArray(infos.map { Store.encodeSettings($0.settings) }))])
        }
    }

    /// The id of a probe; nil when unknown.
    func probeID(_ name: String, _ db: PGConnection) throws -> Int64? {
        try db.scalar("SELECT id FROM probes WHERE name = $1", [.text(name)])
    }

    public func probeNames() throws -> [String] {
        try read { db in
            let r = try db.query("SELECT name FROM probes ORDER BY name COLLATE \"C\"")
            return (0..<r.count).map { r.string($0, 0) }
        }
    }

    public func probeInfo(_ name: String) throws -> ProbeInfo? {
        try read { db in
            let r = try db.query("SELECT name, kind, target, file, settings FROM probes WHERE name = $1", [.text(name)])
            guard r.count > 0 else { return nil }
            return ProbeInfo(name: r.string(0, 0), kind: r.string(0, 1), target: r.string(0, 2), file: r.string(0, 3),
                             settings: Store.decodeSettings(r.string(0, 4)))
        }
    }

    /// A `SampleWriter` with PostgreSQL's write step, spooling to `spool` (when given) while the server cannot
    /// take writes. Retries back off to 5 s at most: a server coming back is noticed soon, and a refused
    /// connection costs little. A batch every 250 ms: the fleet reads another location's checks only from the
    /// database, and a 1 s period alone put the newest stored check 1 s behind at the 99th percentile (issue 14's
    /// budget is 1 s); the cost is a few more statements a second, not more work per sample.
    public func makeSampleRecorder(warning: @escaping @Sendable (String) -> Void) -> any SampleRecording {
        SampleWriter(batches: PostgresSampleBatches(store: self), spool: spool,
                     configuration: .init(flushInterval: Self.recorderFlushInterval, maxBackoff: .seconds(5)), clock: clock,
                     warning: warning)
    }

    /// Time between the sample recorder's batches.
    static let recorderFlushInterval: Duration = .milliseconds(250)
}

/// A text array literal (`{"a","b"}`) for a `text[]` parameter.
func pgTextArray(_ values: [String]) -> String {
    pgArray(values)
}

/// An array literal with NULLs (`{"a",NULL,"3"}`), for a `text[]` or (cast by the server) `bigint[]` parameter.
///
/// Built byte by byte: with two `replacingOccurrences` per element (Foundation's string search) it was 5.9 % of a
/// prober's CPU at 10 × 3,000 probes, the recorder's summary upsert sending nine such arrays every batch.
func pgArray(_ values: [String?]) -> String {
    var out: [UInt8] = [123]  // {
    out.reserveCapacity(2 + values.count * 16)
    for (i, value) in values.enumerated() {
        if i > 0 { out.append(44) }  // ,
        guard let value else {
            out.append(contentsOf: [78, 85, 76, 76])  // NULL
            continue
        }
        out.append(34)  // "
        for byte in value.utf8 {
            if byte == 92 || byte == 34 { out.append(92) }  // \ before \ and "
            out.append(byte)
        }
        out.append(34)
    }
    out.append(125)  // }
    return String(decoding: out, as: UTF8.self)
}
