import CSQLite3
import Dispatch
import Foundation
import ProberCore
import ProberStorage

/// The SQLite history: probes, raw samples and their rollups, in one file.
///
/// One connection, owned by one serial `DispatchQueue`: every SQLite call runs on that queue, never on
/// the caller's thread or Swift's cooperative pool. Read-only stores (the command line) open the file
/// with `SQLITE_OPEN_READONLY` and, thanks to WAL, never block the daemon writing it.
///
/// `@unchecked Sendable`: the only mutable state (`connection`, `probeIDs`) is touched exclusively on
/// `queue`, which serializes all access.
public final class Store: Storage, @unchecked Sendable {
    /// The schema version this binary writes (`PRAGMA user_version`).
    public static var schemaVersion: Int { migrations.count }

    public let path: String
    public var database: String { path }
    public let isReadOnly: Bool
    let clock: any WallClock
    /// The queue owning the connection. Internal so other files of the module can post work to it.
    let queue: DispatchQueue
    /// Whether code on `queue` runs inside a `snapshot` (its reads join it).
    private let snapshots: SnapshotScope
    /// Touched only on `queue`.
    let connection: Connection
    /// Probe name -> id, filled lazily. Queue-owned.
    var probeIDs: [String: Int64] = [:]
    /// The horizon of the last fold (`foldIfDue`). Queue-owned.
    var foldedUpTo = Int64.min
    /// The last commit number this store gave `sample_recent` rows (`appendSamples`): numbers only increase while the
    /// store is open, even when a fold empties the table (maintenance relies on it, `RecentScan`). Queue-owned.
    var lastRecentSeq: Int64 = 0
    /// The archived day read last, decoded (`Store+SampleArchive.swift`). Store queue only.
    var lastArchivedDay: ArchivedDayCache?
    /// When the WAL was last checkpointed by `checkpointIfDue`. Queue-owned.
    var lastCheckpoint = DispatchTime.now().uptimeNanoseconds
    /// How long a maintenance transaction runs, nanoseconds: it commits at the end of the step it is in after this long
    /// (a step does at most one chunk), and the sample writer waits behind it on the store's queue. 0 makes every step
    /// a transaction of its own (tests). Read by the caller of `maintain` only.
    var maintenanceSlice: UInt64 = 50_000_000

    /// Opens (and for a writable store, creates and migrates) the database at `path`.
    ///
    /// - Parameters:
    ///   - readOnly: open for reading only; the file must exist and must not be newer than this binary.
    ///   - busyTimeout: how long one statement waits for a lock held by another connection before
    ///     failing with `SQLITE_BUSY` (the sample writer then keeps its batch and retries later).
    ///   - clock: "now" for the rows the store stamps itself (a probe's `created_at`).
    public init(path: String, readOnly: Bool = false, busyTimeout: Duration = .seconds(1),
                clock: any WallClock = SystemWallClock()) throws {
        self.path = path
        self.clock = clock
        self.isReadOnly = readOnly
        if readOnly, !FileManager.default.fileExists(atPath: path) {
            throw StoreError(code: 0, message: "no database file (prober run creates it; check --db)", path: path,
                             kind: .missing)
        }
        queue = DispatchQueue(label: "prober.store")
        snapshots = SnapshotScope(queue: queue)
        if !readOnly { Self.createPrivately(path) }
        connection = try Connection(path: path, readOnly: readOnly)
        try connection.check(sqlite3_busy_timeout(connection.handle, Int32(clamping: busyTimeout.milliseconds)))
        if readOnly {
            try connection.execute("PRAGMA query_only = ON; PRAGMA mmap_size = 268435456")
            let version = try connection.userVersion
            if version == 0 {
                throw StoreError(code: 0, message: "not a prober database (no schema)", path: path,
                                 kind: .notADatabase)
            }
            try Self.refuseNewer(version, path: path)
            if version < Self.schemaVersion {
                throw StoreError(code: 0, message: "database schema version \(version) is older than this prober's "
                    + "(\(Self.schemaVersion)); run this version's `prober run` on it once to upgrade it", path: path,
                    kind: .olderSchema)
            }
        } else {
            try configureForWriting()
            try migrate()
        }
    }

