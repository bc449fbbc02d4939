import ProberCore
import ProberStorage
import ProberStore

/// `SilenceStorage` on PostgreSQL: one `silences` table every prober of the fleet polls, so a silence applies at
/// every location; and the windows in each probe's settings.
extension PostgresStore {
    /// Schema step: silences. `version` is the change counter `silencesVersion` returns: each insert and each
    /// lift takes the next number under a table lock, so versions commit in order and a poller that saw the
    /// largest has seen every change before it.
    static let schemaSilences = """
        CREATE TABLE silences(
            id bigserial PRIMARY KEY,
            probes text[] NOT NULL,               -- empty: every probe
            reason text NOT NULL,
            starts_at bigint NOT NULL,
            ends_at bigint NOT NULL,
            lifted_at bigint,                     -- prober unsilence
            created_by text NOT NULL,
            version bigint NOT NULL
        );
        CREATE INDEX silences_version ON silences(version);
        CREATE INDEX silences_ends_at ON silences(ends_at);
        """

    public func addSilence(_ silence: NewSilence) throws -> Silence {
        try write { db in
            try db.query("LOCK TABLE silences IN SHARE ROW EXCLUSIVE MODE")
            let r = try db.query("""
                INSERT INTO silences(probes, reason, starts_at, ends_at, created_by, version)
                VALUES ($1::text[], $2, $3, $4, $5, (SELECT coalesce(max(version), 0) + 1 FROM silences)) RETURNING id
                """, [.text(pgTextArray(silence.probes)), .text(silence.reason), .int(silence.startsAt), .int(silence.endsAt),
                      .text(silence.createdBy)])
            return Silence(id: r.int64(0, 0), probes: silence.probes, reason: silence.reason, startsAt: silence.startsAt,
                           endsAt: silence.endsAt, liftedAt: nil, createdBy: silence.createdBy)
        }
    }

    public func silences(now: Int64, endedSince: Int64) throws -> [Silence] {
        try read { db in
            let r = try db.query("""
                SELECT \(Self.silenceColumns) FROM silences
                WHERE ends_at >= $1 AND (lifted_at IS NULL OR lifted_at >= $1) ORDER BY id DESC
                """, [.int(min(endedSince, now))])
            return (0..<r.count).map { Self.silence(r, $0) }
        }
    }

    public func liftSilence(id: Int64, at: Int64) throws -> Silence? {
        try write { db in
            try db.query("LOCK TABLE silences IN SHARE ROW EXCLUSIVE MODE")
            try db.query("""
                UPDATE silences SET lifted_at = $2, version = (SELECT max(version) + 1 FROM silences)
                WHERE id = $1 AND lifted_at IS NULL AND ends_at > $2
                """, [.int(id), .int(at)])
            let r = try db.query("SELECT \(Self.silenceColumns) FROM silences WHERE id = $1", [.int(id)])
            return r.count > 0 ? Self.silence(r, 0) : nil
        }
    }

    public func silencesVersion() throws -> Int64 {
        try read { db in try db.query("SELECT coalesce(max(version), 0) FROM silences").int64(0, 0) }
    }

    public func maintenanceWindows() throws -> [String: [MaintenanceWindow]] {
        try read { db in
            let r = try db.query("SELECT name, settings FROM probes WHERE strpos(settings, $1) > 0",
                                 [.text(ProbeInfo.maintenanceKey + "\t")])
            var out: [String: [MaintenanceWindow]] = [:]
            for i in 0..<r.count {
                let info = ProbeInfo(name: r.string(i, 0), kind: "", target: "", settings: Store.decodeSettings(r.string(i, 1)))
                if !info.maintenance.isEmpty { out[info.name] = info.maintenance }
            }
            return out
        }
    }

    static let silenceColumns = "id, array_to_string(probes, E'\\n'), reason, starts_at, ends_at, lifted_at, created_by"

    private static func silence(_ r: PGResult, _ i: Int) -> Silence {
        Silence(id: r.int64(i, 0), probes: r.string(i, 1).split(separator: "\n").map(String.init), reason: r.string(i, 2),
                startsAt: r.int64(i, 3), endsAt: r.int64(i, 4), liftedAt: r.int64OrNil(i, 5), createdBy: r.string(i, 6))
    }

}
