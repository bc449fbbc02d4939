/// One step of the schema. Steps run in order, each in its own transaction; step N leaves
/// `PRAGMA user_version = N`. Never edit a released step: append a new one.
struct Migration: Sendable {
    let name: String
    let apply: @Sendable (Connection) throws -> Void

    init(_ name: String, apply: @escaping @Sendable (Connection) throws -> Void) {
        self.name = name
        self.apply = apply
    }

    init(_ name: String, sql: String) {
        self.init(name) { try $0.execute(sql) }
    }
}

extension Store {
    /// The schema, in order. To add one: append `Migration("what it adds", sql: "CREATE TABLE …")`.
    static let migrations: [Migration] = [
        Migration("probes, samples and rollups", sql: schemaV1),
        Migration("incidents, their updates and the outbox", sql: schemaV2),
        Migration("evidence with each incident update", sql: schemaV3),
        Migration("each probe's file and shown configuration", sql: schemaV4),
        Migration("daily rollups, backfilled from the 1-hour rollups", sql: schemaV5),
        Migration("the probers writing the history, for prober fleet", sql: schemaV6),
        Migration("silences (prober silence)", sql: schemaSilences),
        Migration("each prober's own connectivity, for prober status", sql: schemaConnectivity),
        Migration("the cause and member probes of shared incidents", sql: schemaIncidentMembers),
        Migration("raw samples in time order: recent rows and 5-minute blocks", apply: convertToSampleBlocks),
        Migration("each prober's overload skips, for prober status", sql: schemaOverload),
        Migration("archived days of raw samples", sql: schemaSampleArchive),
        // No schema change: the number keeps a prober of version 12, which reads a format 2 day as empty, out.
        Migration("archived days range-coded (format 2)", apply: { _ in }),
        Migration("5-minute blocks in a rowid table, their overflow pages filled whole", apply: convertSampleBlocksToRowid),
        Migration("rollup watermarks in a narrow table of their own", apply: moveWatermarksToRollupMarks),
        Migration("the last day of rollups in time order", sql: schemaRecentRollups),
    ]

    /// Version 1. Times are microseconds since the Unix epoch; durations microseconds.
    /// See docs/storage.md for the encodings of the BLOB columns.
    static let schemaV1 = """
        CREATE TABLE probes(
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL DEFAULT '',        -- http | tcp
            target TEXT NOT NULL DEFAULT '',      -- redacted display target, never a secret
            created_at INTEGER NOT NULL,
            rolled_5m INTEGER,                    -- raw samples before this are folded into rollup_5m
            rolled_1h INTEGER                     -- 5m rollups before this are folded into rollup_1h
        );
        CREATE TABLE samples(
            probe_id INTEGER NOT NULL,
            ts INTEGER NOT NULL,                  -- check start
            reason INTEGER NOT NULL,              -- FailureReason.code, 0 = ok
            status INTEGER,                       -- HTTP status
            phases BLOB,                          -- varint-packed phases (PhaseCodec); NULL when none
            bytes INTEGER,
            family INTEGER,                       -- 0 = IPv4, 1 = IPv6 (0 and 1 take no payload bytes)
            PRIMARY KEY (probe_id, ts)
        ) WITHOUT ROWID;
        CREATE TABLE rollup_5m(
            probe_id INTEGER NOT NULL,
            bucket INTEGER NOT NULL,              -- bucket start
            checks INTEGER NOT NULL,
            failures INTEGER NOT NULL,
            reasons BLOB,                         -- varint pairs (reason code, count); NULL without failures
            lat_n INTEGER NOT NULL,               -- successful checks with a total latency
            lat_min INTEGER, lat_max INTEGER, lat_sum INTEGER,
            hist BLOB,                            -- sparse log-spaced histogram of total latency
            phases BLOB,                          -- per-phase sums (and counts when they differ from lat_n)
            PRIMARY KEY (probe_id, bucket)
        ) WITHOUT ROWID;
        CREATE TABLE rollup_1h(
            probe_id INTEGER NOT NULL,
            bucket INTEGER NOT NULL,
            checks INTEGER NOT NULL,
            failures INTEGER NOT NULL,
            reasons BLOB,
            lat_n INTEGER NOT NULL,
            lat_min INTEGER, lat_max INTEGER, lat_sum INTEGER,
            hist BLOB,
            phases BLOB,
            PRIMARY KEY (probe_id, bucket)
        ) WITHOUT ROWID;
        """