    /// Creates a missing database file 0600 before SQLite opens it: SQLite would create it 0644 (less the
    /// umask), and gives the WAL and shared-memory files the database file's mode
    /// (https://sqlite.org/compile.html#default_file_permissions), so all three stay private to the
    /// daemon's user outside systemd too. An existing file keeps its mode. Failures are left to SQLite's
    /// open, which reports them.
    private static func createPrivately(_ path: String) {
        guard !path.isEmpty, path != ":memory:", !path.hasPrefix("file:") else { return }
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if fd >= 0 { close(fd) }
    }

    /// WAL so readers never block the writer; `synchronous=NORMAL` is durable across application crashes
    /// (a power loss may drop the last transactions, never corrupt). https://sqlite.org/wal.html
    /// A 4 MiB page cache holds the interior pages and the recently used leaves; other pages come back from
    /// the OS page cache. It is resident memory, bounded on purpose (8 MiB cost 3 MB more RSS than this for no
    /// gain). When the size was chosen, 4 MiB ingested about 15 % more than 2 MiB and as much as 8 MiB
    /// (bench/store/run, 1,000 probes; today's figures: docs/benchmarks.md). `cache_spill` is on: a transaction
    /// whose dirty pages outgrow the cache writes them to the WAL before its commit, so none holds more than the
    /// cache. A batch of checks dirties a few hundred pages at the end of `sample_recent` and never spills; the
    /// fold's rewrite of the rows that stay did (360,000 rows at 60,000 probes): with spilling off, as it was
    /// while each check went to its probe's own leaf (spilling then wrote 5,000-check batches twice), that
    /// transaction held ~13 MB of pages until its commit, and the daemon's peak RSS with it.
    /// `secure_delete` is FAST: deleted content is zeroed only on pages written anyway, so a freed page is not
    /// written. Debian builds SQLite with `SQLITE_SECURE_DELETE` (on), which zeroes and writes every page freed: the
    /// fold's emptying of `sample_recent` would write the whole table again. https://sqlite.org/pragma.html#pragma_secure_delete
    private func configureForWriting() throws {
        // Only a new file takes it (an existing one keeps its page size): see `pageSize`.
        try connection.execute("PRAGMA page_size = \(Self.pageSize)")
        let stmt = try connection.prepare("PRAGMA journal_mode = WAL")
        let mode = try stmt.step() ? stmt.string(0) : ""
        stmt.reset()
        guard mode.lowercased() == "wal" else {
            throw StoreError(code: 0, message: "cannot switch to WAL journal mode (got '\(mode)')", path: path)
        }
        try connection.execute("""
            PRAGMA synchronous = NORMAL;
            PRAGMA journal_size_limit = 67108864;
            PRAGMA cache_size = -4096;
            PRAGMA cache_spill = ON;
            PRAGMA foreign_keys = OFF;
            PRAGMA secure_delete = FAST;
            """)
        let pageSize = try connection.scalar("PRAGMA page_size") ?? Int64(Self.pageSize)
        try connection.execute("PRAGMA wal_autocheckpoint = \(Self.checkpointBytes / max(pageSize, 512))")
    }

    /// The WAL is checkpointed into the database once it holds 32 MiB (SQLite's default is 1,000 pages).
    /// At 10,000 probes every 10 s a probe's leaf page changes every 10 s; checkpointing every ~30 s instead
    /// of every second writes it to the database once for several changes. Over 300 s (bench/watchdog):
    /// 1.7 KB written per check against 4.9 KB, for ~1.7 MB more RSS (the larger WAL index). Restart after a
    /// crash replays at most this much WAL; `journal_size_limit` still trims the file after a checkpoint.
    static let checkpointBytes: Int64 = 32 * 1024 * 1024

