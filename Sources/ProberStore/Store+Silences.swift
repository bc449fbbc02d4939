import CSQLite3
import ProberCore
import ProberStorage

/// `SilenceStorage` on SQLite: the `silences` table (schema version 7) and the windows in each probe's settings.
extension Store {
    /// Version 7. `probes` holds the silenced names one a line (empty for every probe); `version` is the
    /// silences' change counter (`silencesVersion`): each insert and each lift takes the next number.
    static let schemaSilences = """
        CREATE TABLE silences(
            id INTEGER PRIMARY KEY,
            probes TEXT NOT NULL,
            reason TEXT NOT NULL,
            starts_at INTEGER NOT NULL,
            ends_at INTEGER NOT NULL,
            lifted_at INTEGER,                    -- prober unsilence
            created_by TEXT NOT NULL,
            version INTEGER NOT NULL
        );
        CREATE INDEX silences_version ON silences(version);
        CREATE INDEX silences_ends_at ON silences(ends_at);
        """

    public func addSilence(_ silence: NewSilence) throws -> Silence {
        try write { db in
            let insert = try db.prepare("""
                INSERT INTO silences(probes, reason, starts_at, ends_at, created_by, version)
                VALUES (?1, ?2, ?3, ?4, ?5, (SELECT coalesce(max(version), 0) + 1 FROM silences))
                """)
            try insert.bind(1, silence.probes.joined(separator: "\n"))
            try insert.bind(2, silence.reason)
            try insert.bind(3, silence.startsAt)
            try insert.bind(4, silence.endsAt)
            try insert.bind(5, silence.createdBy)
            try insert.run()
            return Silence(id: sqlite3_last_insert_rowid(db.handle), probes: silence.probes, reason: silence.reason,
                           startsAt: silence.startsAt, endsAt: silence.endsAt, liftedAt: nil, createdBy: silence.createdBy)
        }
    }

    public func silences(now: Int64, endedSince: Int64) throws -> [Silence] {
        try read { db in
            let select = try db.prepare("""
                SELECT \(Self.silenceColumns) FROM silences
                WHERE ends_at >= ?1 AND (lifted_at IS NULL OR lifted_at >= ?1)
                ORDER BY id DESC
                """)
            try select.bind(1, min(endedSince, now))
            var out: [Silence] = []
            while try select.step() { out.append(Self.silence(select)) }
            return out
        }
    }

    public func liftSilence(id: Int64, at: Int64) throws -> Silence? {
        try write { db in
            let lift = try db.prepare("""
                UPDATE silences SET lifted_at = ?2, version = (SELECT max(version) + 1 FROM silences)
                WHERE id = ?1 AND lifted_at IS NULL AND ends_at > ?2
                """)
            try lift.bind(1, id)
            try lift.bind(2, at)
            try lift.run()
            let select = try db.prepare("SELECT \(Self.silenceColumns) FROM silences WHERE id = ?1")
            try select.bind(1, id)
            return try select.step() ? Self.silence(select) : nil
        }
    }

    public func silencesVersion() throws -> Int64 {
        try read { db in try db.scalar("SELECT max(version) FROM silences") ?? 0 }
    }

    public func maintenanceWindows() throws -> [String: [MaintenanceWindow]] {
        try read { db in
            let select = try db.prepare("SELECT name, settings FROM probes WHERE instr(settings, ?1) > 0")
            try select.bind(1, ProbeInfo.maintenanceKey + "\t")
            var out: [String: [MaintenanceWindow]] = [:]
            while try select.step() {
                let windows = ProbeInfo(name: select.string(0), kind: "", target: "", settings: Self.decodeSettings(select.string(1))).maintenance
                if !windows.isEmpty { out[select.string(0)] = windows }
            }
            return out
        }
    }

    static let silenceColumns = "id, probes, reason, starts_at, ends_at, lifted_at, created_by"

    private static func silence(_ row: Statement) -> Silence {
        Silence(id: row.int64(0), probes: row.string(1).split(separator: "\n").map(String.init), reason: row.string(2),
                startsAt: row.int64(3), endsAt: row.int64(4), liftedAt: row.int64OrNil(5), createdBy: row.string(6))
    }
}