    /// Version 4: what the probe page shows of a probe (`ProbeInfo.file`, `ProbeInfo.settings`, already redacted).
    static let schemaV4 = """
        ALTER TABLE probes ADD COLUMN file TEXT NOT NULL DEFAULT '';
        ALTER TABLE probes ADD COLUMN settings TEXT NOT NULL DEFAULT '';  -- key TAB value, one a line
        """

    /// Version 5: a row per probe per UTC day (checks and failures) for the status page's 90 uptime bars, so `/` reads
    /// at most 90 rows a probe from the key instead of summing 2,160 hourly rows. Backfilled from the 1-hour rollups
    /// for every day they cover whole (the days before `rolled_1h`'s day); maintenance continues from `rolled_1d`.
    static let schemaV5 = """
        ALTER TABLE probes ADD COLUMN rolled_1d INTEGER;  -- 1h rollups before this are folded into rollup_1d
        CREATE TABLE rollup_1d(
            probe_id INTEGER NOT NULL,
            bucket INTEGER NOT NULL,              -- 00:00 UTC of the day
            checks INTEGER NOT NULL,
            failures INTEGER NOT NULL,
            PRIMARY KEY (probe_id, bucket)
        ) WITHOUT ROWID;
        UPDATE probes SET rolled_1d = rolled_1h - ((rolled_1h % 86400000000) + 86400000000) % 86400000000
            WHERE rolled_1h IS NOT NULL;
        INSERT INTO rollup_1d(probe_id, bucket, checks, failures)
            SELECT r.probe_id, r.bucket - ((r.bucket % 86400000000) + 86400000000) % 86400000000 AS day,
                   sum(r.checks), sum(r.failures)
            FROM probes p CROSS JOIN rollup_1h r ON r.probe_id = p.id AND r.bucket < p.rolled_1d
            GROUP BY r.probe_id, day;
        """

    /// Version 6: the prober that writes this file, as its heartbeats leave it (`ProberDirectory`, `prober fleet`): one
    /// row per location, as on PostgreSQL, though one SQLite file has one prober.
    static let schemaV6 = """
        CREATE TABLE probers(
            location TEXT PRIMARY KEY,
            host TEXT NOT NULL,
            pid INTEGER NOT NULL,
            version TEXT NOT NULL,
            started_at INTEGER NOT NULL,
            at INTEGER NOT NULL,                  -- its latest heartbeat
            every INTEGER NOT NULL,               -- its heartbeat interval (µs)
            probes INTEGER NOT NULL,
            lateness_p99 INTEGER,                 -- µs, since its previous heartbeat
            pending INTEGER NOT NULL,
            spooled INTEGER NOT NULL,
            stopped INTEGER NOT NULL              -- 1 after a clean stop
        ) WITHOUT ROWID;
        """