    /// 1 KiB pages for new databases. Each check lands on its probe's own last leaf page, so every commit
    /// writes one page per check to the WAL and again at the checkpoint. Over 15 minutes at 10,000 probes
    /// every 10 s (bench/watchdog): 6.9 KB written per check with 1 KiB pages against 8.4 KB with 4 KiB, and
    /// 0.24 against 0.28 ms of CPU per check. Only the WAL half shrinks: the checkpoint's writes into the
    /// database file still dirty whole 4 KiB OS pages.
    static let pageSize = 1024

    private static func refuseNewer(_ version: Int, path: String) throws {
        if version > schemaVersion {
            throw StoreError(code: 0, message: "database schema version \(version) is newer than this prober knows "
                + "(\(schemaVersion)); it was written by a newer prober: upgrade the binary", path: path,
                kind: .newerSchema)
        }
    }

    /// Applies every migration after the file's `user_version`, each in its own transaction.
    private func migrate() throws {
        let version = try connection.userVersion
        try Self.refuseNewer(version, path: path)
        for (index, migration) in Self.migrations.enumerated() where index >= version {
            do {
                try connection.transaction {
                    try migration.apply(connection)
                    try connection.execute("PRAGMA user_version = \(index + 1)")
                }
            } catch var error as StoreError {
                error.message = "migration \(index + 1) (\(migration.name)): " + error.message
                throw error
            }
        }
        // A migration may rewrite whole tables (version 14: every block). Left in the WAL until the daemon's next
        // checkpoint, those pages are looked up through the WAL's index by every reader meanwhile: `history` over a
        // migrated file of 200 probes took 108 ms against 30 ms once checkpointed, and the WAL kept the file's size
        // again on disk. Emptied here (TRUNCATE: waits up to the busy timeout for readers; if one stays, the next
        // checkpoint does it).
        if version < Self.migrations.count {
            sqlite3_wal_checkpoint_v2(connection.handle, nil, SQLITE_CHECKPOINT_TRUNCATE, nil, nil)
        }
    }

    // MARK: Running SQL on the store's queue

    /// Runs `body` on the store's queue inside one write transaction. Not from the store's queue itself.
    func write<T>(_ body: (Connection) throws -> T) throws -> T {
        dispatchPrecondition(condition: .notOnQueue(queue))
        return try queue.sync { try writeOnQueue(body) }
    }

    /// The same as `write`, for code already running on the store's queue (the sample writer, timers).
    func writeOnQueue<T>(_ body: (Connection) throws -> T) throws -> T {
        dispatchPrecondition(condition: .onQueue(queue))
        if isReadOnly { throw StoreError(code: SQLITE_READONLY, message: "store opened read-only", path: path) }
        do {
            return try connection.transaction { try body(connection) }
        } catch {
            // Ids of probe rows created in the rolled-back transaction must not be reused from the cache.
            probeIDs.removeAll()
            throw error
        }
    }

    /// Runs `body` on the store's queue (reads see one consistent snapshot): in a transaction of its own, or in the
    /// `snapshot` it is called in.
    func read<T>(_ body: (Connection) throws -> T) throws -> T {
        if snapshots.isJoined { return try body(connection) }
        dispatchPrecondition(condition: .notOnQueue(queue))
        return try queue.sync {
            try connection.execute("BEGIN")
            defer {
                connection.resetBusyStatements()
                _ = try? connection.execute("COMMIT")
            }
            return try body(connection)
        }
    }

    /// `HistoryReading.snapshot`: `body` runs on the store's queue in one read transaction, which its reads join.
    public func snapshot<T>(_ body: () throws -> T) throws -> T {
        if snapshots.isJoined { return try body() }
        return try read { _ in try snapshots.inside(body) }
    }

