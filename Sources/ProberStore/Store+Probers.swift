import ProberCore
import ProberStorage

/// `ProberDirectory` on SQLite: the `probers` table (schema version 6). One file has one prober, so `prober fleet`
/// shows one row, the same command as on PostgreSQL.
extension Store {
    /// Schema step: whether each prober's connectivity canaries all fail (`prober status` says so).
    static let schemaConnectivity = """
        ALTER TABLE probers ADD COLUMN connectivity_lost_since INTEGER;  -- µs; NULL while its network works
        ALTER TABLE probers ADD COLUMN connectivity_failures TEXT;       -- why each canary fails, no secret
        CREATE TABLE connectivity_losses(
            location TEXT NOT NULL,
            since INTEGER NOT NULL,
            until INTEGER,                        -- NULL while it lasts
            PRIMARY KEY (location, since)
        ) WITHOUT ROWID;
        """

    /// Schema step: the ticks each prober skipped because it was overloaded, and the checks its own delay distorted.
    static let schemaOverload = """
        ALTER TABLE probers ADD COLUMN overload_skipped INTEGER NOT NULL DEFAULT 0;         -- since its start
        ALTER TABLE probers ADD COLUMN overload_skipped_recent INTEGER NOT NULL DEFAULT 0;  -- since its previous beat
        ALTER TABLE probers ADD COLUMN delayed_checks INTEGER NOT NULL DEFAULT 0;           -- since its start
        """

    public func recordConnectivityLoss(_ span: ConnectivityLossSpan) throws {
        try write { db in
            let upsert = try db.prepare("""
                INSERT INTO connectivity_losses(location, since, until) VALUES (?1, ?2, ?3)
                ON CONFLICT(location, since) DO UPDATE SET until = excluded.until
                """)
            try upsert.bind(1, span.location)
            try upsert.bind(2, span.since)
            try upsert.bind(3, span.until)
            try upsert.run()
        }
    }

    public func connectivityLosses(since: Int64, until: Int64) throws -> [ConnectivityLossSpan] {
        try read { db in
            let select = try db.prepare("""
                SELECT location, since, until FROM connectivity_losses
                WHERE since <= ?2 AND (until IS NULL OR until >= ?1) ORDER BY since, location
                """)
            defer { select.reset() }
            try select.bind(1, since)
            try select.bind(2, until)
            var out: [ConnectivityLossSpan] = []
            while try select.step() {
                out.append(ConnectivityLossSpan(location: select.string(0), since: select.int64(1), until: select.int64OrNil(2)))
            }
            return out
        }
    }

    public func heartbeat(_ beat: ProberHeartbeat) throws {
        try write { db in try Self.upsert(beat, db) }
    }

    public func probers() throws -> [ProberHeartbeat] {
        try read { db in
            let select = try db.prepare("""
                SELECT location, host, pid, version, started_at, at, every, probes, lateness_p99, pending, spooled, stopped,
                    connectivity_lost_since, connectivity_failures, overload_skipped, overload_skipped_recent, delayed_checks
                FROM probers ORDER BY location
                """)
            defer { select.reset() }
            var out: [ProberHeartbeat] = []
            while try select.step() {
                out.append(ProberHeartbeat(
                    location: select.string(0), host: select.string(1), pid: Int(select.int64(2)), version: select.string(3),
                    startedAt: select.int64(4), at: select.int64(5), every: select.int64(6), probes: Int(select.int64(7)),
                    latenessP99: select.int64OrNil(8), pending: Int(select.int64(9)), spooled: Int(select.int64(10)),
                    stopped: select.int64(11) != 0, connectivityLostSince: select.int64OrNil(12),
                    connectivityFailures: select.isNull(13) ? nil : select.string(13), overloadSkipped: Int(select.int64(14)),
                    overloadSkippedRecent: Int(select.int64(15)), delayedChecks: Int(select.int64(16))))
            }
            return out
        }
    }

    static func upsert(_ beat: ProberHeartbeat, _ db: Connection) throws {
        let upsert = try db.prepare("""
            INSERT INTO probers(location, host, pid, version, started_at, at, every, probes, lateness_p99, pending, spooled, stopped,
                connectivity_lost_since, connectivity_failures, overload_skipped, overload_skipped_recent, delayed_checks)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)
            ON CONFLICT(location) DO UPDATE SET host = excluded.host, pid = excluded.pid, version = excluded.version,
                started_at = excluded.started_at, at = excluded.at, every = excluded.every, probes = excluded.probes,
                lateness_p99 = excluded.lateness_p99, pending = excluded.pending, spooled = excluded.spooled,
                stopped = excluded.stopped, connectivity_lost_since = excluded.connectivity_lost_since,
                connectivity_failures = excluded.connectivity_failures, overload_skipped = excluded.overload_skipped,
                overload_skipped_recent = excluded.overload_skipped_recent, delayed_checks = excluded.delayed_checks
            """)
        try upsert.bind(1, beat.location)
        try upsert.bind(2, beat.host)
        try upsert.bind(3, Int64(beat.pid))
        try upsert.bind(4, beat.version)
        try upsert.bind(5, beat.startedAt)
        try upsert.bind(6, beat.at)
        try upsert.bind(7, beat.every)
        try upsert.bind(8, Int64(beat.probes))
        try upsert.bind(9, beat.latenessP99)
        try upsert.bind(10, Int64(beat.pending))
        try upsert.bind(11, Int64(beat.spooled))
        try upsert.bind(12, Int64(beat.stopped ? 1 : 0))
        try upsert.bind(13, beat.connectivityLostSince)
        try upsert.bind(14, beat.connectivityFailures)
        try upsert.bind(15, Int64(beat.overloadSkipped))
        try upsert.bind(16, Int64(beat.overloadSkippedRecent))
        try upsert.bind(17, Int64(beat.delayedChecks))
        try upsert.run()
    }

    // MARK: Locations

    /// One file is one prober: no location is kept, so nothing is broken down (see `LocationReading`).
    public func locationStatus(now: Int64, probes: [String]?, lastHour: Bool) throws -> [String: [LocationStatus]] { [:] }

    public func locations(probe: String) throws -> [String] { [] }

    public func locationHistory(probe: String, location: String?, since: Int64, until: Int64, every: Int64?,
                                phase: Phases.Name) throws -> LocationHistory? {
        guard location == nil else { return nil }
        return try history(probe: probe, since: since, until: until, every: every, phase: phase)
            .map { LocationHistory(total: $0, locations: []) }
    }
}