    /// Version 15: the rollup watermarks move out of `probes` into a table of their own, 4 integers a row. Maintenance
    /// moves them every 5 minutes for every probe, and `probes` rows carry each probe's settings (~360 bytes at least,
    /// two or three rows a 1 KiB page): updating them there put a page a probe or two into the WAL and again into the
    /// file at the checkpoint, ~34 bytes a check at 60,000 probes every 10 s. A probe without a row has no watermark.
    static func moveWatermarksToRollupMarks(_ db: Connection) throws {
        try db.execute("""
            CREATE TABLE rollup_marks(
                probe_id INTEGER PRIMARY KEY,
                rolled_5m INTEGER,                -- raw samples before this are folded into rollup_5m
                rolled_1h INTEGER,                -- 5m rollups before this are folded into rollup_1h
                rolled_1d INTEGER                 -- 1h rollups before this are folded into rollup_1d (a day boundary)
            );
            INSERT INTO rollup_marks(probe_id, rolled_5m, rolled_1h, rolled_1d)
                SELECT id, rolled_5m, rolled_1h, rolled_1d FROM probes
                WHERE rolled_5m IS NOT NULL OR rolled_1h IS NOT NULL OR rolled_1d IS NOT NULL;
            """)
        // ALTER TABLE fails while any statement of the connection is mid-result (the migration's `user_version`).
        db.resetBusyStatements()
        try db.execute("""
            ALTER TABLE probes DROP COLUMN rolled_5m;
            ALTER TABLE probes DROP COLUMN rolled_1h;
            ALTER TABLE probes DROP COLUMN rolled_1d;
            """)
    }

    /// Version 16: the rollup rows of about the last day, keyed by hour first (see `Store+RecentRollups.swift`). Their
    /// columns are those of `rollup_5m` and `rollup_1h`, and `hour` is the bucket's hour, counted in hours since the epoch
    /// (`Store.hourNumber`: 3 bytes, where microseconds take 8). `recent_from` is set for
    /// each probe by the first maintenance pass after the upgrade, past every row it has then. The `_all` views show a
    /// rollup table whole, for `sqlite3` and the tests: each row once, wherever it is.
    static let schemaRecentRollups = """
        CREATE TABLE rollup_5m_recent(
            hour INTEGER NOT NULL,                -- bucket / 3600000000
            probe_id INTEGER NOT NULL,
            bucket INTEGER NOT NULL,
            checks INTEGER NOT NULL,
            failures INTEGER NOT NULL,
            reasons BLOB,
            lat_n INTEGER NOT NULL,
            lat_min INTEGER, lat_max INTEGER, lat_sum INTEGER,
            hist BLOB,
            phases BLOB,
            PRIMARY KEY (hour, probe_id, bucket)
        ) WITHOUT ROWID;
        CREATE TABLE rollup_1h_recent(
            hour INTEGER NOT NULL,                -- bucket / 3600000000
            probe_id INTEGER NOT NULL,
            bucket INTEGER NOT NULL,
            checks INTEGER NOT NULL,
            failures INTEGER NOT NULL,
            reasons BLOB,
            lat_n INTEGER NOT NULL,
            lat_min INTEGER, lat_max INTEGER, lat_sum INTEGER,
            hist BLOB,
            phases BLOB,
            PRIMARY KEY (hour, probe_id, bucket)
        ) WITHOUT ROWID;
        ALTER TABLE rollup_marks ADD COLUMN recent_from INTEGER;  -- rollup rows from this hour on are in the _recent tables
        CREATE VIEW rollup_5m_all AS
            SELECT probe_id, bucket, checks, failures, reasons, lat_n, lat_min, lat_max, lat_sum, hist, phases FROM rollup_5m
            UNION ALL
            SELECT r.probe_id, r.bucket, r.checks, r.failures, r.reasons, r.lat_n, r.lat_min, r.lat_max, r.lat_sum, r.hist, r.phases
            FROM rollup_5m_recent r JOIN rollup_marks m ON m.probe_id = r.probe_id WHERE r.bucket >= m.recent_from;
        CREATE VIEW rollup_1h_all AS
            SELECT probe_id, bucket, checks, failures, reasons, lat_n, lat_min, lat_max, lat_sum, hist, phases FROM rollup_1h
            UNION ALL
            SELECT r.probe_id, r.bucket, r.checks, r.failures, r.reasons, r.lat_n, r.lat_min, r.lat_max, r.lat_sum, r.hist, r.phases
            FROM rollup_1h_recent r JOIN rollup_marks m ON m.probe_id = r.probe_id WHERE r.bucket >= m.recent_from;
        """
}