    // MARK: Probes

    /// Records (or updates) each probe's kind and redacted target, so history can show them.
    public func register(_ probes: [ProbeSpec]) throws {
        try write { db in
            let upsert = try db.prepare("""
                INSERT INTO probes(name, kind, target, created_at, file, settings) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                ON CONFLICT(name) DO UPDATE SET kind = excluded.kind, target = excluded.target, file = excluded.file,
                    settings = excluded.settings
                """)
            let now = clock.now()
            for probe in probes {
                let info = ProbeInfo(spec: probe)
                upsert.reset()
                try upsert.bind(1, probe.name)
                try upsert.bind(2, info.kind)
                try upsert.bind(3, info.target)
                try upsert.bind(4, now)
                try upsert.bind(5, info.file)
                try upsert.bind(6, Self.encodeSettings(info.settings))
                try upsert.run()
            }
        }
    }

    /// The id of a probe, creating its row when `create` is set. Runs on the queue.
    func probeID(_ name: String, create: Bool, _ db: Connection) throws -> Int64? {
        if let id = probeIDs[name] { return id }
        let select = try db.prepare("SELECT id FROM probes WHERE name = ?1")
        try select.bind(1, name)
        var id = try select.step() ? select.int64(0) : nil
        select.reset()
        if id == nil, create {
            let insert = try db.prepare("INSERT INTO probes(name, created_at) VALUES (?1, ?2)")
            try insert.bind(1, name)
            try insert.bind(2, clock.now())
            try insert.run()
            id = sqlite3_last_insert_rowid(db.handle)
        }
        if let id { probeIDs[name] = id }
        return id
    }

    /// Every probe that has a row, sorted by name.
    public func probeNames() throws -> [String] {
        try read { db in
            let stmt = try db.prepare("SELECT name FROM probes ORDER BY name")
            var names: [String] = []
            while try stmt.step() { names.append(stmt.string(0)) }
            return names
        }
    }

    public func probeInfo(_ name: String) throws -> ProbeInfo? {
        try read { db in
            let stmt = try db.prepare("SELECT name, kind, target, file, settings FROM probes WHERE name = ?1")
            try stmt.bind(1, name)
            guard try stmt.step() else { return nil }
            return ProbeInfo(name: stmt.string(0), kind: stmt.string(1), target: stmt.string(2), file: stmt.string(3),
                             settings: Self.decodeSettings(stmt.string(4)))
        }
    }

    public func probeInfos() throws -> [ProbeInfo] {
        try read { db in
            // The settings are left out: the listing needs names, kinds, targets and files, at 10,000 probes.
            var infos: [ProbeInfo] = []
            infos.reserveCapacity(Int(try db.scalar("SELECT max(id) FROM probes") ?? 0))
            let stmt = try db.prepare("SELECT name, kind, target, file FROM probes ORDER BY name")
            while try stmt.step() {
                infos.append(ProbeInfo(name: stmt.string(0), kind: stmt.string(1), target: stmt.string(2), file: stmt.string(3)))
            }
            return infos
        }
    }

    /// The `settings` column: `key TAB value`, one a line; tabs and line breaks in a value become spaces.
    package static func encodeSettings(_ settings: [ProbeSetting]) -> String {
        func clean(_ s: String) -> String {
            String(s.map { $0 == "\t" || $0 == "\n" || $0 == "\r" || $0 == "\r\n" ? " " : $0 })
        }
        return settings.map { clean($0.key) + "\t" + clean($0.value) }.joined(separator: "\n")
    }

    package static func decodeSettings(_ text: String) -> [ProbeSetting] {
        text.split(separator: "\n").compactMap { line -> ProbeSetting? in
            let parts = line.split(separator: "\t", maxSplits: 1, omittingEmptySubsequences: false)
            return parts.count == 2 ? ProbeSetting(String(parts[0]), String(parts[1])) : nil
        }
    }
}
