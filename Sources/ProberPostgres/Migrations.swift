/// One step of the PostgreSQL schema. Steps run in order in the migrating transaction; step N leaves
/// `prober_schema.version = N`. Never edit a released step: append a new one.
struct PostgresMigration: Sendable {
    let name: String
    let sql: String
    /// Fills what SQL cannot (BLOBs in Swift's encodings) from existing data, in the same transaction, after `sql`.
    var backfill: (@Sendable (PostgresStore, PGConnection) throws -> Void)? = nil
}

extension PostgresStore {
    /// The schema, in order.
    static let migrations: [PostgresMigration] = [
        PostgresMigration(name: "probes, partitioned samples with their location, per-location rollups, incidents, outbox", sql: schemaV1),
        PostgresMigration(name: "each probe's file and shown configuration", sql: schemaV2),
        PostgresMigration(name: "each location's episode of each probe, for fleet decisions", sql: schemaFleet),
        PostgresMigration(name: "the probers writing the history, for prober fleet", sql: schemaProbers),
        PostgresMigration(name: "each location's daily rollup, for the status page's days", sql: schemaV5),
        PostgresMigration(name: "silences (prober silence), shared by the fleet", sql: schemaSilences),
        PostgresMigration(name: "each prober's own connectivity, for prober status", sql: schemaConnectivity),
        PostgresMigration(name: "the cause and member probes of shared incidents", sql: schemaIncidentMembers),
        PostgresMigration(name: "set-based maintenance: samples by time (BRIN), prune marks", sql: schemaMaintenance),
        PostgresMigration(name: "each prober's overload skips, for prober status", sql: schemaOverload),
        PostgresMigration(name: "each location's last check and hour, kept by ingest, for status", sql: schemaSummary,
                          backfill: { store, db in try store.backfillSummaries(now: store.clock.now(), db) }),
    ]

    /// Version 1. Times are microseconds since the Unix epoch (bigint); durations microseconds. The BLOB
    /// encodings (`phases`, `reasons`, `hist`) are SQLite's (docs/storage.md), shared through ProberStore.
    ///
    /// `samples` is partitioned by day on `at` (`samples_YYYYMMDD`, created ahead by the recorder and by
    /// maintenance); retention drops whole partitions once every location has rolled them up.
    static let schemaV1 = """
        CREATE TABLE probes(
            id bigserial PRIMARY KEY,
            name text NOT NULL UNIQUE,
            kind text NOT NULL DEFAULT '',        -- http | tcp
            target text NOT NULL DEFAULT '',      -- redacted display target, never a secret
            created_at bigint NOT NULL
        );
        -- One row per probe and location that has samples: the rollup watermarks of that location's samples.
        CREATE TABLE probe_locations(
            probe_id bigint NOT NULL REFERENCES probes(id),
            location text NOT NULL,
            rolled_5m bigint,                     -- raw samples before this are folded into rollup_5m
            rolled_1h bigint,                     -- 5m rollups before this are folded into rollup_1h
            PRIMARY KEY (probe_id, location)
        );
        CREATE TABLE samples(
            probe_id bigint NOT NULL,
            location text NOT NULL,               -- where the check was made from (prober run --location)
            at bigint NOT NULL,                   -- check start
            reason smallint NOT NULL,             -- FailureReason.code, 0 = ok
            status smallint,                      -- HTTP status
            phases bytea,                         -- varint-packed phases (PhaseCodec); NULL when none
            bytes bigint,
            family smallint,                      -- 0 = IPv4, 1 = IPv6
            PRIMARY KEY (probe_id, location, at)
        ) PARTITION BY RANGE (at);
        CREATE TABLE rollup_5m(
            probe_id bigint NOT NULL,
            location text NOT NULL,
            bucket bigint NOT NULL,
            checks integer NOT NULL,
            failures integer NOT NULL,
            reasons bytea,
            lat_n integer NOT NULL,
            lat_min bigint, lat_max bigint, lat_sum bigint,
            hist bytea,
            phases bytea,
            PRIMARY KEY (probe_id, location, bucket)
        );
        CREATE TABLE rollup_1h (LIKE rollup_5m INCLUDING ALL);
        CREATE TABLE incidents(
            id bigserial PRIMARY KEY,
            probe_id bigint NOT NULL REFERENCES probes(id),
            service_id bigint,
            title text NOT NULL,
            description text NOT NULL,
            status text NOT NULL,
            stage text NOT NULL,
            created_at bigint NOT NULL,
            updated_at bigint NOT NULL,
            resolved_at bigint,
            degraded_since bigint NOT NULL,
            failed_checks integer NOT NULL,
            worst_p95 bigint,
            worst_failures integer NOT NULL,
            isdown_id text
        );
        -- One open incident per probe across the fleet: a second opening fails (23505) instead of duplicating.
        CREATE UNIQUE INDEX incidents_one_open ON incidents(probe_id) WHERE resolved_at IS NULL;
        CREATE INDEX incidents_created ON incidents(created_at);
        CREATE TABLE incident_updates(
            incident_id bigint NOT NULL REFERENCES incidents(id),
            seq integer NOT NULL,
            kind text NOT NULL,
            stage text NOT NULL,
            status text NOT NULL,
            created_at bigint NOT NULL,
            description text NOT NULL,
            evidence text NOT NULL DEFAULT '',
            PRIMARY KEY (incident_id, seq)
        );
        CREATE TABLE outbox(
            id bigserial PRIMARY KEY,
            incident_id bigint NOT NULL REFERENCES incidents(id),
            sink text NOT NULL,
            method text NOT NULL,
            body text NOT NULL,
            state text NOT NULL,                  -- pending | delivered | failed
            attempts integer NOT NULL DEFAULT 0,
            next_attempt_at bigint NOT NULL,
            last_error text,
            created_at bigint NOT NULL,
            delivered_at bigint,
            claimed_by text,                      -- the prober delivering it (PostgresStore.claimant)
            lease_until bigint                    -- until when; another prober takes it after
        );
        CREATE INDEX outbox_pending ON outbox(incident_id, sink, id) WHERE state <> 'delivered';
        """

