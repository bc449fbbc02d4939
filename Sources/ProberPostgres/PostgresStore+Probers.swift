import ProberCore
import ProberStorage

/// `ProberDirectory` on PostgreSQL: one row per location in `probers` (schema version 4), upserted by each prober's
/// heartbeat; `prober fleet` reads them.
extension PostgresStore {
    /// Schema step: the probers' heartbeats.
    static let schemaProbers = """
        CREATE TABLE probers(
            location text PRIMARY KEY,
            host text NOT NULL,
            pid integer NOT NULL,
            version text NOT NULL,
            started_at bigint NOT NULL,
            at bigint NOT NULL,                   -- its latest heartbeat
            every bigint NOT NULL,                -- its heartbeat interval (µs)
            probes integer NOT NULL,
            lateness_p99 bigint,                  -- µs, since its previous heartbeat
            pending bigint NOT NULL,
            spooled bigint NOT NULL,
            stopped boolean NOT NULL              -- after a clean stop
        );
        """

    /// Schema step: whether each prober's connectivity canaries all fail (`prober status` says so).
    static let schemaConnectivity = """
        ALTER TABLE probers ADD COLUMN connectivity_lost_since bigint;   -- µs; NULL while its network works
        ALTER TABLE probers ADD COLUMN connectivity_failures text;       -- why each canary fails, no secret
        CREATE TABLE connectivity_losses(
            location text NOT NULL,
            since bigint NOT NULL,
            until bigint,                         -- NULL while it lasts
            PRIMARY KEY (location, since)
        );
        """

    /// Schema step: the ticks each prober skipped because it was overloaded, and the checks its own delay distorted.
    static let schemaOverload = """
        ALTER TABLE probers ADD COLUMN overload_skipped bigint NOT NULL DEFAULT 0;          -- since its start
        ALTER TABLE probers ADD COLUMN overload_skipped_recent bigint NOT NULL DEFAULT 0;   -- since its previous beat
        ALTER TABLE probers ADD COLUMN delayed_checks bigint NOT NULL DEFAULT 0;            -- since its start
        """

    public func recordConnectivityLoss(_ span: ConnectivityLossSpan) throws {
        try write { db in
            _ = try db.query("""
                INSERT INTO connectivity_losses(location, since, until) VALUES ($1, $2, $3)
                ON CONFLICT (location, since) DO UPDATE SET until = excluded.until
                """, [.text(span.location), .int(span.since), PGParam(span.until)])
        }
    }

    public func connectivityLosses(since: Int64, until: Int64) throws -> [ConnectivityLossSpan] {
        try read { db in
            let r = try db.query("""
                SELECT location, since, until FROM connectivity_losses
                WHERE since <= $2 AND (until IS NULL OR until >= $1) ORDER BY since, location COLLATE "C"
                """, [.int(since), .int(until)])
            return (0..<r.count).map { i in
                ConnectivityLossSpan(location: r.string(i, 0), since: r.int64(i, 1), until: r.int64OrNil(i, 2))
            }
        }
    }

    public func heartbeat(_ beat: ProberHeartbeat) throws {
        try write { db in
            _ = try db.query("""
                INSERT INTO probers(location, host, pid, version, started_at, at, every, probes, lateness_p99, pending, spooled, stopped,
                    connectivity_lost_since, connectivity_failures, overload_skipped, overload_skipped_recent, delayed_checks)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
                ON CONFLICT (location) DO UPDATE SET host = excluded.host, pid = excluded.pid, version = excluded.version,
                    started_at = excluded.started_at, at = excluded.at, every = excluded.every, probes = excluded.probes,
                    lateness_p99 = excluded.lateness_p99, pending = excluded.pending, spooled = excluded.spooled,
                    stopped = excluded.stopped, connectivity_lost_since = excluded.connectivity_lost_since,
                    connectivity_failures = excluded.connectivity_failures, overload_skipped = excluded.overload_skipped,
                    overload_skipped_recent = excluded.overload_skipped_recent, delayed_checks = excluded.delayed_checks
                """, [.text(beat.location), .text(beat.host), .int(Int64(beat.pid)), .text(beat.version), .int(beat.startedAt),
                      .int(beat.at), .int(beat.every), .int(Int64(beat.probes)), PGParam(beat.latenessP99),
                      .int(Int64(beat.pending)), .int(Int64(beat.spooled)), .text(beat.stopped ? "true" : "false"),
                      PGParam(beat.connectivityLostSince), PGParam(beat.connectivityFailures), .int(Int64(beat.overloadSkipped)),
                      .int(Int64(beat.overloadSkippedRecent)), .int(Int64(beat.delayedChecks))])
        }
    }

    public func probers() throws -> [ProberHeartbeat] {
        try read { db in
            let r = try db.query("""
                SELECT location, host, pid, version, started_at, at, every, probes, lateness_p99, pending, spooled, stopped,
                    connectivity_lost_since, connectivity_failures, overload_skipped, overload_skipped_recent, delayed_checks
                FROM probers ORDER BY location COLLATE "C"
                """)
            return (0..<r.count).map { i in
                ProberHeartbeat(location: r.string(i, 0), host: r.string(i, 1), pid: Int(r.int64(i, 2)), version: r.string(i, 3),
                                startedAt: r.int64(i, 4), at: r.int64(i, 5), every: r.int64(i, 6), probes: Int(r.int64(i, 7)),
                                latenessP99: r.int64OrNil(i, 8), pending: Int(r.int64(i, 9)), spooled: Int(r.int64(i, 10)),
                                stopped: r.string(i, 11) == "t", connectivityLostSince: r.int64OrNil(i, 12),
                                connectivityFailures: r.stringOrNil(i, 13), overloadSkipped: Int(r.int64(i, 14)),
                                overloadSkippedRecent: Int(r.int64(i, 15)), delayedChecks: Int(r.int64(i, 16)))
            }
        }
    }
}