    /// Version 2: what the probe page shows of a probe (`ProbeInfo.file`, `ProbeInfo.settings`, already redacted;
    /// the settings encoded as SQLite's `probes.settings`).
    static let schemaV2 = """
        ALTER TABLE probes ADD COLUMN file text NOT NULL DEFAULT '';
        ALTER TABLE probes ADD COLUMN settings text NOT NULL DEFAULT '';  -- key TAB value, one a line
        """

    /// Version 5: daily rows per probe and location (checks and failures only), SQLite's schema v5 `rollup_1d`
    /// kept per location: the status page's 90 days read one row a day, not 24. Maintenance folds each day once
    /// its hours are rolled up (`rolled_1d`, the start of the first day not folded yet); the days already covered
    /// by 1-hour rollups are folded here.
    static let schemaV5 = """
        ALTER TABLE probe_locations ADD COLUMN rolled_1d bigint;  -- 1h rollups before this are folded into rollup_1d
        CREATE TABLE rollup_1d(
            probe_id bigint NOT NULL,
            location text NOT NULL,
            bucket bigint NOT NULL,               -- 00:00 UTC of the day
            checks integer NOT NULL,
            failures integer NOT NULL,
            PRIMARY KEY (probe_id, location, bucket)
        );
        UPDATE probe_locations SET rolled_1d = rolled_1h - ((rolled_1h % 86400000000) + 86400000000) % 86400000000
            WHERE rolled_1h IS NOT NULL;
        INSERT INTO rollup_1d(probe_id, location, bucket, checks, failures)
            SELECT r.probe_id, r.location, r.bucket - ((r.bucket % 86400000000) + 86400000000) % 86400000000,
                   sum(r.checks), sum(r.failures)
            FROM probe_locations l JOIN rollup_1h r ON r.probe_id = l.probe_id AND r.location = l.location
                AND r.bucket < l.rolled_1d
            GROUP BY 1, 2, 3;
        """

    /// The per-location summary ingest keeps (`PostgresStore+Summary.swift`): one row per probe and location, so
    /// `status` reads one row per location. Filled from the stored samples and rollups by the step's backfill.
    static let schemaSummary = """
        CREATE TABLE location_summary(
            probe_id bigint NOT NULL REFERENCES probes(id),
            location text NOT NULL,
            last_at bigint NOT NULL,              -- the location's last check
            last_reason smallint NOT NULL,
            last_status smallint,
            last_phases bytea,
            bucket bigint NOT NULL,               -- the newest 5-minute slot
            hour bytea NOT NULL,                  -- the 13 slots ending at `bucket`, merged (SummaryCodec)
            slots bytea NOT NULL,                 -- each slot's counts and latency histogram (SummaryCodec)
            PRIMARY KEY (probe_id, location)
        );
        """
}
